"""An Airflow listener (registered by the plugin): a finished scoring run gets a note that says
which partitions were scored by which version, and which were skipped and why.

Tasks cannot write their DAG run's note (Airflow 3 gives them no database access and its
Execution API has no call for it), so the ``score`` task pushes the text as the XCom
``run_note`` and this listener, which runs in the scheduler when the run finishes, copies it
into the run's note. A note a person wrote is never replaced.
"""

from __future__ import annotations

import logging

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)

NOTE_TASK, NOTE_KEY = "score", "run_note"
#: The first line of every note this listener writes (how it recognises its own notes).
HEADER = "Batch scoring"


def note_text(body: str) -> str:
    return f"{HEADER}\n{body}"[:1000]


def _copy_note(dag_run) -> None:
    from airflow import settings
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from sqlalchemy import select
    from sqlalchemy.orm import object_session

    # The scheduler passes a run bound to its session. ``dag.test()`` passes a detached one: use
    # the thread's scoped session (the one the caller commits), never a second connection,
    # which on SQLite would wait for the caller's own write lock.
    session = object_session(dag_run)
    if session is None:
        if settings.Session is None:
            return
        session = settings.Session()
        dag_run = session.get(DagRun, dag_run.id)
        if dag_run is None:
            return
    row = (
        session.execute(select(XComModel).where(XComModel.dag_run_id == dag_run.id, XComModel.task_id == NOTE_TASK, XComModel.key == NOTE_KEY))
        .scalars()
        .first()
    )
    if row is None:
        return
    body = XComModel.deserialize_value(row)
    current = dag_run.note
    if current and not str(current).startswith(HEADER):
        return  # a person's note
    dag_run.note = note_text(str(body))


@hookimpl
def on_dag_run_success(dag_run, msg: str) -> None:
    try:
        _copy_note(dag_run)
    except Exception:  # a note must never disturb the scheduler
        log.exception("could not set the note of %s", dag_run)


@hookimpl
def on_dag_run_failed(dag_run, msg: str) -> None:
    on_dag_run_success(dag_run, msg)
