"""The serving gate under CPU load: busy processes on every core while it measures.

A fast model must not be rejected because the machine is busy (it passes, or the gate asks
Airflow to retry later); a genuinely slow model (brute-force nearest neighbours over a large
training set: every prediction scans all of it) is still rejected.
"""

from __future__ import annotations

import multiprocessing
import os
import time

import numpy as np
import pandas as pd
import pytest

from mlops.config import load_dataset
from mlops.errors import InconclusiveMeasurement

FEATURES = ["x0", "x1", "x2", "x3", "x4"]


def _burn(stop_at: float) -> None:
    x = 0
    while time.monotonic() < stop_at:
        x += 1


@pytest.fixture
def cpu_load():
    """Two busy processes per core for up to 10 minutes (stopped at the end of the test)."""
    stop_at = time.monotonic() + 600
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_burn, args=(stop_at,), daemon=True) for _ in range(2 * (os.cpu_count() or 2))]
    for p in procs:
        p.start()
    time.sleep(1)
    yield
    for p in procs:
        p.kill()
        p.join(10)


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(rows, len(FEATURES))), columns=FEATURES)
    df["y"] = (df["x0"] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    return df


def log(estimator, settings, train: pd.DataFrame) -> str:
    import mlflow
    from mlflow.models import infer_signature

    from mlops import tracking
    from mlops.training.train import skops_trusted_types

    model = estimator.fit(train[FEATURES], train["y"])
    tracking.client(settings)
    with mlflow.start_run(experiment_id=tracking.experiment_id(settings, "chaos/serving")):
        info = mlflow.sklearn.log_model(
            model, name="model", pip_requirements=tracking.pip_requirements(), serialization_format="skops",
            skops_trusted_types=skops_trusted_types(model), signature=infer_signature(train[FEATURES].head(50), model.predict(train[FEATURES].head(50))),
        )
    return info.model_uri


def config(budget_ms: float):
    return load_dataset("synthetic", override={"numeric_features": FEATURES, "categorical_features": [], "promotion": {"latency_budget_ms": budget_ms, "serving_sample_rows": 1000}})


def test_a_fast_model_is_not_rejected_under_cpu_load_and_a_slow_one_is(settings, cpu_load):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    from mlops.promotion.gates import serving_gate

    holdout = frame(1000, seed=1)
    fast = log(LogisticRegression(), settings, frame(2000))
    # The budget is a tight but honest one for a linear model: a few ms per 1,000 rows when idle.
    budget = 50.0
    try:
        result = serving_gate(config(budget), fast, holdout)
        assert result["passed"], result["detail"]
    except InconclusiveMeasurement as e:  # retried later by Airflow: not a rejection
        assert "not a verdict" in str(e)
    slow = log(KNeighborsClassifier(n_neighbors=5, algorithm="brute"), settings, frame(200_000, seed=2))
    result = serving_gate(config(budget), slow, holdout)
    assert not result["passed"] and "exceeds the budget of 50 ms" in result["detail"], result
    assert result["cpu_ms_per_1000_rows"] > 1.5 * budget
