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
    """Share and names of drifted features among those the policy watches (``retrain.drift_features``)."""
    if drift.get("drifted_features") is None:
        return None, []
    watched = policy.drift_features or features
    drifted = [f for f in drift["drifted_features"] if f in watched]
    return (len(drifted) / len(watched) if watched else 0.0), drifted


def decide_retrain(
    *,
    policy: RetrainPolicy,
    primary_metric: str,
    interval_end: datetime,
    champion: ChampionState | None,
    drift_share: float | None,
    drifted_features: list[str] | None = None,
    force: bool = False,
) -> dict:
    """Returns the decide step's contract value ``{retrain, reasons}``; every triggered rule adds a reason."""
    reasons: list[str] = []
    if force:
        reasons.append("forced: the run was triggered with force_retrain")
    if champion is None:
        reasons.append("no champion: nothing serves yet")
    if drift_share is not None and drift_share >= policy.drift_share:
        names = ", ".join((drifted_features or [])[:10])
        watched = f"the {len(policy.drift_features)} watched features" if policy.drift_features else "features"
        reasons.append(f"drift: {drift_share:.0%} of {watched} drifted (threshold {policy.drift_share:.0%}): {names}")
    if champion is not None:
        if champion.reference_metric is not None and champion.current_metric is not None:
            drop = -improvement(primary_metric, champion.current_metric, champion.reference_metric)
            if drop > policy.performance_tolerance:
                reasons.append(
                    f"performance decay: champion v{champion.version} {primary_metric}={champion.current_metric:.4f} {champion.evidence} "
                    f"vs {champion.reference_metric:.4f} on its holdout (tolerance {policy.performance_tolerance})"
                )
        if champion.data_end is not None:
            age = (interval_end - champion.data_end).days
            if age > policy.max_model_age_days:
                reasons.append(
                    f"model age: champion v{champion.version} was trained on data ending {champion.data_end.date()}, "
                    f"{age} days before this interval's end (maximum {policy.max_model_age_days})"
                )
    return {"retrain": bool(reasons), "reasons": reasons}
