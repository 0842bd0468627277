"""
### Model promotion: challenger → gates → [approval] → champion

Always waiting: the DAG runs continuously (one run at a time). Each run starts with
**wait_for_challenger**, a deferrable sensor that sleeps in the triggerer (no worker slot)
until the nightly DAG registers a version with the alias `challenger` that has no decision
yet. Then:

1. **check_gates** runs four gates and records each as a tag `mlops.gate.<name>` (pass/fail
   with numbers) on the model version:
   lineage complete and training data validated · metric floors · beats the champion on the
   same evaluation data by the configured absolute/relative margin · serving check (loads
   from `models:/<name>/<version>` in a fresh process, enforces its signature, scores the
   holdout sample within the latency budget).
2. **route**: gates failed → `finalize` rejects the version (`mlops.decision=rejected` with
   the reasons; the champion stays). Gates passed → `shadow_soak` when the dataset config
   enables `promotion.shadow`, else `approve` when approval is required (dataset config
   `promotion.require_approval`, the environment's `MLOPS_REQUIRE_APPROVAL`, or this run's
   `require_approval` param), else straight to `promote`.
   **shadow_soak** (the fifth gate): the challenger is scored in shadow beside the champion
   by the scoring DAG; the task waits **deferred in the triggerer** (no worker slot) and, on
   each newly labelled day, runs a sequential paired test on the per-row loss differences.
   It ends when the challenger is significantly better (→ approval if required, then
   promote), significantly worse (→ rejected with the numbers), at `max_days` (→
   `on_inconclusive`), or when a newer challenger arrives (→ `superseded`). Every look is
   stored, so a triggerer restart loses none; the tag `mlops.gate.shadow` and the Models
   page show the running estimate and interval. See docs/shadow.md.
3. **approve** (human in the loop): in the Airflow UI open this run, the task `approve`, then
   *Required Actions*; read the gate results, add a comment, press **Approve** or **Reject**.
   Approver, time and comment are recorded.
4. **promote** moves `champion` to the version and `previous` to the old champion, clears
   `challenger`, and appends to the promotion history in the registry.
5. **finalize** records a rejection (by the gates or by the approver). If any task of the
   path failed (sensor, gates, approval, promotion), it fails the run with the reason and
   the error is recorded on the version (`mlops.promotion_error`); the version gets no
   decision and stays the challenger. Three failed runs in a row pause the DAG.

A promotion only moves forward: a challenger older than the champion (its data ends
before the champion's) fails `beats_champion`. Going back is the rollback DAG's job.

Alerts (the dataset config's `alerts:` section): `approval_waiting` with a link to the approval
page, `promoted`, `gate_rejected` and `run_failed` go to the configured channels, once each.

At most one promotion runs at a time (one active run, and the one-slot pool
`mlops_promotion`). Roll back with the rollback DAG.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.standard.operators.hitl import ApprovalOperator
from airflow.sdk import DAG, Param, TriggerRule, get_current_context, task

from mlops.airflow.defaults import common_dag_args, with_params
from mlops.airflow.operators import PromoteModelOperator, ShadowSoakOperator
from mlops.airflow.sensors import ChallengerSensor
from mlops.alerts.notifiers import AlertNotifier
from mlops.dagspec import dag_specs

PARAMS = {
    "require_approval": Param(
        False,
        type="boolean",
        title="Require approval",
        description="Ask a person to approve in the Airflow UI before promoting, even if the dataset config does not require it.",
    ),
}


@task(
    pool="mlops_promotion", execution_timeout=timedelta(minutes=30), doc_md="Run the four gates on the challenger and record each result on the model version."
)
def check_gates(dataset: str, model_name: str, version: str) -> dict:
    from mlops import tracking
    from mlops.airflow.runtime import dataset_config, fail_fast, run_key
    from mlops.config import Settings
    from mlops.promotion.decisions import recording_failure
    from mlops.promotion.gates import run_gates

    settings = Settings.from_env()
    with fail_fast(), recording_failure(tracking.client(settings), model_name, version, task="check_gates", run_key=run_key(get_current_context())):
        return run_gates(dataset_config(dataset), settings, version)


@task.branch(doc_md="Gates failed: reject. Passed: the shadow soak when enabled, else ask for approval when required, else promote.")
def route(dataset: str, gates: dict) -> str:
    from mlops.airflow.runtime import dataset_config
    from mlops.promotion import decisions

    config = dataset_config(dataset)
    required = decisions.approval_required(config, get_current_context()["params"])
    return decisions.route(gates, approval=required, soak=config.promotion.shadow.enabled)


@task.branch(doc_md="Shadow soak says promote: ask for approval when required, else promote. Reject or superseded: finalize.")
def after_soak(dataset: str, soak: dict) -> str:
    from mlops.airflow.runtime import dataset_config
    from mlops.promotion import decisions

    required = decisions.approval_required(dataset_config(dataset), get_current_context()["params"])
    return decisions.after_soak(soak, approval=required)


@task(trigger_rule=TriggerRule.ALL_DONE, doc_md="Record a rejection (gates or approver); fail the run, with the reason, if any task of the path failed.")
def finalize(model_name: str) -> dict:
    from airflow.sdk.exceptions import AirflowSkipException

    from mlops import tracking
    from mlops.airflow.operators import approval_info
    from mlops.airflow.runtime import fail_fast, run_key, run_task_states
    from mlops.config import Settings
    from mlops.promotion.decisions import finalize_promotion

    context = get_current_context()
    ti = context["ti"]
    with fail_fast():
        result = finalize_promotion(
            tracking.client(Settings.from_env()),
            model_name,
            run_key=run_key(context),
            version=ti.xcom_pull(task_ids="wait_for_challenger"),
            gates=ti.xcom_pull(task_ids="check_gates"),
            promoted=ti.xcom_pull(task_ids="promote"),
            approval=approval_info(ti.xcom_pull(task_ids="approve")),
            states=run_task_states(context),
            soak=ti.xcom_pull(task_ids="shadow_soak"),
        )
    if result is None:
        raise AirflowSkipException("no challenger was checked in this run")
    return result


def build_dag(spec: dict) -> DAG:
    dataset, model_name = spec["dataset"], spec["model_name"]
    with DAG(
        dag_id=spec["promotion_dag_id"],
        description=f"Gate, approve and promote challengers of {model_name} to champion",
        schedule="@continuous",
        max_active_runs=1,
        max_consecutive_failed_dag_runs=3,
        **common_dag_args(spec, kind="promotion", doc_md=__doc__, params=PARAMS),
    ) as dag:
        version = ChallengerSensor(
            task_id="wait_for_challenger",
            model_name=model_name,
            deferrable=True,
            poke_interval=30,
            timeout=int(timedelta(hours=24).total_seconds()),
            soft_fail=True,
            execution_timeout=None,  # the sensor's own timeout governs the wait
            doc_md=f"Wait (deferred, no worker slot) for an undecided `{model_name}@challenger`; returns its version.",
        )
        gates = check_gates(dataset, model_name, version.output)
        branch = route(dataset, gates)
        soak = ShadowSoakOperator(
            task_id="shadow_soak",
            dataset=dataset,
            version="{{ ti.xcom_pull(task_ids='check_gates')['version'] }}",
            execution_timeout=None,  # the deferral's own timeout (max_days + label delay + 7 days) governs the wait
            doc_md="Shadow soak: wait deferred for labelled shadow days; sequential paired test of challenger vs champion.",
        )
        soaked = after_soak(dataset, soak.output)
        approve = ApprovalOperator(
            task_id="approve",
            subject=f"Promote {model_name} version {{{{ ti.xcom_pull(task_ids='check_gates')['version'] }}}} to champion?",
            body=(
                "Gate results for version {{ ti.xcom_pull(task_ids='check_gates')['version'] }} "
                "(champion: {{ ti.xcom_pull(task_ids='check_gates')['champion_version'] or 'none' }}):\n\n"
                "{% for name, g in ti.xcom_pull(task_ids='check_gates')['gates'].items() %}"
                "- **{{ name }}**: {{ 'pass' if g.passed else 'FAIL' }}: {{ g.detail }}\n{% endfor %}"
                "{% set s = ti.xcom_pull(task_ids='shadow_soak') %}{% if s %}- **shadow**: {{ s.decision }}: {{ s.detail }}\n{% endif %}"
            ),
            params={
                "comment": Param(
                    None,
                    type=["null", "string"],
                    maxLength=500,
                    title="Comment",
                    description="Why you approve or reject (optional); recorded in the promotion history.",
                )
            },
            response_timeout=timedelta(days=3),
            execution_timeout=None,
            trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,  # after route or after the shadow soak
            on_execute_callback=AlertNotifier("approval_waiting"),
            doc_md="A person approves or rejects in the Airflow UI (Required Actions).",
        )
        promote = PromoteModelOperator(
            task_id="promote",
            dataset=dataset,
            version="{{ ti.xcom_pull(task_ids='check_gates')['version'] }}",
            gates=gates,
            approval="{{ ti.xcom_pull(task_ids='approve') }}",
            shadow="{{ ti.xcom_pull(task_ids='shadow_soak') }}",
            reason=("challenger passed the gates{% set s = ti.xcom_pull(task_ids='shadow_soak') %}{% if s %}; shadow soak: {{ s.detail }}{% endif %}"),
            pool="mlops_promotion",
            trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS,
            on_success_callback=AlertNotifier("promoted"),
            doc_md="Move `champion` (and `previous`), clear `challenger`, append to the promotion history.",
        )
        done = finalize.override(on_success_callback=AlertNotifier("gate_rejected"))(model_name)
        branch >> [soak, approve, promote, done]
        soaked >> [approve, promote, done]
        approve >> promote >> done
    return with_params(dag, PARAMS)


for _spec in dag_specs():
    globals()[_spec["promotion_dag_id"]] = build_dag(_spec)
