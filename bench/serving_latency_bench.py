"""Serving latency per 1,000 rows, idle and under CPU load: best-of-three against the robust measurement.

    . .venv/bin/activate && python bench/serving_latency_bench.py [--burners 4] [--rows 400]

Fits three scikit-learn models on synthetic data (a 100-tree random forest, a histogram
gradient-boosting model, brute-force nearest neighbours over 200,000 rows), then times each
on ``--rows`` rows, first as they are, then with ``--burners`` busy-looping processes
competing for the cores. For each it prints the old figure (one untimed call, then the best of
three calls on the whole batch, per 1,000 rows) and ``mlops.promotion.serving.measure``'s figures: wall-clock time of a
1,000-row call (fixed + per-row cost), the same from CPU time, contention (wall over CPU
time) and dispersion, and the verdict against ``--budget``. Prints figures; never fails on a
timing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time


def main() -> None:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.neighbors import KNeighborsClassifier

    from mlops.promotion.serving import measure, verdict

    ap = argparse.ArgumentParser()
    ap.add_argument("--burners", type=int, default=4)
    ap.add_argument("--rows", type=int, default=400)
    ap.add_argument("--budget", type=float, default=100.0)
    args = ap.parse_args()

    def frame(rows: int, seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        df = pd.DataFrame(rng.normal(size=(rows, 5)), columns=[f"x{i}" for i in range(5)])
        return df.assign(y=(df["x0"] + rng.normal(scale=0.5, size=rows) > 0).astype(int))

    train, big, sample = frame(2000, 0), frame(200_000, 2), frame(args.rows, 1).drop(columns="y")
    models = {
        "random forest, 100 trees": RandomForestClassifier(n_estimators=100, random_state=0).fit(train.drop(columns="y"), train["y"]),
        "hist gradient boosting": HistGradientBoostingClassifier().fit(train.drop(columns="y"), train["y"]),
        "k-neighbours brute, 200k": KNeighborsClassifier(algorithm="brute").fit(big.drop(columns="y"), big["y"]),
    }
    for burners in (0, args.burners):
        procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(burners)]
        time.sleep(1)
        try:
            print(f"\n{burners} competing busy processes, {args.rows} rows, budget {args.budget:.0f} ms per 1,000 rows")
            for label, model in models.items():
                model.predict(sample)  # the old check's first (untimed) call
                calls = []
                for _ in range(3):
                    t = time.perf_counter()
                    model.predict(sample)
                    calls.append(time.perf_counter() - t)
                old = min(calls) * 1e6 / len(sample)
                f = measure(model, sample)
                print(
                    f"  {label:26s} best-of-3 {old:8.1f} ms | robust {f['ms_per_1000_rows']:8.1f} ms "
                    f"(fixed {f['fixed_ms']:.1f} + {f['per_row_ms'] * 1000:.1f}/1000 rows), CPU {f['cpu_ms_per_1000_rows']:7.1f} ms, "
                    f"contention {f['contention']:5.2f}, dispersion {f['dispersion']:.2f} -> {verdict(f, args.budget)}",
                    flush=True,
                )
        finally:
            for p in procs:
                p.kill()
                p.wait()


if __name__ == "__main__":
    main()
