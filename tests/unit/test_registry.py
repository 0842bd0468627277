from datetime import UTC, datetime

import pytest

from mlops import schema, tracking
from mlops.errors import RegistryError
from mlops.registry import CHALLENGER, alias_version, find_version_by_run_key, register_version
from mlops.sources.synthetic import SyntheticSource
from mlops.training.train import train_model


@pytest.fixture
def trained(settings, synthetic_config):
    return train_model(
        synthetic_config,
        settings,
        end=datetime(2024, 1, 12, tzinfo=UTC),
        run_key="dag/reg",
        source=SyntheticSource(rows_per_day=300, seed=9),
        window_days=5,
        holdout_days=1,
    )


def test_register_once_per_run_key(settings, trained):
    client = tracking.client(settings)
    name = "unit_registry_model"
    args = dict(
        name=name, model_uri=trained["model_uri"], run_id=trained["run_id"], run_key="dag/run-a", tags=schema.encode_tags({schema.METRICS: {"roc_auc": 0.9}})
    )
    first = register_version(client, **args)
    assert first["created"] and first["alias"] == CHALLENGER
    retry = register_version(client, **args)
    assert retry == {**first, "created": False}
    assert len(client.search_model_versions(f"name = '{name}'")) == 1
    v = alias_version(client, name, CHALLENGER)
    assert str(v.version) == first["version"] and v.tags["mlops.metrics"] == '{"roc_auc": 0.9}'
    second = register_version(client, **{**args, "run_key": "dag/run-b"})
    assert int(second["version"]) == int(first["version"]) + 1
    assert alias_version(client, name, "champion") is None
    assert alias_version(client, "no_such_model", CHALLENGER) is None


def test_duplicate_run_keys_are_reported(settings, trained):
    client = tracking.client(settings)
    name = "unit_registry_dupes"
    client.create_registered_model(name)
    for _ in range(2):
        client.create_model_version(name, source=trained["model_uri"], run_id=trained["run_id"], tags={"mlops.run_key": "dag/x"})
    with pytest.raises(RegistryError, match=r"versions \[1, 2\] all carry mlops.run_key='dag/x'"):
        find_version_by_run_key(client, name, "dag/x")


def test_a_denied_look_up_of_a_model_that_does_not_exist_counts_as_missing(settings):
    """MLflow's basic-auth app answers 403 for a registered model that does not exist."""
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INTERNAL_ERROR, PERMISSION_DENIED, RESOURCE_DOES_NOT_EXIST

    from mlops.registry import missing_model, model_exists

    client = tracking.client(settings)
    client.create_registered_model("unit_registry_exists")
    denied = MlflowException("Permission denied", error_code=PERMISSION_DENIED)
    assert model_exists(client, "unit_registry_exists") and not model_exists(client, "unit_registry_o'brien")
    assert missing_model(client, "unit_registry_absent", denied) is True
    assert missing_model(client, "unit_registry_exists", denied) is False  # a real denial is raised by callers
    assert missing_model(client, "unit_registry_exists", MlflowException("x", error_code=RESOURCE_DOES_NOT_EXIST)) is True
    assert missing_model(client, "unit_registry_exists", MlflowException("x", error_code=INTERNAL_ERROR)) is False


def test_a_retried_backfill_train_step_reads_its_decided_day_back_instead_of_evaluating_again(settings, trained):
    """After the replayed promotion made the version champion, evaluating again would compare it with itself."""
    from mlops.airflow.operators import _decided_before
    from mlops.promotion.history import replay_decision

    client = tracking.client(settings)
    name, key = "unit_backfill_retry__backfill", "nightly/backfill__2024-01-12T00:00:00+00:00"
    evaluation = {"blessed": True, "reasons": ["no champion yet"], "challenger_metrics": {"roc_auc": 0.81}, "champion_metrics": None, "champion_version": None}
    tags = schema.encode_tags(
        {schema.BLESSED: True, schema.EVALUATION: {k: evaluation[k] for k in ("challenger_metrics", "champion_metrics", "champion_version", "reasons")}}
    )
    assert _decided_before(name, settings, key) is None  # nothing registered yet: the steps run
    registered = register_version(client, name=name, model_uri=trained["model_uri"], run_id=trained["run_id"], run_key=key, tags=tags)
    assert _decided_before(name, settings, key) is None  # registered, not decided: the steps run (each idempotent)
    replay_decision(client, name, registered["version"], run_key=key, evaluation=evaluation)
    again = _decided_before(name, settings, key)
    assert again["evaluation"] == evaluation
    assert again["registered"]["version"] == registered["version"] and again["registered"]["created"] is False
    assert again["replayed"] == {"version": registered["version"], "decision": "promoted", "kind": "backfill", "already": True}
    assert str(alias_version(client, name, "champion").version) == registered["version"]
