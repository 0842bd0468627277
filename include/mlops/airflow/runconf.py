"""The run conf of the product's DAGs: only declared params, at most ``MAX_CONF_BYTES``.

Airflow 3.3 validates a trigger's conf against the DAG's declared params but accepts any
other key, of any size, and stores it in the metadata DB (a 20 MB key was stored; listing
runs then returned 22 MB) — and a typo such as ``force_retrian`` is silently ignored. Two
guards refuse such a conf, with the accepted keys and the closest match:

- at trigger time, ``RunConfGuard`` (an ASGI middleware the plugin installs in the API
  server) answers ``POST /api/v2/dags/{dag_id}/dagRuns`` and ``POST /api/v2/backfills``
  for a DAG tagged ``mlops`` with HTTP 400 (unknown keys) or 413 (too large) before a run
  is created; the UI's trigger form and the REST API go through it;
- at run time, ``refuse_bad_conf`` is every product task's ``pre_execute`` hook, so a run
  created another way (``airflow dags trigger`` on the CLI, ``dag.test(run_conf=...)``)
  fails its first task before any work, without retries.

Imported by the plugin in every Airflow process: only the standard library at the top.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from mlops.configfile import did_you_mean

#: Largest run conf accepted, serialized as compact JSON. The product's params need well under
#: 2 KB (the longest, note and reason, are capped at 500 characters); 16 KiB leaves room
#: without letting the metadata DB store megabytes per run.
MAX_CONF_BYTES = 16 * 1024
#: Largest request body the trigger guard reads for a product DAG before refusing it (HTTP 413).
MAX_BODY_BYTES = 1024 * 1024
#: Tag that marks the product's DAGs (``mlops.airflow.defaults.common_dag_args`` sets it).
PRODUCT_TAG = "mlops"


def _short(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 60 else f"{text[:40]}…({len(text):,} characters)"


@dataclass(frozen=True)
class ConfProblem:
    """Why a run conf is refused, and the HTTP status that says so (400 unknown keys, 413 too large)."""

    message: str
    status: int = 400

    def __str__(self) -> str:
        return self.message


def conf_problem(conf: Any, declared: Collection[str], *, dag_id: str) -> ConfProblem | None:
    """What is wrong with a DAG run's ``conf`` (too large, unknown keys), or None when it is fine."""
    if not conf:
        return None
    if not isinstance(conf, Mapping):
        return ConfProblem(f"DAG {dag_id}: the run conf must be a JSON object of params, found {type(conf).__name__}")
    size = len(json.dumps(conf, separators=(",", ":"), default=str).encode())
    accepted = ", ".join(sorted(declared)) or "none"
    if size > MAX_CONF_BYTES:
        return ConfProblem(
            f"DAG {dag_id}: the run conf is {size:,} bytes as JSON; at most {MAX_CONF_BYTES:,} are accepted. "
            f"Pass only the DAG's params ({accepted}); put large inputs in a file or a dataset config, not in the conf.",
            status=413,
        )
    unknown = [k for k in conf if k not in declared]
    if unknown:
        listed = ", ".join(_short(k) + did_you_mean(k, declared) for k in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        return ConfProblem(
            f"DAG {dag_id}: unknown run conf key{'s' if len(unknown) > 1 else ''} {listed}{more}; "
            f"the keys it accepts are {accepted}. Nothing was run: trigger again with the right keys."
        )
    return None


def refuse_bad_conf(context: Mapping[str, Any], *, declared: Collection[str]) -> None:
    """``pre_execute`` hook of every product task: fail at once (no retries) on a bad run conf."""
    conf = getattr(context.get("dag_run"), "conf", None)
    problem = conf_problem(conf, declared, dag_id=context["dag"].dag_id)
    if problem:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(problem.message)


TRIGGER_PATH = re.compile(r"/api/v2/dags/(?P<dag_id>[^/]+)/dagRuns/?$")
BACKFILL_PATH = re.compile(r"/api/v2/backfills(?:/dry_run)?/?$")

#: ``dag_id -> declared params`` of a product DAG, or None for any other DAG (left alone).
Lookup = Callable[[str], Collection[str] | None]


def declared_params_from_db(dag_id: str) -> Collection[str] | None:
    """Declared params of the latest serialized version of ``dag_id`` if it is a product DAG."""
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        dag = SerializedDagModel.get_dag(dag_id, session=session)
        if dag is None or PRODUCT_TAG not in set(dag.tags or ()):
            return None
        return tuple(dag.params)


class RunConfGuard:
    """ASGI middleware: refuse a bad run conf for a product DAG before Airflow creates the run.

    Parameters
    ----------
    app : ASGI application
    lookup : callable, optional
        ``dag_id -> declared params`` for product DAGs, None for others (default: the
        serialized DAG in the metadata DB, read in a worker thread).
    """

    def __init__(self, app: Any, lookup: Lookup | None = None) -> None:
        self.app = app
        self.lookup = lookup or declared_params_from_db

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        trigger, backfill = TRIGGER_PATH.search(path), BACKFILL_PATH.search(path)
        if not trigger and not backfill:
            return await self.app(scope, receive, send)

        from urllib.parse import unquote

        from starlette.concurrency import run_in_threadpool

        declared = None
        if trigger:
            dag_id = unquote(trigger["dag_id"])
            declared = await run_in_threadpool(self.lookup, dag_id)
            if declared is None:
                return await self.app(scope, receive, send)
        limit = MAX_BODY_BYTES if trigger else None
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            more = message.get("more_body", False)
            if limit is not None and size > limit:
                return await _refuse(
                    send,
                    413,
                    (
                        f"DAG {dag_id}: the request body is larger than {limit:,} bytes; a run conf may hold at most "
                        f"{MAX_CONF_BYTES:,} bytes of the DAG's params ({', '.join(sorted(declared))})"
                    ),
                )
        body = b"".join(chunks)
        problem = None
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = None  # not JSON: Airflow's own validation answers
        if isinstance(payload, dict):
            if backfill:
                dag_id = payload.get("dag_id")
                if isinstance(dag_id, str):
                    declared = await run_in_threadpool(self.lookup, dag_id)
                conf = payload.get("dag_run_conf")
            else:
                conf = payload.get("conf")
            if declared is not None:
                problem = conf_problem(conf, declared, dag_id=dag_id)
        if problem:
            return await _refuse(send, problem.status, problem.message)

        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


async def _refuse(send: Callable[[dict], Awaitable[None]], status: int, detail: str) -> None:
    payload = json.dumps({"detail": detail}).encode()
    await send(
        {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]}
    )
    await send({"type": "http.response.body", "body": payload})
