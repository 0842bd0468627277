"""What the duplicate checks cost in a partition's validation.

Usage (from the repository root)::

    . .venv/bin/activate && python bench/validation_bench.py            # 100k and 1M rows, ~1-2 min here
    python bench/validation_bench.py --rows 100000

Validates a synthetic partition (5 numeric and 2 categorical features, a timestamp and a
label) with the dataset's generated suite, once with the duplicate checks (``key_columns``
on the timestamp and ``x0``, whole rows at most ``max_duplicate_fraction``) and once
without them (no keys, ``max_duplicate_fraction: 1``), in a throw-away GX project. Prints
the median of three runs of each, after one warm-up run. Prints figures only.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="partition rows (repeatable); default 100000 and 1000000")
    parser.add_argument("--numeric", type=int, default=5, help="numeric features (default 5; 15 with --categorical 3 gives 20 columns)")
    parser.add_argument("--categorical", type=int, default=2, help="categorical features (default 2)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of one timed run of the last suite to this file")
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    from mlops.config import load_dataset
    from mlops.sources.base import Interval
    from mlops.sources.synthetic import SyntheticSource
    from mlops.validation.run import validate_frame

    day = Interval.days(date(2024, 1, 10))
    numeric = [f"x{i}" for i in range(args.numeric)]
    categorical = [f"c{i}" for i in range(args.categorical)]
    base = {
        "source": {"options": {"drift": [], "n_numeric": args.numeric, "n_categorical": args.categorical}},
        "labels": {"delay_days": 0},
        "numeric_features": numeric,
        "categorical_features": categorical,
        "validation": {"ranges": {c: [-20, 20] for c in numeric}, "categories": {c: list("abcde") for c in categorical}},
    }
    configs = {
        "with duplicate checks": load_dataset(
            "synthetic", override={**base, "validation": {**base["validation"], "key_columns": ["ts", "x0"], "max_duplicate_fraction": 0.01}}
        ),
        "without": load_dataset("synthetic", override={**base, "validation": {**base["validation"], "key_columns": [], "max_duplicate_fraction": 1.0}}),
    }
    print(f"{'rows':>9}  {'suite':<22} {'expectations':>12} {'median s':>9}")
    for rows in args.rows or [100_000, 1_000_000]:
        df = SyntheticSource(rows_per_day=rows, seed=3, n_numeric=args.numeric, n_categorical=args.categorical).read(day)
        for label, config in configs.items():
            with tempfile.TemporaryDirectory() as tmp:
                gx_dir = Path(tmp) / "gx"
                result = validate_frame(df, config, day, gx_dir=gx_dir, build_docs=False)  # warm-up: creates the project
                assert result["success"], result["failed_expectations"]
                times = []
                for _ in range(3):
                    t0 = time.perf_counter()
                    validate_frame(df, config, day, gx_dir=gx_dir, build_docs=False)
                    times.append(time.perf_counter() - t0)
                if args.profile:
                    import cProfile

                    cProfile.runctx(
                        "validate_frame(df, config, day, gx_dir=gx_dir, build_docs=False)",
                        globals(),
                        {"validate_frame": validate_frame, "df": df, "config": config, "day": day, "gx_dir": gx_dir},
                        str(args.profile),
                    )
            print(
                f"{rows:>9}  {label:<22} {result['evaluated_expectations']:>12} {statistics.median(times):>9.2f}   "
                f"({len(df.columns)} columns; runs {', '.join(f'{t:.2f}' for t in times)})"
            )


if __name__ == "__main__":
    main()
