"""Validate partitions with Great Expectations; quarantine the ones that fail."""

from __future__ import annotations

from mlops.config import DatasetConfig, Settings
from mlops.errors import PartitionQuarantined, ValidationFailed
from mlops.lake import Lake, PartitionInfo
from mlops.sources.base import Interval
from mlops.validation.run import describe_failure, validate_frame


def validate_partition(config: DatasetConfig, settings: Settings, interval: Interval, *, build_docs: bool = True) -> dict:
    """Validate the partition of ``interval``; on failure quarantine it and raise.

    Returns the validate step's contract value ``{success, failed_expectations, docs_uri, ...}``.
    The validation mark and the quarantine are tied to the content that was validated, so a
    partition rewritten meanwhile is neither marked valid nor moved without being checked.

    Raises
    ------
    ValidationFailed
        Naming each failed expectation and column, and the source files the rows came from;
        the partition has been moved to quarantine (by this call, or by a concurrent run
        that validated the same content first).
    """
    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    try:
        info, df = lake.load(interval)
    except PartitionQuarantined as e:
        raise ValidationFailed(
            f"{e} (found in quarantine when this run came to validate it)",
            failed_expectations=e.record.get("failed_expectations") or [],
        ) from e
    result = validate_frame(df, config, interval, gx_dir=settings.gx_dir, build_docs=build_docs)
    if result["success"]:
        lake.mark_validated(interval, result, content_hash=info.content_hash)
        return result
    lines = "\n".join(f"  - {describe_failure(f)}" for f in result["failed_expectations"])
    head = (
        f"dataset {config.name!r}, partition {interval} ({describe_provenance(info)}): "
        f"{len(result['failed_expectations'])} of {result['evaluated_expectations']} expectations failed:\n{lines}\n"
    )
    docs = f"Data Docs: {result['docs_uri']}. " if result.get("docs_uri") else ""
    tail = f"{docs}Fix the source data (or the suite in the dataset config), then clear the ingest task."
    moved = lake.quarantine(interval, result, content_hash=info.content_hash, message=head + tail)
    raise ValidationFailed(
        f"{head}The partition was moved to {moved} and nothing downstream will use it. {tail}",
        failed_expectations=result["failed_expectations"],
    )


def describe_provenance(info: PartitionInfo) -> str:
    """Where a partition's rows came from, in a few words (the source files, when the source tells)."""
    prov = info.provenance or {}
    if not prov:
        return f"{info.rows} rows from {info.source}"
    files = prov.get("files") or {}
    parts = [
        "source files: "
        + ", ".join(f"{name} ({rows} rows)" for name, rows in list(files.items())[:5])
        + (f" and {len(files) - 5} more" if len(files) > 5 else "")
        if files
        else f"no source file in {info.source} holds rows of this interval"
    ]
    if prov.get("empty_files") and not files:
        parts.append("empty files: " + ", ".join(prov["empty_files"][:5]))
    if prov.get("skipped_files"):
        parts.append("skipped: " + "; ".join(f"{name}: {why}" for name, why in list(prov["skipped_files"].items())[:5]))
    return "; ".join(parts)


__all__ = ["describe_failure", "describe_provenance", "validate_frame", "validate_partition"]
