"""Confidence-based performance estimation (CBPE) against realised metrics on data where the truth is known."""

import numpy as np
import pytest

from mlops.predictions.estimate import Calibrator, estimate, expected_metrics
from mlops.training.metrics import compute_metrics


def test_with_certain_probabilities_the_expectation_is_the_metric_itself():
    rng = np.random.default_rng(0)
    scores = rng.random(500)
    labels = (rng.random(500) < scores).astype(int)
    assert expected_metrics(scores, labels.astype(float)) == pytest.approx(compute_metrics("classification", labels, scores), abs=1e-6)


@pytest.mark.parametrize("distort", [lambda p: p, lambda p: p**2, lambda p: 0.5 + 0.5 * (p - 0.5)], ids=["calibrated", "overconfident-low", "timid"])
def test_the_estimate_follows_the_realised_metric_under_covariate_shift(distort):
    rng = np.random.default_rng(1)

    def sample(n, shift):
        signal = rng.normal(shift, 1.0, n)
        truth = 1 / (1 + np.exp(-2 * signal))
        return distort(truth), (rng.random(n) < truth).astype(int)

    ref_scores, ref_labels = sample(5000, 0.0)
    cur_scores, cur_labels = sample(20000, 1.2)  # the inputs moved; the relation did not
    realised = compute_metrics("classification", cur_labels, cur_scores)
    estimated = estimate(ref_scores, ref_labels, cur_scores)
    holdout = compute_metrics("classification", ref_labels, ref_scores)
    for metric in ("roc_auc", "accuracy"):
        assert abs(estimated[metric] - realised[metric]) < 0.015, (metric, estimated[metric], realised[metric])
    # Calibration only where it helps: a calibrated model keeps its scores (and their ranking).
    assert Calibrator(ref_scores, ref_labels).calibrated is (distort(0.2) != 0.2)
    # The naive estimate ("as on the holdout") misses the shift by far more.
    assert abs(holdout["accuracy"] - realised["accuracy"]) > 3 * abs(estimated["accuracy"] - realised["accuracy"])


def test_calibration_needs_enough_reference_rows_of_both_classes():
    with pytest.raises(ValueError, match=r"at least 100 reference rows with both classes; got 50 rows"):
        Calibrator(np.linspace(0, 1, 50), np.ones(50))
    with pytest.raises(ValueError, match=r"classes \[1.0\]"):
        Calibrator(np.linspace(0, 1, 200), np.ones(200))
