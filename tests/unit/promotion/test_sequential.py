"""The shadow soak's sequential paired test: bounds, verdicts, persistence, and its error rate under looks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlops.promotion.sequential import PairedSequentialTest, boundary, decide, log_mixture, row_losses


def _days(rng, n_days, rows, effect, sd=1.0):
    for i in range(n_days):
        champion = rng.normal(1.0, 0.3, rows)
        yield f"2024-01-{i + 1:02d}", champion, champion - rng.normal(effect, sd, rows)


def test_chunked_updates_match_the_pooled_mean_and_variance():
    rng = np.random.default_rng(0)
    test = PairedSequentialTest.start(alpha=0.05, expected_rows=300)
    all_d = []
    for day, champ, chall in _days(rng, 5, 137, 0.1):
        test.update(day, champ, chall)
        all_d.append(champ - chall)
    d = np.concatenate(all_d)
    assert test.n == len(d)
    assert test.mean == pytest.approx(d.mean(), rel=1e-12)
    assert math.sqrt(test.m2 / (test.n - 1)) == pytest.approx(d.std(ddof=1), rel=1e-10)


def test_the_bound_is_where_the_mixture_reaches_one_over_alpha():
    rho2 = 0.003
    s = boundary(1000, rho2, 0.05)
    assert log_mixture(s, 1000, rho2) == pytest.approx(math.log(20), abs=1e-6)
    assert log_mixture(s * 0.99, 1000, rho2) < math.log(20) < log_mixture(s * 1.01, 1000, rho2)
    assert math.isfinite(log_mixture(-1e4, 1000, rho2))  # far below: tiny, not -inf or nan


def test_better_worse_and_equal_challengers_get_their_verdicts_after_min_days():
    rng = np.random.default_rng(1)
    verdicts = {}
    for name, effect in (("better", 0.3), ("worse", -0.3), ("equal", 0.0)):
        test = PairedSequentialTest.start(alpha=0.05, expected_rows=1500)
        looks = [test.update(day, champ, chall, min_days=3) for day, champ, chall in _days(rng, 6, 500, effect)]
        assert [lk.verdict for lk in looks[:2]] == ["continue", "continue"], "no verdict before min_days"
        verdicts[name] = {lk.verdict for lk in looks[2:]}
    assert verdicts == {"better": {"better"}, "worse": {"worse"}, "equal": {"continue"}}


def test_the_p_value_agrees_with_the_lower_bound():
    rng = np.random.default_rng(2)
    test = PairedSequentialTest.start(alpha=0.05, expected_rows=600)
    seen = set()
    for day, champ, chall in _days(rng, 8, 200, 0.12):
        look = test.update(day, champ, chall)
        sd = math.sqrt(test.m2 / (test.n - 1))
        now = log_mixture(test.n * test.mean / sd, test.n, test.rho2)  # this look's log e-value
        assert (look.lower > 0) == (now >= math.log(1 / 0.05))
        assert look.p_value == pytest.approx(min(1.0, min(math.exp(-now), *(lk["p_value"] for lk in test.looks[:-1]), 1.0)))
        assert look.e_value == pytest.approx(1 / look.p_value)
        seen.add(look.lower > 0)
    assert seen == {True, False}, "the data should cross the bound during the soak"


def test_state_round_trips_so_a_resumed_soak_gives_the_same_looks():
    rng = np.random.default_rng(3)
    days = list(_days(rng, 6, 300, 0.05))
    whole = PairedSequentialTest.start(alpha=0.05, expected_rows=900)
    for day, champ, chall in days:
        whole.update(day, champ, chall)
    resumed = PairedSequentialTest.start(alpha=0.05, expected_rows=900)
    for i, (day, champ, chall) in enumerate(days):
        if i == 3:
            resumed = PairedSequentialTest.from_dict(resumed.to_dict())
        resumed.update(day, champ, chall)
    assert resumed.looks == whole.looks


def test_a_day_cannot_be_counted_twice_and_pairs_must_match():
    test = PairedSequentialTest.start(alpha=0.05, expected_rows=10)
    test.update("2024-01-01", [1.0, 2.0], [1.0, 1.5])
    with pytest.raises(ValueError, match="already added"):
        test.update("2024-01-01", [1.0], [1.0])
    with pytest.raises(ValueError, match="paired 1-d arrays"):
        test.update("2024-01-02", [1.0, 2.0], [1.0])


@pytest.mark.parametrize(
    ("lower", "action", "expected"),
    [(-0.001, "reject", "reject"), (-0.001, "promote_if_non_inferior", "promote"), (-0.05, "promote_if_non_inferior", "reject")],
)
def test_inconclusive_soaks_follow_the_configured_action(lower, action, expected):
    look = {"verdict": "continue", "days": 14, "rows": 9000, "estimate": 0.0, "lower": lower, "upper": 0.02, "p_value": 0.6, "champion_loss": 0.5}
    decision, why = decide(look, max_days=14, margin=0.01, on_inconclusive=action)
    assert decision == expected and "inconclusive after 14 days" in why and "9000 rows" in why


def test_false_promotions_stay_below_alpha_with_daily_looks():
    """300 soaks of equal models, looking every day for 10 days: a t-test that peeks would promote ~8 %."""
    rng = np.random.default_rng(4)
    promoted = 0
    for _ in range(300):
        test = PairedSequentialTest.start(alpha=0.05, expected_rows=600)
        for day, champ, chall in _days(rng, 10, 200, 0.0):
            if test.update(day, champ, chall, min_days=3).verdict == "better":
                promoted += 1
                break
    assert promoted / 300 <= 0.05


def test_row_losses_per_task():
    assert row_losses("classification", [1, 0], [0.9, 0.2]) == pytest.approx([-math.log(0.9), -math.log(0.8)])
    assert row_losses("regression", [3.0, 1.0], [2.0, 1.5]) == pytest.approx([1.0, 0.25])
