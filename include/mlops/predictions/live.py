"""Live performance of each served version, per day: what the Models page draws and ``decide`` reads.

Three kinds of numbers, each stored in the prediction store's ``live_metrics`` table (one row
per dataset, model, version, role, day, kind, metric) and logged to MLflow as metrics of the
version's monitoring run (``live <model> v<version>`` in ``mlops/<dataset>/monitoring``) with
the day as step (days since 1970-01-01; the timestamp is the day's midnight):

``realised``
    The dataset's metrics (primary and others) of the day's predictions joined with the
    labels that arrived for that day: computed when the labels arrive (the nightly run of
    D + ``labels.delay_days``), or when the day is scored if they are there already.
``estimated``
    Classification: the metrics expected from the day's predicted probabilities, calibrated
    on the version's own holdout (``mlops.predictions.estimate``): there on day D, before
    any label. MLflow: ``estimated_<metric>``.
``drift``
    The drift of the day's score distribution against the version's holdout scores, with the
    project's drift engine (``mlops.drift.detect_drift`` on the column ``score``). MLflow:
    ``prediction_drift_score`` and ``prediction_drifted``.

The holdout scores of a version (its scores and labels on its holdout window) are computed
once and kept in ``lake/holdout_scores/<dataset>/version=<v>.parquet``.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import schema
from mlops.config import DatasetConfig, Settings
from mlops.errors import MlopsError
from mlops.lake import atomic_write_parquet
from mlops.predictions.store import PredictionStore, Unit
from mlops.sources.base import Interval

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

EPOCH = date(1970, 1, 1)
DRIFT_FEATURE = "score"


def epoch_day(day: date) -> int:
    """MLflow step of a day: days since 1970-01-01."""
    return (day - EPOCH).days


def holdout_scores_path(settings: Settings, dataset: str, version: int) -> Path:
    return settings.lake_dir / "holdout_scores" / dataset / f"version={int(version)}.parquet"


def holdout_reference(config: DatasetConfig, settings: Settings, client, model, loaded: Any, signature: Any) -> pd.DataFrame:
    """``(score, label)`` of the version on its own holdout window, computed once and kept in the lake.

    Raises ``MlopsError`` when the version has no holdout window tag or its rows are gone.
    """
    import pandas as pd

    from mlops.predictions.scoring import model_inputs, predict
    from mlops.windows import read_window

    path = holdout_scores_path(settings, config.name, model.version)
    if path.is_file():
        return pd.read_parquet(path)
    tags = client.get_model_version(model.model_name, str(model.version)).tags or {}
    window = schema.HOLDOUT_WINDOW.get(tags)
    if not window:
        raise MlopsError(f"{model} has no tag {schema.HOLDOUT_WINDOW.name}: its holdout scores cannot be computed")
    frame = read_window(config, settings, Interval.parse(*window), min_rows=1).frame
    X = model_inputs(frame, config, signature, where=f"holdout of {model}", model=model)
    prediction, score = predict(loaded, X, config.task, chunk_rows=100_000)
    reference = pd.DataFrame({"score": score if score is not None else prediction, "label": frame[config.target].to_numpy()})
    import pyarrow as pa

    atomic_write_parquet(path, pa.Table.from_pandas(reference, preserve_index=False))
    return reference


def _mlflow_names(kind: str, values: dict[str, float | None]) -> dict[str, float]:
    if kind == "drift":
        keep = {"drift_score": "prediction_drift_score", "drifted": "prediction_drifted"}
        return {keep[k]: v for k, v in values.items() if k in keep and v is not None}
    return {f"{kind}_{k}": v for k, v in values.items() if v is not None}


def log_to_mlflow(config: DatasetConfig, settings: Settings, unit: Unit, kind: str, values: dict[str, float | None], rows: int) -> str:
    """Log the day's values on the version's monitoring run (created on first use); returns its run id."""
    from mlflow.entities import Metric

    from mlops import tracking
    from mlops.monitor import monitoring_experiment

    client = tracking.client(settings)
    tags = schema.encode_tags({schema.DATASET: config.name, schema.MODEL_NAME: unit.model_name, schema.LIVE_MODEL_VERSION: unit.version})
    run = tracking.find_run(settings, monitoring_experiment(config), tags)
    if run is None:
        exp_id = tracking.experiment_id(settings, monitoring_experiment(config))
        run = client.create_run(exp_id, run_name=f"live {unit.model_name} v{unit.version}", tags=tags)
        client.set_terminated(run.info.run_id)
    ts = int(datetime(unit.partition_date.year, unit.partition_date.month, unit.partition_date.day, tzinfo=UTC).timestamp() * 1000)
    step = epoch_day(unit.partition_date)
    metrics = [Metric(key, float(v), ts, step) for key, v in _mlflow_names(kind, values).items()]
    metrics.append(Metric(f"{kind}_rows", float(rows), ts, step))
    client.log_batch(run.info.run_id, metrics=metrics)
    return run.info.run_id


def record(config: DatasetConfig, settings: Settings, store: PredictionStore, unit: Unit, kind: str, values: dict[str, float | None], rows: int) -> None:
    store.replace_live_metrics(unit, kind, values, rows=rows, computed_at=datetime.now(UTC))
    log_to_mlflow(config, settings, unit, kind, values, rows)


def realised(config: DatasetConfig, settings: Settings, store: PredictionStore, day: date) -> list[dict]:
    """Realised metrics of every (model, version, role) scored on ``day`` that has labels; stored and logged."""
    from mlops.training.metrics import compute_metrics

    joined = store.labelled_predictions(config.name, day)
    out = []
    for (model_name, version, role), rows in joined.groupby(["model_name", "version", "role"], sort=True):
        values = rows["score"] if config.task == "classification" else rows["prediction"]
        metrics = compute_metrics(config.task, rows["label"].to_numpy(), values.to_numpy())
        unit = Unit(config.name, day, model_name, int(version), role)
        record(config, settings, store, unit, "realised", metrics, len(rows))
        out.append({"version": int(version), "role": role, "rows": len(rows), "metrics": metrics})
        log.info("%s: realised %s on %d labelled rows", unit, metrics, len(rows))
    return out


def monitor_unit(config: DatasetConfig, settings: Settings, store: PredictionStore, unit: Unit, scored: pd.DataFrame, reference: pd.DataFrame) -> dict:
    """Estimated metrics (classification) and prediction drift of a freshly scored unit; stored and logged."""
    import pandas as pd

    from mlops.drift import detect_drift
    from mlops.predictions.estimate import estimate

    out: dict[str, Any] = {}
    current = scored["score"] if config.task == "classification" else scored["prediction"]
    if config.task == "classification":
        out["estimated"] = estimate(reference["score"], reference["label"], current)
        record(config, settings, store, unit, "estimated", out["estimated"], len(scored))
    result = detect_drift(
        pd.DataFrame({DRIFT_FEATURE: reference["score"].astype(float)}),
        pd.DataFrame({DRIFT_FEATURE: current.astype(float)}),
        numeric=[DRIFT_FEATURE],
        categorical=[],
        config=config.drift,
    ).feature(DRIFT_FEATURE)
    number = lambda v: None if v is None else float(v)  # noqa: E731
    drift = {
        "drift_score": number(result.score),
        "drift_threshold": number(result.threshold),
        "drift_p_value": number(result.p_value),
        "drifted": float(result.drifted),
    }
    record(config, settings, store, unit, "drift", drift, len(scored))
    out["drift"] = {**drift, "method": result.method}
    return out


def after_scoring(
    config: DatasetConfig, settings: Settings, store: PredictionStore, client, unit: Unit, scored: pd.DataFrame, model, loaded, signature
) -> dict:
    """Monitoring of a unit just scored; a version whose holdout is gone gets no estimate or drift (said in the result)."""
    try:
        reference = holdout_reference(config, settings, client, model, loaded, signature)
    except MlopsError as e:
        log.warning("%s: no estimate and no prediction drift: %s", unit, e)
        return {"skipped": str(e)[:300]}
    return monitor_unit(config, settings, store, unit, scored, reference)


def latest(store: PredictionStore, config: DatasetConfig, version: int, kind: str, *, until: date, exact: bool = False) -> dict | None:
    """The newest ``kind`` value of the primary metric of ``version`` on a day up to ``until`` (or on it, ``exact``)."""
    metric = config.training.primary_metric
    frame = store.live_metrics(config.name, config.model_name, version=int(version), kind=kind, metric=metric)
    frame = frame[frame["value"].notna() & ((frame["partition_date"] == until) if exact else (frame["partition_date"] <= until))]
    if frame.empty:
        return None
    # Prefer the day's champion row (a version scored in both roles on one day has the same numbers).
    row = frame.sort_values(["partition_date", "role"], ascending=[False, True]).iloc[0]
    return {"day": row["partition_date"], "value": float(row["value"]), "rows": int(row["rows"]), "role": row["role"]}
