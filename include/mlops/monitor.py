"""The drift step and the champion's state: what the retraining decision is based on.

Reference policy: the champion's training window (the data it learned from), read from
the lake; when there is no champion, or its window is no longer in the lake, a trailing
window of ``drift.reference_days`` that ends where the current interval starts.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mlops import schema
from mlops.config import DatasetConfig, Settings
from mlops.errors import InsufficientData, LakeError
from mlops.lake import Lake, path_to_uri
from mlops.sources.base import Interval, Source
from mlops.windows import read_window, trailing

log = logging.getLogger(__name__)


def monitoring_experiment(config: DatasetConfig) -> str:
    return f"mlops/{config.name}/monitoring"


def champion_version(config: DatasetConfig, settings: Settings):
    from mlops import tracking
    from mlops.registry import CHAMPION, alias_version

    return alias_version(tracking.client(settings), config.model_name, CHAMPION)


def reference_interval(config: DatasetConfig, interval: Interval, champion) -> tuple[Interval, str]:
    """The reference window and a sentence saying why it was chosen. It always ends by ``interval.start``."""
    window = schema.TRAINING_WINDOW.get(champion.tags) if champion is not None else None
    if window:
        start, end = window
        ref = Interval.parse(start, end)
        if ref.end <= interval.start:
            return ref, f"training window of champion v{champion.version}"
        # A champion trained on data that overlaps this interval (e.g. a re-run): cut at the interval start.
        if ref.start < interval.start:
            return Interval(ref.start, interval.start), f"training window of champion v{champion.version}, cut at the interval start"
    return trailing(interval.start, config.drift.reference_days), f"trailing {config.drift.reference_days} days (no usable champion window)"


#: Folder of a dataset's lake holding its drift reference profiles.
PROFILES_DIR = "reference-profiles"
#: Profiles kept per dataset (the most recently used): concurrent backfill runs may compare with different references.
PROFILES_KEPT = 4


def _window_hashes(lake: Lake, window: Interval, source: Source | None) -> dict[str, str] | None:
    """The content hashes ``read_window`` would record for ``window`` (features only), read from the partitions' footers.

    None when a day still has to be ingested or validated (``read_window`` does that first).
    """
    from datetime import timedelta

    hashes = {}
    for day_start in window.day_starts():
        day = Interval(day_start, day_start + timedelta(days=1))
        state, found = lake.state(day)
        if state == "validated":
            hashes[day.key] = found.content_hash
        elif state == "quarantined" or (state == "missing" and source is None):
            continue  # read_window skips such a day
        else:
            return None
    return hashes


def profile_key(config: DatasetConfig, champion, window: Interval, hashes: dict[str, str]) -> str:
    """Key of a reference profile: the champion version, the window, its partitions' content hashes, the features and the drift settings it depends on."""
    import hashlib
    import json

    from mlops.drift.profile import PROFILE_FORMAT

    payload = {
        "format": PROFILE_FORMAT,
        "model": config.model_name,
        "champion": getattr(champion, "version", None),
        "window": [window.start.isoformat(), window.end.isoformat()],
        "hashes": sorted(hashes.items()),
        "numeric": config.numeric_features,
        "categorical": config.categorical_features,
        "discrete_max_values": config.drift.discrete_max_values,
    }
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:24]


