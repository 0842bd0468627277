"""Retraining-policy report: what the policy as run did, against two baselines on the same data.

For every day of a period, three models score that day's validated partition on the
primary metric:

* **policy**: the champion the registered model had *before* that day's data (the last
  champion move whose version was trained on data ending at or before the day's start);
* **never retrain**: the first champion of the period, forever;
* **retrain daily**: a model fitted on the window that ends at the day's start (the same
  window and split the train step uses), refitted every day.

The report also counts retrains, lists the days whose watched drift reached the policy's
threshold, and the reasons of each retrain. Scores are cached per (day, model, data hash),
so refreshing the report after each backfill run costs one day of new work.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from mlops import schema
from mlops.config import DatasetConfig, Settings
from mlops.errors import InsufficientData, LakeError
from mlops.lake import Lake, atomic_write, atomic_write_bytes, atomic_write_json, path_to_uri
from mlops.sources.base import Interval
from mlops.training.decide import policy_drift

log = logging.getLogger(__name__)


def _day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def champion_timeline(client, model_name: str) -> list[dict]:
    """Champion moves with the end of each version's training data, oldest first."""
    from mlops.promotion.history import history

    out = []
    for entry in history(client, model_name):
        mv = client.get_model_version(model_name, entry["version"])
        end = mv.tags.get(schema.DATA_INTERVAL_END.name)
        out.append({**entry, "data_end": end, "reasons": schema.RETRAIN_REASONS.get(mv.tags, [])})
    return out


def policy_version(timeline: list[dict], day: date) -> str | None:
    """The champion serving on ``day``: the last move trained on data ending by the day's start."""
    start = _day_start(day)
    version = None
    for entry in timeline:
        if entry["data_end"] and datetime.fromisoformat(entry["data_end"]) <= start:
            version = entry["version"]
    return version


def _score(model, frame, config: DatasetConfig) -> float | None:
    from mlops.training.metrics import compute_metrics
    from mlops.training.model import predict_scores, prepare_features

    metrics = compute_metrics(config.task, frame[config.target].to_numpy(), predict_scores(model, prepare_features(frame, config), config.task))
    return metrics.get(config.training.primary_metric)


def daily_baseline(config: DatasetConfig, settings: Settings, day: date):
    """A model fitted like the train step would have on ``day``'s start (None when the window is too thin)."""
    from mlops.training.train import fit, split_windows, training_cap
    from mlops.windows import read_window

    train_iv, holdout_iv = split_windows(_day_start(day), config.training.window_days, config.training.holdout_days)
    try:
        train = read_window(config, settings, train_iv, min_rows=config.training.min_train_rows, cap=training_cap(config)).frame
        holdout = read_window(config, settings, holdout_iv, min_rows=1).frame
    except InsufficientData:
        return None
    return fit(config, train, holdout)[0]


