import json

import pytest

from mlops.config import Settings, list_datasets, load_dataset
from mlops.errors import ConfigError


def test_shipped_configs_load():
    assert {"flights", "synthetic"} <= set(list_datasets())
    flights = load_dataset("flights")
    assert flights.target == "is_late" and flights.task == "classification"
    assert flights.model_name == "flights_late_arrival"
    assert "dep_delay" in flights.features and "arr_delay" not in flights.features


def test_override_merges_key_by_key():
    cfg = load_dataset("flights", override=json.dumps({"training": {"window_days": 14}}))
    assert cfg.training.window_days == 14
    assert cfg.training.holdout_days == 3  # untouched sibling key


def test_fingerprint_changes_with_content():
    a, b = load_dataset("flights"), load_dataset("flights", override={"model": {"seed": 1}})
    assert a.fingerprint() == load_dataset("flights").fingerprint()
    assert a.fingerprint() != b.fingerprint()


def test_invalid_config_names_the_field():
    with pytest.raises(ConfigError, match=r"training: .*holdout_days \(28\) must be smaller than window_days \(28\)"):
        load_dataset("flights", override={"training": {"holdout_days": 28}})
    with pytest.raises(ConfigError, match=r"model.estimator: .*scikit-learn import path"):
        load_dataset("flights", override={"model": {"estimator": "os.system"}})
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_dataset("flights", override="{nope")


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(ConfigError, match=r"known datasets .*'flights'"):
        load_dataset("nope")


def test_settings_require_tracking_uri():
    with pytest.raises(ConfigError, match=r"\['MLFLOW_TRACKING_URI'\] are not set"):
        Settings.from_env({"MLOPS_HOME": "/tmp/x"})
    s = Settings.from_env({"MLOPS_HOME": "/tmp/x", "MLFLOW_TRACKING_URI": "sqlite:///x.db"})
    assert s.lake_dir.as_posix() == "/tmp/x/lake"


def test_other_estimator_replaces_params():
    cfg = load_dataset("synthetic", override={"model": {"estimator": "sklearn.dummy.DummyClassifier"}})
    assert cfg.model.params == {} and cfg.model.seed == 0
    same = load_dataset("synthetic", override={"model": {"params": {"C": 2.0}}})
    assert same.model.params == {"C": 2.0, "max_iter": 500}


def test_key_columns_must_be_declared():
    cfg = load_dataset("flights")
    assert cfg.validation.key_columns == ["time_hour", "carrier", "flight"] and "flight" in cfg.validation.extra_columns
    with pytest.raises(ConfigError, match=r"validation.key_columns names columns that are neither declared nor in validation.extra_columns: \['meter_id'\]"):
        load_dataset("synthetic", override={"validation": {"key_columns": ["ts", "meter_id"]}})
    with pytest.raises(ConfigError, match=r"validation.extra_columns: Value error, columns listed twice: \['id'\]"):
        load_dataset("synthetic", override={"validation": {"extra_columns": ["id", "id"]}})


def test_drift_settings_accept_older_configs_and_refuse_unknown_exclusions():
    # small_sample_rows selected the old method; it is still accepted (and ignored) so older configs load.
    config = load_dataset("synthetic", override={"drift": {"small_sample_rows": 1000}})
    assert config.drift.small_sample_rows == 1000 and config.drift.exclude == ["datetime", "id_like"]
    with pytest.raises(ConfigError, match=r"drift\.exclude\.0: Input should be 'datetime', 'id_like' or 'constant'"):
        load_dataset("synthetic", override={"drift": {"exclude": ["dates"]}})
