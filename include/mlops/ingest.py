"""The ingest step: one data interval from a source into one partition."""

from __future__ import annotations

from mlops.config import DatasetConfig, Settings
from mlops.errors import SourceDataError
from mlops.lake import Lake, PartitionInfo
from mlops.sources.base import PROVENANCE, Interval, Source


def ingest_interval(config: DatasetConfig, settings: Settings, interval: Interval, source: Source) -> PartitionInfo:
    """Read ``interval`` from ``source`` and write its partition atomically.

    Re-running it for the same interval and source data rewrites the same partition with
    the same content hash. An interval without rows still writes an (empty) partition, so
    the validation step can report it against ``validation.min_rows``. With late labels the
    partition is written without the target (it arrives ``labels.delay_days`` later, see
    ``mlops.predictions.labels``).

    Raises
    ------
    SourceDataError
        The source's data for the interval cannot be used (an unreadable file, a missing
        column): recorded in the lake as the interval's quarantine record, so windows of
        later runs skip the day instead of reading the source again; a later successful
        ingest of the interval lifts it.
    SourceError
        A transient failure of the source (retried by Airflow).
    """
    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    try:
        df = source.read(interval)
        provenance = df.attrs.pop(PROVENANCE, None)
        if config.labels.delay_days and config.target in df.columns:
            df = df.drop(columns=[config.target])
        return lake.write(df, interval, timestamp_column=config.timestamp_column, source=source.description, provenance=provenance)
    except SourceDataError as e:
        lake.record_refusal(interval, e)
        raise
