"""What the Models page shows for one dataset, as plain data (JSON-ready); no Airflow here.

- the registered model's ``champion``, ``challenger`` and ``previous`` versions with their
  metrics (from the training run), gate results and lineage tags;
- the promotion history (who, when, why), newest first;
- drift over time: each day's score per feature, with the threshold and the verdict, from the
  drift reports the nightly runs wrote (``reports/<dataset>/drift/ds=…/drift.json``);
- the latest validation result of a partition, with a link to the Data Docs;
- "In production": each day's realised metric of the champion (predictions joined with the
  labels that arrived), its estimate while labels are pending, the shadow challenger's,
  champion changes and the drift of the champion's scores (``production_series``).

A year of history is ~365 small JSON files and a handful of MLflow calls; parsed reports
are cached by file modification time, so a page load reads only what changed.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

from mlops import schema
from mlops.config import DatasetConfig, Settings

ALIASES = ("champion", "challenger", "previous")
DS = re.compile(r"^ds=(\d{4}-\d{2}-\d{2})$")
_cache: dict[Path, tuple[float, dict]] = {}
_lock = threading.Lock()


def _cached_json(path: Path) -> dict | None:
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    with _lock:
        hit = _cache.get(path)
    if hit and hit[0] == mtime:
        return hit[1]
    try:
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    with _lock:
        _cache[path] = (mtime, payload)
    return payload


def drift_series(settings: Settings, dataset: str, *, since: date | None = None) -> dict[str, Any]:
    """Daily drift scores per feature, aligned on the days that have a report."""
    root = settings.reports_dir / dataset / "drift"
    days: list[str] = []
    share: list[float | None] = []
    by_day: list[dict[str, dict]] = []  # per day: feature -> its entry in that day's report
    dirs = sorted(p for p in root.iterdir() if DS.match(p.name)) if root.is_dir() else []
    for d in dirs:
        day = DS.match(d.name).group(1)
        if since and day < since.isoformat():
            continue
        report = _cached_json(d / "drift.json")
        if report is None:
            continue
        days.append(day)
        share.append(report.get("drift_share"))
        by_day.append({f["feature"]: f for f in report.get("features") or []})
    features: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(name for day in by_day for name in day):  # first-seen order
        seen = [day[name] for day in by_day if name in day]
        features[name] = {
            "kind": seen[0].get("kind"),
            # The latest report's method and threshold (a config change applies from then on).
            "method": next((f["method"] for f in reversed(seen) if f.get("method")), seen[0].get("method")),
            "threshold": next((f["threshold"] for f in reversed(seen) if "threshold" in f), None),
            "scores": [day[name].get("score") if name in day else None for day in by_day],
            "drifted": [bool(day[name].get("drifted")) if name in day else False for day in by_day],
        }
    return {"days": days, "drift_share": share, "features": features}


def latest_validation(settings: Settings, dataset: str) -> dict | None:
    """The validation result of the newest partition in the lake (or in quarantine, if newer)."""
    candidates: list[tuple[str, str, Path]] = []
    lake = settings.lake_dir / dataset
    if lake.is_dir():
        marks = sorted(lake.glob("ds=*.validation.json"))
        if marks:
            candidates.append((marks[-1].name[3:13], "lake", marks[-1]))
    quarantine = settings.quarantine_dir / dataset
    if quarantine.is_dir():
        for d in sorted((p for p in quarantine.iterdir() if DS.match(p.name)), reverse=True):
            results = sorted(d.glob("*.validation.json"))
            if results:
                candidates.append((DS.match(d.name).group(1), "quarantine", results[-1]))
                break
    if not candidates:
        return None
    day, where, path = max(candidates)
    result = _cached_json(path) or {}
    return {
        "partition": day,
        "where": where,
        "success": bool(result.get("success")),
        "evaluated": result.get("evaluated_expectations"),
        "failed": result.get("failed_expectations") or [],
        "suite": result.get("suite"),
        "docs_uri": result.get("docs_uri"),
    }


def production_series(config: DatasetConfig, store, *, since: date | None = None) -> dict[str, Any]:
    """The live metrics of the registered model, one entry per scored day (oldest first).

    ``champion`` / ``shadow``: the version that served in that role and its realised and
    estimated primary metric (None when unknown); ``changes``: days on which the champion's
    version changed; ``drift``: the champion's prediction drift score, verdict and threshold.
    """
    metric = config.training.primary_metric
    out: dict[str, Any] = {
        "enabled": config.scoring is not None,
        "metric": metric,
        "days": [],
        "changes": [],
        "champion": {"version": [], "realised": [], "estimated": [], "labelled_rows": []},
        "shadow": {"version": [], "realised": [], "estimated": []},
        "drift": {"scores": [], "drifted": [], "threshold": None, "method": "drift of the scores vs the holdout's"},
    }
    if store is None:
        return out
    frame = store.live_metrics(config.name, config.model_name, since=since)
    if frame.empty:
        return out
    frame = frame.assign(day=frame["partition_date"].astype(str))
    days = sorted(frame["day"].unique())
    cell = {(r.day, r.role, r.kind, r.metric): (r.value, int(r.version), int(r.rows)) for r in frame.itertuples()}

    def value(day: str, role: str, kind: str, name: str = metric, field: int = 0):
        hit = cell.get((day, role, kind, name))
        return None if hit is None or hit[field] is None or hit[field] != hit[field] else hit[field]

    versions = {(r.day, r.role): int(r.version) for r in frame.itertuples()}
    for role in ("champion", "shadow"):
        series = out[role]
        series["version"] = [versions.get((d, role)) for d in days]
        series["realised"] = [value(d, role, "realised") for d in days]
        series["estimated"] = [value(d, role, "estimated") for d in days]
    out["champion"]["labelled_rows"] = [value(d, "champion", "realised", field=2) for d in days]
    out["drift"]["scores"] = [value(d, "champion", "drift", "drift_score") for d in days]
    out["drift"]["drifted"] = [bool(value(d, "champion", "drift", "drifted")) for d in days]
    thresholds = [value(d, "champion", "drift", "drift_threshold") for d in days]
    out["drift"]["threshold"] = next((t for t in reversed(thresholds) if t is not None), None)
    served = [(d, v) for d, v in zip(days, out["champion"]["version"], strict=True) if v is not None]
    out["changes"] = [{"day": d, "from": p, "to": v} for (_, p), (d, v) in pairwise(served) if v != p]
    out["days"] = days
    return out


def _version_card(client, settings: Settings, name: str, mv, primary: str) -> dict[str, Any]:
    from mlops import tracking

    tags = dict(mv.tags or {})
    gates = {}
    for key, value in schema.GATE.collect(tags).items():
        gates[key] = value if isinstance(value, dict) else {"passed": None, "detail": value}
    metrics, experiment = {}, None
    if mv.run_id:
        try:
            run = client.get_run(mv.run_id)
            metrics, experiment = dict(run.data.metrics), run.info.experiment_id
        except Exception:
            pass
    # Training runs log evaluation metrics as "holdout_<metric>".
    key = primary if primary in metrics else f"holdout_{primary}"
    return {
        "version": str(mv.version),
        "created": mv.creation_timestamp,
        "run_id": mv.run_id,
        "primary": {"name": key, "value": metrics.get(key)},
        "metrics": metrics,
        "gates": gates,
        "gates_passed": tags.get(schema.GATES_PASSED.name),
        "decision": tags.get(schema.DECISION.name),
        "data_interval_end": tags.get(schema.DATA_INTERVAL_END.name),
        "training_window": tags.get(schema.TRAINING_WINDOW.name),
        "tags": {k: v for k, v in sorted(tags.items()) if k.startswith(schema.PREFIX) and not schema.GATE.matches(k)},
        "links": {
            "model_version": tracking.model_version_url(settings, name, mv.version),
            "run": tracking.run_url(settings, experiment, mv.run_id) if experiment and mv.run_id else None,
        },
    }


def shadow_soak(client, name: str, cards: dict[str, Any]) -> dict[str, Any] | None:
    """The newest shadow soak of ``name`` (running or decided): its looks and decision from the gate tag ``mlops.gate.shadow``."""
    from mlops.promotion.shadow import GATE_NAME, series

    for alias in ("challenger", "champion"):
        card = cards.get(alias)
        if card and card["gates"].get(GATE_NAME, {}).get("looks"):
            newest = card
            break
    else:
        newest = None
    candidates = sorted(client.search_model_versions(f"name = '{name}'"), key=lambda mv: int(mv.version), reverse=True)
    for mv in candidates:
        if newest is not None and int(mv.version) <= int(newest["version"]):
            break
        gate = schema.GATE.tag(GATE_NAME).get(mv.tags or {})
        if isinstance(gate, dict) and gate.get("looks"):
            return series(gate)
    return series(newest["gates"][GATE_NAME]) if newest else None


def model_overview(config: DatasetConfig, settings: Settings, client, *, since: date | None = None, store=None) -> dict[str, Any]:
    """Everything the Models page shows for ``config``'s registered model (``store``: the prediction store, if scored)."""
    from mlflow.exceptions import MlflowException

    from mlops.promotion.history import history
    from mlops.registry import missing_model

    name = config.model_name
    cards: dict[str, Any] = {alias: None for alias in ALIASES}
    entries: list[dict] = []
    exists, soak = True, None
    try:
        model = client.get_registered_model(name)
    except MlflowException as e:
        if not missing_model(client, name, e):
            raise
        exists, model = False, None
    if exists:
        aliases = dict(model.aliases or {})
        for alias in ALIASES:
            if alias in aliases:
                cards[alias] = _version_card(client, settings, name, client.get_model_version(name, aliases[alias]), config.training.primary_metric)
        entries = list(reversed(history(client, name)))
        soak = shadow_soak(client, name, cards) if config.promotion.shadow.enabled or any(c and "shadow" in c["gates"] for c in cards.values()) else None
    drift = drift_series(settings, config.name, since=since)
    return {
        "dataset": config.name,
        "model": name,
        "registered": exists,
        "primary_metric": config.training.primary_metric,
        "aliases": cards,
        "history": entries,
        "drift": drift,
        "validation": latest_validation(settings, config.name),
        "production": production_series(config, store, since=since),
        "shadow": soak,
    }
