"""Batch scoring: a validated partition, scored by the champion (and a waiting challenger, as shadow).

One scoring run resolves the serving versions once (``serving_models``), loads each version
once (``ModelCache``) and scores each requested partition (``score_partition``):

1. the partition must be in the lake, validated, and (when the request names one) have the
   content hash the validation saw; a quarantined or changed partition is skipped with a reason;
2. its rows must have unique, non-null ``row_key`` values (they join the labels later);
3. its columns must fit the model's signature (names and types), else the partition fails
   with the column names;
4. the predictions replace the (partition, version, role) unit in the SQL store in one
   transaction, and the same rows are written as Parquet under
   ``lake/predictions/<dataset>/ds=<date>/version=<v>/role=<role>/part-0.parquet``.

A version that fails to load fails the run: no other version is ever used in its place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops import schema
from mlops.config import DatasetConfig, Settings
from mlops.errors import ScoringError
from mlops.lake import Lake, atomic_write_parquet
from mlops.predictions.keys import duplicate_count, row_keys
from mlops.predictions.store import PredictionStore, Unit
from mlops.sources.base import Interval

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

NUMERIC_SIGNATURE_TYPES = {"double", "float", "long", "integer", "boolean"}


@dataclass(frozen=True)
class ServingModel:
    """A registered model version to score with, and the role its predictions get."""

    model_name: str
    version: int
    role: str  # champion | shadow
    alias: str

    @property
    def uri(self) -> str:
        return f"models:/{self.model_name}/{self.version}"

    def __str__(self) -> str:
        return f"{self.model_name} v{self.version} ({self.role})"


def serving_models(config: DatasetConfig, client) -> tuple[list[ServingModel], str | None]:
    """The champion and, with ``scoring.shadow``, a challenger waiting for its decision.

    Returns ``(models, reason)``: no models and the reason when there is no champion yet.
    """
    from mlops.registry import CHALLENGER, CHAMPION, alias_version

    name = config.model_name
    champion = alias_version(client, name, CHAMPION)
    if champion is None:
        return [], (
            f"no champion yet: models:/{name}@{CHAMPION} does not exist, so nothing serves and nothing is scored. "
            "The promotion DAG sets it when a challenger passes its gates."
        )
    models = [ServingModel(name, int(champion.version), "champion", CHAMPION)]
    if config.scoring is None or config.scoring.shadow:
        challenger = alias_version(client, name, CHALLENGER)
        if challenger is not None and str(challenger.version) != str(champion.version) and schema.DECISION.get(challenger.tags or {}) is None:
            models.append(ServingModel(name, int(challenger.version), "shadow", CHALLENGER))
    return models, None


@dataclass
class ModelCache:
    """Each version loaded once per scoring run, with its signature."""

    loaded: dict[tuple[str, int], tuple[Any, Any]] = field(default_factory=dict)

    def get(self, model: ServingModel) -> tuple[Any, Any]:
        key = (model.model_name, model.version)
        if key not in self.loaded:
            self.loaded[key] = load_model(model)
        return self.loaded[key]


def load_model(model: ServingModel) -> tuple[Any, Any]:
    """``(sklearn model, signature)`` of exactly ``model``'s version; never another one."""
    import mlflow

    started = time.perf_counter()
    try:
        info = mlflow.models.get_model_info(model.uri)
        loaded = mlflow.sklearn.load_model(model.uri)
    except Exception as e:  # any failure to load is the same verdict: this version cannot serve
        raise ScoringError(
            f"model {model.model_name} version {model.version} (the {model.alias}, {model.uri}) could not be loaded: "
            f"{type(e).__name__}: {str(e)[:500]}. The run stops: no other version is used in its place. Repair the "
            "version's artifacts, or move the alias (rollback DAG for the champion), then clear this task."
        ) from e
    if info.signature is None or info.signature.inputs is None:
        raise ScoringError(
            f"model {model.model_name} version {model.version} ({model.uri}) has no input signature; the pipeline scores only "
            "models whose inputs it can check. Retrain it with the nightly DAG (which logs a signature)."
        )
    log.info("loaded %s from %s in %.1f s", model, model.uri, time.perf_counter() - started)
    return loaded, info.signature


