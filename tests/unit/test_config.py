import json
from pathlib import Path

import pytest

from mlops.config import DEFAULT_DATASETS_DIR, Settings, list_datasets, load_dataset
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
    with pytest.raises(ConfigError, match=r"validation.extra_columns: columns listed twice: \['id'\]"):
        load_dataset("synthetic", override={"validation": {"extra_columns": ["id", "id"]}})


def test_drift_settings_accept_older_configs_and_refuse_unknown_exclusions():
    # small_sample_rows selected the old method; it is still accepted (and ignored) so older configs load.
    config = load_dataset("synthetic", override={"drift": {"small_sample_rows": 1000}})
    assert config.drift.small_sample_rows == 1000 and config.drift.exclude == ["datetime", "id_like"]
    with pytest.raises(ConfigError, match=r"drift\.exclude\.0: Input should be 'datetime', 'id_like' or 'constant'"):
        load_dataset("synthetic", override={"drift": {"exclude": ["dates"]}})


# --- checked at load time, with the valid choices in the message ---------------------------------


def _problems(override: dict, name: str = "flights") -> str:
    with pytest.raises(ConfigError) as e:
        load_dataset(name, override=override, override_source="the Airflow Variable mlops_dataset__" + name)
    return str(e.value)


def test_primary_metric_and_floors_must_be_metrics_of_the_task():
    msg = _problems({"training": {"primary_metric": "roc_acu", "metric_floors": {"auc": 0.7}}})
    assert (
        "the Airflow Variable mlops_dataset__flights: training.primary_metric: 'roc_acu' is not a metric this task computes "
        "(did you mean 'roc_auc'?); the metrics of a classification task are roc_auc, accuracy, f1, log_loss, brier"
    ) in msg
    assert "training.metric_floors.auc: 'auc' is not a metric this task computes (did you mean 'roc_auc'?)" in msg
    # The file's roc_auc no longer fits once the task changes: the error points at the file's line.
    msg = _problems({"task": "regression"})
    line = 1 + (DEFAULT_DATASETS_DIR / "flights.yaml").read_text().splitlines().index("  primary_metric: roc_auc")
    assert (
        f"flights.yaml, line {line}: training.primary_metric: 'roc_auc' is not a metric this task computes; the metrics of a regression task are rmse, mae, r2"
        in msg
    )


def test_regression_ranks_by_rmse_unless_told_otherwise():
    from mlops.config import DatasetConfig

    raw = {k: v for k, v in load_dataset("synthetic").model_dump().items() if k != "training"}
    assert DatasetConfig(**{**raw, "task": "regression"}).training.primary_metric == "rmse"
    assert DatasetConfig(**{**raw, "task": "regression", "training": {"primary_metric": "mae"}}).training.primary_metric == "mae"
    assert DatasetConfig(**raw).training.primary_metric == "roc_auc"


def test_validation_keys_must_be_columns_of_the_dataset():
    msg = _problems(
        {
            "validation": {
                "ranges": {"dep_dely": [0, 1], "carrier": [0, 1], "is_late": [0, 1], "temp": [5, 1]},
                "categories": {"orgin": ["EWR"]},
                "null_fraction": {"x": 0.1},
            }
        }
    )
    assert (
        "validation.ranges.dep_dely: 'dep_dely' is not a numeric feature or the target (did you mean 'dep_delay'?); ranges may name dep_delay, distance" in msg
    )
    assert "validation.ranges.carrier: 'carrier' is not a numeric feature or the target;" in msg
    assert "ranges.is_late" not in msg  # a range of the target is allowed
    assert (
        "validation.categories.orgin: 'orgin' is not a categorical feature or the target (did you mean 'origin'?); categories may name carrier, origin, is_late"
        in msg
    )
    assert "validation.null_fraction.x: 'x' is not a feature" in msg
    assert "validation.ranges.temp: the range of 'temp' is empty: minimum 5.0 > maximum 1.0" in msg
    assert msg.startswith("dataset config 'flights' is invalid (5 problems):")


def test_run_windows_from_the_trigger_form_must_leave_a_training_day():
    training = load_dataset("flights").training  # window 28, holdout 3
    assert training.windows() == (28, 3)
    assert training.windows(14, None) == (14, 3)
    with pytest.raises(
        ConfigError,
        match=(
            r"holdout_days=28 \(from the run's params \(trigger form or conf\)\) must be smaller than training_window_days=28 "
            r"\(from the dataset config \(training.window_days\)\)"
        ),
    ):
        training.windows(None, 28)
    with pytest.raises(
        ConfigError, match=r"holdout_days=3 \(from the dataset config \(training.holdout_days\)\) must be smaller than training_window_days=2 \(from the run's"
    ):
        training.windows(2, None)


def test_renamed_performance_tolerance_says_how_to_migrate():
    msg = _problems({"retrain": {"performance_tolerance": 0.05}})
    assert "retrain.performance_tolerance: performance_tolerance (0.05) was an absolute amount in the metric's units and is replaced" in msg
    assert "performance_tolerance_absolute: 0.05" in msg
    cfg = load_dataset("flights")
    assert cfg.retrain.performance_tolerance_relative == 0.05 and cfg.retrain.performance_tolerance_absolute is None


