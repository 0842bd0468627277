"""A holdout with a single class: a clear error in training, a failed gate (not a KeyError) in promotion."""

from __future__ import annotations

from datetime import UTC, date, datetime

import mlflow
import pytest

from mlops import tracking
from mlops.errors import InsufficientData
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource
from mlops.training.model import build_pipeline, prepare_features
from mlops.training.train import check_holdout_classes, skops_trusted_types

HOLDOUT = Interval(datetime(2024, 1, 13, tzinfo=UTC), datetime(2024, 1, 15, tzinfo=UTC))


@pytest.fixture
def one_class(synthetic_config):
    frame = SyntheticSource(rows_per_day=300, seed=3).generate_day(date(2024, 1, 13))
    return frame[frame["y"] == 0].reset_index(drop=True)


def test_training_refuses_a_one_class_holdout_when_roc_auc_is_needed(synthetic_config, one_class):
    with pytest.raises(InsufficientData) as e:
        check_holdout_classes(synthetic_config, one_class, HOLDOUT)
    assert str(e.value) == (
        f"dataset 'synthetic': the holdout window [2024-01-13, 2024-01-15) holds a single class of 'y' (0: {len(one_class)} rows); "
        "roc_auc (the primary metric and a metric floor) is undefined on one class, so the challenger could not be scored. "
        "Widen training.holdout_days (or the trigger form's holdout_days), or rank by a metric defined on one class "
        "(accuracy, f1, log_loss, brier)."
    )
    # Ranked by log_loss with no roc_auc floor, one class is no problem.
    training = synthetic_config.training.model_copy(update={"primary_metric": "log_loss", "metric_floors": {"log_loss": 0.9}})
    by_log_loss = synthetic_config.model_copy(update={"training": training})
    check_holdout_classes(by_log_loss, one_class, HOLDOUT)


def test_beats_champion_gate_fails_clearly_on_a_one_class_window(settings, synthetic_config, one_class):
    from mlops.promotion.gates import beats_champion_gate

    train = SyntheticSource(rows_per_day=300, seed=3).generate_day(date(2024, 1, 10))
    pipe = build_pipeline(synthetic_config).fit(prepare_features(train, synthetic_config), train["y"])
    tracking.client(settings)
    with mlflow.start_run(experiment_id=tracking.experiment_id(settings, "unit/one-class")):
        uri = mlflow.sklearn.log_model(pipe, name="m", pip_requirements=["scikit-learn"], skops_trusted_types=skops_trusted_types(pipe)).model_uri
    gate = beats_champion_gate(synthetic_config, settings, one_class, uri, uri)
    assert gate["passed"] is False
    assert gate["detail"] == (
        f"roc_auc is undefined for the challenger and champion on the evaluation window ({len(one_class)} rows; "
        f"classes of 'y': 0: {len(one_class)}); the versions cannot be compared on it"
    )
