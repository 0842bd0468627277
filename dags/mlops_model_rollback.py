"""
### Model rollback (manual)

Moves `champion` back to the version named in the trigger form, or to `previous`, after a
serving check of that version, and records the move in the promotion history with its
reason (same entry format as a promotion, `kind: rollback`).

In the Airflow UI: **Trigger** this DAG, set **target_version** (`previous` or a version
number) and **reason**, and run. The old champion becomes `previous`, so rolling forward
again is one more trigger with `previous`.

Only versions that passed the promotion gates before can become champion again. A rollback
sends the `rolled_back` alert to the dataset's channels.
"""

from __future__ import annotations

from airflow.sdk import DAG, Param, get_current_context, task

from mlops.airflow.defaults import common_dag_args, with_params
from mlops.airflow.operators import PromoteModelOperator
from mlops.alerts.notifiers import AlertNotifier
from mlops.dagspec import dag_specs

PARAMS = {
    "target_version": Param(
        "previous",
        type="string",
        pattern=r"^(previous|[0-9]+)$",
        title="Target version",
        description="'previous' (the champion before the current one) or a model version number.",
    ),
    "reason": Param(
        "",
        type="string",
        minLength=5,
        maxLength=500,
        title="Reason",
        description="Why the champion is rolled back; recorded in the promotion history.",
    ),
}


@task(pool="mlops_promotion", doc_md="Resolve the target version and check it loads and serves in a fresh process.")
def check_target(dataset: str) -> dict:
    from mlops.airflow.runtime import dataset_config, fail_fast
    from mlops.config import Settings
    from mlops.promotion.rollback import check_rollback_target

    params = get_current_context()["params"]
    with fail_fast():
        result = check_rollback_target(dataset_config(dataset), Settings.from_env(), params["target_version"])
    return {**result, "reason": params["reason"]}


def build_dag(spec: dict) -> DAG:
    dataset, model_name = spec["dataset"], spec["model_name"]
    with DAG(
        dag_id=spec["rollback_dag_id"],
        description=f"Roll {model_name}'s champion back to 'previous' or a named version",
        schedule=None,
        max_active_runs=1,
        **common_dag_args(spec, kind="rollback", doc_md=__doc__, params=PARAMS),
    ) as dag:
        target = check_target(dataset)
        PromoteModelOperator(
            task_id="rollback",
            dataset=dataset,
            version="{{ ti.xcom_pull(task_ids='check_target')['version'] }}",
            kind="rollback",
            reason="{{ params.reason }}",
            pool="mlops_promotion",
            on_success_callback=AlertNotifier("rolled_back"),
            doc_md="Move `champion` to the target and `previous` to the old champion; append to the history.",
        ).set_upstream(target)
    return with_params(dag, PARAMS)


for _spec in dag_specs():
    globals()[_spec["rollback_dag_id"]] = build_dag(_spec)
