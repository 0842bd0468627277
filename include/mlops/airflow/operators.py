"""Custom operators: model registration (and its extra links), promotion, the shadow soak, the policy report."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.decorators.python import _PythonDecoratedOperator
from airflow.sdk import BaseOperator, BaseOperatorLink
from airflow.sdk.bases.decorator import task_decorator_factory

from mlops.errors import ConfigError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.types import TaskInstanceKey


def json_dict(owner: str, name: str, value: Any, required: tuple[str, ...] = ()) -> dict:
    """A rendered argument as a dict (XCom values may arrive as JSON text); ``{}`` for None."""
    if value is None or value == "":
        value = {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{owner}: {name} must be a dict or JSON object, got {value[:80]!r}") from e
    if not isinstance(value, dict):
        raise ConfigError(f"{owner}: {name} must be a dict, got {type(value).__name__}")
    missing = [k for k in required if k not in value]
    if missing:
        raise ConfigError(f"{owner}: {name} lacks {missing}")
    return value


class _LinkFromOperator(BaseOperatorLink):
    """A link computed by the operator during ``execute`` (Airflow stores it in XCom when the task ends)."""

    key: str = ""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        return (getattr(operator, "mlflow_links", None) or {}).get(self.key) or ""


class MlflowModelVersionLink(_LinkFromOperator):
    name = "MLflow model version"
    key = "model_version"


class MlflowRunLink(_LinkFromOperator):
    name = "MLflow run"
    key = "run"


class DriftReportLink(_LinkFromOperator):
    name = "Drift report"
    key = "drift_report"


class DataDocsLink(_LinkFromOperator):
    name = "Data Docs"
    key = "data_docs"


def models_page_url(path: str) -> str:
    """URL of a page of the Models plugin (``/mlops/…``), absolute when Airflow's base URL is known."""

    from mlops.settings import Settings

    return Settings.value("airflow_base_url").rstrip("/") + "/mlops/" + path.lstrip("/")


class ResumesFromGate:
    """An operator that may start in the triggerer behind ``RunGateTrigger`` (``mlops.airflow.triggers.start_behind_gate``).

    The trigger ends the task there when it has nothing to do, or when another step of its
    run did its work (``recorded_for``); otherwise the task resumes in a worker, here, and
    does its work as if it had started there.
    """

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        return self.execute(context)  # type: ignore[attr-defined]

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """A task the triggerer did not take in time (none running, or one far behind) does its work here instead.

        Every gated task checks in a worker what its gate checks (``execute``), so running it
        here gives the same result, only later (``mlops.airflow.triggers.GATE_TIMEOUT``).
        """
        from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

        if next_method == TRIGGER_FAIL_REPR and (next_kwargs or {}).get("error") == TriggerFailureReason.TRIGGER_TIMEOUT:
            log.warning("the triggerer did not take this task within its gate's timeout (is it running? `make status`); doing its work here")
            return self.execute(context)  # type: ignore[attr-defined]
        return super().resume_execution(next_method, next_kwargs, context)  # type: ignore[misc]


class GatedTaskOperator(ResumesFromGate, _PythonDecoratedOperator):
    """The operator of ``@gated_task``: a ``@task`` that may start in the triggerer."""


def gated_task(python_callable: Any = None, **kwargs: Any) -> Any:
    """``@task`` for a step that may start in the triggerer (``start_behind_gate``) and resume in a worker."""
    return task_decorator_factory(python_callable=python_callable, decorated_operator_class=GatedTaskOperator, **kwargs)


#: XCom key under which a backfill run's ingest step records the validation and drift it ran after ingesting.
AHEAD_STEPS_KEY = "backfill_ahead_steps"
#: XCom key under which a backfill run's train step records the model steps it ran after training.
BACKFILL_STEPS_KEY = "backfill_model_steps"
#: Steps of a backfill run whose work an earlier step does in its own process, by task id:
#: (that step's task id, its XCom key, the field that holds the value).
RECORDED_STEPS = {
    "validate": ("ingest", AHEAD_STEPS_KEY, "validation"),
    "detect_drift": ("ingest", AHEAD_STEPS_KEY, "drift"),
    "retrain.evaluate": ("retrain.train", BACKFILL_STEPS_KEY, "evaluation"),
    "retrain.register": ("retrain.train", BACKFILL_STEPS_KEY, "registered"),
    "retrain.replay_promotion": ("retrain.train", BACKFILL_STEPS_KEY, "replayed"),
}


