"""The Airflow assets of the product: one per dataset, updated when a partition passes validation.

Imported by DAG files at parse time: only ``airflow.sdk``.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset


def partition_asset(dataset: str) -> Asset:
    """The asset of ``dataset``'s validated partitions; the scoring DAG is scheduled on it."""
    return Asset(name=f"mlops_validated_partition__{dataset}", uri=f"x-mlops://validated-partition/{dataset}", group="mlops")


def partition_event_extra(partition: dict[str, Any], *, run_key: str, run_type: str) -> dict[str, Any]:
    """The extra of the asset event for a validated partition (the ingest step's value ``partition``).

    ``partition`` is the day (``YYYY-MM-DD``) of a daily partition, else None.
    """
    from datetime import datetime, timedelta

    start, end = datetime.fromisoformat(partition["interval_start"]), datetime.fromisoformat(partition["interval_end"])
    daily = end - start == timedelta(days=1) and start.time() == datetime.min.time()
    return {
        "dataset": partition["dataset"],
        "partition": start.date().isoformat() if daily else None,
        "interval_start": partition["interval_start"],
        "interval_end": partition["interval_end"],
        "content_hash": partition["content_hash"],
        "rows": partition["rows"],
        "run_key": run_key,
        "run_type": run_type,
    }