def build_report(config: DatasetConfig, settings: Settings, client, *, model_name: str, start: date, end: date) -> dict:
    """Compute the table (one row per day in ``[start, end)``) and write JSON, HTML and PNG.

    Returns ``{report_uri, json, png, summary, rows}``.
    """
    import mlflow

    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    out_dir = Path(settings.reports_dir) / config.name / "policy" / model_name
    cache_path = out_dir / "scores-cache.json"
    cache: dict[str, Any] = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    timeline = champion_timeline(client, model_name)
    first = timeline[0]["version"] if timeline else None
    models: dict[str, Any] = {}

    def registered(version: str):
        if version not in models:
            models[version] = mlflow.sklearn.load_model(f"models:/{model_name}/{version}")
        return models[version]

    rows = []
    day = start
    while day < end:
        interval = Interval.days(day)
        row: dict[str, Any] = {"day": day.isoformat(), "policy_version": policy_version(timeline, day)}
        validation = lake.validation(interval)
        if validation is None:
            row["note"] = "no validated partition"
            rows.append(row)
            day += timedelta(days=1)
            continue
        frame = lake.read(interval)
        data_hash = lake.info(interval).content_hash[:16]
        for key, version in (("policy", row["policy_version"]), ("never_retrain", first)):
            if version is None:
                row[key] = None
                continue
            ck = f"{day}|{model_name}|v{version}|{data_hash}"
            if ck not in cache:
                cache[ck] = _score(registered(version), frame, config)
            row[key] = cache[ck]
        ck = f"{day}|daily|{config.fingerprint()}|{data_hash}"
        if ck not in cache:
            model = daily_baseline(config, settings, day)
            cache[ck] = _score(model, frame, config) if model is not None else None
        row["retrain_daily"] = cache[ck]
        drift_file = Path(settings.reports_dir) / config.name / "drift" / interval.key / "drift.json"
        if drift_file.is_file():
            share, _ = policy_drift({"drifted_features": [], **json.loads(drift_file.read_text())}, config.retrain, config.features)
            row["watched_drift_share"] = share
            row["drift_day"] = share >= config.retrain.drift_share
        rows.append(row)
        day += timedelta(days=1)
    atomic_write_json(cache_path, cache)

    retrains = [e for e in timeline if e["data_end"] and _day_start(start) < datetime.fromisoformat(e["data_end"]) <= _day_start(end)]
    metric = config.training.primary_metric

    def mean(key: str) -> float | None:
        values = [r[key] for r in rows if r.get(key) is not None]
        return round(sum(values) / len(values), 4) if values else None

    summary = {
        "model_name": model_name,
        "metric": metric,
        "period": [start.isoformat(), end.isoformat()],
        "days_scored": sum(1 for r in rows if r.get("policy") is not None),
        "mean": {"policy": mean("policy"), "never_retrain": mean("never_retrain"), "retrain_daily": mean("retrain_daily")},
        "champion_moves": len(retrains),
        "retrains_by_policy": len(retrains),
        "retrains_daily_baseline": sum(1 for r in rows if r.get("retrain_daily") is not None),
        "drift_days": [r["day"] for r in rows if r.get("drift_day")],
        "moves": [{"version": e["version"], "data_end": e["data_end"], "reasons": e["reasons"]} for e in retrains],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out_dir / "report.json", {"summary": summary, "rows": rows})
    png = out_dir / "report.png"
    _plot(rows, summary, png)
    html = out_dir / "report.html"
    atomic_write_bytes(html, _html(summary, rows, png.name).encode())
    return {"report_uri": path_to_uri(html), "json": str(out_dir / "report.json"), "png": str(png), "html": str(html), "summary": summary}


