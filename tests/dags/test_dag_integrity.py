"""Every DAG imports, is documented, owned, retried, acyclic, and keeps heavy imports out of parse time."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
HEAVY = ("pandas", "sklearn", "scipy", "great_expectations", "mlflow", "pyarrow", "matplotlib")


@pytest.fixture(scope="module")
def bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(DAGS))


def test_no_import_errors(bag):
    assert bag.import_errors == {}
    assert {"mlops_nightly_training", "mlops_nightly_training_synthetic"} <= set(bag.dag_ids)


def test_every_dag_is_documented_owned_and_retried(bag):
    for dag_id, dag in bag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 200, f"{dag_id} has no Markdown docs"
        for t in dag.tasks:
            assert t.owner and t.owner != "airflow", f"{dag_id}.{t.task_id} has no owner"
            assert t.retries >= 2, f"{dag_id}.{t.task_id} has retries={t.retries}"
            assert t.doc_md, f"{dag_id}.{t.task_id} has no doc_md"


def test_params_have_titles_and_descriptions(bag):
    dag = bag.dags["mlops_nightly_training"]
    assert set(dag.params) >= {"force_retrain", "training_window_days", "holdout_days", "note"}
    for name, param in dag.params.items():
        assert param.schema.get("title") and param.description, name


def test_tasks_read_the_dags_params_without_copies_of_their_own(bag):
    """The trigger form's params are the DAG's alone (``with_params``): no operator carries a
    deep copy of them, a task at run time still sees them all (Airflow's ``process_params``),
    and the serialized DAG the scheduler and the UI read keeps them with their schemas."""
    from airflow.sdk.definitions.param import process_params
    from airflow.serialization.serialized_objects import DagSerialization

    for dag_id, dag in bag.dags.items():
        assert dag.params, dag_id
        for t in dag.tasks:
            assert not set(t.params) & set(dag.params), f"{dag_id}.{t.task_id} copies the DAG's params"
            seen = process_params(dag, t, {}, suppress_exception=True)
            assert set(seen) >= set(dag.params), f"{dag_id}.{t.task_id}"
        again = DagSerialization.from_dict(DagSerialization.to_dict(dag))
        assert {k: p.schema for k, p in again.params.items()} == {k: p.schema for k, p in dag.params.items()}, dag_id


def test_trigger_forms_submit_with_their_defaults(bag):
    """A person can trigger the nightly and promotion DAGs without filling in anything; the rollback
    form insists on a reason. Optional fields accept null, so the UI does not mark them required."""
    from airflow.sdk.exceptions import ParamValidationError

    for dag_id, dag in bag.dags.items():
        if "rollback" in dag_id:
            with pytest.raises(ParamValidationError, match="reason"):
                dag.params.validate()
            continue
        dag.params.validate()
        for name, param in dag.params.items():
            kinds = param.schema.get("type")
            assert kinds == "boolean" or "null" in (kinds if isinstance(kinds, list) else [kinds]), f"{dag_id}: param {name} looks required in the form"


def test_training_and_evaluation_use_the_training_queue_when_set(monkeypatch):
    import runpy

    monkeypatch.setenv("MLOPS_TRAINING_QUEUE", "training")
    dags = runpy.run_path(str(DAGS / "mlops_nightly_training.py"))
    dag = dags["mlops_nightly_training"]
    queues = {t.task_id: t.queue for t in dag.tasks}
    assert queues["retrain.train"] == queues["retrain.evaluate"] == "training"
    assert {q for t, q in queues.items() if t not in ("retrain.train", "retrain.evaluate")} == {"default"}


def test_the_model_steps_use_a_queue_of_their_own_when_set(monkeypatch):
    """The next day waits for this chain: on the model queue it never queues behind the days ahead."""
    import runpy

    monkeypatch.setenv("MLOPS_TRAINING_QUEUE", "training")
    monkeypatch.setenv("MLOPS_MODEL_QUEUE", "model")
    dag = runpy.run_path(str(DAGS / "mlops_nightly_training.py"))["mlops_nightly_training"]
    queues = {t.task_id: t.queue for t in dag.tasks}
    chain = dag.get_task("wait_for_previous_run").task_ids
    assert {t: queues[t] for t in chain} == {
        "decide": "model",
        "retrain.train": "training",
        "retrain.evaluate": "training",
        "retrain.register": "model",
        "retrain.replay_promotion": "model",
    }
    assert {q for t, q in queues.items() if t not in chain} == {"default"}


def test_a_backfill_runs_chain_ends_at_the_train_step_that_runs_the_rest(bag):
    dag = bag.dags["mlops_nightly_training"]
    sensor = dag.get_task("wait_for_previous_run")
    assert sensor.backfill_task_ids == ["decide", "retrain.train"] == list(sensor.task_ids[:2])
    # The train step gets what registration records (validation, the drift the decision used).
    assert {"validate", "decide"} <= dag.get_task("retrain.train").upstream_task_ids


def test_the_model_steps_go_first_where_tasks_wait_for_a_slot(bag):
    """Each model step holds up every later day of a backfill: it must not queue behind the days ahead's ingest."""
    dag = bag.dags["mlops_nightly_training"]
    chain = set(dag.get_task("wait_for_previous_run").task_ids)

    def total(task):  # Airflow's rules: absolute, or the weights of the task and of all its downstream tasks
        if str(task.weight_rule) == "absolute":
            return task.priority_weight
        return task.priority_weight + sum(t.priority_weight for t in task.get_flat_relatives(upstream=False))

    weight = {t.task_id: total(t) for t in dag.tasks}
    assert min(weight[t] for t in chain) > max(w for t, w in weight.items() if t not in chain), weight


def test_no_cycles_and_expected_shape(bag):
    dag = bag.dags["mlops_nightly_training"]
    # DagBag already rejects cycles at import; check the wiring the docs describe.
    order = [t.task_id for t in dag.topological_sort()] if hasattr(dag, "topological_sort") else dag.task_ids
    assert order.index("ingest") < order.index("validate") < order.index("detect_drift") < order.index("decide")
    assert dag.get_task("retrain.register").upstream_task_ids >= {"retrain.evaluate"}
    # register also reads decide's XCom, so it is a direct downstream of the branch too.
    assert set(dag.get_task("decide").downstream_task_ids) == {"retrain.train", "retrain.register", "no_retrain"}
    assert type(dag.get_task("retrain.register")).__name__ == "RegisterModelOperator"
    # Runs wait for the day before at the decision, not before the drift: a backfill computes
    # several days' drift while one day decides (the decision re-measures it if the champion moved).
    assert dag.get_task("wait_for_previous_run").downstream_task_ids == {"decide"}
    assert dag.get_task("detect_drift").upstream_task_ids == {"validate"}
    assert dag.get_task("decide").upstream_task_ids == {"detect_drift", "wait_for_previous_run", "collect_labels"}
    # register records the drift the decision used (decide's XCom "drift"), not detect_drift's.
    drift_arg = dag.get_task("retrain.register").drift
    assert (drift_arg.operator.task_id, drift_arg.key) == ("decide", "drift")


def test_the_next_day_waits_for_a_chain_of_every_model_step(bag):
    """chain_pending ends the wait at the first skipped or failed step: that is only right if each
    step is downstream of the one before, and every task that touches the registry is a step."""
    dag = bag.dags["mlops_nightly_training"]
    chain = dag.get_task("wait_for_previous_run").task_ids
    assert chain[0] == "decide"
    for before, step in itertools.pairwise(chain):
        assert before in dag.get_task(step).upstream_task_ids, (before, step)
        assert dag.get_task(step).trigger_rule == "all_success", step
    # A decision not to retrain skips the chain's second step itself (its direct downstream).
    assert chain[1] in dag.get_task("decide").downstream_task_ids
    after_decide = dag.get_task("decide").get_flat_relative_ids(upstream=False)
    assert after_decide - set(chain) == {"no_retrain", "policy_report"}


def test_only_the_steps_a_backfill_runs_ahead_yield_the_cpu(bag):
    import inspect

    dag = bag.dags["mlops_nightly_training"]
    ahead = {t.task_id for t in dag.tasks if "ahead=True" in inspect.getsource(getattr(t, "python_callable", type(t)))}
    assert ahead == {"ingest", "validate", "detect_drift"}


@pytest.mark.parametrize("path", sorted(DAGS.glob("*.py")), ids=lambda p: p.name)
def test_dag_file_keeps_heavy_imports_out_of_parse_time(path):
    """Import the DAG file in a fresh interpreter and list the heavy modules it pulled in."""
    code = (
        "import sys, runpy; import airflow.sdk; before = set(sys.modules);"
        f"runpy.run_path({str(path)!r});"
        f"print(sorted({{m.split('.')[0] for m in set(sys.modules) - before}} & set({HEAVY!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", f"{path.name} imports at parse time: {out.stdout}"


def test_every_task_refuses_undeclared_run_conf_keys(bag):
    """Each task's pre_execute hook checks the run conf against exactly its DAG's declared params."""
    from mlops.airflow.runconf import refuse_bad_conf

    for dag_id, dag in bag.dags.items():
        for t in dag.tasks:
            hook = t._pre_execute_hook
            assert getattr(hook, "func", None) is refuse_bad_conf, f"{dag_id}.{t.task_id} does not check its run conf"
            assert set(hook.keywords["declared"]) == set(dag.params), f"{dag_id}.{t.task_id}"


def test_scoring_dags_run_on_the_asset_that_validation_updates(bag):
    assert {"mlops_batch_scoring", "mlops_batch_scoring_synthetic"} <= set(bag.dag_ids)
    for nightly_id, scoring_id, dataset in (
        ("mlops_nightly_training", "mlops_batch_scoring", "flights"),
        ("mlops_nightly_training_synthetic", "mlops_batch_scoring_synthetic", "synthetic"),
    ):
        (asset,) = bag.dags[nightly_id].get_task("validate").outlets
        assert asset.name == f"mlops_validated_partition__{dataset}"
        scoring = bag.dags[scoring_id]
        assert [a.name for a in scoring.timetable.asset_condition.objects] == [asset.name]
        assert scoring.max_active_runs == 1 and [t.task_id for t in scoring.topological_sort()] == ["select_partitions", "score"]


def test_the_promotion_path_passes_through_the_shadow_soak(bag):
    from airflow.sdk import TriggerRule

    dag = bag.dags["mlops_model_promotion_synthetic"]
    soak = dag.get_task("shadow_soak")
    assert type(soak).__name__ == "ShadowSoakOperator" and soak.execution_timeout is None
    assert soak.upstream_task_ids == {"route"} and soak.downstream_task_ids == {"after_soak"}
    assert dag.get_task("after_soak").downstream_task_ids == {"approve", "promote", "finalize"}
    assert dag.get_task("route").downstream_task_ids == {"shadow_soak", "approve", "promote", "finalize"}
    # approve and promote run after route or after the soak, whichever branch chose them.
    for task_id in ("approve", "promote"):
        assert dag.get_task(task_id).trigger_rule == TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS, task_id
    assert dag.get_task("finalize").trigger_rule == TriggerRule.ALL_DONE


def test_params_are_validated_once_per_dict_and_a_broken_default_still_fails():
    from airflow.sdk import DAG, Param
    from airflow.timetables.interval import CronDataIntervalTimetable

    from mlops.airflow.defaults import with_params

    def dag(i):
        return DAG(f"params_check_{i}", schedule=CronDataIntervalTimetable("@daily", timezone="UTC"))

    good = {"n": Param(3, type="integer", minimum=1)}
    first, second = with_params(dag(0), good), with_params(dag(1), good)
    assert first.params.validate() == second.params.validate() == {"n": 3}
    assert first.params is not second.params  # each DAG its own ParamsDict
    broken = {"n": Param(0, type="integer", minimum=1)}
    with pytest.raises(ValueError, match="not allowed to define a Schedule"):
        with_params(dag(2), broken)
    with pytest.raises(ValueError, match="not allowed to define a Schedule"):
        with_params(dag(3), broken)  # never recorded as validated