def reference_profile(config: DatasetConfig, settings: Settings, window: Interval, champion, *, source: Source | None = None, current_rows: int | None = None):
    """``(profile, "stored" | "built")``: the drift reference of ``window``, profiled once per champion and reference content.

    A profile is stored under ``<lake>/<dataset>/reference-profiles/<key>/`` (``profile_key``:
    champion version, window, content hashes of its partitions, features, drift settings). A
    new champion, a rewritten or newly quarantined partition, or another config gives another
    key, so a stale profile is never read; the ``PROFILES_KEPT`` most recently used are kept.
    """
    import shutil
    import time

    from mlops.drift.profile import ReferenceProfile, build_profile, load_profile, save_profile

    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    root = lake.dir / PROFILES_DIR
    hashes = _window_hashes(lake, window, source)
    if hashes:
        key = profile_key(config, champion, window, hashes)
        found = load_profile(root / key)
        if found is not None:
            try:
                (root / key / "profile.json").touch()  # recently used
            except OSError:
                pass
            return found, "stored"
    # One feature at a time (drift needs no labels): memory holds one column of the window, not all of them.
    profile, used = ReferenceProfile(rows=0, discrete_max_values=config.drift.discrete_max_values), None
    for name in config.features:
        w = read_window(config, settings, window, source=source, columns=[config.timestamp_column, name], min_rows=1)
        if used is None:
            used, profile.rows = w.data_hashes, len(w.frame)
        elif w.data_hashes != used:
            raise LakeError(
                f"dataset {config.name!r}: the reference window {window} changed while it was profiled (partitions "
                f"{sorted(set(used.items()) ^ set(w.data_hashes.items()))[:4]}); another run rewrote them. Clear this task."
            )
        numeric = name in config.numeric_features
        part = build_profile(
            w.frame, numeric=[name] if numeric else [], categorical=[] if numeric else [name], config=config.drift, expected_current=current_rows
        )
        profile.numeric.update(part.numeric)
        profile.categorical.update(part.categorical)
        del w, part
    key = profile_key(config, champion, window, used)
    profile.meta = {
        "key": key,
        "champion_version": getattr(champion, "version", None),
        "window": [window.start.isoformat(), window.end.isoformat()],
        "data_hashes": used,
        "built_at": time.time(),
    }
    save_profile(profile, root / key)
    others = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name != key),
        key=lambda p: (p / "profile.json").stat().st_mtime if (p / "profile.json").exists() else 0,
        reverse=True,
    )
    for stale in others[PROFILES_KEPT - 1 :]:
        shutil.rmtree(stale, ignore_errors=True)
    return profile, "built"


def run_drift_step(
    config: DatasetConfig,
    settings: Settings,
    interval: Interval,
    *,
    run_key: str,
    source: Source | None = None,
    revision: int = 0,
) -> dict:
    """Compare the interval's partition with the reference; write and log the report.

    Returns the drift step's contract value ``{drift_share, drifted_features,
    method_by_feature, report_uri, reference, dataset_drift, missing_drifted_features,
    missing_drift_share, warnings, champion_version, ...}``; each warning (a suspect column,
    too few values) is also logged. ``champion_version`` is the champion the reference came
    from (None: none). ``revision`` > 0 recomputes the same run's drift (see
    :func:`drift_for_decision`): its metrics are logged at that step, so they are the run's
    latest, and the run's reference tag is updated.
    """
    import mlflow

    from mlops import tracking
    from mlops.drift import write_report
    from mlops.drift.profile import compare_with_profile

    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    current = lake.read(interval, columns=[config.timestamp_column, *config.features])
    champion = champion_version(config, settings)
    ref_interval, why = reference_interval(config, interval, champion)
    try:
        reference, profile_state = reference_profile(config, settings, ref_interval, champion, source=source, current_rows=len(current))
    except InsufficientData:
        if champion is None:
            raise
        ref_interval, why = trailing(interval.start, config.drift.reference_days), "trailing window (champion's training data no longer in the lake)"
        reference, profile_state = reference_profile(config, settings, ref_interval, champion, source=source, current_rows=len(current))
    result = compare_with_profile(reference, current, numeric=config.numeric_features, categorical=config.categorical_features, config=config.drift)
    for warning in result.warnings:
        log.warning("drift of %s, %s: %s", config.name, interval, warning["message"])
    out_dir = Path(settings.reports_dir) / config.name / "drift" / interval.key
    paths = write_report(result, reference, current, out_dir, title=f"Drift of {config.name}, {interval} vs {why}")
    summary = result.to_dict()
    tracking.client(settings)
    exp_id = tracking.experiment_id(settings, monitoring_experiment(config))
    previous = tracking.find_run(settings, monitoring_experiment(config), schema.encode_tags({schema.RUN_KEY: run_key}))
    ts_ms = int(interval.start.timestamp() * 1000)
    with mlflow.start_run(
        run_id=previous.info.run_id if previous else None,
        experiment_id=None if previous else exp_id,
        run_name=None if previous else f"drift {interval.key}",
        tags=None if previous else schema.encode_tags({schema.RUN_KEY: run_key, schema.INTERVAL: interval.key, schema.REFERENCE: why}),
    ) as run:
        if previous and revision:
            mlflow.set_tags(schema.encode_tags({schema.REFERENCE: why}))
        metrics = {"drift_share": summary["drift_share"], "missing_drift_share": summary["missing_drift_share"]}
        # None: the feature was empty on one side. One request for all (a backfill logs one set a day).
        metrics.update({f"drift_score.{f['feature']}": float(f["score"]) for f in summary["features"] if f["score"] is not None})
        mlflow.log_metrics(metrics, timestamp=ts_ms, step=revision)
        for _kind, path in paths.items():
            mlflow.log_artifact(path, artifact_path="drift")
        monitoring_run_id = run.info.run_id
    return {
        "drift_share": summary["drift_share"],
        "drifted_features": summary["drifted_features"],
        "method_by_feature": summary["method_by_feature"],
        "dataset_drift": summary["dataset_drift"],
        "missing_drifted_features": summary["missing_drifted_features"],
        "missing_drift_share": summary["missing_drift_share"],
        "warnings": summary["warnings"],
        "report_uri": path_to_uri(Path(paths["html"])),
        "reference": {"window": [ref_interval.start.isoformat(), ref_interval.end.isoformat()], "why": why, "rows": reference.rows, "profile": profile_state},
        "monitoring_run_id": monitoring_run_id,
        "monitoring_experiment_id": exp_id,
        "champion_version": str(champion.version) if champion is not None else None,
        "revision": revision,
    }


