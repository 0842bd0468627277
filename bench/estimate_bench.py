"""Estimate quality: how close the CBPE estimate of the primary metric (and accuracy) comes to the
realised value, over replayed days of the synthetic dataset with labels 3 days late.

Usage (from the repository root)::

    . .venv/bin/activate && python bench/estimate_bench.py          # 3 scenarios x 60 days, ~3-5 min here
    python bench/estimate_bench.py --days 30 --scenarios none covariate

For each scenario, in a throw-away home (no Airflow: the domain functions the DAGs call):

1. a champion is trained on the 10 days before the first day (``train_model``; the first
   night's window ingests and labels its days) and registered with its holdout window;
2. every day D: its partition is ingested (without the target, ``labels.delay_days: 3``) and
   marked validated, the champion scores it (``run_scoring``: predictions, the CBPE estimate
   calibrated on the champion's holdout, prediction drift), and the labels of D - 3 arrive
   (``collect_labels``: realised metrics of D - 3);
3. for every day with both, |estimated - realised| of roc_auc and accuracy, and the same for
   the naive estimate "the holdout metric" (the value the model was registered with).

The champion is never retrained, so the figures measure the estimate alone.

Scenarios (the synthetic source's injections, from day 21 of the replay on):
``none``; ``covariate`` (x0, x1, x2 shifted by 1.5 standard deviations, half of c0 moved to its
last level: the inputs move, the relation to the label does not); ``concept`` (the label
weights flip sign: the relation changes, the inputs do not, and no estimate from scores can
see it).

Writes ``bench/results/estimate.json``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from record import RESULTS, save

BENCH_DIR = Path(__file__).resolve().parent
FIRST = date(2024, 4, 1)
DRIFT_FROM = 20  # days after FIRST
SCENARIOS = {
    "none": [],
    "covariate": [{"features": ["x0", "x1", "x2"], "shift": 1.5}, {"features": ["c0"], "category_mass": 0.5}],
    "concept": [{"features": ["x0"], "concept": True}],
}
METRICS = ("roc_auc", "accuracy")


def run_scenario(name: str, days: int, rows: int, home: Path) -> dict:
    from mlops import schema, tracking
    from mlops.config import Settings, load_dataset
    from mlops.ingest import ingest_interval
    from mlops.lake import Lake
    from mlops.predictions.labels import collect_labels
    from mlops.predictions.scoring import run_scoring
    from mlops.predictions.store import PredictionStore, embedded_url
    from mlops.registry import CHAMPION, register_version
    from mlops.sources import build_source
    from mlops.sources.base import Interval
    from mlops.training.train import train_model

    start = (FIRST + timedelta(days=DRIFT_FROM)).isoformat()
    drift = [{**spec, "start": start} for spec in SCENARIOS[name]]
    config = load_dataset(
        "synthetic", override={"source": {"options": {"rows_per_day": rows, "seed": 17, "drift": drift}}, "registered_model_name": f"estimate_bench_{name}"}
    )
    assert config.labels.delay_days == 3
    settings = Settings(home=home / name, tracking_uri=f"sqlite:///{home / (name + '-mlflow.db')}")
    source = build_source(config, settings)
    client = tracking.client(settings)
    trained = train_model(
        config,
        settings,
        end=datetime(FIRST.year, FIRST.month, FIRST.day, tzinfo=UTC) + timedelta(days=config.labels.delay_days),
        run_key=f"bench/{name}",
        source=source,
    )
    tags = schema.encode_tags({schema.METRICS: trained["metrics"], schema.HOLDOUT_WINDOW: trained["holdout_window"]})
    register_version(
        client, name=config.model_name, model_uri=trained["model_uri"], run_id=trained["run_id"], run_key=f"bench/{name}", tags=tags, alias=CHAMPION
    )
    store = PredictionStore(embedded_url(settings.home))
    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    t0 = time.perf_counter()
    for k in range(days + config.labels.delay_days):
        day = FIRST + timedelta(days=k)
        interval = Interval.days(day)
        if k < days:
            ingest_interval(config, settings, interval, source)
            lake.mark_validated(interval, {"success": True})
            run_scoring(config, settings, [{"partition": day.isoformat()}], store=store, client=client)
        collect_labels(config, settings, interval, source=source, store=store)
    seconds = time.perf_counter() - t0
    live = store.live_metrics(config.name, config.model_name, role="champion")
    holdout = trained["metrics"]
    per_day = []
    for day, rows_ in live.groupby("partition_date"):
        got = {(r.kind, r.metric): r.value for r in rows_.itertuples()}
        if ("realised", "roc_auc") not in got:
            continue
        entry = {"day": str(day), "drifted_inputs": str(day) >= start, "prediction_drifted": bool(got.get(("drift", "drifted")))}
        for m in METRICS:
            entry[m] = {"realised": got[("realised", m)], "estimated": got.get(("estimated", m)), "holdout": holdout[m]}
        per_day.append(entry)

    def mae(kind: str, metric: str, subset=None) -> float | None:
        rows_ = [d for d in per_day if subset is None or d["drifted_inputs"] == subset]
        errors = [abs(d[metric][kind] - d[metric]["realised"]) for d in rows_ if d[metric][kind] is not None]
        return statistics.fmean(errors) if errors else None

    summary = {
        m: {
            "cbpe": mae("estimated", m),
            "holdout": mae("holdout", m),
            "cbpe_after_drift": mae("estimated", m, True),
            "holdout_after_drift": mae("holdout", m, True),
        }
        for m in METRICS
    }
    return {
        "scenario": name,
        "days": len(per_day),
        "rows_per_day": rows,
        "replay_seconds": seconds,
        "holdout_metrics": holdout,
        "prediction_drift_days": sum(d["prediction_drifted"] for d in per_day),
        "summary": summary,
        "per_day": per_day,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--rows", type=int, default=800, help="rows per day (the shipped synthetic config's 800)")
    ap.add_argument("--scenarios", nargs="+", choices=sorted(SCENARIOS), default=["none", "covariate", "concept"])
    ap.add_argument("--out", type=Path, default=RESULTS / "estimate.json")
    args = ap.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="mlops-estimate-bench."))
    results = {"started": datetime.now(UTC).isoformat(timespec="seconds"), "scenarios": []}
    try:
        for name in args.scenarios:
            print(f"estimate_bench: scenario {name}, {args.days} days ...", flush=True)
            results["scenarios"].append(run_scenario(name, args.days, args.rows, home))
        print(f"\nmean |estimate - realised| over the days whose labels arrived ({args.rows} rows a day; drift from day {DRIFT_FROM + 1})")
        print(f"  {'scenario':<10} {'days':>4}  {'metric':<8} {'CBPE':>7} {'holdout':>8}   {'CBPE after':>10} {'holdout after':>13}")
        for s in results["scenarios"]:
            for m in METRICS:
                v = s["summary"][m]
                fmt = lambda x: "-" if x is None else f"{x:.4f}"  # noqa: E731
                print(
                    f"  {s['scenario']:<10} {s['days']:>4}  {m:<8} {fmt(v['cbpe']):>7} {fmt(v['holdout']):>8}   "
                    f"{fmt(v['cbpe_after_drift']):>10} {fmt(v['holdout_after_drift']):>13}"
                )
        save(args.out, results)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
