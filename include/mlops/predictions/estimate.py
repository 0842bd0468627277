"""Performance estimated from predicted probabilities while the labels are pending (classification).

The method is confidence-based performance estimation (CBPE, as in NannyML): calibrate the
model's scores on data whose labels are known (its own holdout) with isotonic regression,
so that a calibrated score ``p`` is the probability that the row's label is 1 — but only
when that helps: isotonic calibration is fitted on folds of the holdout and kept when it
lowers the Brier score of the held-out folds (a proper scoring rule: a model that is
calibrated already keeps its scores, whose ranking a step-wise isotonic map would blur). Each
unlabelled row then counts as a positive with weight ``p`` and a negative with weight
``1 - p``: the metrics of that weighted sample are the expected confusion matrix, ROC curve,
Brier score and log loss. This holds under covariate shift (the inputs move, the relation
from inputs to label does not); a change of concept is invisible to it until labels come.
"""

from __future__ import annotations

from typing import Any

MIN_REFERENCE_ROWS = 100


def _isotonic(scores: Any, labels: Any):
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)


class Calibrator:
    """Map from a model's scores to the probability of label 1, learnt on reference data.

    Isotonic regression when it lowers the Brier score of held-out folds of the reference
    (``folds``), else the scores as they are (``calibrated`` says which).
    """

    def __init__(self, scores: Any, labels: Any, *, folds: int = 5, seed: int = 0):
        import numpy as np
        from sklearn.model_selection import StratifiedKFold

        scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=float)
        if len(scores) < MIN_REFERENCE_ROWS or len(np.unique(labels)) < 2:
            raise ValueError(
                f"calibration needs at least {MIN_REFERENCE_ROWS} reference rows with both classes; got {len(scores)} rows, "
                f"classes {sorted(np.unique(labels).tolist())}"
            )
        held_out = np.empty_like(scores)
        for fit, test in StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(scores.reshape(-1, 1), labels):
            held_out[test] = _isotonic(scores[fit], labels[fit]).predict(scores[test])
        self.brier_raw = float(np.mean((scores - labels) ** 2))
        self.brier_calibrated = float(np.mean((held_out - labels) ** 2))
        self.calibrated = self.brier_calibrated < self.brier_raw
        self.model = _isotonic(scores, labels) if self.calibrated else None

    def __call__(self, scores: Any):
        import numpy as np

        scores = np.asarray(scores, dtype=float)
        return np.clip(self.model.predict(scores) if self.model is not None else scores, 0.0, 1.0)


def expected_metrics(scores: Any, probabilities: Any) -> dict[str, float]:
    """Classification metrics of ``scores`` when each row is 1 with probability ``probabilities``.

    The names and thresholds are those of ``mlops.training.metrics.compute_metrics`` (class 1
    at a score of 0.5 or more).
    """
    import numpy as np
    from sklearn import metrics as m

    s = np.asarray(scores, dtype=float)
    p = np.asarray(probabilities, dtype=float)
    if not len(s):
        return {}
    y = np.r_[np.ones(len(s)), np.zeros(len(s))]
    score = np.r_[s, s]
    weight = np.r_[p, 1.0 - p]
    out = {
        "accuracy": m.accuracy_score(y, score >= 0.5, sample_weight=weight),
        "f1": m.f1_score(y, score >= 0.5, sample_weight=weight, zero_division=0),
        "log_loss": m.log_loss(y, np.clip(score, 1e-7, 1 - 1e-7), sample_weight=weight, labels=[0, 1]),
        "brier": m.brier_score_loss(y, score, sample_weight=weight),
    }
    if 0 < p.sum() < len(p):  # an expected positive and an expected negative
        out["roc_auc"] = m.roc_auc_score(y, score, sample_weight=weight)
    return {k: round(float(v), 6) for k, v in out.items()}


def estimate(reference_scores: Any, reference_labels: Any, scores: Any) -> dict[str, float]:
    """CBPE: the metrics expected for ``scores``, calibrated on ``(reference_scores, reference_labels)``."""
    return expected_metrics(scores, Calibrator(reference_scores, reference_labels)(scores))