def model_inputs(frame: pd.DataFrame, config: DatasetConfig, signature, *, where: str, model: ServingModel) -> pd.DataFrame:
    """The model's input columns, in its signature's order and types, prepared as for training.

    Raises ``ScoringError`` naming every missing column and every column whose values do not
    have the type the signature declares.
    """
    import pandas as pd
    from pandas.api import types

    from mlops.training.model import prepare_features

    specs = list(signature.inputs.inputs)
    missing = [s.name for s in specs if s.name not in frame.columns]
    wrong = []
    numeric, categorical = [], []
    for spec in specs:
        kind = str(getattr(spec.type, "name", spec.type)).lower()
        if kind in NUMERIC_SIGNATURE_TYPES:
            numeric.append(spec.name)
            if spec.name in frame.columns:
                col = frame[spec.name]
                if not (types.is_numeric_dtype(col) or types.is_bool_dtype(col)):
                    converted = pd.to_numeric(col, errors="coerce")
                    bad = col.notna() & converted.isna()
                    if bad.any():
                        wrong.append(
                            f"{spec.name!r} (expected {kind}, found {col.dtype} with {int(bad.sum())} non-numeric values, e.g. {col[bad].head(3).tolist()})"
                        )
        else:
            categorical.append(spec.name)
    if missing or wrong:
        problems = ([f"missing columns {missing}"] if missing else []) + ([f"columns of the wrong type: {'; '.join(wrong)}"] if wrong else [])
        raise ScoringError(
            f"{where}: the partition does not fit the input signature of {model} ({model.uri}): {', '.join(problems)}. "
            f"The partition's columns are {sorted(map(str, frame.columns))[:40]}. Nothing was written for it. Fix the source "
            "(or retrain the model on the new columns), then clear this task."
        )
    shaped = config.model_copy(update={"numeric_features": numeric, "categorical_features": categorical})
    return prepare_features(frame, shaped)[[s.name for s in specs]]


def predict(model: Any, X: pd.DataFrame, task: str, *, chunk_rows: int) -> tuple[Any, Any]:
    """``(prediction, score)``: the class (score ≥ 0.5) and P(class 1) for classification; the value and None for regression."""
    import numpy as np

    from mlops.training.model import predict_scores

    parts = [predict_scores(model, X.iloc[i : i + chunk_rows], task) for i in range(0, len(X), chunk_rows)]
    values = np.concatenate(parts) if parts else np.empty(0)
    if task == "classification":
        return (values >= 0.5).astype("float64"), values
    return values.astype("float64"), None


def lake_path(settings: Settings, unit: Unit) -> Path:
    return settings.lake_dir / "predictions" / unit.dataset / f"ds={unit.partition_date}" / f"version={unit.version}" / f"role={unit.role}" / "part-0.parquet"


def write_lake(settings: Settings, unit: Unit, frame: pd.DataFrame) -> Path:
    """The unit's predictions as one Parquet file, written atomically (replaces an earlier one)."""
    import pyarrow as pa

    path = lake_path(settings, unit)
    atomic_write_parquet(path, pa.Table.from_pandas(frame, preserve_index=False))
    return path


def _skip_reason(lake: Lake, settings: Settings, interval: Interval, expected_hash: str | None) -> str | None:
    if not lake.exists(interval):
        quarantined = (settings.quarantine_dir / lake.dataset / interval.key).is_dir()
        return (
            "quarantined: it failed validation, and quarantined partitions are never scored" if quarantined else "not in the lake (never ingested, or removed)"
        )
    if lake.validation(interval) is None:
        return "not validated in its current content (re-ingested after its validation?); its next validation triggers scoring"
    if expected_hash and lake.info(interval).content_hash != expected_hash:
        return (
            f"its content changed since the event (hash {lake.info(interval).content_hash[:12]}… in the lake, {expected_hash[:12]}… "
            "in the event); the newer validation's event scores it"
        )
    return None


def score_partition(
    config: DatasetConfig,
    settings: Settings,
    store: PredictionStore,
    day: date,
    models: list[ServingModel],
    cache: ModelCache,
    *,
    expected_hash: str | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
    monitor: Callable[..., dict] | None = None,
) -> dict:
    """Score one day's partition with each of ``models``; returns ``{partition, status, rows, reason, units}``.

    ``monitor(unit, scored, model, loaded, signature)`` runs after each unit is stored (live
    metrics); its result goes into the unit's entry. When the partition holds its labels
    (``labels.delay_days`` 0) they are stored first, so the day's realised metrics follow.
    """
    import pandas as pd

    interval = Interval.days(day)
    where = f"dataset {config.name!r}, partition {interval.key}"
    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    reason = _skip_reason(lake, settings, interval, expected_hash)
    if reason:
        log.warning("%s: skipped: %s", where, reason)
        return {"partition": day.isoformat(), "status": "skipped", "reason": reason, "rows": 0, "units": []}
    frame = lake.read(interval)
    keys = row_keys(frame, config.row_key, where=where, error=ScoringError)
    dupes, examples = duplicate_count(keys)
    if dupes:
        raise ScoringError(
            f"{where}: {dupes} of {len(frame)} rows repeat a row_key {config.row_key} (e.g. {examples}); keys must identify rows "
            "so that labels join the right prediction. Fix the source or row_key in the dataset config, then clear this task."
        )
    if not config.labels.delay_days and config.target in frame.columns:
        from mlops.predictions.labels import check_batch

        batch, _ = check_batch(config, pd.DataFrame({"row_key": keys.to_numpy(), "label": frame[config.target].to_numpy()}), keys, where=where)
        store.replace_labels(config.name, day, batch.assign(label=batch["label"].astype("float64")), arrived_at=datetime.now(UTC), dag_id=dag_id, run_id=run_id)
    chunk = config.scoring.chunk_rows if config.scoring else 200_000
    write_parquet = config.scoring.lake if config.scoring else True
    units = []
    for model in models:
        started = time.perf_counter()
        loaded, signature = cache.get(model)
        X = model_inputs(frame, config, signature, where=where, model=model)
        prediction, score = predict(loaded, X, config.task, chunk_rows=chunk)
        out = pd.DataFrame({"row_key": keys.to_numpy(), "prediction": prediction, "score": score})
        unit = Unit(config.name, day, model.model_name, model.version, model.role)
        scored_at = datetime.now(UTC)
        store.replace_predictions(unit, out, scored_at=scored_at, dag_id=dag_id, run_id=run_id)
        path = None
        if write_parquet:
            path = write_lake(settings, unit, out.assign(model_name=model.model_name, scored_at=pd.Timestamp(scored_at), run_id=run_id))
        seconds = time.perf_counter() - started
        log.info("%s: %d rows scored by %s and stored in %.2f s", where, len(out), model, seconds)
        units.append(
            {
                "model_name": model.model_name,
                "version": model.version,
                "role": model.role,
                "rows": len(out),
                "seconds": round(seconds, 3),
                "lake_path": str(path) if path else None,
                "monitoring": monitor(unit, out, model, loaded, signature) if monitor else None,
            }
        )
    return {"partition": day.isoformat(), "status": "scored", "reason": None, "rows": len(frame), "units": units}


