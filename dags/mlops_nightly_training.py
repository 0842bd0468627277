"""
### Nightly training

One run = one data interval `[data_interval_start, data_interval_end)` of the dataset.

1. **ingest** checks the run's inputs first (the trigger form's windows leave a training day,
   the estimator imports and accepts its params), then pulls exactly the run's interval from
   the dataset's source into one Parquet partition (atomic write, row count, content hash).
   Every task a worker runs refuses a run conf with a key that is not a param of this DAG.
2. **validate** runs the dataset's Great Expectations suite as a checkpoint and updates the
   Data Docs. A failing partition is quarantined and the run stops here: nothing trains on it.
   A passing partition updates the dataset's asset, which runs the batch scoring DAG.
3. **detect_drift** compares the partition with the champion's training data (or a trailing
   window) feature by feature and logs a JSON/HTML/PNG report to MLflow.
   **wait_for_previous_run** (a sensor that takes no worker slot while waiting) holds the
   decision until the previous interval's model steps are done, so backfills keep model
   decisions in order while ingest, validate and drift of several days run in parallel; if
   the champion moved meanwhile, the decision measures the drift again against the new one.
4. **collect_labels** (late labels only, `labels.delay_days` = k > 0): the targets of day
   D - k arrive, are checked against that partition's row keys and stored; they join the
   predictions stored for that day (realised live metrics) and the training windows.
5. **decide** retrains when there is no champion, when enough features drift, when the
   champion's metric on the new labelled data fell, when the champion is too old, or when
   the trigger form asks for it; otherwise the run ends at `no_retrain`.
6. **retrain**: **train** fits the configured scikit-learn Pipeline on the window that ends at
   `data_interval_end` (never a row after it; with late labels, at the last labelled day),
   **evaluate** scores challenger and champion on the same holdout, and **register** adds one model version per DAG run in MLflow's registry
   with lineage tags and the alias `challenger`. Promotion to `champion` is the promotion
   DAG's decision. Backfill runs register into `<model>__backfill[__label]` instead, and
   **replay_promotion** replays the promotion policy there; production aliases never move.
   In a backfill run, train does evaluate, register and replay_promotion's work in its own
   process right after training (the next day waits for train only), and ingest validates
   and measures drift in its own; those tasks then return what was recorded (the triggerer
   ends validate, detect_drift, evaluate and replay_promotion without a worker process, and
   validate sends no asset event then: scoring ignores backfill partitions).

Alerts (the dataset config's `alerts:` section): a quarantined partition, a drift alarm, a stale
champion, a failed run, and a run still unfinished `alerts.late_after_hours` after its interval
end (a Deadline Alert) are sent to the configured webhook and email channels, once each; the
night's low-severity events go out as one digest when the run ends.

Every dataset config under `include/datasets/` with a `dag:` section gets one such DAG; this
one is built from the config named in its tags. Trigger with **force_retrain** to retrain
regardless of the decision rules.
"""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Param, XComArg, get_current_context, task, task_group

from mlops.airflow.assets import partition_asset, partition_event_extra
from mlops.airflow.defaults import MODEL_STEP_PRIORITY, common_dag_args, model_queue, training_queue, with_params
from mlops.airflow.operators import PolicyReportOperator, RegisterModelOperator, gated_task
from mlops.airflow.sensors import PreviousRunSensor
from mlops.airflow.timetables import PartitionIntervalTimetable
from mlops.airflow.triggers import start_behind_gate
from mlops.alerts.notifiers import AlertNotifier
from mlops.dagspec import dag_specs

PARAMS = {
    "force_retrain": Param(
        False,
        type="boolean",
        title="Force retraining",
        description="Retrain and register a challenger even if no rule asks for it (no champion, drift, decay, age).",
    ),
    "training_window_days": Param(
        None,
        type=["null", "integer"],
        minimum=2,
        maximum=730,
        title="Training window (days)",
        description="Days of data ending at the run's data_interval_end used to train and evaluate. Empty: the dataset config's value.",
    ),
    "holdout_days": Param(
        None,
        type=["null", "integer"],
        minimum=1,
        maximum=60,
        title="Holdout (days)",
        description="The most recent days of the window kept for evaluation. Empty: the dataset config's value.",
    ),
    "backfill_label": Param(
        None,
        type=["null", "string"],
        pattern=r"^[a-z0-9_]{0,40}$",
        title="Backfill label",
        description=(
            "Backfill runs only: they register into '<model>__backfill' (or '<model>__backfill__<label>') and replay "
            'promotions there, never touching production aliases. Set with --dag-run-conf \'{"backfill_label": "q1"}\'.'
        ),
    ),
    "note": Param(
        None,
        type=["null", "string"],
        maxLength=500,
        title="Note",
        description="Why this run was triggered; recorded on the MLflow run and the model version.",
    ),
}