def _plot(rows: list[dict], summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [date.fromisoformat(r["day"]) for r in rows]
    fig, ax = plt.subplots(figsize=(11, 4.2))
    for key, label, style in (("policy", "policy as run", "-"), ("never_retrain", "never retrain", "--"), ("retrain_daily", "retrain daily", ":")):
        ax.plot(days, [r.get(key) for r in rows], style, label=f"{label} (mean {summary['mean'][key]})", linewidth=1.6)
    for d in summary["drift_days"]:
        day = date.fromisoformat(d)
        ax.axvspan(day, day + timedelta(days=1), color="orange", alpha=0.15, linewidth=0)
    for move in summary["moves"]:
        ax.axvline(datetime.fromisoformat(move["data_end"]).date(), color="green", alpha=0.5, linewidth=1)
    ax.set_ylabel(summary["metric"])
    ax.set_title(f"{summary['model_name']}: {summary['metric']} per day; green = champion moves, orange = drift days")
    ax.legend(loc="lower left", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    finally:
        plt.close(fig)


def _html(summary: dict, rows: list[dict], png: str) -> str:
    import html

    def fmt(v: Any) -> str:
        return "" if v is None else (f"{v:.4f}" if isinstance(v, float) else html.escape(str(v)))

    body = "".join(
        f"<tr><td>{r['day']}</td><td>{fmt(r.get('policy_version'))}</td><td>{fmt(r.get('policy'))}</td>"
        f"<td>{fmt(r.get('never_retrain'))}</td><td>{fmt(r.get('retrain_daily'))}</td>"
        f"<td>{'yes' if r.get('drift_day') else ''}</td><td>{fmt(r.get('note'))}</td></tr>"
        for r in rows
    )
    moves = "".join(f"<li>v{m['version']} (data to {m['data_end'][:10]}): {html.escape('; '.join(m['reasons']))}</li>" for m in summary["moves"])
    m = summary["mean"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Retraining policy: {html.escape(summary["model_name"])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}</style></head><body>
<h1>Retraining policy report: {html.escape(summary["model_name"])}</h1>
<p>Period {summary["period"][0]} to {summary["period"][1]} (end exclusive); metric <b>{summary["metric"]}</b> on each day's validated partition.</p>
<table><tr><th></th><th>mean {summary["metric"]}</th><th>retrains</th></tr>
<tr><td>policy as run</td><td>{fmt(m["policy"])}</td><td>{summary["retrains_by_policy"]}</td></tr>
<tr><td>never retrain</td><td>{fmt(m["never_retrain"])}</td><td>0</td></tr>
<tr><td>retrain daily</td><td>{fmt(m["retrain_daily"])}</td><td>{summary["retrains_daily_baseline"]}</td></tr></table>
<p>Drift days (watched features at or above the policy threshold): {len(summary["drift_days"])}.</p>
<img src="{png}" alt="metric per day" style="max-width:100%">
<h2>Champion moves</h2><ul>{moves}</ul>
<h2>Per day</h2><table><tr><th>day</th><th>policy version</th><th>policy</th><th>never retrain</th><th>retrain daily</th><th>drift</th><th>note</th></tr>{body}</table>
</body></html>"""


def log_report(settings: Settings, config: DatasetConfig, result: dict, *, run_key: str) -> dict:
    """Log the report files and summary metrics to MLflow (experiment ``mlops/<dataset>/policy``); one run per key."""
    import mlflow

    from mlops import tracking

    name = f"mlops/{config.name}/policy"
    exp_id = tracking.experiment_id(settings, name)
    previous = tracking.find_run(settings, name, schema.encode_tags({schema.RUN_KEY: run_key}))
    with mlflow.start_run(
        run_id=previous.info.run_id if previous else None,
        experiment_id=None if previous else exp_id,
        run_name=None if previous else f"policy {result['summary']['model_name']} {result['summary']['period'][0]}..{result['summary']['period'][1]}",
        tags=None if previous else schema.encode_tags({schema.RUN_KEY: run_key, schema.MODEL_NAME: result["summary"]["model_name"]}),
    ) as run:
        for key, value in result["summary"]["mean"].items():
            if value is not None:
                mlflow.log_metric(f"mean_{key}", value)
        mlflow.log_metric("retrains_by_policy", result["summary"]["retrains_by_policy"])
        mlflow.log_metric("drift_days", len(result["summary"]["drift_days"]))
        for key in ("html", "png", "json"):
            mlflow.log_artifact(result[key], artifact_path="policy")
        return {"run_id": run.info.run_id, "experiment_id": exp_id, "url": tracking.run_url(settings, exp_id, run.info.run_id)}


def period_of(client, model_name: str, end: date) -> tuple[date, date]:
    """From the first version's data end (minus one day: the day it learned) to ``end``."""
    versions = client.search_model_versions(f"name = '{model_name}'")
    ends = [schema.DATA_INTERVAL_END.get(v.tags).date() for v in versions if v.tags.get(schema.DATA_INTERVAL_END.name)]
    if not ends:
        raise LakeError(f"model {model_name!r} has no versions with {schema.DATA_INTERVAL_END}; nothing to report on")
    return min(ends) - timedelta(days=1), end
