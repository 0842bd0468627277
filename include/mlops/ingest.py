"""The ingest step: one data interval from a source into one partition."""

from __future__ import annotations

from mlops.config import DatasetConfig, Settings
from mlops.lake import Lake, PartitionInfo
from mlops.sources.base import Interval, Source


def ingest_interval(config: DatasetConfig, settings: Settings, interval: Interval, source: Source) -> PartitionInfo:
    """Read ``interval`` from ``source`` and write its partition atomically.

    Re-running it for the same interval and source data rewrites the same partition with
    the same content hash. An interval without rows still writes an (empty) partition, so
    the validation step can report it against ``validation.min_rows``. With late labels the
    partition is written without the target.
    """
    df = source.read(interval)
    if config.labels.delay_days and config.target in df.columns:
        df = df.drop(columns=[config.target])  # the target arrives labels.delay_days later (mlops.predictions.labels)
    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    return lake.write(df, interval, timestamp_column=config.timestamp_column, source=source.description)