def _setup(dataset: str, *, ahead: bool = False):
    """Context, dataset config, settings and interval of the running task.

    ``ahead``: a step that backfills run ahead of the day-by-day model steps (ingest, validate,
    drift); in a backfill it yields the CPU to them (``yield_cpu_to_model_steps``).
    """
    from mlops.airflow.runtime import fail_fast, interval_of, run_config, yield_cpu_to_model_steps
    from mlops.config import Settings

    context = get_current_context()
    if ahead:
        yield_cpu_to_model_steps(context)
    with fail_fast():
        return context, run_config(dataset, context), Settings.from_env(), interval_of(context)


def _fail_fast():
    from mlops.airflow.runtime import fail_fast

    return fail_fast()


@task(
    doc_md=(
        "Check the run's windows and the estimator, then pull the run's data interval from the source and write its partition "
        "(atomic, with row count and content hash). In a backfill run it then validates the partition and measures its drift "
        "in the same process; validate and detect_drift return what it recorded."
    )
)
def ingest(dataset: str) -> dict:
    from mlops.airflow.operators import run_backfill_ahead_steps
    from mlops.airflow.runtime import check_run_inputs, is_backfill, source_for
    from mlops.ingest import ingest_interval

    context, config, settings, interval = _setup(dataset, ahead=True)
    with _fail_fast():
        check_run_inputs(config, context["params"])  # windows and estimator: fail before any work
        partition = ingest_interval(config, settings, interval, source_for(config, settings)).to_dict()
    if is_backfill(context):
        run_backfill_ahead_steps(context, config, settings, interval)
    return partition


@gated_task(
    doc_md=(
        "Validate the partition with the dataset's Great Expectations suite; quarantine it and fail the run if it does not pass. "
        "A partition that passes updates the dataset's asset (its date and content hash in the event's extra): the scoring DAG runs on it. "
        "In a backfill run, ingest validated it: the triggerer ends this task with that result (no asset event: scoring ignores backfills)."
    )
)
def validate(dataset: str, partition: dict) -> dict:
    from mlops.airflow.operators import recorded_result
    from mlops.airflow.runtime import run_key, run_type
    from mlops.validation import validate_partition

    context, config, settings, interval = _setup(dataset, ahead=True)
    with _fail_fast():  # bad data does not get better with retries: fail at once
        recorded = recorded_result(context)
        result = recorded["return_value"] if recorded else validate_partition(config, settings, interval)
    extra = partition_event_extra(partition, run_key=run_key(context), run_type=run_type(context))
    context["outlet_events"][partition_asset(dataset)].extra = extra
    return result


@gated_task(
    doc_md=(
        "Per-feature drift between the partition and the reference window; report logged to MLflow. "
        "In a backfill run, ingest measured it: the triggerer ends this task with that result."
    )
)
def detect_drift(dataset: str, validation: dict) -> dict:
    from mlops.airflow.operators import recorded_result
    from mlops.airflow.runtime import run_key, source_for
    from mlops.monitor import run_drift_step

    context, config, settings, interval = _setup(dataset, ahead=True)
    with _fail_fast():
        if recorded := recorded_result(context):
            return recorded["return_value"]
        return run_drift_step(config, settings, interval, run_key=run_key(context), source=source_for(config, settings))


COLLECT_LABELS_DOC = (
    "Late labels (labels.delay_days = k > 0): the targets of day D - k arrive tonight. They are checked against that "
    "partition's row keys (unknown or repeated keys, invalid values: the batch is refused whole, with counts) and stored in "
    "the lake and the prediction store, where they join that day's predictions. Skipped when labels come with the partition "
    "(in the triggerer, without a worker process)."
)


@gated_task(task_id="collect_labels", doc_md=COLLECT_LABELS_DOC)
def collect_labels(dataset: str) -> dict:
    from airflow.sdk.exceptions import AirflowSkipException

    from mlops.airflow.runtime import labels_source_for, prediction_store_url, run_key
    from mlops.airflow.triggers import gate_verdict
    from mlops.predictions.labels import collect_labels as collect
    from mlops.predictions.store import PredictionStore

    context, config, settings, interval = _setup(dataset)
    if reason := gate_verdict("late_labels", dataset, context["ti"]):
        raise AirflowSkipException(reason)
    with _fail_fast():
        store = PredictionStore(prediction_store_url(config, settings)) if config.scoring else None
        return collect(
            config,
            settings,
            interval,
            source=labels_source_for(config, settings),
            store=store,
            run_key=run_key(context),
            dag_id=context["dag"].dag_id,
            run_id=context["run_id"],
        )