def run_note(results: list[dict], skipped_events: list[dict] | None = None) -> str:
    """One line per partition (what was scored by which version, or why not), for the run's note."""
    lines = []
    for r in results:
        if r["status"] == "scored":
            by = ", ".join(f"v{u['version']} ({u['role']}, {u['rows']} rows)" for u in r["units"])
            lines.append(f"ds={r['partition']}: scored by {by}")
        else:
            lines.append(f"ds={r['partition']}: skipped: {r['reason']}")
    lines += [f"ds={e.get('partition') or '?'}: skipped: {e['reason']}" for e in skipped_events or []]
    return "\n".join(lines) or "nothing to score"


def partitions_from_events(events: list[dict]) -> tuple[list[dict], list[dict]]:
    """Requests from the triggering asset events: one per partition (the newest event wins).

    Each event is ``{"extra": {...}, "timestamp": ...}``. Events of backfill runs and events
    without a partition are returned apart, with the reason they are not scored.
    """
    newest: dict[str, dict] = {}
    ignored: list[dict] = []
    for event in sorted(events, key=lambda e: str(e.get("timestamp") or "")):
        extra = event.get("extra") or {}
        partition = extra.get("partition")
        if not partition:
            ignored.append({"partition": None, "reason": f"asset event without a partition in its extra ({sorted(extra)})"})
            continue
        if extra.get("run_type") == "backfill":
            ignored.append({"partition": partition, "reason": "validated by a backfill run: backfills rebuild history, production scores nightly partitions"})
            continue
        newest[partition] = {"partition": partition, "content_hash": extra.get("content_hash"), "source_run": extra.get("run_key")}
    return [newest[k] for k in sorted(newest)], ignored


def run_scoring(
    config: DatasetConfig,
    settings: Settings,
    requests: list[dict],
    *,
    store: PredictionStore,
    client,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> dict:
    """Score every requested partition (``{partition, content_hash}``) with the versions serving now.

    The versions are resolved once, before the first partition, so one run never mixes
    champions. Returns ``{models, results}``; a partition that cannot be scored for a reason
    that is not an error (no champion, quarantined, changed since its event) is ``skipped``.
    """
    from mlops.predictions import live

    models, why_not = serving_models(config, client)
    if why_not:
        log.warning("dataset %r: %s", config.name, why_not)
    cache = ModelCache()
    results = []

    def monitor(unit, scored, model, loaded, signature) -> dict:
        return live.after_scoring(config, settings, store, client, unit, scored, model, loaded, signature)

    for request in requests:
        day = date.fromisoformat(str(request["partition"])[:10])
        if not models:
            results.append({"partition": day.isoformat(), "status": "skipped", "reason": why_not, "rows": 0, "units": []})
            continue
        result = score_partition(
            config,
            settings,
            store,
            day,
            models,
            cache,
            expected_hash=request.get("content_hash"),
            dag_id=dag_id,
            run_id=run_id,
            monitor=monitor,
        )
        if result["status"] == "scored":  # labels that are already there (with the partition, or arrived before a re-score)
            result["realised"] = live.realised(config, settings, store, day)
        results.append(result)
    return {"models": [{"model_name": m.model_name, "version": m.version, "role": m.role} for m in models], "results": results}
