"""The promotion DAG's decisions outside Airflow: routing, rejection, and how a run ends."""

import json

import pytest

from mlops.config import load_dataset
from mlops.errors import PromotionFailed, RegistryError
from mlops.promotion.decisions import (
    after_soak,
    approval_required,
    crash_reason,
    finalize_promotion,
    recording_failure,
    rejection_reasons,
    route,
)
from mlops.promotion.rollback import check_target, resolve_target
from mlops.registry import register_version

PASSED = {"version": "1", "passed": True, "gates": {"floors": {"passed": True, "detail": "ok"}}}
FAILED = {
    "version": "1",
    "passed": False,
    "gates": {"floors": {"passed": False, "detail": "roc_auc=0.5 is below the floor 0.6"}, "serving": {"passed": True, "detail": "ok"}},
}
OK_STATES = {"wait_for_challenger": "success", "check_gates": "success", "route": "success", "approve": "skipped", "promote": "skipped"}


@pytest.fixture
def version(logged_model, request):
    client, model_uri, run_id = logged_model
    name = f"unit_decisions_{request.node.name[:40]}"
    register_version(client, name=name, model_uri=model_uri, run_id=run_id, run_key="nightly/r1", tags={})
    return client, name


def test_route_and_approval(monkeypatch, synthetic_config):
    assert route(FAILED, approval=True) == "finalize"
    assert route(PASSED, approval=False) == "promote" and route(PASSED, approval=True) == "approve"
    monkeypatch.delenv("MLOPS_REQUIRE_APPROVAL", raising=False)
    assert not approval_required(synthetic_config, {})
    assert approval_required(synthetic_config, {"require_approval": True})
    assert approval_required(load_dataset("synthetic", override={"promotion": {"require_approval": True}}), {})
    monkeypatch.setenv("MLOPS_REQUIRE_APPROVAL", "yes")
    assert approval_required(synthetic_config, {})


def test_rejection_reasons():
    assert rejection_reasons(FAILED, None) == ["floors: roc_auc=0.5 is below the floor 0.6"]
    approval = {"chosen": "Reject", "by": "ana", "at": "2024-05-04T10:00:00", "comment": None}
    assert rejection_reasons(PASSED, approval) == ["rejected by ana at 2024-05-04T10:00:00: no comment"]
    assert rejection_reasons(PASSED, {**approval, "chosen": "Approve"}) is None


def test_crash_reason_names_the_task_and_the_recorded_error():
    states = {**OK_STATES, "check_gates": "failed", "route": "upstream_failed", "promote": "upstream_failed"}
    error = {"task": "check_gates", "error": "ConfigError: bad metric", "run_key": "p/1"}
    assert crash_reason(OK_STATES, None, run_key="p/1", version="1") is None
    assert crash_reason(states, error, run_key="p/1", version="4") == (
        "promotion of version 4 failed in check_gates: ConfigError: bad metric. The version stays undecided "
        "(no decision, still the challenger); see the task log, fix the cause, then clear this run"
    )
    # An error recorded by another run is not this run's reason.
    assert "ConfigError" not in crash_reason(states, {**error, "run_key": "p/0"}, run_key="p/1", version="4")


def test_a_crash_fails_the_run_and_leaves_the_version_undecided(version):
    client, name = version
    with pytest.raises(KeyError), recording_failure(client, name, "1", task="check_gates", run_key="p/1"):
        raise KeyError("roc_auc")
    states = {**OK_STATES, "check_gates": "failed", "route": "upstream_failed", "promote": "upstream_failed"}
    with pytest.raises(PromotionFailed, match=r"failed in check_gates: KeyError: 'roc_auc'"):
        finalize_promotion(client, name, run_key="p/1", version="1", gates=None, promoted=None, approval=None, states=states)
    tags = client.get_model_version(name, "1").tags
    assert "mlops.decision" not in tags and json.loads(tags["mlops.promotion_error"])["task"] == "check_gates"
    assert str(client.get_registered_model(name).aliases["challenger"]) == "1"


def test_finalize_rejects_promotes_or_skips(version):
    client, name = version
    common = dict(run_key="p/2", version="1", approval=None, states=OK_STATES)
    assert finalize_promotion(client, name, gates=None, promoted=None, **{**common, "version": None}) is None
    assert finalize_promotion(client, name, gates=PASSED, promoted={"version": "1"}, **common) == {"decision": "promoted", "version": "1"}
    with pytest.raises(PromotionFailed, match="passed the gates but was neither promoted nor rejected"):
        finalize_promotion(client, name, gates=PASSED, promoted=None, **common)
    out = finalize_promotion(client, name, gates=FAILED, promoted=None, **common)
    assert out["decision"] == "rejected" and out["reasons"] == ["floors: roc_auc=0.5 is below the floor 0.6"]
    assert "challenger" not in client.get_registered_model(name).aliases


def test_rollback_target_resolution_and_checks(version):
    client, name = version
    with pytest.raises(RegistryError, match="has no 'previous' version to roll back to"):
        resolve_target(client, name, "previous")
    with pytest.raises(RegistryError, match=f"model {name!r} has no version 7"):
        resolve_target(client, name, "7")
    mv = resolve_target(client, name, " 1 ")
    with pytest.raises(RegistryError, match=r"version 1 never passed the promotion gates \(mlops.gates_passed=None\)"):
        check_target(mv, None)
    client.set_model_version_tag(name, "1", "mlops.gates_passed", "true")
    mv = resolve_target(client, name, "1")
    check_target(mv, None)
    with pytest.raises(RegistryError, match="version 1 already is the champion"):
        check_target(mv, mv)


def test_the_shadow_soak_routes_and_ends_a_run(version):
    assert route(PASSED, approval=True, soak=True) == "shadow_soak" and route(FAILED, approval=True, soak=True) == "finalize"
    assert after_soak({"decision": "promote"}, approval=True) == "approve" and after_soak({"decision": "promote"}, approval=False) == "promote"
    assert after_soak({"decision": "reject"}, approval=True) == "finalize" and after_soak({"decision": "superseded"}, approval=False) == "finalize"
    worse = {"decision": "reject", "detail": "challenger significantly worse: mean loss difference (champion − challenger) -0.05000"}
    assert rejection_reasons(PASSED, None, worse) == [f"shadow: {worse['detail']}"]
    client, name = version
    states = {**OK_STATES, "shadow_soak": "success", "after_soak": "success"}
    common = dict(run_key="p/3", version="1", approval=None, promoted=None, states=states, gates=PASSED)
    gone = {"decision": "superseded", "detail": "soak ended: version 2 was registered during the soak and is the challenger now"}
    assert finalize_promotion(client, name, soak=gone, **common) == {"decision": "superseded", "version": "1", "reason": gone["detail"]}
    assert "mlops.decision" not in client.get_model_version(name, "1").tags  # the soak marks it superseded, finalize adds nothing
    with pytest.raises(PromotionFailed, match="failed in shadow_soak"):
        finalize_promotion(client, name, soak=None, **{**common, "states": {**states, "shadow_soak": "failed", "after_soak": "upstream_failed"}})
    out = finalize_promotion(client, name, soak=worse, **common)
    assert out["decision"] == "rejected" and out["reasons"] == [f"shadow: {worse['detail']}"]