@task.branch(trigger_rule="none_failed", doc_md="Apply the retraining policy; the decision and its reasons are in XCom under `decision`.")
def decide(dataset: str, drift: dict) -> str:
    from mlops.airflow.operators import json_dict
    from mlops.airflow.runtime import prediction_store_url, run_key, source_for
    from mlops.monitor import champion_state, drift_for_decision
    from mlops.predictions.store import PredictionStore
    from mlops.training.decide import decide_retrain, null_rate_only, policy_drift

    context, config, settings, interval = _setup(dataset)
    with _fail_fast():
        drift = json_dict("decide", "drift", drift)  # as JSON text when the triggerer ended detect_drift (see recorded_for)
        store = PredictionStore(prediction_store_url(config, settings)) if config.scoring else None
        state = champion_state(config, settings, interval, store=store)
        drift, redone = drift_for_decision(
            config, settings, interval, drift, state.version if state else None, run_key=run_key(context), source=source_for(config, settings)
        )
    share, drifted = policy_drift(drift, config.retrain, config.features)
    decision = decide_retrain(
        policy=config.retrain,
        primary_metric=config.training.primary_metric,
        interval_end=interval.end,
        champion=state,
        drift_share=share,
        drifted_features=drifted,
        null_rate_features=null_rate_only(drift, drifted),
        force=bool(context["params"].get("force_retrain")),
    )
    decision["watched_drift_share"], decision["watched_drifted"] = share, drifted
    if redone:
        decision["drift_measured_again"] = redone
    context["ti"].xcom_push(key="drift", value=drift)  # what the decision used: register and alerts read it
    context["ti"].xcom_push(
        key="champion",
        value={  # for the champion_stale alert
            "version": state.version if state else None,
            "data_end": state.data_end.isoformat() if state and state.data_end else None,
        },
    )
    context["ti"].xcom_push(key="decision", value=decision)
    return "retrain.train" if decision["retrain"] else "no_retrain"


@task(
    pool="mlops_training",
    doc_md=(
        "Fit the Pipeline on the window ending at data_interval_end; log params, metrics, inputs and the model to MLflow. "
        "In a backfill run it then evaluates, registers and replays the promotion in the same process (the next day waits "
        "for this step only); evaluate, register and replay_promotion return what it recorded."
    ),
)
def train(dataset: str, decision: dict, validation: dict | None = None, drift: dict | None = None) -> dict:
    from mlops import schema
    from mlops.airflow.operators import json_dict, run_backfill_model_steps
    from mlops.airflow.runtime import is_backfill, lineage_tags, run_key, source_for
    from mlops.training.train import train_model

    context, config, settings, interval = _setup(dataset)
    params = context["params"]
    lineage = lineage_tags(context) | schema.encode_tags({schema.RETRAIN_REASONS: decision.get("reasons", []), schema.NOTE: params.get("note") or None})
    with _fail_fast():
        validation = json_dict("train", "validation", validation)  # as JSON text when the triggerer ended validate
        result = train_model(
            config,
            settings,
            end=interval.end,
            run_key=run_key(context),
            lineage=lineage,
            window_days=params.get("training_window_days"),
            holdout_days=params.get("holdout_days"),
            source=source_for(config, settings),
        )
        if is_backfill(context):
            run_backfill_model_steps(context, dataset, result, decision=decision, validation=validation, drift=drift or {})
    return result


@gated_task(doc_md="Score challenger and current champion on the same holdout and record the comparison.")
def evaluate(dataset: str, train_result: dict) -> dict:
    from mlops.airflow.operators import recorded_result
    from mlops.training.evaluate import evaluate_challenger

    context, config, settings, _ = _setup(dataset)
    with _fail_fast():
        if recorded := recorded_result(context):
            return recorded["return_value"]  # evaluated by the train step, before the next day went on
        return evaluate_challenger(config, settings, train_result)


#: A run's model steps in order; the next interval's decision waits until they are over
#: (ended, or cut short by a skip or failure: see ``mlops.airflow.triggers.chain_pending``).
MODEL_STEPS = ("decide", "retrain.train", "retrain.evaluate", "retrain.register", "retrain.replay_promotion")
#: The same in a backfill run, whose train step also evaluates, registers and replays the promotion.
BACKFILL_MODEL_STEPS = MODEL_STEPS[:2]


@gated_task(
    doc_md="Backfill runs only: replay the promotion policy in the backfill's registered model (blessed by evaluate → its champion). Skipped otherwise."
)
def replay_promotion(dataset: str, registered: dict, evaluation: dict) -> dict:
    from airflow.sdk.exceptions import AirflowSkipException

    from mlops import tracking
    from mlops.airflow.operators import json_dict, recorded_result
    from mlops.airflow.runtime import is_backfill, run_key
    from mlops.promotion.history import replay_decision

    context, config, settings, _ = _setup(dataset)
    if not is_backfill(context):
        raise AirflowSkipException("not a backfill run: production promotion is the promotion DAG's job")
    if recorded := recorded_result(context):
        return recorded["return_value"]  # replayed by the train step, before the next day went on
    with _fail_fast():
        registered = json_dict("replay_promotion", "registered", registered)  # JSON text from a step the triggerer ended
        evaluation = json_dict("replay_promotion", "evaluation", evaluation)
        return replay_decision(tracking.client(settings), config.model_name, registered["version"], run_key=run_key(context), evaluation=evaluation)


