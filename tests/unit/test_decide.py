from datetime import UTC, datetime

from mlops.config import RetrainPolicy
from mlops.training.decide import ChampionState, decide_retrain, null_rate_only, policy_drift

END = datetime(2024, 2, 1, tzinfo=UTC)
POLICY = RetrainPolicy(drift_share=0.3, performance_tolerance_relative=0.05, max_model_age_days=30)


def _decide(champion=None, drift=0.0, force=False, metric="roc_auc"):
    return decide_retrain(
        policy=POLICY, primary_metric=metric, interval_end=END, champion=champion, drift_share=drift, drifted_features=["x0", "x1"], force=force
    )


def _champ(ref=0.80, now=0.79, end=datetime(2024, 1, 20, tzinfo=UTC)):
    return ChampionState(version="4", data_end=end, reference_metric=ref, current_metric=now)


def test_quiet_day_does_not_retrain():
    assert _decide(_champ(), drift=0.1) == {"retrain": False, "reasons": []}


def test_each_rule_gives_its_reason():
    assert _decide(None)["reasons"] == ["no champion: nothing serves yet"]
    drift = _decide(_champ(), drift=0.4)
    assert drift["retrain"] and drift["reasons"][0].startswith("drift: 40% of features drifted (threshold 30%): x0, x1")
    decay = _decide(_champ(now=0.70))["reasons"][0]
    assert decay == (
        "performance decay: champion v4 roc_auc=0.7000 on the new partition vs 0.8000 on its holdout, 12.5% worse (tolerance 5.0% of the holdout value)"
    )
    old = _decide(_champ(end=datetime(2023, 12, 1, tzinfo=UTC)))["reasons"][0]
    assert old.startswith("model age: champion v4 was trained on data ending 2023-12-01, 62 days")
    assert _decide(_champ(), force=True)["reasons"] == ["forced: the run was triggered with force_retrain"]


def test_decay_respects_metric_direction():
    # For an error metric a rise is a decay.
    assert _decide(_champ(ref=10.0, now=10.6), metric="rmse")["retrain"]
    assert not _decide(_champ(ref=10.0, now=9.0), metric="rmse")["retrain"]


def test_tolerance_is_relative_to_the_holdout_value():
    """By default 5 % of the holdout value, not 0.05 in the metric's units: the same default suits AUC and prices."""
    default = RetrainPolicy()

    def decide(ref, now, metric):
        return decide_retrain(policy=default, primary_metric=metric, interval_end=END, champion=_champ(ref=ref, now=now), drift_share=0.0)

    assert not decide(100.0, 104.0, "rmse")["retrain"]  # 4 % worse RMSE (4 dollars): tolerated
    decay = decide(100.0, 106.0, "rmse")["reasons"][0]
    assert decay.endswith("rmse=106.0000 on the new partition vs 100.0000 on its holdout, 6.0% worse (tolerance 5.0% of the holdout value)")
    assert not decide(0.80, 0.77, "roc_auc")["retrain"]  # 3.75 % worse AUC: tolerated
    assert decide(0.80, 0.75, "roc_auc")["retrain"]  # 6.25 % worse


def test_absolute_tolerance_in_metric_units():
    dollars = RetrainPolicy(performance_tolerance_relative=None, performance_tolerance_absolute=5.0)
    run = lambda now: decide_retrain(policy=dollars, primary_metric="rmse", interval_end=END, champion=_champ(ref=100.0, now=now), drift_share=0.0)  # noqa: E731
    assert not run(104.0)["retrain"]
    assert run(106.0)["reasons"] == [
        "performance decay: champion v4 rmse=106.0000 on the new partition vs 100.0000 on its holdout, worse by 6 (tolerance 5 in rmse units)"
    ]
    both = RetrainPolicy(performance_tolerance_relative=0.10, performance_tolerance_absolute=0.02)
    # AUC 0.80 -> 0.77: 3.75 % (within 10 %) but 0.03 absolute (beyond 0.02): either tolerance exceeded is decay.
    assert decide_retrain(policy=both, primary_metric="roc_auc", interval_end=END, champion=_champ(ref=0.80, now=0.77), drift_share=0.0)["retrain"]


def test_threshold_is_inclusive_and_reasons_accumulate():
    both = _decide(_champ(now=0.5), drift=0.3, force=True)
    assert both["retrain"] and len(both["reasons"]) == 3


def test_policy_drift_counts_watched_features_only():
    drift = {"drifted_features": ["temp", "dep_delay"]}
    watched = RetrainPolicy(drift_features=["dep_delay", "carrier"])
    assert policy_drift(drift, watched, ["temp", "dep_delay", "carrier"]) == (0.5, ["dep_delay"])
    assert policy_drift(drift, POLICY, ["temp", "dep_delay", "carrier", "origin"]) == (0.5, ["temp", "dep_delay"])
    assert policy_drift({}, POLICY, ["x"]) == (None, [])


def test_policy_drift_counts_null_rate_drift_unless_the_policy_says_otherwise():
    drift = {"drifted_features": ["dep_delay"], "missing_drifted_features": ["carrier", "temp"]}
    features = ["dep_delay", "carrier", "origin", "temp"]
    watched = RetrainPolicy(drift_features=["dep_delay", "carrier", "origin"])
    assert policy_drift(drift, watched, features) == (2 / 3, ["dep_delay", "carrier"])
    values_only = RetrainPolicy(drift_features=["dep_delay", "carrier", "origin"], missing_value_drift=False)
    assert policy_drift(drift, values_only, features) == (1 / 3, ["dep_delay"])
    # an all-null partition: nothing could be compared, every null rate drifted
    all_null = {"drifted_features": [], "missing_drifted_features": features}
    assert policy_drift(all_null, POLICY, features) == (1.0, features)


def test_null_rate_drift_is_named_in_the_reason():
    drift = {"drifted_features": ["x0"], "missing_drifted_features": ["x1"]}
    share, drifted = policy_drift(drift, POLICY, ["x0", "x1", "x2"])
    decision = decide_retrain(
        policy=POLICY,
        primary_metric="roc_auc",
        interval_end=END,
        champion=_champ(),
        drift_share=share,
        drifted_features=drifted,
        null_rate_features=null_rate_only(drift, drifted),
    )
    assert decision["reasons"] == ["drift: 67% of features drifted (threshold 30%): x0, x1 (null rate)"]
