"""Windows of validated partitions that end at a data interval's end.

Training, evaluation and drift references read their rows only through
``read_window``: it selects the partitions overlapping ``[start, end)`` and drops every
row whose timestamp is at or after ``end``, so no step sees data from after its run's
``data_interval_end`` (this is what keeps backfills honest). With late labels
(``labels.delay_days`` > 0) a window that asks for the target gets labelled rows only
(``mlops.predictions.labels.attach_labels``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mlops.config import DatasetConfig, Settings
from mlops.errors import InsufficientData, LakeError, PartitionQuarantined, SourceDataError, ValidationFailed
from mlops.lake import Lake, describe_quarantine, first_line
from mlops.sources.base import Interval, Source

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


@dataclass
class Window:
    """Rows of a window and the evidence of where they came from."""

    interval: Interval
    frame: pd.DataFrame
    data_hashes: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def data_fingerprint(hashes: dict[str, str]) -> str:
    """Short hash of partition content hashes: the same inputs give the same fingerprint."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(sorted(hashes.items())).encode()).hexdigest()[:16]


def trailing(end: datetime, days: int) -> Interval:
    return Interval(end - timedelta(days=days), end)


def read_window(
    config: DatasetConfig,
    settings: Settings,
    window: Interval,
    *,
    source: Source | None = None,
    columns: list[str] | None = None,
    min_rows: int = 1,
) -> Window:
    """Rows of validated partitions inside ``window`` (never a row at or after ``window.end``).

    With ``source``, days of the window that have no partition yet are ingested and
    validated first (a new deployment trains on its first night). A day that fails
    validation, or whose source data is refused, is quarantined and skipped, and said so in
    ``Window.skipped``. A day already in quarantine (``Lake.quarantine_record``) is skipped
    without reading the source again: every window of every later run would otherwise
    re-ingest and re-quarantine it. Clearing that day's ingest task brings it back.

    Safe beside concurrent runs: a partition that another run moves to quarantine while
    this one reads it is skipped with the reason; one that vanished for another reason is
    looked up once more (and ingested again with ``source``).
    """
    import pandas as pd

    from mlops.predictions.labels import attach_labels

    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    frames, hashes, skipped = [], {}, {}
    wanted = set(columns or config.columns) | {config.timestamp_column}
    # Late labels (labels.delay_days > 0): the target comes from each day's labels; unlabelled rows are left out.
    late_labels = bool(config.labels.delay_days) and config.target in wanted
    for day_start in window.day_starts():
        day = Interval(day_start, day_start + timedelta(days=1))
        for attempt in (1, 2):
            try:
                got = _read_day(config, settings, lake, day, source)
            except PartitionQuarantined as e:
                got = f"in quarantine: {first_line(str(e))}"
            except LakeError:
                if attempt == 1:
                    continue  # vanished between looking and reading, and not quarantined: look again
                raise
            break
        if isinstance(got, str):
            skipped[day.key] = got
            log.warning("window %s: skipping %s: %s", window, day.key, got)
            continue
        info, df, fresh = got
        if late_labels:
            df, labels_hash = attach_labels(config, settings, day, df, fetch_from=source if fresh else None)
            if labels_hash is None:
                skipped[day.key] = "no labels yet"
                continue
            hashes[f"{day.key}.labels"] = labels_hash
        df = df[[c for c in df.columns if c in wanted]]
        ts = df[config.timestamp_column]
        frames.append(df[(ts >= pd.Timestamp(window.start)) & (ts < pd.Timestamp(window.end))])
        hashes[day.key] = info.content_hash
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=sorted(wanted))
    if len(frame) < min_rows:
        raise InsufficientData(
            f"dataset {config.name!r}: window {window} holds {len(frame)} validated rows, expected at least {min_rows}. "
            f"Partitions used: {len(hashes)}; skipped: {skipped or 'none'}. Ingest the missing days (or lower the minimum in the config)."
        )
    return Window(interval=window, frame=frame, data_hashes=hashes, skipped=skipped)


def _read_day(config: DatasetConfig, settings: Settings, lake: Lake, day: Interval, source: Source | None):
    """``(info, rows, ingested now)`` of a validated day, or why the day is skipped (a string)."""
    from mlops.ingest import ingest_interval
    from mlops.validation import validate_partition

    state, found = lake.state(day)
    fresh = False
    if state == "quarantined":
        return f"in quarantine: {first_line(describe_quarantine(config.name, day, found))}"
    if state == "missing":
        if source is None:
            return "no partition"
        try:
            ingest_interval(config, settings, day, source)
        except SourceDataError as e:
            return f"source refused: {first_line(str(e))}"
        state, fresh = "unvalidated", True
    if state == "unvalidated":
        try:
            validate_partition(config, settings, day, build_docs=False)
        except ValidationFailed as e:
            return f"failed validation: {len(e.failed_expectations)} expectations"
    info, df = lake.load(day)
    mark = lake.validation(day)
    if mark is None or mark.get("content_hash") != info.content_hash:
        raise LakeError(
            f"dataset {config.name!r}, partition {day}: rewritten or moved while this run read it, twice in a row; "
            "another run is working on that day. Clear this task once that run is done."
        )
    return info, df, fresh