def drift_for_decision(
    config: DatasetConfig,
    settings: Settings,
    interval: Interval,
    drift: dict,
    champion: str | None,
    *,
    run_key: str,
    source: Source | None = None,
) -> tuple[dict, str | None]:
    """The drift the decision uses: ``drift`` if it was measured against ``champion``, else measured again.

    ``detect_drift`` does not wait for the previous interval's run (a backfill runs several
    days' drift while the day before decides), so the champion can move between the drift
    and the decision: the day before registered a version and, in a backfill, its replayed
    promotion made it champion. Then the drift is computed again against the new champion's
    training data, into the same monitoring run and report (its metrics at the next step);
    the second value says why (None when ``drift`` stands). A drift result that does not
    name its champion (a run started by an older version of the pipeline) stands.
    """
    if "champion_version" not in drift or drift.get("champion_version") == champion:
        return drift, None
    why = f"the champion moved from {_v(drift.get('champion_version'))} to {_v(champion)} after the drift step: measured again against {_v(champion)}"
    log.info("drift of %s, %s: %s", config.name, interval, why)
    again = run_drift_step(config, settings, interval, run_key=run_key, source=source, revision=int(drift.get("revision") or 0) + 1)
    return again, why


def _v(version: str | None) -> str:
    return f"v{version}" if version is not None else "no champion"


def champion_state(config: DatasetConfig, settings: Settings, interval: Interval, *, store=None):
    """The champion's version, data end, holdout metric and its current metric, with where that comes from.

    The current metric is, in this order: the champion's realised live metric from the
    prediction store (``store``; the day's own with labels in the partition, else the newest
    day whose labels have arrived); re-scored on the new partition when it holds the labels;
    with ``scoring.decay_on_estimate``, the estimate from its predicted probabilities while
    labels are pending; else unknown (no decay verdict).
    """
    from mlops.predictions.labels import label_day
    from mlops.training.decide import ChampionState

    champion = champion_version(config, settings)
    if champion is None:
        return None
    metric = config.training.primary_metric
    tags = champion.tags
    data_end = schema.DATA_INTERVAL_END.get(tags)
    reference_metric = schema.METRICS.get(tags, {}).get(metric)
    current, evidence = None, "on the new partition"
    if store is not None:
        from mlops.predictions import live

        found = live.latest(store, config, int(champion.version), "realised", until=label_day(config, interval), exact=not config.labels.delay_days)
        if found:
            current, evidence = found["value"], f"realised live on ds={found['day']} ({found['rows']} labelled rows)"
    if current is None:
        current = _rescored(config, settings, interval, champion.version)
    if current is None and store is not None and config.scoring and config.scoring.decay_on_estimate and config.task == "classification":
        found = live.latest(store, config, int(champion.version), "estimated", until=interval.start.date())
        if found:
            current, evidence = found["value"], f"estimated from its predicted probabilities on ds={found['day']} (labels pending)"
    return ChampionState(version=str(champion.version), data_end=data_end, reference_metric=reference_metric, current_metric=current, evidence=evidence)


def _rescored(config: DatasetConfig, settings: Settings, interval: Interval, version) -> float | None:
    """The champion's metric on the new partition, when the partition holds its labels."""
    import mlflow

    from mlops.training.metrics import compute_metrics
    from mlops.training.model import predict_scores, prepare_features

    if config.labels.delay_days:  # late labels: the partition's labels have not arrived yet
        return None
    frame = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir).read(interval)
    if not len(frame):
        return None
    model = mlflow.sklearn.load_model(f"models:/{config.model_name}/{version}")
    scores = predict_scores(model, prepare_features(frame, config), config.task)
    return compute_metrics(config.task, frame[config.target].to_numpy(), scores).get(config.training.primary_metric)
