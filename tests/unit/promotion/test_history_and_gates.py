from datetime import UTC, datetime, timedelta

import pytest

from mlops.errors import RegistryError
from mlops.promotion.gates import compare_to_champion, lineage_gate
from mlops.promotion.history import (
    champion_at,
    history,
    move_champion,
    pending_challenger,
    propose,
    reject,
    replay_decision,
    supersede_older,
)
from mlops.registry import register_version


@pytest.fixture
def model(logged_model, request):
    """A registered model with three undecided versions of one real logged model (no training needed).

    Registering a version supersedes the older undecided ones; the tests here start from three
    undecided versions, so those marks are removed.
    """
    client, model_uri, run_id = logged_model
    name = f"unit_history_{request.node.name[:40]}"
    for k in (1, 2, 3):
        register_version(client, name=name, model_uri=model_uri, run_id=run_id, run_key=f"dag/r{k}", tags={})
    for v in ("1", "2"):
        for tag in ("mlops.decision", "mlops.decision_at", "mlops.decision_by", "mlops.superseded_by"):
            client.delete_model_version_tag(name, v, tag)
    return client, name


def test_move_champion_records_history_and_is_retry_safe(model):
    client, name = model
    with pytest.raises(RegistryError, match="its gates did not pass"):
        move_champion(client, name, "1", kind="promotion", run_key="p/1", reason="r")
    for v in ("1", "2"):
        client.set_model_version_tag(name, v, "mlops.gates_passed", "true")
    t0 = datetime(2024, 5, 1, tzinfo=UTC)
    first = move_champion(client, name, "1", kind="promotion", run_key="p/1", reason="first", now=t0)
    assert first["from_version"] is None and first["seq"] == 1
    assert move_champion(client, name, "1", kind="promotion", run_key="p/1", reason="first") == first  # retry
    second = move_champion(
        client,
        name,
        "2",
        kind="promotion",
        run_key="p/2",
        reason="better",
        now=t0 + timedelta(days=3),
        approval={"by": "ana", "at": "2024-05-04T10:00:00", "comment": "ok"},
        gates={"serving": {"passed": True}},
    )
    assert second["from_version"] == "1" and second["approved_by"] == "ana" and second["gates"] == {"serving": True}
    aliases = {k: str(v) for k, v in client.get_registered_model(name).aliases.items()}
    assert aliases == {"champion": "2", "previous": "1", "challenger": "3"}  # 3 was registered last
    assert [e["version"] for e in history(client, name)] == ["1", "2"]
    assert champion_at(client, name, t0 + timedelta(days=1))["version"] == "1"
    assert champion_at(client, name, t0 + timedelta(days=5))["approved_by"] == "ana"
    assert champion_at(client, name, t0 - timedelta(days=1)) is None
    with pytest.raises(RegistryError, match=r"already is the champion|already the champion"):
        move_champion(client, name, "2", kind="rollback", run_key="p/3", reason="again")


def test_a_promotion_never_moves_the_champion_back(model):
    client, name = model
    for v in ("1", "2"):
        client.set_model_version_tag(name, v, "mlops.gates_passed", "true")
    move_champion(client, name, "2", kind="promotion", run_key="p/1", reason="r")
    with pytest.raises(RegistryError) as e:
        move_champion(client, name, "1", kind="promotion", run_key="p/2", reason="r")
    assert str(e.value) == (
        f"model {name!r}: refusing to promote version 1 over the newer champion version 2; a promotion only moves "
        "forward. Trigger the rollback DAG to go back to an older version."
    )
    assert move_champion(client, name, "1", kind="rollback", run_key="r/1", reason="incident")["version"] == "1"


def test_gates_fail_a_challenger_older_than_the_champion(model):
    from mlops.promotion.gates import older_than_champion

    client, name = model
    v1, v2 = (client.get_model_version(name, v) for v in ("1", "2"))
    for v, end in (("1", "2013-03-01T00:00:00+00:00"), ("2", "2014-01-10T00:00:00+00:00")):
        client.set_model_version_tag(name, v, "mlops.data_interval_end", end)
    v1, v2 = (client.get_model_version(name, v) for v in ("1", "2"))
    assert older_than_champion(v2, v1) is None and older_than_champion(v2, None) is None
    assert older_than_champion(v1, v2)["detail"] == (
        "version 1 (data to 2013-03-01) is older than the champion version 2 (data to 2014-01-10); a promotion only "
        "moves forward (use the rollback DAG to go back)"
    )


def test_reject_supersede_and_pending(model):
    client, name = model
    assert pending_challenger(client, name) == "3"
    assert supersede_older(client, name, "2", run_key="p/9") == ["1"]
    out = reject(client, name, "3", run_key="p/9", reasons=["floors: roc_auc=0.5 is below the floor 0.6"])
    assert out["superseded"] == ["2"]  # no undecided version is left behind a rejection
    assert pending_challenger(client, name) is None
    v3 = client.get_model_version(name, "3")
    assert v3.tags["mlops.decision"] == "rejected" and "challenger" not in client.get_registered_model(name).aliases


def test_compare_to_champion_like_metric_threshold():
    ok = compare_to_champion("roc_auc", 0.82, 0.80, min_abs=0.01, min_rel=0.02)
    assert ok["passed"] and ok["gain"] == pytest.approx(0.02)
    rel = compare_to_champion("roc_auc", 0.81, 0.80, min_abs=0.01, min_rel=0.02)
    assert not rel["passed"] and "required +0.0100 and +2.00%" in rel["detail"]
    assert compare_to_champion("rmse", 9.0, 10.0, min_abs=0.5, min_rel=0.0)["passed"]  # lower is better
    assert compare_to_champion("roc_auc", 0.7, None, min_abs=1, min_rel=1)["detail"] == "no champion: the floors decide"


def test_lineage_gate_names_what_is_missing(synthetic_config):
    r = lineage_gate({"mlops.run_key": "x", "mlops.validation": '{"success": false}'}, synthetic_config)
    assert not r["passed"] and "mlops.training_window" in r["missing"]
    assert "training data validation did not pass" in r["detail"]


def test_backfill_replay_then_explicit_proposal_to_production(model):
    client, name = model  # stands for a backfill's registered model
    blessed = replay_decision(client, name, "1", run_key="bf/1", evaluation={"blessed": True, "reasons": ["no champion"]})
    assert blessed["kind"] == "backfill" and blessed["version"] == "1"
    rejected = replay_decision(client, name, "2", run_key="bf/2", evaluation={"blessed": False, "reasons": ["roc_auc worse"]})
    assert rejected["decision"] == "rejected"
    assert str(client.get_registered_model(name).aliases["champion"]) == "1"
    assert replay_decision(client, name, "1", run_key="bf/1", evaluation={"blessed": True, "reasons": []})["version"] == "1"
    # A re-run of an old backfill run does not take the champion back to its version.
    client.set_model_version_tag(name, "3", "mlops.gates_passed", "true")
    move_champion(client, name, "3", kind="backfill", run_key="bf/3", reason="newer")
    again = replay_decision(client, name, "1", run_key="bf/1", evaluation={"blessed": True, "reasons": []})
    assert again == {"version": "1", "decision": "promoted", "kind": "backfill", "already": True}
    assert str(client.get_registered_model(name).aliases["champion"]) == "3"
    target = f"{name}_prod"
    out = propose(client, name, "1", target)
    copy = client.get_model_version(target, out["version"])
    assert copy.tags["mlops.copied_from"] == f"models:/{name}/1"
    assert "mlops.decision" not in copy.tags and "mlops.gates_passed" not in copy.tags
    assert pending_challenger(client, target) == out["version"]
