"""Metrics per task, with the direction in which each one improves."""

from __future__ import annotations

from typing import Any

LOWER_IS_BETTER = {"log_loss", "brier", "rmse", "mae"}
CLASSIFICATION = ("roc_auc", "accuracy", "f1", "log_loss", "brier")
REGRESSION = ("rmse", "mae", "r2")
#: Metrics undefined when the labels hold a single class (``compute_metrics`` leaves them out).
TWO_CLASS_METRICS = ("roc_auc",)


def higher_is_better(metric: str) -> bool:
    return metric not in LOWER_IS_BETTER


def compute_metrics(task: str, y_true: Any, y_score: Any) -> dict[str, float]:
    """Holdout metrics. ``y_score`` is P(class 1) for classification, the prediction for regression."""
    import numpy as np
    from sklearn import metrics as m

    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=float)
    if task == "classification":
        out = {
            "accuracy": m.accuracy_score(y_true, y_score >= 0.5),
            "f1": m.f1_score(y_true, y_score >= 0.5, zero_division=0),
            "log_loss": m.log_loss(y_true, np.clip(y_score, 1e-7, 1 - 1e-7), labels=[0, 1]),
            "brier": m.brier_score_loss(y_true, y_score),
        }
        # AUC is undefined on a single class; leave it out rather than report a fake value.
        if len(np.unique(y_true)) == 2:
            out["roc_auc"] = m.roc_auc_score(y_true, y_score)
    else:
        out = {
            "rmse": float(np.sqrt(m.mean_squared_error(y_true, y_score))),
            "mae": m.mean_absolute_error(y_true, y_score),
            "r2": m.r2_score(y_true, y_score),
        }
    return {k: round(float(v), 6) for k, v in out.items()}


def improvement(metric: str, new: float, old: float) -> float:
    """Signed improvement of ``new`` over ``old`` (positive = better) in the metric's direction."""
    return (new - old) if higher_is_better(metric) else (old - new)


def floor_failures(metrics: dict[str, float], floors: dict[str, float]) -> list[str]:
    """Reasons for each metric floor (ceiling for lower-is-better metrics) that is not met."""
    reasons = []
    for name, bound in sorted(floors.items()):
        value = metrics.get(name)
        if value is None:
            reasons.append(f"metric {name} is missing; the config sets a bound of {bound}")
        elif higher_is_better(name) and value < bound:
            reasons.append(f"{name}={value:.4f} is below the floor {bound}")
        elif not higher_is_better(name) and value > bound:
            reasons.append(f"{name}={value:.4f} is above the ceiling {bound}")
    return reasons
