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
from mlops.errors import InsufficientData
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


def run_drift_step(
    config: DatasetConfig,
    settings: Settings,
    interval: Interval,
    *,
    run_key: str,
    source: Source | None = None,
) -> dict:
    """Compare the interval's partition with the reference; write and log the report.

    Returns the drift step's contract value ``{drift_share, drifted_features,
    method_by_feature, report_uri, reference, dataset_drift, missing_drifted_features,
    missing_drift_share, warnings, ...}``; each warning (a suspect column, too few values)
    is also logged.
    """
    import mlflow

    from mlops import tracking
    from mlops.drift import as_categories, detect_drift, write_report

    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    current = lake.read(interval)
    champion = champion_version(config, settings)
    ref_interval, why = reference_interval(config, interval, champion)
    features = [config.timestamp_column, *config.features]  # drift needs no labels (they may arrive days later)
    try:
        reference = read_window(config, settings, ref_interval, source=source, columns=features, min_rows=1).frame
    except InsufficientData:
        if champion is None:
            raise
        ref_interval, why = trailing(interval.start, config.drift.reference_days), "trailing window (champion's training data no longer in the lake)"
        reference = read_window(config, settings, ref_interval, source=source, columns=features, min_rows=1).frame
    # Categorical columns become `category` dtype once: the test and the report's plots then count codes.
    reference = as_categories(reference, config.categorical_features)
    current = as_categories(current, config.categorical_features)
    result = detect_drift(reference, current, numeric=config.numeric_features, categorical=config.categorical_features, config=config.drift)
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
        mlflow.log_metric("drift_share", summary["drift_share"], timestamp=ts_ms)
        mlflow.log_metric("missing_drift_share", summary["missing_drift_share"], timestamp=ts_ms)
        for f in summary["features"]:
            if f["score"] is not None:  # None: the feature was empty on one side
                mlflow.log_metric(f"drift_score.{f['feature']}", float(f["score"]), timestamp=ts_ms)
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
        "reference": {"window": [ref_interval.start.isoformat(), ref_interval.end.isoformat()], "why": why, "rows": len(reference)},
        "monitoring_run_id": monitoring_run_id,
        "monitoring_experiment_id": exp_id,
    }


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
