"""What every DAG of the product shares: owner, retries with backoff, tags, templating, alerts.

Imported by DAG files at parse time, so it imports nothing heavy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

DEFAULT_ARGS: dict[str, Any] = {
    "owner": "ml-platform",
    "retries": 2,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(hours=1),
}


def common_dag_args(spec: dict, *, kind: str, doc_md: str, params: dict) -> dict[str, Any]:
    """Keyword arguments of ``DAG(...)`` shared by the nightly, promotion and rollback DAGs.

    ``params`` (the trigger form) is not among them: ``with_params`` gives them to the DAG once
    its tasks exist. Every task gets ``refuse_bad_conf`` as its ``pre_execute`` hook: a run whose conf holds a
    key that is not one of ``params`` (a typo such as ``force_retrian``), or is too large,
    fails at its first task before any work (``mlops.airflow.runconf``).
    """
    from functools import partial

    from mlops.airflow.runconf import refuse_bad_conf

    return {
        "doc_md": doc_md,
        "start_date": datetime.fromisoformat(spec["start_date"]).replace(tzinfo=UTC),
        "catchup": False,
        "default_args": {**DEFAULT_ARGS, "pre_execute": partial(refuse_bad_conf, declared=tuple(params))},
        "tags": ["mlops", kind, f"dataset:{spec['dataset']}", *spec["tags"]],
        "render_template_as_native_obj": True,
        **alert_args(spec, kind),
    }


#: Params dicts ``with_params`` has seen validated for a scheduled DAG in this process, by ``id``
#: (held, so that an id is never reused by another dict).
_VALIDATED: dict[int, dict] = {}


def with_params(dag: Any, params: dict) -> Any:
    """Give ``dag`` its trigger-form ``params`` after its tasks were built; returns ``dag``.

    Airflow deep-copies a DAG's params into every operator while the operator is constructed
    (once per class level of its ``__init__``), but a running task reads the DAG's params and
    its own on top (``process_params``), so those copies are never read: set at the end, the
    operators keep only params of their own.

    The first DAG of a file to get a ``params`` dict is validated as Airflow does (a scheduled
    DAG whose defaults break their schema fails the parse); the file's other DAGs get the
    same, already validated params without checking each schema against JSON Schema's
    meta-schema again. At 200 dataset configs these two costs were most of the nightly DAG
    file's parse (bench/README.md, "DAG parse time").
    """
    from airflow.sdk.definitions.param import ParamsDict

    if _VALIDATED.get(id(params)) is params and "params" not in dag.default_args:
        object.__setattr__(dag, "params", ParamsDict(params))  # what Airflow's converter stores, without the repeat check
        return dag
    dag.params = params
    if dag.timetable is not None and dag.timetable.can_be_scheduled:
        _VALIDATED[id(params)] = params
    return dag


def alert_args(spec: dict, kind: str) -> dict[str, Any]:
    """DAG-level alerts: ``run_failed`` when a run fails; for the nightly DAG also the night's
    digest when a run ends and the ``nightly_late`` Deadline Alert (see ``mlops.alerts``)."""
    from mlops.alerts.notifiers import AlertNotifier

    args: dict[str, Any] = {"on_failure_callback": [AlertNotifier("run_failed")]}
    if kind == "training":
        from mlops.alerts.deadline import deadline_alerts_enabled, nightly_deadline

        args["on_failure_callback"].append(AlertNotifier("digest"))
        args["on_success_callback"] = AlertNotifier("digest")
        if spec.get("late_after_hours") and deadline_alerts_enabled():
            args["deadline"] = nightly_deadline(spec["dataset"], float(spec["late_after_hours"]))
    return args


def training_queue() -> dict[str, Any]:
    """Task arguments that send training and evaluation to the Celery queue ``MLOPS_TRAINING_QUEUE``.

    Set in the production profile (a worker serves that queue, see scripts/run.sh); unset, the
    tasks use the executor's default queue. Read when the DAG file is parsed.
    """

    return _queue("training_queue")


def model_queue() -> dict[str, Any]:
    """Task arguments that send the other model steps (decide, register, the replayed promotion)
    to the Celery queue ``MLOPS_MODEL_QUEUE``.

    A dataset's model steps run one at a time across its runs (each run waits for the one before
    at ``decide``), so the next one is what a backfill waits for; on a queue of their own they
    never queue behind the ingest, validation and drift of the days ahead, which fill the default
    queue's slots. The production profile serves this queue with the training worker. Unset, the
    tasks use the executor's default queue. Read when the DAG file is parsed.
    """

    return _queue("model_queue")


#: Task arguments of the model steps (decide, train, evaluate, register, the replayed promotion):
#: where tasks wait for a free slot, these go first. A dataset's model steps run one at a time
#: across its runs, so in a backfill each of them holds up every later day, while the ingest,
#: validation and drift of the days ahead can wait. The nightly DAG's other tasks get
#: ``weight_rule="absolute"`` (priority 1): Airflow's default adds the weights of every task
#: downstream, the model steps' included, which put each day's ingest first.
MODEL_STEP_PRIORITY: dict[str, Any] = {"priority_weight": 100, "weight_rule": "absolute"}


def _queue(setting: str) -> dict[str, Any]:
    from mlops.settings import Settings

    queue = Settings.value(setting).strip()
    return {"queue": queue} if queue else {}
