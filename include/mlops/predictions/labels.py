"""Late labels: the targets of day D arrive with the nightly run of day D + ``labels.delay_days``.

With ``delay_days = k > 0`` the day-D partition is ingested without its target. The run of
day D + k reads the labels of day D (``labels.source``, or the dataset's own source read
again for that day: the replay and synthetic sources know every outcome), checks them
against the partition's row keys, and stores them:

* in the lake, ``lake/labels/<dataset>/ds=<D>.parquet`` (``row_key``, ``label``), which
  training windows join (``attach_labels``): a row without a label never trains;
* in the prediction store's ``labels`` table (when the dataset is scored), which joins the
  predictions of day D into the realised live metrics.

A batch with keys that are not rows of the partition, with a key twice, or with values the
target cannot take is refused whole (``LabelsRejected``, with the counts): nothing stored
before changes. Null labels mean "not known": they are left out and counted.

Training windows end at ``labelled_end``: ``k`` days before the run's ``data_interval_end``
(labels of later days had not arrived by then), and further back past days whose partition
is in the lake but whose labels never came.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.config import DatasetConfig, Settings
from mlops.errors import LabelsRejected
from mlops.lake import Lake, atomic_write_parquet, content_hash
from mlops.predictions.keys import duplicate_count, row_keys
from mlops.sources.base import Interval, Source

if TYPE_CHECKING:
    import pandas as pd

    from mlops.predictions.store import PredictionStore

log = logging.getLogger(__name__)

META_KEY = b"mlops.labels"


def label_day(config: DatasetConfig, interval: Interval) -> date:
    """The day whose labels arrive with the run of ``interval``."""
    return interval.start.date() - timedelta(days=config.labels.delay_days)


def labels_path(settings: Settings, dataset: str, day: date) -> Path:
    return settings.lake_dir / "labels" / dataset / f"ds={day.isoformat()}.parquet"


def labelled_end(config: DatasetConfig, settings: Settings, end: datetime) -> datetime:
    """Where a training window that may use data up to ``end`` really ends: at the last labelled day.

    ``end`` itself when labels come with the partition; else ``delay_days`` earlier, and one
    more day back for each last day whose partition is in the lake without labels.
    """
    if not config.labels.delay_days:
        return end
    cut = end - timedelta(days=config.labels.delay_days)
    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    for _ in range(config.training.window_days):
        last = Interval(cut - timedelta(days=1), cut)
        if not (lake.exists(last) and not labels_path(settings, config.name, last.start.date()).is_file()):
            break
        log.info("dataset %r: %s has no labels: the window ends before it", config.name, last.key)
        cut = last.start
    return cut


def read_label_batch(config: DatasetConfig, day: date, source: Source) -> pd.DataFrame:
    """``(row_key, label)`` of the labels the source delivers for ``day`` (rows of that day)."""
    import pandas as pd

    where = f"dataset {config.name!r}, labels of ds={day}"
    frame = source.read(Interval.days(day))
    if config.target not in frame.columns:
        raise LabelsRejected(
            f"{where} from {source.description}: no target column {config.target!r}; found {sorted(map(str, frame.columns))[:30]}. "
            "Point labels.source at data that holds the target.",
            counts={"rows": len(frame)},
        )
    keys = row_keys(frame, config.row_key, where=where, error=LabelsRejected)
    return pd.DataFrame({"row_key": keys.to_numpy(), "label": frame[config.target].to_numpy()})


def check_batch(config: DatasetConfig, batch: pd.DataFrame, partition_keys: pd.Series, *, where: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """The batch without null labels, and counts; raises ``LabelsRejected`` for unknown or repeated keys and invalid values."""
    import pandas as pd

    counts = {"rows": len(batch), "unknown_keys": 0, "duplicate_keys": 0, "invalid_values": 0, "null_labels": 0}
    problems = []
    known = set(partition_keys)
    unknown = batch.loc[~batch["row_key"].isin(known), "row_key"]
    if len(unknown):
        counts["unknown_keys"] = len(unknown)
        problems.append(f"{len(unknown)} of {len(batch)} labels name rows that are not in the partition (e.g. {sorted(unknown.head(50))[:3]})")
    dupes, examples = duplicate_count(batch["row_key"])
    if dupes:
        counts["duplicate_keys"] = dupes
        problems.append(f"{dupes} labels repeat a key that came before (e.g. {examples[:3]})")
    values = batch["label"]
    present = values.notna()
    if config.task == "classification":
        allowed = list(config.validation.categories.get(config.target, [0, 1]))
        bad = present & ~values.isin(allowed)
        expected = f"in {allowed}"
    else:
        bad = present & pd.to_numeric(values, errors="coerce").isna()
        expected = "numeric"
    if bad.any():
        counts["invalid_values"] = int(bad.sum())
        problems.append(f"{int(bad.sum())} labels are not {expected} (e.g. {values[bad].head(3).tolist()})")
    if problems:
        raise LabelsRejected(
            f"{where}: the batch of {len(batch)} labels is refused, nothing was stored: {'; '.join(problems)}. "
            "The labels stored before for this day are unchanged. Fix the label feed, then clear this task.",
            counts=counts,
        )
    counts["null_labels"] = int((~present).sum())
    clean = batch[present].reset_index(drop=True)
    numeric = pd.to_numeric(clean["label"], errors="coerce")
    if numeric.notna().all():  # "1" and 1.0 are the label 1
        clean = clean.assign(label=numeric)
    return clean, counts


def write_labels(settings: Settings, dataset: str, day: date, labels: pd.DataFrame, *, meta: dict[str, Any]) -> Path:
    """The day's labels as one Parquet file, replaced atomically; ``meta`` goes into its metadata."""
    import pyarrow as pa

    path = labels_path(settings, dataset, day)
    table = pa.Table.from_pandas(labels, preserve_index=False)
    atomic_write_parquet(path, table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta, default=str).encode()}))
    return path


