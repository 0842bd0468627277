"""
### Batch scoring: every validated partition, scored by the champion

Scheduled by an Airflow **asset**, not by time: the nightly DAG's `validate` task updates the
dataset's asset when a partition passes validation (the partition's date and content hash in
the event's extra), and this DAG runs on it. A quarantined partition updates nothing, so it is
never scored. Several events that arrive together are coalesced into one run: each partition
is scored.

1. **select_partitions** reads the triggering asset events (or the trigger form's
   `partition_date` for a manual re-score) and lists the partitions to score, one per date.
2. **score** resolves `models:/<model>@champion` once for the run (and, while a challenger
   waits for its promotion decision, `@challenger` as **shadow**), loads each version once,
   checks the partition against the model's input signature and writes the predictions to
   the prediction store (SQL table `predictions`: SQLite in the embedded profile, PostgreSQL
   in production, through the Airflow connection `mlops_predictions`) and to the lake
   (`predictions/<dataset>/ds=<date>/version=<v>/role=<role>/`). Re-scoring a partition
   replaces its (partition, version, role) rows; it never duplicates them. Then, per version:
   the **estimated** metrics (classification: from the predicted probabilities, calibrated on
   the version's own holdout), the **drift** of its scores against its holdout scores, and the
   **realised** metrics when the day's labels are there (with the partition, or arrived
   before a re-score; late labels bring them with the nightly run of D + delay). They go to
   the store's `live_metrics` table, to MLflow (the version's monitoring run, the day as
   step) and to the Models page ("In production").

A partition with no champion yet is skipped, and the reason is in the task log and in the
run's note. A version that fails to load fails the run: no other version is used in its place.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, get_current_context, task

from mlops.airflow.assets import partition_asset
from mlops.airflow.defaults import common_dag_args, with_params
from mlops.airflow.listeners import NOTE_KEY
from mlops.dagspec import dag_specs

PARAMS = {
    "partition_date": Param(
        None,
        type=["null", "string"],
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        title="Partition date",
        description="Manual runs: the day (YYYY-MM-DD) whose validated partition to score again. Runs started by the asset score the partitions of their events.",
    ),
}


@task(doc_md="List the partitions to score: one per date among the triggering asset events, or the trigger form's partition_date.")
def select_partitions(dataset: str) -> dict:
    from airflow.sdk.exceptions import AirflowFailException

    from mlops.predictions.scoring import partitions_from_events

    context = get_current_context()
    asset = partition_asset(dataset)
    events = [{"extra": dict(e.extra or {}), "timestamp": str(e.timestamp)} for e in (context["triggering_asset_events"].get(asset) or [])]
    requests, ignored = partitions_from_events(events)
    manual = context["params"].get("partition_date")
    if manual:
        requests = [r for r in requests if r["partition"] != manual] + [{"partition": manual, "content_hash": None, "source_run": "manual"}]
    if not requests and not ignored:
        raise AirflowFailException(
            f"no asset event of {asset.name} triggered this run and no partition_date was given; "
            'trigger it with {"partition_date": "YYYY-MM-DD"} to score a partition again'
        )
    return {"requests": requests, "ignored": ignored}


@task(doc_md="Score each selected partition with the champion (and a waiting challenger as shadow); write the predictions to the SQL store and the lake.")
def score(dataset: str, selection: dict) -> dict:
    from airflow.sdk.exceptions import AirflowSkipException

    from mlops import tracking
    from mlops.airflow.runtime import dataset_config, fail_fast, prediction_store_url
    from mlops.config import Settings
    from mlops.predictions.scoring import run_note, run_scoring
    from mlops.predictions.store import PredictionStore

    context = get_current_context()
    with fail_fast():
        config, settings = dataset_config(dataset), Settings.from_env()
        store = PredictionStore(prediction_store_url(config, settings))
        outcome = run_scoring(
            config, settings, selection["requests"], store=store, client=tracking.client(settings), dag_id=context["dag"].dag_id, run_id=context["run_id"]
        )
    note = run_note(outcome["results"], selection["ignored"])
    context["ti"].xcom_push(key=NOTE_KEY, value=note)
    if not any(r["status"] == "scored" for r in outcome["results"]):
        raise AirflowSkipException(note)
    return outcome


def build_dag(spec: dict) -> DAG:
    dataset = spec["dataset"]
    with DAG(
        dag_id=spec["scoring_dag_id"],
        description=f"Score each validated partition of '{dataset}' with {spec['model_name']}@champion (and @challenger as shadow)",
        schedule=[partition_asset(dataset)],
        max_active_runs=1,
        **common_dag_args(spec, kind="scoring", doc_md=__doc__, params=PARAMS),
    ) as dag:
        score(dataset, select_partitions(dataset))
    return with_params(dag, PARAMS)


for _spec in dag_specs():
    if _spec["scoring"]:
        globals()[_spec["scoring_dag_id"]] = build_dag(_spec)
