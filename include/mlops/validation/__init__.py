"""Validate partitions with Great Expectations; quarantine the ones that fail."""

from __future__ import annotations

from mlops.config import DatasetConfig, Settings
from mlops.errors import ValidationFailed
from mlops.lake import Lake
from mlops.sources.base import Interval
from mlops.validation.run import describe_failure, validate_frame


def validate_partition(config: DatasetConfig, settings: Settings, interval: Interval, *, build_docs: bool = True) -> dict:
    """Validate the partition of ``interval``; on failure quarantine it and raise.

    Returns the validate step's contract value ``{success, failed_expectations, docs_uri, ...}``.

    Raises
    ------
    ValidationFailed
        Naming each failed expectation and column; the partition has been moved to quarantine.
    """
    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    df = lake.read(interval)
    result = validate_frame(df, config, interval, gx_dir=settings.gx_dir, build_docs=build_docs)
    if result["success"]:
        lake.mark_validated(interval, result)
        return result
    moved = lake.quarantine(interval, result)
    lines = "\n".join(f"  - {describe_failure(f)}" for f in result["failed_expectations"])
    raise ValidationFailed(
        f"dataset {config.name!r}, partition {interval}: {len(result['failed_expectations'])} of "
        f"{result['evaluated_expectations']} expectations failed:\n{lines}\n"
        f"The partition was moved to {moved} and nothing downstream will use it. "
        f"Data Docs: {result['docs_uri']}. Fix the source data (or the suite in the dataset config), then clear the ingest task.",
        failed_expectations=result["failed_expectations"],
    )


__all__ = ["describe_failure", "validate_frame", "validate_partition"]