def stored_labels(settings: Settings, dataset: str, day: date) -> tuple[pd.DataFrame, dict] | None:
    """``(labels, metadata)`` of the day, or None when its labels have not arrived."""
    import pandas as pd
    import pyarrow.parquet as pq

    path = labels_path(settings, dataset, day)
    if not path.is_file():
        return None
    meta = json.loads((pq.read_schema(path).metadata or {}).get(META_KEY, b"{}"))
    return pd.read_parquet(path), meta


def accept_labels(
    config: DatasetConfig,
    settings: Settings,
    day: date,
    batch: pd.DataFrame,
    *,
    store: PredictionStore | None = None,
    run_key: str | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> dict:
    """Check a batch against the day's partition and store it (lake file, then the SQL table).

    Returns ``{day, status, labelled, partition_rows, unlabelled_rows, null_labels, labels_hash}``.
    """
    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    interval = Interval.days(day)
    where = f"dataset {config.name!r}, labels of partition {interval.key}"
    partition = lake.read(interval, columns=list(config.row_key))
    keys = row_keys(partition, config.row_key, where=where, error=LabelsRejected)
    clean, counts = check_batch(config, batch, keys, where=where)
    arrived_at = datetime.now(UTC)
    digest = content_hash(clean)
    meta = {"arrived_at": arrived_at.isoformat(), "run_key": run_key, "partition_hash": lake.info(interval).content_hash, "labels_hash": digest, **counts}
    write_labels(settings, config.name, day, clean, meta=meta)
    if store is not None:
        store.replace_labels(config.name, day, clean.assign(label=clean["label"].astype("float64")), arrived_at=arrived_at, dag_id=dag_id, run_id=run_id)
    unlabelled = len(partition) - len(clean)
    log.info(
        "%s: %d labels stored (%d rows of %d still unlabelled, %d null labels left out)", where, len(clean), unlabelled, len(partition), counts["null_labels"]
    )
    return {
        "day": day.isoformat(),
        "status": "stored",
        "labelled": len(clean),
        "partition_rows": len(partition),
        "unlabelled_rows": unlabelled,
        "null_labels": counts["null_labels"],
        "labels_hash": digest,
    }


def collect_labels(
    config: DatasetConfig,
    settings: Settings,
    interval: Interval,
    *,
    source: Source,
    store: PredictionStore | None = None,
    run_key: str | None = None,
    dag_id: str | None = None,
    run_id: str | None = None,
) -> dict:
    """The nightly step: the labels of ``label_day`` arrive, are checked and stored.

    A day whose partition is not in the lake (quarantined, never ingested) or not validated
    gets no labels: ``status`` ``skipped`` with the reason.
    """
    day = label_day(config, interval)
    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    target = Interval.days(day)
    reason = None
    if not lake.exists(target):
        quarantined = (settings.quarantine_dir / config.name / target.key).is_dir()
        reason = "its partition was quarantined" if quarantined else "its partition is not in the lake"
    elif lake.validation(target) is None:
        reason = "its partition has not passed validation in its current content"
    if reason:
        log.warning("dataset %r: labels of %s are not stored: %s", config.name, target.key, reason)
        return {"day": day.isoformat(), "status": "skipped", "reason": reason}
    batch = read_label_batch(config, day, source)
    out = accept_labels(config, settings, day, batch, store=store, run_key=run_key, dag_id=dag_id, run_id=run_id)
    if store is not None:  # the day's predictions meet their labels: realised live metrics
        from mlops.predictions.live import realised

        out["realised"] = realised(config, settings, store, day)
    return out


def attach_labels(
    config: DatasetConfig, settings: Settings, day: Interval, frame: pd.DataFrame, *, fetch_from: Source | None = None
) -> tuple[pd.DataFrame, str | None]:
    """The partition's rows that have a label, with the target column; and the labels' hash.

    ``fetch_from``: a source to read the day's labels from when none are stored yet (a window
    that ingests days it has never seen, on a deployment's first night). Rows are returned
    in their order; a day without labels returns no rows.
    """
    import pandas as pd

    stored = stored_labels(settings, config.name, day.start.date())
    if stored is None and fetch_from is not None and config.labels.source is None:
        try:
            accept_labels(config, settings, day.start.date(), read_label_batch(config, day.start.date(), fetch_from), run_key="window")
            stored = stored_labels(settings, config.name, day.start.date())
        except LabelsRejected as e:
            log.warning("%s", e)
    if stored is None:
        return frame.iloc[0:0].assign(**{config.target: []}), None
    labels, meta = stored
    keys = row_keys(frame, config.row_key, where=f"dataset {config.name!r}, partition {day.key}", error=LabelsRejected)
    lookup = labels.set_index("row_key")["label"]
    values = keys.map(lookup).to_numpy()
    has = pd.notna(values)
    out = frame.loc[has].assign(**{config.target: values[has].astype(lookup.dtype)})
    return out, meta.get("labels_hash")
