"""Simulated shadow soaks: error rate and power of the sequential paired test, vs a t-test that peeks daily.

No scheduler, no MLflow: each soak draws labelled days of rows, scores them with a champion and
a challenger whose expected log-loss is equal (the null), lower or higher by a stated relative
effect, and feeds the per-row losses into ``mlops.promotion.sequential`` exactly as the soak
gate does. The naive comparator runs a one-sample t-test on all differences so far after every
day and stops at the first p < α (either direction).

How the models are drawn: features x ~ N(0, I_6); the truth is P(y=1|x) = σ(x·β). The champion
predicts σ(x·(β + c + e)), the challenger σ(x·(β + c + k e')), with c, e, e' ⟂ β and each other
and |e'| = |e|: c is the error both models share (two retrains of one pipeline make many of the
same mistakes), e and e' their own. With k = 1 the two have exactly the same expected log-loss
(the projections are independent and identically distributed); k < 1 makes the challenger
better, k > 1 worse; k is solved so that the relative difference in expected log-loss is the
stated effect. Two settings: "independent" (no shared error: the hardest case, per-row loss
differences are noisiest) and "shared" (most of the error shared, as between retrains).

    python bench/shadow_bench.py                      # 1,000 soaks per scenario, printed as a table
    python bench/shadow_bench.py --soaks 200          # a quick look
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

from record import save

from mlops.promotion.sequential import PairedSequentialTest, decide, row_losses

BETA = np.array([1.2, -0.8, 0.6, 0.0, 0.0, 0.0])
#: (shared error c, own error size |e|) per setting
SETTINGS = {"independent": (0.0, 0.9), "shared": (0.8, 0.4)}


def _errors(setting: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shared, own = SETTINGS[setting]
    return np.array([0, 0, 0, shared, 0, 0.0]), np.array([0, 0, 0, 0, own, 0.0]), np.array([0, 0, 0, 0, 0, own])


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _expected_logloss(k: float, setting: str, seed: int, n: int = 400_000) -> float:
    c, _, e2 = _errors(setting)
    x = np.random.default_rng(seed).standard_normal((n, 6))
    p = _sigmoid(x @ BETA)
    q = np.clip(_sigmoid(x @ (BETA + c + k * e2)), 1e-7, 1 - 1e-7)
    return float(np.mean(-(p * np.log(q) + (1 - p) * np.log1p(-q))))


def solve_k(effect: float, setting: str, seed: int = 0) -> float:
    """Scale of the challenger's own error that changes the expected log-loss by ``effect`` (relative; negative: better)."""
    if effect == 0:
        return 1.0
    base = _expected_logloss(1.0, setting, seed)
    lo, hi = (0.0, 1.0) if effect < 0 else (1.0, 4.0)
    for _ in range(40):  # the expected loss grows with k: bisect on the relative change
        mid = (lo + hi) / 2
        if _expected_logloss(mid, setting, seed) / base - 1 < effect:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def simulate(k: float, setting: str, *, soaks: int, rows_per_day: int, min_days: int, max_days: int, alpha: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    c, e1, e2 = _errors(setting)
    seq_decisions, seq_days, naive_decisions, naive_days, fixed = [], [], [], [], []
    for _ in range(soaks):
        test = PairedSequentialTest.start(alpha=alpha, expected_rows=min_days * rows_per_day)
        diffs: list[np.ndarray] = []
        seq_done = naive_done = None
        for day in range(1, max_days + 1):
            x = rng.standard_normal((rows_per_day, 6))
            y = rng.random(rows_per_day) < _sigmoid(x @ BETA)
            champion = row_losses("classification", y, _sigmoid(x @ (BETA + c + e1)))
            challenger = row_losses("classification", y, _sigmoid(x @ (BETA + c + k * e2)))
            if seq_done is None:
                look = test.update(f"d{day}", champion, challenger, min_days=min_days)
                decision, _ = decide(look, max_days=max_days, margin=0.0, on_inconclusive="reject")
                if decision != "continue":
                    seq_done = (decision if look.verdict in ("better", "worse") else "inconclusive", day)
            diffs.append(champion - challenger)
            if naive_done is None:
                d = np.concatenate(diffs)
                p = stats.ttest_1samp(d, 0.0).pvalue
                if p < alpha:
                    naive_done = ("promote" if d.mean() > 0 else "reject", day)
                elif day == max_days:
                    naive_done = ("inconclusive", day)
            if seq_done and naive_done and day < max_days:
                continue
        # The valid but slow baseline: one one-sided t-test after max_days, no peeking.
        d = np.concatenate(diffs)
        t_res = stats.ttest_1samp(d, 0.0, alternative="greater")
        fixed.append("promote" if t_res.pvalue < alpha else "reject" if stats.ttest_1samp(d, 0.0, alternative="less").pvalue < alpha else "inconclusive")
        seq_decisions.append(seq_done[0])
        seq_days.append(seq_done[1])
        naive_decisions.append(naive_done[0])
        naive_days.append(naive_done[1])

    def summary(decisions, days):
        decisions, days = np.array(decisions), np.array(days)
        out = {f"{d}_rate": float(np.mean(decisions == d)) for d in ("promote", "reject", "inconclusive")}
        decided = decisions != "inconclusive"
        out["median_days_when_decided"] = float(np.median(days[decided])) if decided.any() else None
        return out

    return {
        "sequential": summary(seq_decisions, seq_days),
        "naive_daily_t_test": summary(naive_decisions, naive_days),
        "fixed_horizon_t_test": summary(fixed, [max_days] * len(fixed)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--soaks", type=int, default=1000)
    ap.add_argument("--rows-per-day", type=int, default=800)
    ap.add_argument("--min-days", type=int, default=3)
    ap.add_argument("--max-days", type=int, default=14)
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    args = ap.parse_args(argv)
    scenarios = {"equal (null)": 0.0, "challenger 2 % lower log-loss": -0.02, "challenger 2 % higher log-loss": 0.02}
    started = time.perf_counter()
    rows = []
    for setting in args.settings:
        for name, effect in scenarios.items():
            k = solve_k(effect, setting)
            res = simulate(
                k, setting, soaks=args.soaks, rows_per_day=args.rows_per_day, min_days=args.min_days, max_days=args.max_days, alpha=args.alpha, seed=args.seed
            )
            rows.append({"scenario": f"{name}, {setting} errors", "setting": setting, "effect": effect, "k": round(k, 4), **res})
    print(f"{args.soaks} soaks per scenario, {args.rows_per_day} rows per labelled day, min {args.min_days} / max {args.max_days} days, alpha {args.alpha}")
    print("| scenario | test | promoted | rejected | inconclusive | median days to decide |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        for test in ("sequential", "naive_daily_t_test", "fixed_horizon_t_test"):
            s = row[test]
            days = "–" if s["median_days_when_decided"] is None else f"{s['median_days_when_decided']:.0f}"
            print(
                f"| {row['scenario']} | {test.replace('_', ' ')} | {s['promote_rate']:.1%} | {s['reject_rate']:.1%} | {s['inconclusive_rate']:.1%} | {days} |"
            )
    print(f"({time.perf_counter() - started:.0f} s)")
    save("shadow", {"args": vars(args), "rows": rows})
    slack = 2 * math.sqrt(args.alpha * (1 - args.alpha) / args.soaks)  # two standard errors of the estimate
    for null in (r for r in rows if r["effect"] == 0):
        rate = null["sequential"]["promote_rate"]
        print(
            f"false promotion rate of the sequential test, {null['setting']} errors: {rate:.1%} (goal ≤ {args.alpha:.0%}): {'met' if rate <= args.alpha + slack else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