def _write(folder, name: str, text: str):
    path = folder / f"{name}.yaml"
    path.write_text(text)
    return path


def test_yaml_errors_name_the_file_line_and_column(tmp_path):
    path = _write(tmp_path, "broken", "name: broken\nsource: {kind: synthetic}\ntarget: y\n  task: classification\n")
    with pytest.raises(ConfigError) as e:
        load_dataset("broken", datasets_dir=tmp_path)
    msg = str(e.value)
    assert msg.startswith(f"dataset config {path}, line 4, column 7: not valid YAML: mapping values are not allowed")
    assert "<unicode string>" not in msg and "      task: classification\n          ^" in msg
    _write(tmp_path, "twice", "name: twice\ntarget: y\ntarget: z\n")
    with pytest.raises(ConfigError, match=r"twice.yaml, line 3: key 'target' appears twice \(lines 2 and 3\)"):
        load_dataset("twice", datasets_dir=tmp_path)
    _write(tmp_path, "alist", "- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"alist.yaml: the file must hold a mapping .* found list"):
        load_dataset("alist", datasets_dir=tmp_path)


def test_field_errors_name_the_line_in_the_file(tmp_path):
    text = (DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text().replace("primary_metric: roc_auc", "primary_metric: auc")
    path = _write(tmp_path, "synthetic", text)
    line = 1 + text.splitlines().index("  primary_metric: auc")
    with pytest.raises(ConfigError, match=rf"{path}, line {line}: training.primary_metric: 'auc' is not a metric"):
        load_dataset("synthetic", datasets_dir=tmp_path)


def test_estimator_is_imported_and_checked_against_task_and_params():
    from mlops.training.model import check_estimator

    def problem(model: dict) -> str:
        with pytest.raises(ConfigError) as e:
            check_estimator(load_dataset("flights", override={"model": model}))
        return str(e.value)

    assert check_estimator(load_dataset("flights")).__name__ == "HistGradientBoostingClassifier"
    assert "sklearn.ensemble has no class 'HistGradientBoostingClasifier' (did you mean 'HistGradientBoostingClassifier'?); it offers" in problem(
        {"estimator": "sklearn.ensemble.HistGradientBoostingClasifier"}
    )
    assert "module 'sklearn.ensembl' cannot be imported" in problem({"estimator": "sklearn.ensembl.HistGradientBoostingClassifier"})
    assert "'max_iters' (did you mean 'max_iter'?) is not a parameter; it accepts" in problem({"params": {"max_iters": 3}})
    assert "is not a classifier, and the dataset's task is classification" in problem({"estimator": "sklearn.linear_model.LinearRegression"})
    assert "The 'max_iter' parameter of HistGradientBoostingClassifier must be an int" in problem({"params": {"max_iter": "many"}})


def test_shadow_soak_is_on_for_synthetic_off_for_flights_and_needs_shadow_predictions(tmp_path):
    assert load_dataset("flights").promotion.shadow.enabled is False
    soak = load_dataset("synthetic").promotion.shadow
    assert soak.enabled and soak.on_inconclusive == "reject" and soak.min_days <= soak.max_days
    # The file's scoring section without shadow scoring: the error names the file, the line of the key and the fix.
    text = (DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text().replace("  shadow: true\n", "  shadow: false\n", 1)
    path = _write(tmp_path, "synthetic", text)
    line = 1 + text.splitlines().index("    enabled: true")
    with pytest.raises(
        ConfigError,
        match=(
            rf"{path}, line {line}: promotion.shadow.enabled: the shadow soak needs shadow predictions: scoring.shadow is false, "
            r"so the challenger is never scored in shadow; set scoring.shadow: true, or set promotion.shadow.enabled: false"
        ),
    ):
        load_dataset("synthetic", datasets_dir=tmp_path)
    text = (DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text()
    assert "\nscoring:\n  shadow: true\n" in text
    _write(tmp_path, "synthetic", text.replace("\nscoring:\n  shadow: true\n", "\n"))
    with pytest.raises(ConfigError, match=r"promotion.shadow.enabled: the shadow soak needs shadow predictions: there is no scoring section"):
        load_dataset("synthetic", datasets_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"promotion.shadow: .*min_days \(5\) must not exceed max_days \(3\)"):
        load_dataset("synthetic", override={"promotion": {"shadow": {"min_days": 5, "max_days": 3}}})
    with pytest.raises(ConfigError, match=r"promotion.shadow.on_inconclusive: .*'reject' or 'promote_if_non_inferior'"):
        load_dataset("synthetic", override={"promotion": {"shadow": {"on_inconclusive": "hold"}}})


def test_the_benches_generated_dataset_configs_are_valid(tmp_path):
    """bench/parse_bench.py and bench/idle_bench.py measure variants of synthetic.yaml: each must load."""
    import importlib.util

    from mlops.config import list_datasets, load_dataset

    spec = importlib.util.spec_from_file_location("parse_bench", Path(__file__).resolve().parents[2] / "bench" / "parse_bench.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.generate_configs(tmp_path, 3)
    assert list_datasets(tmp_path) == ["variant_000", "variant_001", "variant_002"]
    for name in list_datasets(tmp_path):
        config = load_dataset(name, datasets_dir=tmp_path)
        assert config.scoring is None and config.name == name
