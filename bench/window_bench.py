"""Reading a training window with and without ``training.max_rows``: wall time and peak RSS.

Usage (repository root, project virtualenv active)::

    python bench/window_bench.py                          # 25 days x 200,000 rows, cap 200,000
    python bench/window_bench.py --rows-per-day 1000000 --days 25 --max-rows 500000

Builds a throw-away lake of the synthetic dataset (``--days`` validated partitions of
``--rows-per-day`` rows: the generator's 5 numeric and 2 categorical features, the label and
a row id), then reads the window in a fresh subprocess each time, as the train step does
(``read_window`` with the config's columns), once without a cap and once with
``RowCap(max_rows)``; the parent reads each child's peak RSS (``ru_maxrss`` from
``os.wait4``: the whole process, interpreter and imports included). Prints figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

START = date(2024, 1, 1)


def _config(rows_per_day: int):
    from mlops.config import load_dataset

    return load_dataset("synthetic", override={"source": {"options": {"rows_per_day": rows_per_day, "drift": []}}, "labels": {"delay_days": 0}})


def build(home: Path, rows_per_day: int, days: int) -> None:
    from mlops.lake import Lake
    from mlops.settings import Settings
    from mlops.sources.base import Interval
    from mlops.sources.synthetic import SyntheticSource

    settings = Settings(home=home, tracking_uri=f"sqlite:///{home}/mlflow.db")
    source = SyntheticSource(rows_per_day=rows_per_day, seed=7)
    lake = Lake(settings.lake_dir, "synthetic", quarantine_root=settings.quarantine_dir)
    for i in range(days):
        day = Interval.days(START + timedelta(days=i))
        lake.write(source.read(day), day, timestamp_column="ts", source="bench")
        lake.mark_validated(day, {"success": True})


def child(home: Path, rows_per_day: int, days: int, max_rows: int | None) -> None:
    from mlops.settings import Settings
    from mlops.sources.base import Interval
    from mlops.training.train import training_cap
    from mlops.windows import read_window

    config = _config(rows_per_day)
    if max_rows:
        config = config.model_copy(update={"training": config.training.model_copy(update={"max_rows": max_rows})})
    imported = time.perf_counter()
    start = datetime(START.year, START.month, START.day, tzinfo=UTC)
    w = read_window(
        config, Settings(home=home, tracking_uri=f"sqlite:///{home}/mlflow.db"), Interval(start, start + timedelta(days=days)), cap=training_cap(config)
    )
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "rows": len(w.frame),
                "window_rows": (w.sample or {}).get("window_rows", len(w.frame)),
                "read_seconds": done - imported,
                "frame_bytes": int(w.frame.memory_usage(deep=True).sum()),
            }
        )
    )


def measured(cmd: list[str]) -> tuple[dict, float, int]:
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status:
        raise SystemExit(f"child failed: {cmd}")
    return json.loads(out.strip().splitlines()[-1]), time.perf_counter() - t, usage.ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows-per-day", type=int, default=200_000)
    p.add_argument("--days", type=int, default=25)
    p.add_argument("--max-rows", type=int, default=200_000)
    p.add_argument("--child", choices=["read"], help=argparse.SUPPRESS)
    p.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--cap", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.home, args.rows_per_day, args.days, args.cap or None)
        return 0
    with tempfile.TemporaryDirectory(prefix="window-bench-") as tmp:
        home = Path(tmp)
        t = time.perf_counter()
        build(home, args.rows_per_day, args.days)
        print(f"lake: {args.days} days x {args.rows_per_day:,} rows written in {time.perf_counter() - t:.1f} s")
        base = [sys.executable, __file__, "--child", "read", "--home", str(home), "--rows-per-day", str(args.rows_per_day), "--days", str(args.days)]
        for cap in (0, args.max_rows):
            out, wall, rss = measured([*base, "--cap", str(cap)])
            label = f"max_rows {cap:,}" if cap else "no cap"
            print(
                f"{label:>18}: {out['rows']:,} of {out['window_rows']:,} rows, read {out['read_seconds']:.2f} s, "
                f"frame {out['frame_bytes'] / 1e9:.2f} GB, child peak RSS {rss / 1e9:.2f} GB (process wall {wall:.1f} s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
