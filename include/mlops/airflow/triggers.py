"""Triggers run in the triggerer: async, light, and importable from the installed package."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


def find_pending_challenger(model_name: str, tracking_uri: str | None = None) -> str | None:
    """Version behind ``<model_name>@challenger`` that has no decision yet (blocking; MLflow client)."""
    from mlflow import MlflowClient

    from mlops.promotion.history import pending_challenger
    from mlops.settings import Settings

    uri = tracking_uri or Settings.value("tracking_uri", default=None)
    if not uri:
        raise RuntimeError("MLFLOW_TRACKING_URI is not set in the triggerer's environment; set it where Airflow runs")
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    return pending_challenger(client, model_name)


class ChallengerTrigger(BaseTrigger):
    """Fires once a model version of ``model_name`` carries the alias ``challenger`` and no decision.

    The tracking URI is read from the triggerer's environment (``MLFLOW_TRACKING_URI``)
    unless given, so credentials in it never go into Airflow's database.

    Parameters
    ----------
    model_name : str
        Registered model to watch.
    poke_interval : float
        Seconds between two look-ups.
    tracking_uri : str, optional
        Override of the environment's tracking URI (tests, or a registry without credentials).
    """

    def __init__(self, model_name: str, poke_interval: float = 60.0, tracking_uri: str | None = None):
        super().__init__()
        self.model_name = model_name
        self.poke_interval = poke_interval
        self.tracking_uri = tracking_uri

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "mlops.airflow.triggers.ChallengerTrigger",
            {"model_name": self.model_name, "poke_interval": self.poke_interval, "tracking_uri": self.tracking_uri},
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            try:
                version = await asyncio.to_thread(find_pending_challenger, self.model_name, self.tracking_uri)
            except Exception as e:  # a registry that is briefly down must not kill the wait
                self.log.warning("look-up of %s@challenger failed (%s: %s); retrying in %ss", self.model_name, type(e).__name__, e, self.poke_interval)
                version = None
            if version is not None:
                self.log.info("challenger found: %s version %s", self.model_name, version)
                yield TriggerEvent({"status": "found", "model_name": self.model_name, "version": version})
                return
            await asyncio.sleep(self.poke_interval)


def shadow_look(dataset: str, version: str, tracking_uri: str | None = None) -> dict:
    """One pass of the shadow soak (blocking): the config, the registry and the prediction store as a task sees them."""
    from mlops import tracking
    from mlops.airflow.runtime import dataset_config, prediction_store_url
    from mlops.config import Settings
    from mlops.predictions.store import PredictionStore
    from mlops.promotion.shadow import soak_look

    settings = Settings.from_env()
    if tracking_uri:
        settings = settings.model_copy(update={"tracking_uri": tracking_uri})
    config = dataset_config(dataset)
    return soak_look(config, tracking.client(settings), PredictionStore(prediction_store_url(config, settings)), version)


class ShadowSoakTrigger(BaseTrigger):
    """Looks for newly labelled shadow days every ``poke_interval`` seconds; fires when the soak decides.

    It keeps nothing of its own: each look starts from the looks stored in the prediction
    store (``mlops.promotion.shadow``), so a triggerer that restarts resumes where the last
    stored look ended, and looks at every day labelled meanwhile, in order.

    Parameters
    ----------
    dataset : str
        Dataset config name (read with its Airflow Variable override at each look).
    version : str
        The challenger that soaks.
    poke_interval : float
        Seconds between two looks.
    tracking_uri : str, optional
        Override of the environment's tracking URI.
    max_failures : int
        Consecutive failed looks (registry or store down, a broken config) after which the
        trigger gives up with the error; the task then fails and a clear resumes the soak.
    """

    def __init__(self, dataset: str, version: str, poke_interval: float = 300.0, tracking_uri: str | None = None, max_failures: int = 30):
        super().__init__()
        self.dataset, self.version, self.poke_interval = dataset, str(version), poke_interval
        self.tracking_uri, self.max_failures = tracking_uri, max_failures

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "mlops.airflow.triggers.ShadowSoakTrigger",
            {
                "dataset": self.dataset,
                "version": self.version,
                "poke_interval": self.poke_interval,
                "tracking_uri": self.tracking_uri,
                "max_failures": self.max_failures,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        failures = 0
        while True:
            try:
                result = await asyncio.to_thread(shadow_look, self.dataset, self.version, self.tracking_uri)
                failures = 0
            except Exception as e:  # a store or registry that is briefly down must not end the soak
                failures += 1
                self.log.warning(
                    "shadow look of %s v%s failed (%d in a row; %s: %s); retrying in %ss",
                    self.dataset,
                    self.version,
                    failures,
                    type(e).__name__,
                    e,
                    self.poke_interval,
                )
                if failures >= self.max_failures:
                    yield TriggerEvent({"status": "error", "error": f"{failures} looks in a row failed, the last with {type(e).__name__}: {e}"})
                    return
                result = None
            if result is not None and result["decision"] != "continue":
                self.log.info("shadow soak of %s v%s decided: %s", self.dataset, self.version, result["detail"])
                yield TriggerEvent({"status": "decided", "result": result})
                return
            if result is not None:
                self.log.info("shadow soak of %s v%s: %s", self.dataset, self.version, result["detail"])
            await asyncio.sleep(self.poke_interval)


#: Task instance states of a task that ended without doing its work.
FAILED_STATES = frozenset({"failed", "upstream_failed", "removed"})


def chain_pending(states: dict[str, Any], chain: Sequence[str]) -> tuple[str, str | None] | None:
    """``(task_id, state)`` of the first step of ``chain`` that can still run and has not finished; None when the chain is over.

    ``chain`` is a run's model steps in order, each downstream of the one before (the
    decision, then the retrain steps). The chain is over at its end, or at the first step
    that was skipped or failed: nothing after it will run (a decision that chose not to
    retrain skips the first retrain step itself, as it ends). ``states`` maps task ids to
    their state (missing or None: not scheduled yet, so still to come).
    """
    for task_id in chain:
        state = states.get(task_id)
        state = None if state is None else str(state)
        if state in FAILED_STATES or state == "skipped":
            return None
        if state != "success":
            return task_id, state
    return None


#: Run ids of backfill runs start with this (Airflow's ``DagRunType.BACKFILL_JOB``).
BACKFILL_RUN_PREFIX = "backfill__"


def task_states(dag_id: str, task_ids: list[str], *, logical_dates: list[Any] | None = None, run_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """``{run_id: {task_id: state}}`` of ``dag_id``'s runs at ``logical_dates`` or with ``run_ids`` (blocking).

    Uses the Task SDK's supervisor channel, which task processes and the triggerer both have
    (in the triggerer, each call goes through Airflow's execution API in its process).
    """
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    return RuntimeTaskInstance.get_task_states(dag_id=dag_id, task_ids=task_ids, logical_dates=logical_dates, run_ids=run_ids) or {}


def chain_task_ids(*chains: Sequence[str]) -> list[str]:
    """Every task id of ``chains``, sorted (what a look at the runs' states asks for)."""
    return sorted({t for chain in chains for t in chain})


def pending_runs(runs: dict[str, dict[str, Any]], *chains: Sequence[str], backfill_chain: Sequence[str] | None = None) -> dict[str, tuple[str, str | None]]:
    """``{run_id: (task_id, state)}`` for each run of ``runs`` (``task_states``) where one of ``chains`` is not over (``chain_pending``).

    A backfill run's chain is ``backfill_chain`` where given (its train step runs the model
    steps after it).
    """
    pending = {}
    for run, tasks in runs.items():
        own = [backfill_chain] if backfill_chain and run.startswith(BACKFILL_RUN_PREFIX) else chains
        pending[run] = next(filter(None, (chain_pending(tasks, chain) for chain in own)), None)
    return {run: step for run, step in pending.items() if step}


def unfinished_tasks(dag_id: str, logical_date: Any, *chains: Sequence[str], backfill_chain: Sequence[str] | None = None) -> dict[str, tuple[str, str | None]]:
    """``pending_runs`` of the runs at ``logical_date``: what a run there still has to do. No run at that date: nothing to wait for."""
    return pending_runs(task_states(dag_id, chain_task_ids(*chains), logical_dates=[logical_date]), *chains, backfill_chain=backfill_chain)


class SharedLook:
    """The task states of the runs that ``PreviousRunTrigger``s of one DAG wait on, looked up for all of them at once.

    A backfill keeps several runs waiting in the triggerer, each polling the run before it, and
    each look is a request to Airflow's execution API in the triggerer's process. Here one
    request covers every run a trigger of the DAG watches: a trigger that asks for states no
    older than ``max_age`` seconds gets the last look's when it is recent enough, else makes
    the look for all. The day that polls fast (the next one in line) keeps the look fresh; the
    days behind it, which poll at the idle interval, then ask for nothing of their own.

    One per DAG, task-id set and event loop (``for_dag``); the triggerer runs its triggers in
    one loop.
    """

    _shared: dict[tuple[Any, str, tuple[str, ...]], SharedLook] = {}

    def __init__(self, dag_id: str, task_ids: list[str]):
        self.dag_id, self.task_ids = dag_id, task_ids
        self.watched: dict[int, set[str]] = {}  # trigger -> the run ids it waits on
        self.states: dict[str, dict[str, Any]] = {}
        self.covered: set[str] = set()
        self.taken_at: float | None = None  # loop time at which the last look was asked of the API
        self.lock = asyncio.Lock()

    @classmethod
    def for_dag(cls, dag_id: str, task_ids: list[str]) -> SharedLook:
        key = (asyncio.get_running_loop(), dag_id, tuple(task_ids))
        for stale in [k for k in cls._shared if k[0].is_closed()]:
            del cls._shared[stale]
        if key not in cls._shared:
            cls._shared[key] = cls(dag_id, task_ids)
        return cls._shared[key]

    def watch(self, owner: object, run_ids: Sequence[str]) -> None:
        self.watched[id(owner)] = set(run_ids)

    def unwatch(self, owner: object) -> None:
        """``owner`` waits no more; the next look is a new one (the day after it is now in line and must see its run start)."""
        if self.watched.pop(id(owner), None) is not None:
            self.taken_at = None

    async def look(self, run_ids: Sequence[str], max_age: float) -> dict[str, dict[str, Any]]:
        """The states of ``run_ids`` as of a look asked at most ``max_age`` seconds before this call (runs gone: left out)."""
        loop = asyncio.get_running_loop()
        asked, wanted = loop.time(), set(run_ids)
        async with self.lock:
            fresh = self.taken_at is not None and self.taken_at >= asked - max_age
            if not (fresh and wanted <= self.covered):
                runs = sorted(wanted.union(*self.watched.values()))
                taken_at = loop.time()
                self.states = await asyncio.to_thread(task_states, self.dag_id, self.task_ids, run_ids=runs)
                self.covered, self.taken_at = set(runs), taken_at
            return {run: self.states[run] for run in run_ids if run in self.states}


def not_started(pending: dict[str, tuple[str, str | None]], chain: Sequence[str]) -> bool:
    """True when every pending run has not even scheduled its first step (it waits on a run before it)."""
    return all(task_id == chain[0] and state is None for task_id, state in pending.values())


class PreviousRunTrigger(BaseTrigger):
    """Ends the waiting task successfully once the model steps ``chain`` of the run at ``logical_date`` are over.

    ``chain`` is in order (``chain_pending``): a day that decided not to retrain
    releases the next day as soon as its decision ends, without waiting for the scheduler to
    skip the retrain steps one by one. It ends the task in the triggerer
    (``TaskSuccessEvent``): no worker process is started to resume it, so the next step of a
    chain of runs starts within about ``poke_interval`` plus one scheduler loop of the
    previous run's last step.

    While the previous run has not scheduled its first step (it waits on the run before it,
    as the days of a backfill beyond the next one do), the trigger looks every
    ``idle_interval`` seconds instead: a decision takes longer than that to run, so the
    trigger is polling fast again before the step it waits for can end, and a backfill's
    waiting days cost the triggerer and the API server a fraction of the calls.
    """

    def __init__(
        self,
        dag_id: str,
        logical_date: str | None,
        chain: list[str] | None = None,
        poke_interval: float = 0.25,
        idle_interval: float = 1.0,
        task_ids: list[str] | None = None,
        backfill_chain: list[str] | None = None,
    ):
        super().__init__()
        self.backfill_chain = list(backfill_chain or [])
        self.dag_id, self.logical_date, self.poke_interval = dag_id, logical_date, poke_interval
        self.idle_interval = max(idle_interval, poke_interval)
        self.chain = list(chain or [])
        # A trigger deferred by an earlier version is stored with ``task_ids``, each of which had
        # to finish (any end state): it keeps that meaning after an upgrade, as one-step chains.
        self.task_ids = list(task_ids or [])
        if not self.chain and not self.task_ids:
            raise ValueError("PreviousRunTrigger: give the previous run's model steps as chain")

    def _own_previous(self):
        """The previous interval of the waiting task's own run (a task started in the triggerer: ``logical_date`` None)."""
        from mlops.airflow.runtime import previous_interval_start

        return previous_interval_start(self.task_instance.get_template_context())

    def _chains(self) -> list[list[str]]:
        return [self.chain] if self.chain else [[t] for t in self.task_ids]

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {"dag_id": self.dag_id, "logical_date": self.logical_date}
        kwargs |= {"chain": self.chain} if self.chain else {"task_ids": self.task_ids}
        kwargs |= {"backfill_chain": self.backfill_chain} if self.backfill_chain else {}
        return ("mlops.airflow.triggers.PreviousRunTrigger", kwargs | {"poke_interval": self.poke_interval, "idle_interval": self.idle_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from datetime import datetime

        from airflow.triggers.base import TaskSuccessEvent

        when = datetime.fromisoformat(self.logical_date) if self.logical_date else await asyncio.to_thread(self._own_previous)
        chains = self._chains()
        task_ids = chain_task_ids(*chains)
        # The first look finds the runs at that date; later looks ask for them by run id, in one
        # request with the other waiting days of the DAG (SharedLook).
        runs = await asyncio.to_thread(functools.partial(task_states, logical_dates=[when]), self.dag_id, task_ids)
        watched = list(runs)
        shared = SharedLook.for_dag(self.dag_id, task_ids)
        shared.watch(self, watched)
        try:
            while True:
                pending = pending_runs(runs, *chains, backfill_chain=self.backfill_chain)
                if not pending:
                    shared.unwatch(self)  # the next day in line looks afresh
                    self.log.info("the run of %s at %s is through %s", self.dag_id, self.logical_date or when.isoformat(), self.chain or self.task_ids)
                    yield TaskSuccessEvent()
                    return
                idle = bool(self.chain) and not_started(pending, self.chain)
                await asyncio.sleep(self.idle_interval if idle else self.poke_interval)
                # A day that waits its turn takes a look up to its own interval old; the day in line, only a newer one.
                runs = await shared.look(watched, max_age=self.idle_interval if idle else 0.0)
        finally:
            shared.unwatch(self)


def gate_verdict(gate: str, dataset: str, ti: Any) -> str | None:
    """Why the task ``ti`` of a nightly run has nothing to do (``RunGateTrigger``), or None when it must run.

    ``late_labels``: the dataset's labels come with the partition (``labels.delay_days`` 0).
    ``policy_report``: not a backfill run, or a backfill run of one of the next intervals will
    write the report for this period too (``mlops.airflow.operators.PolicyReportOperator``).
    """
    if gate == "late_labels":
        from mlops.airflow.runtime import dataset_config

        return None if dataset_config(dataset).labels.delay_days else "labels come with the partition (labels.delay_days is 0)"
    if gate == "policy_report":
        from mlops.airflow.operators import later_report_run
        from mlops.airflow.runtime import is_backfill

        context = ti.get_template_context()
        if not is_backfill(context):  # the run's type: a backfill may reprocess a scheduled run, keeping its id
            return "not a backfill run: run `mlops policy-report` for a report on demand"
        later = later_report_run(ti, context)
        return f"the report of backfill run {later} covers this period too" if later else None
    raise ValueError(f"RunGateTrigger: unknown gate {gate!r}")


class RunGateTrigger(BaseTrigger):
    """Starts a task of the nightly DAG in the triggerer and ends it there when it has nothing to do.

    The task has ``start_from_trigger``: the scheduler hands it to the triggerer, which looks at
    the run once. Gate ``recorded``: an earlier step of a backfill run did this task's work in
    its own process (``mlops.airflow.operators.recorded_for``), and the task ends successfully
    with the value recorded there (validation and drift done by ``ingest``; evaluation and the
    replayed promotion done by ``train``). Other gates
    (``gate_verdict``): a task with nothing to do ends as skipped (in a backfill, most days'
    late-labels step and policy report). Both without a worker process; otherwise the task
    resumes in a worker to do its work (``execute_complete``).
    """

    def __init__(self, gate: str, dataset: str):
        super().__init__()
        self.gate, self.dataset = gate, dataset

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return ("mlops.airflow.triggers.RunGateTrigger", {"gate": self.gate, "dataset": self.dataset})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow.triggers.base import TaskSkippedEvent, TaskSuccessEvent

        if self.gate == "recorded":
            from mlops.airflow.operators import recorded_for

            try:
                xcoms = await asyncio.to_thread(recorded_for, self.task_instance)
            except Exception as e:  # the worker looks again, and does the work if it must
                self.log.warning("look-up of the recorded step failed (%s: %s); resuming in a worker", type(e).__name__, e)
                xcoms = None
            if xcoms is not None and "failed" not in xcoms:
                self.log.info("done in this backfill run by an earlier step in its process; ended with what it recorded")
                yield TaskSuccessEvent(xcoms=xcoms)
                return
            yield TriggerEvent({"gate": self.gate, "run": True})
            return
        reason = await asyncio.to_thread(gate_verdict, self.gate, self.dataset, self.task_instance)
        if reason:
            self.log.info("skipped: %s", reason)
            yield TaskSkippedEvent()
            return
        yield TriggerEvent({"gate": self.gate, "run": True})


#: How long a gated task may wait for the triggerer (none running, say) before a worker does its
#: work (``mlops.airflow.operators.ResumesFromGate.resume_execution``). The triggerer takes
#: one in a few seconds.
GATE_TIMEOUT = timedelta(minutes=10)


def start_behind_gate(operator: Any, gate: str, dataset: str, timeout: timedelta = GATE_TIMEOUT) -> Any:
    """Let ``operator`` start in the triggerer behind ``RunGateTrigger`` (it resumes with ``execute_complete``); returns it."""
    from airflow.triggers.base import StartTriggerArgs

    operator.start_from_trigger = True
    operator.start_trigger_args = StartTriggerArgs(
        trigger_cls="mlops.airflow.triggers.RunGateTrigger",
        trigger_kwargs={"gate": gate, "dataset": dataset},
        next_method="execute_complete",
        timeout=timeout,
    )
    return operator
