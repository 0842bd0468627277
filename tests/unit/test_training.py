from datetime import UTC, date, datetime

import mlflow
import numpy as np
import pytest

from mlops.config import load_dataset
from mlops.errors import ConfigError
from mlops.sources.synthetic import SyntheticSource
from mlops.training.evaluate import compare
from mlops.training.metrics import compute_metrics, floor_failures, improvement
from mlops.training.model import MISSING, build_pipeline, prepare_features
from mlops.training.train import train_model

END = datetime(2024, 1, 15, tzinfo=UTC)


def test_metrics_and_directions():
    m = compute_metrics("classification", [0, 1, 1, 0], [0.1, 0.9, 0.6, 0.4])
    assert m["roc_auc"] == 1.0 and m["accuracy"] == 1.0
    assert "roc_auc" not in compute_metrics("classification", [1, 1], [0.6, 0.7])
    r = compute_metrics("regression", [1.0, 2.0], [1.0, 3.0])
    assert r["mae"] == 0.5 and r["rmse"] == pytest.approx(np.sqrt(0.5), abs=1e-6)
    assert improvement("rmse", 1.0, 2.0) == 1.0 and improvement("roc_auc", 0.7, 0.8) == pytest.approx(-0.1)
    assert floor_failures({"roc_auc": 0.6, "rmse": 3}, {"roc_auc": 0.7, "rmse": 2}) == [
        "rmse=3.0000 is above the ceiling 2",
        "roc_auc=0.6000 is below the floor 0.7",
    ]


def test_compare_blesses_by_floor_and_improvement(synthetic_config):
    cfg = load_dataset("synthetic", override={"training": {"min_improvement": 0.01}})
    assert compare(cfg, {"roc_auc": 0.8}, None) == {"blessed": True, "reasons": ["no champion: the metric floors decide"]}
    assert not compare(cfg, {"roc_auc": 0.5}, None)["blessed"]
    worse = compare(cfg, {"roc_auc": 0.80}, {"roc_auc": 0.795})
    assert not worse["blessed"] and "gain +0.0050, required +0.0100" in worse["reasons"][0]
    assert compare(cfg, {"roc_auc": 0.82}, {"roc_auc": 0.80})["blessed"]


def test_pipeline_handles_missing_and_unseen_categories(synthetic_config):
    df = SyntheticSource(rows_per_day=400).read_days = None
    df = SyntheticSource(rows_per_day=400).generate_day(date(2024, 1, 1))
    pipe = build_pipeline(synthetic_config).fit(prepare_features(df, synthetic_config), df["y"])
    odd = df.head(3).copy()
    odd.loc[odd.index[0], "c0"] = None
    odd.loc[odd.index[1], "c0"] = "never-seen"
    odd.loc[odd.index[2], "x0"] = np.nan
    X = prepare_features(odd, synthetic_config)
    assert X["c0"].iloc[0] == MISSING
    assert pipe.predict_proba(X).shape == (3, 2)
    with pytest.raises(ConfigError, match=r"feature columns \['x4'\] are not in the data"):
        prepare_features(df.drop(columns="x4"), synthetic_config)


def test_train_is_reproducible_and_idempotent(settings, synthetic_config):
    source = SyntheticSource(rows_per_day=300, seed=5)
    kwargs = dict(end=END, source=source, window_days=6, holdout_days=2)
    first = train_model(synthetic_config, settings, run_key="dag/run-1", **kwargs)
    assert not first["reused"] and first["training_window"][1] == first["holdout_window"][0]
    assert first["holdout_window"][1] == END.isoformat() and len(first["data_hashes"]) == 6
    again = train_model(synthetic_config, settings, run_key="dag/run-1", **kwargs)
    assert again["reused"] and again["run_id"] == first["run_id"]
    # A different DAG run on the same inputs trains again and gets exactly the same model.
    other = train_model(synthetic_config, settings, run_key="dag/run-2", **kwargs)
    assert other["run_id"] != first["run_id"]
    assert other["metrics"] == first["metrics"] and other["data_hashes"] == first["data_hashes"]
    holdout = source.generate_day(date(2024, 1, 14))
    X = prepare_features(holdout, synthetic_config)
    p1 = mlflow.sklearn.load_model(first["model_uri"]).predict_proba(X)
    p2 = mlflow.sklearn.load_model(other["model_uri"]).predict_proba(X)
    assert np.array_equal(p1, p2)
    run = mlflow.get_run(first["run_id"])
    assert run.data.tags["mlops.run_key"] == "dag/run-1"
    assert run.data.params["train_rows"] == "1200"
    assert {i.dataset.name for i in run.inputs.dataset_inputs} == {"synthetic-train", "synthetic-holdout"}


def test_a_retry_closes_the_run_and_model_a_killed_attempt_left_open(settings, synthetic_config):
    """A SIGKILLed train leaves its run RUNNING and its model PENDING; the retry closes both and trains once."""
    from mlops import tracking
    from mlops.training.train import experiment_name

    client = tracking.client(settings)
    exp_id = tracking.experiment_id(settings, experiment_name(synthetic_config))
    run_key = "dag/killed-run"
    orphan = client.create_run(exp_id, tags={"mlops.run_key": run_key})  # what the killed attempt left
    model = client.create_logged_model(exp_id, name="model", source_run_id=orphan.info.run_id)
    other = client.create_run(exp_id, tags={"mlops.run_key": "dag/another-run"})  # not this run's: untouched
    result = train_model(
        synthetic_config,
        settings,
        run_key=run_key,
        end=END,
        source=SyntheticSource(rows_per_day=300, seed=3),
        window_days=5,
        holdout_days=1,
    )
    closed = client.get_run(orphan.info.run_id)
    assert closed.info.status == "FAILED" and closed.data.tags["mlops.closed_by_retry"].startswith(f"closed by a retry of {run_key} at ")
    assert str(client.get_logged_model(model.model_id).status) == "FAILED"
    assert client.get_run(other.info.run_id).info.status == "RUNNING"
    runs = mlflow.search_runs(experiment_ids=[exp_id], filter_string=f"tags.`mlops.run_key` = '{run_key}'", output_format="list")
    assert sorted(r.info.status for r in runs) == ["FAILED", "FINISHED"] and result["run_id"] != orphan.info.run_id