def recorded_for(ti: Any) -> dict | None:
    """What an earlier step of the backfill run recorded for the task ``ti``, as the XComs that end it; None: nothing.

    ``{"return_value": value}`` (Airflow stores the XComs of a task the triggerer ends as JSON
    text: the steps that take these values read them with ``json_dict``), or ``{"failed":
    {"message", "failed_expectations"}}`` when the partition failed validation there (the
    ``validate`` task then fails with that ``ValidationFailed``, its alert included). A try of
    ``validate`` or ``detect_drift`` later than ingest's (a retry, or a clear of the step
    alone) does its work again itself; a run cleared whole (a backfill that reprocesses it)
    uses the record of ingest's new try. Works with a worker's task instance and with the
    triggerer's (``RunGateTrigger``).
    """
    from mlops.airflow.runtime import is_backfill

    source, key, field = RECORDED_STEPS.get(ti.task_id, (None, None, None))
    if source is None or not is_backfill(ti.get_template_context()):
        return None  # (outside backfills nothing is recorded: no look-up, which would log a missing XCom as an error)
    # One map index: the triggerer's supervisor answers single XCom look-ups only (no sequence slices).
    steps = ti.xcom_pull(task_ids=source, key=key, map_indexes=-1)
    if not isinstance(steps, dict):
        return None
    if "try" in steps and (ti.try_number or 1) > steps["try"]:
        return None  # a retry or a clear of this step alone: ingest's record is older than this try
    if failed := (steps.get("failed") or {}).get(field):
        return {"failed": failed}
    if field not in steps:
        return None
    return {"return_value": steps[field]}


def recorded_result(context: Context) -> Any:
    """The running step's value as an earlier step of its backfill run recorded it (``recorded_for``); raises a recorded ``ValidationFailed``.

    Returns ``recorded_for``'s dict (the value under ``return_value``), or None when the step has to do its work.
    """
    from mlops.errors import ValidationFailed

    ti = context["ti"]
    if (recorded := recorded_for(ti)) is None:
        return None
    source = RECORDED_STEPS[ti.task_id][0]
    if failed := recorded.get("failed"):
        message = f"{failed['message']} (found by {source}, which ran this step in its process)"
        raise ValidationFailed(message, failed_expectations=failed.get("failed_expectations"))
    log.info("done by %s in its own process in this backfill run: returning what it recorded", source)
    return recorded


