"""Calibration of mlops.drift.detect_drift: false-alarm rate and power over sample sizes.

Usage (from the repository root, with the project virtualenv active)::

    python bench/drift_calibration.py            # 500 no-drift and 200 drift repetitions per cell
    python bench/drift_calibration.py --quick    # 60 and 40: the same tables in a few minutes, wider error bars
    python bench/drift_calibration.py --jobs 2 --reps 1000 --power-reps 400

For every cell of the grid reference rows {1k, 10k, 100k} x current rows {50, 100, 300,
1k, 10k, 100k} it draws independent reference and current frames (seeded:
``--seed`` and the cell and repetition numbers fix every draw) and runs
``detect_drift`` with the default ``DriftConfig``:

* **false alarms**: both frames from the same distribution; the share of repetitions in
  which each feature type is flagged (values; for the column with nulls also its null
  rate), and the share in which ``dataset_drift`` is raised over all 12 features;
* **power**: the current frame carries four stated changes, each in its own column: a
  0.2-sd mean shift of a normal feature, a binary going from 50 % to 60 % ones, a
  5-level categorical whose first level goes from 20 % to 30 % of the rows (the others
  lose proportionally), and a normal feature whose null rate goes from 0 % to 20 %.

The goal (docs/drift.md): at most 5 % false alarms in every cell, at least 80 % power
wherever the current frame has 1,000 rows or more. The script prints Markdown tables
(the ones in docs/drift.md), each rate with its repetitions, the largest false-alarm
rate over the grid with a 95 % Wilson upper bound, and the power cells below 80 %. It
writes the figures to ``bench/results/drift_calibration.json``. It asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from record import save

BENCH_DIR = Path(__file__).resolve().parent
REFERENCE_ROWS = [1_000, 10_000, 100_000]
CURRENT_ROWS = [50, 100, 300, 1_000, 10_000, 100_000]
FALSE_ALARM_GOAL, POWER_GOAL, POWER_FROM_ROWS = 0.05, 0.80, 1_000


def _zipf(levels: int, exponent: float = 0.8) -> np.ndarray:
    p = 1.0 / np.arange(1, levels + 1) ** exponent
    return p / p.sum()


_DTYPES: dict[int, pd.CategoricalDtype] = {}


ZIPF = {k: _zipf(k) for k in (20, 200, 5000)}


def _categorical(rng: np.random.Generator, size: int, probs: np.ndarray) -> pd.Categorical:
    codes = rng.choice(probs.size, size=size, p=probs)
    dtype = _DTYPES.setdefault(probs.size, pd.CategoricalDtype([f"v{i:04d}" for i in range(probs.size)]))
    return pd.Categorical.from_codes(codes, dtype=dtype)


def _with_nulls(values: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    values = values.astype(np.float64)
    values[rng.random(values.size) < share] = np.nan
    return values


# name -> (kind, generator(rng, size)); all no-drift columns
NULL_TYPES = {
    "continuous (normal)": ("numeric", lambda rng, k: rng.normal(0.0, 1.0, k)),
    "continuous (lognormal)": ("numeric", lambda rng, k: rng.lognormal(0.0, 1.0, k)),
    "discrete (Poisson 3)": ("numeric", lambda rng, k: rng.poisson(3.0, k)),
    "discrete (Poisson 30)": ("numeric", lambda rng, k: rng.poisson(30.0, k)),
    "binary (30 % ones)": ("numeric", lambda rng, k: (rng.random(k) < 0.3).astype(np.int64)),
    "binary (2 % ones)": ("numeric", lambda rng, k: (rng.random(k) < 0.02).astype(np.int64)),
    "zero-inflated (90 % zeros)": ("numeric", lambda rng, k: np.where(rng.random(k) < 0.9, 0.0, rng.lognormal(0.0, 1.0, k))),
    "with NaN (20 % null)": ("numeric", lambda rng, k: _with_nulls(rng.normal(0.0, 1.0, k), rng, 0.2)),
    "categorical, 2 levels": ("categorical", lambda rng, k: _categorical(rng, k, np.array([0.6, 0.4]))),
    "categorical, 20 levels": ("categorical", lambda rng, k: _categorical(rng, k, ZIPF[20])),
    "categorical, 200 levels": ("categorical", lambda rng, k: _categorical(rng, k, ZIPF[200])),
    "categorical, 5,000 levels": ("categorical", lambda rng, k: _categorical(rng, k, ZIPF[5000])),
}
NAN_TYPE = "with NaN (20 % null)"
NULL_RATE_ROW = "with NaN (20 % null): null rate"

FIVE = np.full(5, 0.2)
FIVE_MOVED = np.r_[0.3, np.full(4, 0.7 / 4)]
# name -> (kind, reference generator, current generator, verdict read: "values" or "null rate")
EFFECTS = {
    "0.2-sd mean shift (normal)": ("numeric", lambda rng, k: rng.normal(0.0, 1.0, k), lambda rng, k: rng.normal(0.2, 1.0, k), "values"),
    "binary 50 % -> 60 % ones": (
        "numeric",
        lambda rng, k: (rng.random(k) < 0.5).astype(np.int64),
        lambda rng, k: (rng.random(k) < 0.6).astype(np.int64),
        "values",
    ),
    "5-level categorical, one level 20 % -> 30 %": (
        "categorical",
        lambda rng, k: _categorical(rng, k, FIVE),
        lambda rng, k: _categorical(rng, k, FIVE_MOVED),
        "values",
    ),
    "null rate 0 % -> 20 % (normal)": (
        "numeric",
        lambda rng, k: rng.normal(0.0, 1.0, k),
        lambda rng, k: _with_nulls(rng.normal(0.0, 1.0, k), rng, 0.2),
        "null rate",
    ),
}


def _columns(spec: dict, names: list[str]) -> tuple[list[str], list[str]]:
    return [f"f{i}" for i, n in enumerate(names) if spec[n][0] == "numeric"], [f"f{i}" for i, n in enumerate(names) if spec[n][0] == "categorical"]


def run_cell(task: tuple[str, int, int, int, int, int]) -> dict:
    """One grid cell: ``reps`` repetitions of detect_drift; counts of flags per row of the table."""
    from mlops.config import DriftConfig
    from mlops.drift import detect_drift

    mode, n, m, reps, seed, cell = task
    config = DriftConfig()
    spec = NULL_TYPES if mode == "false_alarms" else EFFECTS
    names = list(spec)
    numeric, categorical = _columns(spec, names)
    counts = dict.fromkeys([*names, NULL_RATE_ROW, "dataset_drift"] if mode == "false_alarms" else names, 0)
    started = time.perf_counter()
    for rep in range(reps):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0 if mode == "false_alarms" else 1, cell, rep]))
        if mode == "false_alarms":
            ref = pd.DataFrame({f"f{i}": spec[name][1](rng, n) for i, name in enumerate(names)})
            cur = pd.DataFrame({f"f{i}": spec[name][1](rng, m) for i, name in enumerate(names)})
        else:
            ref = pd.DataFrame({f"f{i}": spec[name][1](rng, n) for i, name in enumerate(names)})
            cur = pd.DataFrame({f"f{i}": spec[name][2](rng, m) for i, name in enumerate(names)})
        result = detect_drift(ref, cur, numeric=numeric, categorical=categorical, config=config)
        for i, name in enumerate(names):
            feat = result.feature(f"f{i}")
            read_nulls = mode == "power" and spec[name][3] == "null rate"
            counts[name] += feat.missing_drifted if read_nulls else feat.drifted
            if mode == "false_alarms" and name == NAN_TYPE:
                counts[NULL_RATE_ROW] += feat.missing_drifted
        if mode == "false_alarms":
            counts["dataset_drift"] += result.dataset_drift
    return {"mode": mode, "reference_rows": n, "current_rows": m, "reps": reps, "counts": counts, "seconds": time.perf_counter() - started}


def wilson_upper(k: int, n: int, z: float = 1.96) -> float:
    """Upper end of the 95 % Wilson score interval of a binomial proportion."""
    if n == 0:
        return 1.0
    p = k / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre + half) / (1 + z * z / n)


def _table(cells: list[dict], n: int, rows: list[str], *, percent_of: str = "reps") -> str:
    by_m = {c["current_rows"]: c for c in cells if c["reference_rows"] == n}
    head = "| reference " + f"{n:,}" + " rows | " + " | ".join(f"{m:,}" for m in CURRENT_ROWS) + " |"
    sep = "|---|" + "---:|" * len(CURRENT_ROWS)
    lines = [head, sep]
    for row in rows:
        values = []
        for m in CURRENT_ROWS:
            c = by_m.get(m)
            values.append("" if c is None else f"{100 * c['counts'][row] / c['reps']:.1f}")
        lines.append(f"| {row} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="60 no-drift and 40 drift repetitions per cell")
    parser.add_argument("--reps", type=int, help="no-drift repetitions per cell (default 500; 60 with --quick)")
    parser.add_argument("--power-reps", type=int, help="drift repetitions per cell (default 200; 40 with --quick)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--seed", type=int, default=20240120)
    args = parser.parse_args(argv)
    reps = args.reps or (60 if args.quick else 500)
    power_reps = args.power_reps or (40 if args.quick else 200)

    tasks = []
    for mode, r in (("false_alarms", reps), ("power", power_reps)):
        for i, n in enumerate(REFERENCE_ROWS):
            for j, m in enumerate(CURRENT_ROWS):
                tasks.append((mode, n, m, r, args.seed, i * len(CURRENT_ROWS) + j))
    # biggest cells first, so the workers finish together
    tasks.sort(key=lambda t: -(t[1] + t[2]) * t[3])
    started = time.perf_counter()
    print(
        f"drift calibration: {reps} no-drift and {power_reps} drift repetitions per cell, "
        f"{len(REFERENCE_ROWS)} x {len(CURRENT_ROWS)} cells, {args.jobs} job(s), seed {args.seed}",
        flush=True,
    )
    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            cells = list(pool.map(run_cell, tasks))
    else:
        cells = []
        for task in tasks:
            cells.append(run_cell(task))
            print(f"  {task[0]:>12} reference {task[1]:>7,} current {task[2]:>7,}: {cells[-1]['seconds']:.1f} s", flush=True)
    elapsed = time.perf_counter() - started
    fa = [c for c in cells if c["mode"] == "false_alarms"]
    pw = [c for c in cells if c["mode"] == "power"]

    fa_rows = [*NULL_TYPES, NULL_RATE_ROW]
    print(f"\n### False alarms (% of {reps} no-drift repetitions flagged; columns: current rows)\n")
    for n in REFERENCE_ROWS:
        print(_table(fa, n, fa_rows) + "\n")
    print(f"### dataset_drift raised (% of {reps} no-drift repetitions, 12 features, dataset_drift_share 0.5)\n")
    for n in REFERENCE_ROWS:
        print(_table(fa, n, ["dataset_drift"]) + "\n")
    print(f"### Power (% of {power_reps} repetitions flagged; columns: current rows)\n")
    for n in REFERENCE_ROWS:
        print(_table(pw, n, list(EFFECTS)) + "\n")

    worst = max(((c["counts"][row], c["reps"], row, c["reference_rows"], c["current_rows"]) for c in fa for row in fa_rows), key=lambda t: t[0] / t[1])
    k, r, row, n, m = worst
    over = [
        (row, c["reference_rows"], c["current_rows"], c["counts"][row] / c["reps"])
        for c in fa
        for row in fa_rows
        if c["counts"][row] / c["reps"] > FALSE_ALARM_GOAL
    ]
    low = [
        (row, c["reference_rows"], c["current_rows"], c["counts"][row] / c["reps"])
        for c in pw
        for row in EFFECTS
        if c["current_rows"] >= POWER_FROM_ROWS and c["counts"][row] / c["reps"] < POWER_GOAL
    ]
    small = [c["counts"][row] / c["reps"] for c in pw for row in EFFECTS if c["current_rows"] < POWER_FROM_ROWS]
    big = [c["counts"][row] / c["reps"] for c in pw for row in EFFECTS if c["current_rows"] >= POWER_FROM_ROWS]
    print(f"largest false-alarm rate: {100 * k / r:.1f} % ({k}/{r}; 95 % upper bound {100 * wilson_upper(k, r):.1f} %), {row}, reference {n:,}, current {m:,}")
    print(f"cells above {FALSE_ALARM_GOAL:.0%}: {len(over)}" + "".join(f"\n  {a}, reference {b:,}, current {c:,}: {100 * v:.1f} %" for a, b, c, v in over))
    print(
        f"power with >= {POWER_FROM_ROWS:,} current rows: min {100 * min(big):.1f} %; cells below {POWER_GOAL:.0%}: {len(low)}"
        + "".join(f"\n  {a}, reference {b:,}, current {c:,}: {100 * v:.1f} %" for a, b, c, v in low)
    )
    print(f"power with < {POWER_FROM_ROWS:,} current rows: {100 * min(small):.1f} .. {100 * max(small):.1f} % (reported, no goal)")
    print(f"total {elapsed:.0f} s")
    save("drift_calibration", {"reps": reps, "power_reps": power_reps, "seed": args.seed, "seconds": elapsed, "cells": cells}, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
