"""The retraining decision: a pure function of the evidence, plus the code that gathers it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mlops.config import RetrainPolicy
from mlops.training.metrics import improvement


@dataclass(frozen=True)
class ChampionState:
    """What the decision needs to know about the serving model."""

    version: str
    data_end: datetime | None
    reference_metric: float | None
    current_metric: float | None
    #: Where ``current_metric`` comes from, for the reason (realised live, re-scored, estimated).
    evidence: str = "on the new partition"


def policy_drift(drift: dict, policy: RetrainPolicy, features: list[str]) -> tuple[float | None, list[str]]:
    """Share and names of drifted features among those the policy watches (``retrain.drift_features``).

    A feature counts when its values drifted, or, with ``retrain.missing_value_drift``,
    when its null rate did (``missing_drifted_features`` of the drift step; absent from
    reports written before that check existed).
    """
    if drift.get("drifted_features") is None:
        return None, []
    watched = policy.drift_features or features
    counted = set(drift["drifted_features"])
    if policy.missing_value_drift:
        counted |= set(drift.get("missing_drifted_features") or [])
    drifted = [f for f in watched if f in counted]
    return (len(drifted) / len(watched) if watched else 0.0), drifted


def null_rate_only(drift: dict, names: list[str]) -> list[str]:
    """Those of ``names`` whose null rate, not their values, drifted in the drift step's result."""
    values = set(drift.get("drifted_features") or [])
    return [f for f in names if f not in values]


def performance_decay(policy: RetrainPolicy, metric: str, *, reference: float, current: float) -> str | None:
    """Why ``current`` counts as decayed from ``reference`` under the policy's tolerances, or None.

    The drop is measured in the metric's direction (a fall for roc_auc, a rise for rmse);
    ``performance_tolerance_relative`` is a fraction of ``|reference|``,
    ``performance_tolerance_absolute`` is in the metric's units; exceeding either one is decay.
    """
    drop = -improvement(metric, current, reference)
    if drop <= 0:
        return None
    relative = drop / abs(reference) if reference else float("inf")
    worse = f"{relative:.1%} worse" if reference else f"worse by {drop:.4g}"
    rel_tol, abs_tol = policy.performance_tolerance_relative, policy.performance_tolerance_absolute
    if rel_tol is not None and relative > rel_tol:
        return f"{worse} (tolerance {rel_tol:.1%} of the holdout value)"
    if abs_tol is not None and drop > abs_tol:
        return f"worse by {drop:.4g} (tolerance {abs_tol:g} in {metric} units)"
    return None


def decide_retrain(
    *,
    policy: RetrainPolicy,
    primary_metric: str,
    interval_end: datetime,
    champion: ChampionState | None,
    drift_share: float | None,
    drifted_features: list[str] | None = None,
    null_rate_features: list[str] | None = None,
    force: bool = False,
) -> dict:
    """Returns the decide step's contract value ``{retrain, reasons}``; every triggered rule adds a reason.

    ``null_rate_features`` names those of ``drifted_features`` that count because their
    null rate drifted (see :func:`policy_drift`); the reason marks them.
    """
    reasons: list[str] = []
    if force:
        reasons.append("forced: the run was triggered with force_retrain")
    if champion is None:
        reasons.append("no champion: nothing serves yet")
    if drift_share is not None and drift_share >= policy.drift_share:
        marked = set(null_rate_features or [])
        names = ", ".join(f"{f} (null rate)" if f in marked else f for f in (drifted_features or [])[:10])
        watched = f"the {len(policy.drift_features)} watched features" if policy.drift_features else "features"
        reasons.append(f"drift: {drift_share:.0%} of {watched} drifted (threshold {policy.drift_share:.0%}): {names}")
    if champion is not None:
        if champion.reference_metric is not None and champion.current_metric is not None:
            decay = performance_decay(policy, primary_metric, reference=champion.reference_metric, current=champion.current_metric)
            if decay:
                reasons.append(
                    f"performance decay: champion v{champion.version} {primary_metric}={champion.current_metric:.4f} {champion.evidence} "
                    f"vs {champion.reference_metric:.4f} on its holdout, {decay}"
                )
        if champion.data_end is not None:
            age = (interval_end - champion.data_end).days
            if age > policy.max_model_age_days:
                reasons.append(
                    f"model age: champion v{champion.version} was trained on data ending {champion.data_end.date()}, "
                    f"{age} days before this interval's end (maximum {policy.max_model_age_days})"
                )
    return {"retrain": bool(reasons), "reasons": reasons}