class RegisterModelOperator(BaseOperator):
    """Register a trained model in MLflow's registry with lineage tags, once per DAG run.

    Parameters
    ----------
    dataset : str
        Dataset config name; gives the registered model's name.
    train_result : dict
        The train step's value (``run_id``, ``model_uri``, ``metrics``, windows, data hashes).
    evaluation, validation, drift, decision : dict, optional
        The other steps' values; recorded as tags on the model version.
    alias : str
        Alias set on the new version (default ``challenger``). Promotion to ``champion`` is
        the promotion DAG's job, never this operator's.

    Returns ``{model_name, version, alias, created, run_id, alias_note, superseded}``. A retry
    or a re-run of the same DAG run returns the version it registered before; it never creates
    a second one, and the alias never moves back from a newer version to it (``alias`` is then
    None and ``alias_note`` says why; see ``mlops.registry.client``).
    """

    template_fields: Sequence[str] = ("dataset", "train_result", "evaluation", "validation", "drift", "decision", "alias")
    operator_extra_links = (MlflowModelVersionLink(), MlflowRunLink(), DriftReportLink(), DataDocsLink())
    ui_color = "#d9f2e6"

    def __init__(
        self,
        *,
        dataset: str,
        train_result: Any,
        evaluation: Any = None,
        validation: Any = None,
        drift: Any = None,
        decision: Any = None,
        alias: str = "challenger",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.train_result = train_result
        self.evaluation = evaluation
        self.validation = validation
        self.drift = drift
        self.decision = decision
        self.alias = alias
        self.mlflow_links: dict[str, str] = {}

    def execute(self, context: Context) -> dict:
        from mlops.airflow.runtime import fail_fast

        owner = type(self).__name__
        with fail_fast():
            train = json_dict(owner, "train_result", self.train_result, ("run_id", "model_uri", "metrics"))
            if recorded := recorded_result(context):  # a backfill's train step registered it, in order with the other days
                result = recorded["return_value"]
                self.log.info("registered %s version %s", result["model_name"], result["version"])
                self.mlflow_links = registration_links(context, self.dataset, train, result)
                return result
            result = register_trained(
                context,
                self.dataset,
                train,
                evaluation=json_dict(owner, "evaluation", self.evaluation),
                validation=json_dict(owner, "validation", self.validation),
                drift=json_dict(owner, "drift", self.drift),
                decision=json_dict(owner, "decision", self.decision),
                alias=self.alias,
            )
            self.mlflow_links = registration_links(context, self.dataset, train, result)
            return result


def register_trained(
    context: Context, dataset: str, train: dict, *, evaluation: dict, validation: dict, drift: dict, decision: dict, alias: str = "challenger"
) -> dict:
    """Register the run's trained model with its lineage tags (once per DAG run; see ``RegisterModelOperator``)."""
    from mlops import schema, tracking
    from mlops.airflow.runtime import lineage_tags, run_config, run_key
    from mlops.config import Settings
    from mlops.registry import register_version

    config = run_config(dataset, context)
    settings = Settings.from_env()
    client = tracking.client(settings)
    tags = lineage_tags(context) | schema.encode_tags(
        {
            schema.DATASET: config.name,
            schema.DATA_INTERVAL_END: (train.get("holdout_window") or [None, None])[1],
            schema.TRAINING_WINDOW: train.get("training_window"),
            schema.HOLDOUT_WINDOW: train.get("holdout_window"),
            schema.TRAINING_SAMPLE: train.get("training_sample"),
            schema.DATA_HASHES: {k: v[:16] for k, v in train.get("data_hashes", {}).items()},
            schema.DATA_FINGERPRINT: train.get("data_fingerprint"),
            schema.INPUT_FINGERPRINT: train.get("input_fingerprint"),
            schema.CONFIG_FINGERPRINT: config.fingerprint(),
            schema.CODE_VERSION: tracking.code_version(),
            schema.METRICS: train["metrics"],
            schema.VALIDATION: {"success": validation.get("success"), "docs_uri": validation.get("docs_uri")},
            schema.DRIFT_REPORT_URI: drift.get("report_uri", ""),
            schema.DRIFT_SHARE: drift.get("drift_share", ""),
            schema.RETRAIN_REASONS: decision.get("reasons", []),
            schema.BLESSED: evaluation.get("blessed"),
            schema.EVALUATION: {k: evaluation.get(k) for k in ("challenger_metrics", "champion_metrics", "champion_version", "reasons")},
        }
    )
    result = register_version(
        client,
        name=config.model_name,
        model_uri=train["model_uri"],
        model_id=train.get("model_id"),
        run_id=train["run_id"],
        run_key=run_key(context),
        tags=tags,
        alias=alias,
        description=f"Trained by {run_key(context)} on {config.name}; reasons: {'; '.join(decision.get('reasons', [])) or 'n/a'}",
    )
    log.info(
        "model %s version %s (%s) alias %s",
        result["model_name"],
        result["version"],
        "created" if result["created"] else "already registered by this run",
        result["alias"] or f"not moved: {result['alias_note']}",
    )
    return result


def run_backfill_model_steps(context: Context, dataset: str, train: dict, *, decision: dict, validation: dict, drift: dict) -> dict:
    """A backfill run's model steps after training, in the train step's own process.

    Evaluation, registration and the replayed promotion (``replay_decision``) run here, one
    after the other, as their tasks would; the result is recorded in XCom
    (``BACKFILL_STEPS_KEY``), where the ``evaluate``, ``register`` and ``replay_promotion``
    tasks of the run find it and return it instead of doing the work again. The next day's
    decision waits only for this step (the nightly DAG's ``BACKFILL_MODEL_STEPS``): a backfill's retraining day
    costs one task start-up instead of four, and three scheduler hand-offs less. Each step is
    idempotent (one model version per run), and a retry after the replayed promotion reads the
    day's steps back from its version instead of evaluating again (``_decided_before``).
    """
    from mlops import tracking
    from mlops.airflow.runtime import run_config, run_key
    from mlops.config import Settings
    from mlops.promotion.history import replay_decision
    from mlops.training.evaluate import evaluate_challenger

    config, settings = run_config(dataset, context), Settings.from_env()
    if (steps := _decided_before(config.model_name, settings, run_key(context))) is not None:
        log.info("this run's version was registered and decided before this try: %s", steps["replayed"])
    else:
        evaluation = evaluate_challenger(config, settings, train)
        log.info("evaluation: %s", {k: evaluation.get(k) for k in ("blessed", "reasons")})
        registered = register_trained(context, dataset, train, evaluation=evaluation, validation=validation, drift=drift, decision=decision)
        replayed = replay_decision(tracking.client(settings), config.model_name, registered["version"], run_key=run_key(context), evaluation=evaluation)
        log.info("replayed promotion: %s", replayed)
        steps = {"evaluation": evaluation, "registered": registered, "replayed": replayed}
    context["ti"].xcom_push(key=BACKFILL_STEPS_KEY, value=steps)
    return steps


def run_backfill_ahead_steps(context: Context, config: Any, settings: Any, interval: Any) -> dict:
    """A backfill run's validation and drift, in the ingest step's own process, right after ingesting.

    The result is recorded in XCom (``AHEAD_STEPS_KEY``): the ``validate`` and ``detect_drift``
    tasks of the run return it (``recorded_for``; started in the triggerer, they end there
    without a worker process). A partition that fails validation is quarantined here, as the
    validate step would, and recorded as failed: the ``validate`` task then fails with the
    message and sends its alert. Any other error leaves the step to its own task, which
    does the work itself (and fails there, where its log and retries belong).
    """
    from mlops.airflow.runtime import run_key, source_for
    from mlops.errors import ValidationFailed
    from mlops.monitor import run_drift_step
    from mlops.validation import validate_partition

    steps: dict[str, Any] = {"try": context["ti"].try_number}
    try:
        steps["validation"] = validate_partition(config, settings, interval)
    except ValidationFailed as e:
        log.error("validation failed: %s", e)
        steps["failed"] = {"validation": {"message": str(e), "failed_expectations": e.failed_expectations}}
    except Exception as e:
        log.warning("validation left to the validate task (%s: %s)", type(e).__name__, e)
    if "validation" in steps:
        try:
            steps["drift"] = run_drift_step(config, settings, interval, run_key=run_key(context), source=source_for(config, settings))
        except Exception as e:
            log.warning("drift left to the detect_drift task (%s: %s)", type(e).__name__, e)
    log.info("validated and measured drift in this process: %s", sorted(k for k in steps if k in ("validation", "drift")) or "nothing")
    context["ti"].xcom_push(key=AHEAD_STEPS_KEY, value=steps)
    return steps


def _decided_before(name: str, settings: Any, key: str) -> dict | None:
    """The model steps as an earlier try of the train step left them, when its version is already decided.

    A retry must not evaluate again: the version may by now be the backfill's champion, and
    would be compared with itself. The evaluation is read back from the version's tags.
    """
    from mlops import schema, tracking
    from mlops.registry.client import find_version_by_run_key

    version = find_version_by_run_key(tracking.client(settings), name, key)
    if version is None or not (decision := schema.DECISION.get(version.tags)):
        return None
    evaluation = {**(schema.EVALUATION.get(version.tags) or {}), "blessed": schema.BLESSED.get(version.tags)}
    registered = {
        "model_name": name,
        "version": str(version.version),
        "alias": None,
        "created": False,
        "run_id": version.run_id,
        "alias_note": "registered and decided by an earlier try of this run",
        "superseded": [],
    }
    return {
        "evaluation": evaluation,
        "registered": registered,
        "replayed": {"version": str(version.version), "decision": decision, "kind": "backfill", "already": True},
    }


def registration_links(context: Context, dataset: str, train: dict, result: dict) -> dict[str, str]:
    """The register step's extra links: the model version, its training run, the day's drift report and Data Docs."""
    from mlops import tracking
    from mlops.airflow.runtime import interval_of, run_config
    from mlops.config import Settings

    settings, config = Settings.from_env(), run_config(dataset, context)
    return {
        "model_version": tracking.model_version_url(settings, result["model_name"], result["version"]) or "",
        "run": tracking.run_url(settings, train.get("experiment_id", ""), train["run_id"]) or "",
        # The day's drift report and the validation's Data Docs, served by the Models plugin.
        "drift_report": models_page_url(f"reports/{config.name}/drift/{interval_of(context).start.date()}.html"),
        "data_docs": models_page_url("datadocs/index.html"),
    }


def approval_info(approval: Any) -> dict | None:
    """Approver, time and comment from an ``ApprovalOperator`` result (None when there was no approval step)."""
    if not approval:
        return None
    approval = json_dict("approval", "approval", approval)
    user = approval.get("responded_by_user") or {}
    at = approval.get("responded_at")
    return {
        "by": user.get("name") or user.get("id") if isinstance(user, dict) else str(user),
        "at": at.isoformat() if hasattr(at, "isoformat") else at,
        "comment": (approval.get("params_input") or {}).get("comment") or None,
        "chosen": (approval.get("chosen_options") or [None])[0],
    }


class PromoteModelOperator(BaseOperator):
    """Make a model version the ``champion`` of its registered model.

    Moves ``champion`` to ``version`` and ``previous`` to the old champion, clears
    ``challenger``, and appends an entry to the promotion history kept in the registry
    (see ``mlops.promotion.history``). The version must have passed the gates; a retry of
    the same DAG run does not move anything twice.

    Parameters
    ----------
    dataset : str
        Dataset config name (gives the registered model's name).
    version : str
        The version to make champion (templated; usually the sensor's or the gates' XCom).
    gates : dict, optional
        The gates' result; required for ``kind="promotion"`` and must have ``passed``.
    approval : dict, optional
        ``ApprovalOperator``'s result; recorded (approver, time, comment) when given.
    kind : str
        ``promotion`` or ``rollback``.
    reason : str
        Why; recorded in the history entry.
    shadow : dict, optional
        The shadow soak's result (``ShadowSoakOperator``); when given it must say ``promote``
        for this version, and the history entry keeps its numbers.
    """

    template_fields: Sequence[str] = ("dataset", "version", "gates", "approval", "kind", "reason", "shadow")
    operator_extra_links = (MlflowModelVersionLink(),)
    ui_color = "#fde9c9"

    def __init__(
        self,
        *,
        dataset: str,
        version: Any,
        gates: Any = None,
        approval: Any = None,
        kind: str = "promotion",
        reason: str = "",
        shadow: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.shadow = shadow
        self.version = version
        self.gates = gates
        self.approval = approval
        self.kind = kind
        self.reason = reason
        self.mlflow_links: dict[str, str] = {}

    def execute(self, context: Context) -> dict:
        from mlops.airflow.runtime import fail_fast

        with fail_fast():
            return self._promote(context)

    def _promote(self, context: Context) -> dict:
        from contextlib import nullcontext

        from mlops import tracking
        from mlops.airflow.runtime import dataset_config, run_key
        from mlops.config import Settings
        from mlops.promotion.decisions import recording_failure
        from mlops.promotion.history import move_champion, supersede_older

        if self.kind not in ("promotion", "rollback"):
            raise ConfigError(f"PromoteModelOperator: kind must be 'promotion' or 'rollback', got {self.kind!r}")
        version = str(self.version or "").strip()
        if not version.isdigit():
            raise ConfigError(f"PromoteModelOperator: version must be a model version number, got {self.version!r}")
        gates = json_dict(type(self).__name__, "gates", self.gates) or None
        if self.kind == "promotion" and not (gates and gates.get("passed") is True and str(gates.get("version")) == version):
            raise ConfigError(
                f"PromoteModelOperator: version {version} has no passing gate result for it (got {str(gates)[:200]}); "
                "the champion only moves to a version that passed the gates"
            )
        shadow = json_dict(type(self).__name__, "shadow", self.shadow) or None
        if shadow is not None and not (shadow.get("decision") == "promote" and str(shadow.get("version")) == version):
            raise ConfigError(
                f"PromoteModelOperator: the shadow soak did not end with 'promote' for version {version} "
                f"(got {str(shadow)[:200]}); the champion only moves to a version its soak promoted"
            )
        config = dataset_config(self.dataset)
        settings = Settings.from_env()
        client = tracking.client(settings)
        from mlops.promotion.shadow import summary

        with recording_failure(client, config.model_name, version, task=self.task_id, run_key=run_key(context)) if self.kind == "promotion" else nullcontext():
            entry = move_champion(
                client,
                config.model_name,
                version,
                kind=self.kind,
                run_key=run_key(context),
                reason=self.reason or self.kind,
                approval=approval_info(self.approval),
                gates=(gates or {}).get("gates"),
                shadow=summary(shadow),
            )
            if self.kind == "promotion":
                entry["superseded"] = supersede_older(client, config.model_name, version, run_key=run_key(context))
        self.mlflow_links = {"model_version": tracking.model_version_url(settings, config.model_name, version) or ""}
        self.log.info("%s: champion is now %s version %s (was %s)", self.kind, config.model_name, version, entry["from_version"])
        return entry


class ShadowSoakOperator(BaseOperator):
    """The shadow soak gate: wait, deferred, for labelled shadow days and decide with a sequential test.

    ``execute`` looks once at what is labelled already (``mlops.promotion.shadow.soak_look``);
    when that does not decide, the task defers to ``ShadowSoakTrigger``, which looks again every
    ``promotion.shadow.poke_seconds`` in the triggerer (no worker slot) and ends the wait at the
    first look that decides. Returns the soak's result: ``decision`` (``promote``, ``reject`` or
    ``superseded``), ``detail`` with the numbers, and the looks.

    Parameters
    ----------
    dataset : str
        Dataset config name.
    version : str
        The challenger (templated; usually the gates' XCom).
    """

    template_fields: Sequence[str] = ("dataset", "version")
    ui_color = "#e8e0f5"

    def __init__(self, *, dataset: str, version: Any, tracking_uri: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.version = version
        self.tracking_uri = tracking_uri

    def execute(self, context: Context) -> dict:
        from mlops import tracking
        from mlops.airflow.runtime import dataset_config, fail_fast, prediction_store_url, run_key
        from mlops.airflow.triggers import ShadowSoakTrigger
        from mlops.config import Settings
        from mlops.predictions.store import PredictionStore
        from mlops.promotion.decisions import recording_failure
        from mlops.promotion.shadow import soak_look

        version = str(self.version or "").strip()
        if not version.isdigit():
            raise ConfigError(f"ShadowSoakOperator: version must be a model version number, got {self.version!r}")
        with fail_fast():
            config, settings = dataset_config(self.dataset), Settings.from_env()
            client = tracking.client(settings)
            with recording_failure(client, config.model_name, version, task=self.task_id, run_key=run_key(context)):
                result = soak_look(config, client, PredictionStore(prediction_store_url(config, settings)), version)
        self.log.info("shadow soak of %s v%s: %s", config.model_name, version, result["detail"])
        if result["decision"] != "continue":
            return result
        soak = config.promotion.shadow
        # A soak that gets no labelled day (scoring stopped) fails after this long instead of waiting for ever.
        wait = timedelta(days=soak.max_days + config.labels.delay_days + 7)
        self.defer(
            trigger=ShadowSoakTrigger(dataset=self.dataset, version=version, poke_interval=soak.poke_seconds, tracking_uri=self.tracking_uri),
            method_name="execute_complete",
            timeout=wait,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict:
        from mlops.errors import PromotionFailed

        if not event or event.get("status") != "decided":
            raise PromotionFailed(
                f"the shadow soak of version {self.version} ended without a decision: {(event or {}).get('error', event)!r}. "
                "See the triggerer log, fix the cause, then clear this task: the soak resumes from its stored looks"
            )
        result = event["result"]
        self.log.info("shadow soak of version %s: %s", self.version, result["detail"])
        return result


class PolicyReportOperator(ResumesFromGate, BaseOperator):
    """Backfill runs only: refresh the retraining-policy report of the backfill's registered model.

    Covers the backfill's period up to this run's data interval end, so the last run of a
    backfill leaves the report for all of it (see ``mlops.policy_report``). The extra link
    opens the MLflow run that holds the HTML page and its PNG chart. Skipped in other runs.
    """

    template_fields: Sequence[str] = ("dataset",)
    operator_extra_links = (MlflowRunLink(),)
    ui_color = "#e3f0fb"

    def __init__(self, *, dataset: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.mlflow_links: dict[str, str] = {}

    def execute(self, context: Context) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from mlops import tracking
        from mlops.airflow.runtime import fail_fast, interval_of, run_config
        from mlops.airflow.triggers import gate_verdict
        from mlops.config import Settings
        from mlops.policy_report import build_report, log_report, period_of

        if reason := gate_verdict("policy_report", self.dataset, context["ti"]):
            raise AirflowSkipException(reason)
        with fail_fast():
            config, settings = run_config(self.dataset, context), Settings.from_env()
            client = tracking.client(settings)
            start, end = period_of(client, config.model_name, interval_of(context).end.date())
            result = build_report(config, settings, client, model_name=config.model_name, start=start, end=end)
            logged = log_report(settings, config, result, run_key=f"{context['dag'].dag_id}/{config.model_name}")
        self.mlflow_links = {"run": logged["url"] or ""}
        self.log.info("policy report for %s, %s..%s: %s", config.model_name, start, end, result["summary"]["mean"])
        return {"report_uri": result["report_uri"], "mlflow_run_id": logged["run_id"], "summary": result["summary"]}

    #: Following intervals looked at for a backfill run whose report covers this one's period.
    LOOK_AHEAD = 7


def later_report_run(ti: Any, context: Context) -> str | None:
    """A backfill run of one of the next ``PolicyReportOperator.LOOK_AHEAD`` intervals whose report covers this run's period too.

    A backfill creates all its runs up front, and each report covers the period up to its own
    run: writing one per run would redo the whole period every day (it was the longest task
    of a backfill). A run writes the report only when none of the next ``LOOK_AHEAD``
    intervals has a backfill run whose report has not failed (``report_left_to``); in the
    normal case that is the backfill's last run. A day that fails (a quarantined partition
    fails its run, and its report with it) does not make the day before build the whole
    period's report in the middle of the backfill: the days after it still run, and the last
    one writes it. If that fails, `mlops policy-report` builds the same report on demand.
    """
    from mlops.airflow.runtime import interval_of

    interval = interval_of(context)
    # Logical dates are interval starts: the next interval's run has this run's end.
    step = interval.end - interval.start
    following = [interval.end + i * step for i in range(PolicyReportOperator.LOOK_AHEAD)]
    states = ti.get_task_states(dag_id=ti.dag_id, task_ids=[ti.task_id], logical_dates=following) or {}
    return report_left_to(states, ti.task_id)


def report_left_to(states: dict[str, dict[str, Any]], task_id: str) -> str | None:
    """The first backfill run (by run id) in ``states`` whose ``task_id`` has not failed; None if there is none."""
    from mlops.airflow.triggers import FAILED_STATES

    for run_id in sorted(states):
        if run_id.startswith("backfill__") and str(states[run_id].get(task_id)) not in FAILED_STATES:
            return run_id
    return None