def build_dag(spec: dict) -> DAG:
    dataset = spec["dataset"]
    schedule = PartitionIntervalTimetable(spec["schedule"], timezone="UTC") if spec["schedule"] else None
    # Model steps: first where tasks wait for a slot (MODEL_STEP_PRIORITY), on queues of their own where set.
    model_step, training_step = model_queue() | MODEL_STEP_PRIORITY, training_queue() | MODEL_STEP_PRIORITY
    dag_args = common_dag_args(spec, kind="training", doc_md=__doc__, params=PARAMS)
    dag_args["default_args"] = {**dag_args["default_args"], "weight_rule": "absolute"}

    def gated(task_or_output, gate: str):
        """The task, started in the triggerer behind ``gate`` (``RunGateTrigger``) unless the dataset says ``dag.start_in_triggerer: false``."""
        if spec["start_in_triggerer"]:
            start_behind_gate(getattr(task_or_output, "operator", task_or_output), gate, dataset)
        return task_or_output

    with DAG(
        dag_id=spec["dag_id"],
        description=f"Nightly ingest, validate, drift, retrain of '{dataset}'. {spec['description']}"[:300],
        schedule=schedule,
        max_active_runs=4,
        **dag_args,
    ) as dag:
        partition = ingest(dataset)
        validation = gated(
            validate.override(outlets=[partition_asset(dataset)], on_failure_callback=AlertNotifier("partition_quarantined"))(dataset, partition), "recorded"
        )
        drift = gated(detect_drift(dataset, validation), "recorded")
        branch = decide.override(on_success_callback=AlertNotifier("decision"), **model_step)(dataset, drift)
        (
            PreviousRunSensor(
                task_id="wait_for_previous_run",
                task_ids=MODEL_STEPS,
                backfill_task_ids=BACKFILL_MODEL_STEPS,
                start_in_triggerer=spec["start_in_triggerer"],
                timeout=6 * 3600,
                doc_md=(
                    "Wait until the previous interval's run has finished its model steps (decision, then, if it retrains, "
                    "training, evaluation and registration; in a backfill run the train step does those and the replayed promotion), "
                    "so the decision and the evaluation see the model that run produced (the decision measures drift again if the "
                    "champion moved after detect_drift). Ingest, validate and drift of many intervals still run in parallel. Starts "
                    "and waits in the triggerer (no worker process; with dag.start_in_triggerer false it looks once in a worker "
                    "first) and ends there within about a quarter of a second of the previous run's last model step."
                ),
            )
            >> branch
        )
        gated(collect_labels(dataset), "late_labels") >> branch
        decision = XComArg(branch.operator, key="decision")
        used_drift = XComArg(branch.operator, key="drift")
        no_retrain = EmptyOperator(task_id="no_retrain", doc_md="No rule asked for retraining: the run ends here.")

        @task_group(group_id="retrain", tooltip="Train, evaluate and register a challenger")
        def retrain():
            trained = train.override(**training_step)(dataset, decision, validation, used_drift)
            evaluation = gated(evaluate.override(**training_step)(dataset, trained), "recorded")
            registered = RegisterModelOperator(
                task_id="register",
                dataset=dataset,
                train_result=trained,
                evaluation=evaluation,
                validation=validation,
                drift=used_drift,
                decision=decision,
                on_success_callback=AlertNotifier("challenger_registered"),
                doc_md="Register the model version once per DAG run, with lineage tags, and set the alias `challenger`.",
                **model_step,
            )
            gated(replay_promotion.override(**model_step)(dataset, registered.output, evaluation), "recorded")

        group = retrain()
        branch >> [group, no_retrain]
        report = PolicyReportOperator(
            task_id="policy_report",
            dataset=dataset,
            trigger_rule="none_failed_min_one_success",
            doc_md=(
                "Backfill runs only: refresh the retraining-policy report (policy vs never retrain vs retrain daily). Starts in "
                "the triggerer, which skips it without a worker process where it has nothing to do (other runs, and a backfill's "
                "days whose report a later day writes)."
            ),
        )
        [group, no_retrain] >> gated(report, "policy_report")
    return with_params(dag, PARAMS)


for _spec in dag_specs():
    globals()[_spec["dag_id"]] = build_dag(_spec)
