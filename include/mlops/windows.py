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
    #: With a ``RowCap``: what was kept of how many rows (``RowCap.record``); None without a cap.
    sample: dict | None = None


@dataclass(frozen=True)
class RowCap:
    """At most ``max_rows`` rows of a window: a seeded sample, stratified by ``stratify`` (a column) when given.

    Every row of the window draws a uniform key from a generator seeded with ``seed`` and the
    day's ordinal, so the same partitions give the same keys whatever else is read. Within
    each stratum (class) the rows with the smallest keys are kept: a simple random sample
    without replacement. Strata get ``max_rows`` split in proportion to their rows (largest
    remainders; every class present keeps at least one row). Rows are read one partition at a
    time, and after each at most ``max_rows`` rows per stratum are kept, so memory holds one
    partition plus ``max_rows`` rows per class, whatever the window's size.
    """

    max_rows: int
    seed: int
    stratify: str | None = None

    def record(self, window_rows: int, rows: int, strata: dict) -> dict:
        return {
            "max_rows": self.max_rows,
            "window_rows": window_rows,
            "rows": rows,
            "sampled": rows < window_rows,
            "seed": self.seed,
            "stratified_by": self.stratify,
            "method": "per-day seeded uniform keys (numpy PCG64, seed [seed, day ordinal]); smallest keys per stratum, largest-remainder quotas",
            "strata_rows": {str(k): int(v) for k, v in sorted(strata.items(), key=lambda kv: str(kv[0]))},
        }


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
    cap: RowCap | None = None,
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

    Only the wanted columns (``columns``, default the config's, plus the timestamp) are read
    from each partition. With ``cap`` the window holds at most ``cap.max_rows`` rows, a seeded
    (stratified) sample kept while the partitions are read (see ``RowCap``); ``min_rows`` is
    checked against the window's rows before sampling, and ``Window.sample`` says what was kept.
    """
    import pandas as pd

    from mlops.predictions.labels import attach_labels

    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    frames, hashes, skipped = [], {}, {}
    wanted = set(columns or config.columns) | {config.timestamp_column}
    # Late labels (labels.delay_days > 0): the target comes from each day's labels; unlabelled rows are left out.
    late_labels = bool(config.labels.delay_days) and config.target in wanted
    read_columns = sorted(wanted | (set(config.row_key) if late_labels else set()))
    sampler = _Reservoir(cap) if cap is not None else None
    days = [Interval(d, d + timedelta(days=1)) for d in window.day_starts()]
    prepared = _prepare_free_days(config, settings, lake, days, source)
    for day in days:
        for attempt in (1, 2):
            try:
                got = _read_day(config, settings, lake, day, source, read_columns, prepared=prepared.pop(day.key, None))
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
        df = df[(ts >= pd.Timestamp(window.start)) & (ts < pd.Timestamp(window.end))]
        if sampler is not None:
            sampler.add(df, day.start)
        else:
            frames.append(df)
        hashes[day.key] = info.content_hash
    if sampler is not None:
        frame, window_rows = sampler.result(sorted(wanted)), sampler.rows
    else:
        frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=sorted(wanted))
        window_rows = len(frame)
    if window_rows < min_rows:
        raise InsufficientData(
            f"dataset {config.name!r}: window {window} holds {window_rows} validated rows, expected at least {min_rows}. "
            f"Partitions used: {len(hashes)}; skipped: {skipped or 'none'}. Ingest the missing days (or lower the minimum in the config)."
        )
    sample = cap.record(window_rows, len(frame), sampler.strata) if sampler is not None else None
    return Window(interval=window, frame=frame, data_hashes=hashes, skipped=skipped, sample=sample)


_KEY, _ROW = "__mlops_sample_key", "__mlops_sample_row"


class _Reservoir:
    """The rows of a ``RowCap`` sample, kept while partitions arrive (see ``RowCap``)."""

    def __init__(self, cap: RowCap):
        self.cap = cap
        self.rows = 0
        self.strata: dict = {}
        self.kept = None
        #: Per full stratum, the largest key kept: a new row with a larger key can never enter.
        self.thresholds: dict = {}

    def _codes(self, df: pd.DataFrame):
        """``(codes, stratum keys)`` of the rows."""
        import numpy as np
        import pandas as pd

        if self.cap.stratify is None:
            return np.zeros(len(df), dtype=np.int64), [None]
        codes, uniques = pd.factorize(df[self.cap.stratify], use_na_sentinel=False)
        return codes, [_stratum(u) for u in uniques]

    def add(self, df: pd.DataFrame, day_start: datetime) -> None:
        import numpy as np
        import pandas as pd

        n = len(df)
        if not n:
            return
        keys = np.random.default_rng([self.cap.seed, day_start.toordinal()]).random(n)
        rows = np.arange(self.rows, self.rows + n, dtype=np.int64)
        self.rows += n
        codes, strata = self._codes(df)
        for k, count in zip(strata, np.bincount(codes, minlength=len(strata)), strict=True):
            self.strata[k] = self.strata.get(k, 0) + int(count)
        if self.thresholds:
            limit = np.array([self.thresholds.get(k, np.inf) for k in strata])
            entering = keys < limit[codes]
            df, keys, rows = df[entering], keys[entering], rows[entering]
        df = df.assign(**{_KEY: keys, _ROW: rows})
        both = df if self.kept is None else pd.concat([self.kept, df], ignore_index=True)
        self.kept = self._smallest(both, self.cap.max_rows)
        codes, strata = self._codes(self.kept)
        kept_keys = self.kept[_KEY].to_numpy()
        for i, k in enumerate(strata):
            mine = kept_keys[codes == i]
            if len(mine) >= self.cap.max_rows:
                self.thresholds[k] = mine.max()

    def _smallest(self, df: pd.DataFrame, quota) -> pd.DataFrame:
        """Per stratum, the ``quota`` rows with the smallest keys (``quota``: a number, or ``{stratum: number}``)."""
        import numpy as np

        keys = df[_KEY].to_numpy()
        codes, strata = self._codes(df)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(strata) + 1))
        chosen = []
        for i, k in enumerate(strata):
            idx = order[bounds[i] : bounds[i + 1]]
            q = quota if isinstance(quota, int) else quota.get(k, 0)
            if len(idx) > q:
                idx = idx[np.argpartition(keys[idx], q - 1)[:q]] if q > 0 else idx[:0]
            chosen.append(idx)
        picked = np.sort(np.concatenate(chosen)) if chosen else np.arange(0)
        return df if len(picked) == len(df) else df.iloc[picked]

    def quotas(self) -> dict:
        """Rows per stratum: ``max_rows`` in proportion to the strata's rows, largest remainders first."""
        total, cap = self.rows, self.cap.max_rows
        if total <= cap:
            return dict(self.strata)
        order = sorted(self.strata, key=str)
        exact = {k: cap * self.strata[k] / total for k in order}
        out = {k: int(exact[k]) for k in order}
        for k in sorted(order, key=lambda k: (-(exact[k] - out[k]), str(k)))[: cap - sum(out.values())]:
            out[k] += 1
        for k in order:  # a class present in the window keeps at least one row
            if out[k] == 0:
                donor = max(order, key=lambda d: (out[d], str(d)))
                if out[donor] > 1:
                    out[donor] -= 1
                    out[k] = 1
        return out

    def result(self, columns: list[str]) -> pd.DataFrame:
        import pandas as pd

        if self.kept is None:
            return pd.DataFrame(columns=columns)
        kept = self._smallest(self.kept, self.quotas())
        return kept.sort_values(_ROW, kind="mergesort").drop(columns=[_KEY, _ROW]).reset_index(drop=True)


def _stratum(value):
    """A stratum's key: the class value, with every missing value as one key."""
    import pandas as pd

    if pd.isna(value):
        return "<missing>"
    return value.item() if hasattr(value, "item") else value


def _settled(config: DatasetConfig, lake: Lake, day: Interval, source: Source | None) -> tuple[str | bool | None, str]:
    """``(what _prepare_day returns for a day that needs no ingesting or validating now, else None; the day's state)``."""
    state, found = lake.state(day)
    if state == "validated":
        return False, state
    if state == "quarantined":
        return f"in quarantine: {first_line(describe_quarantine(config.name, day, found))}", state
    if state == "missing" and source is None:
        return "no partition", state
    return None, state


def _prepare_day(config: DatasetConfig, settings: Settings, lake: Lake, day: Interval, source: Source | None, *, wait: bool = True):
    """Make ``day`` a validated partition where the window can: ingest it (with ``source``) and validate it.

    Returns why the day is skipped (a string), else whether it was ingested now; None when
    ``wait`` is False and another process is preparing the day. The work happens under the
    day's lock (``Lake.day_lock``) and the day's state is read again once the lock is held,
    so of several runs whose windows need the same day one does the work.
    """
    from mlops.ingest import ingest_interval
    from mlops.validation import validate_partition

    if (settled := _settled(config, lake, day, source)[0]) is not None:
        return settled
    with lake.day_lock(day, wait=wait) as held:
        if not held:
            return None
        settled, state = _settled(config, lake, day, source)
        if settled is not None:
            return settled  # another run's window did it while this one waited
        fresh = state == "missing"
        if fresh:
            try:
                ingest_interval(config, settings, day, source)
            except SourceDataError as e:
                return f"source refused: {first_line(str(e))}"
        try:
            validate_partition(config, settings, day, build_docs=False)
        except ValidationFailed as e:
            return f"failed validation: {len(e.failed_expectations)} expectations"
        return fresh


def _prepare_free_days(config: DatasetConfig, settings: Settings, lake: Lake, days: list[Interval], source: Source | None) -> dict:
    """``_prepare_day`` of each day no other process is preparing, by day key; the others are left to the read.

    Runs that start together (a backfill's first days) need the same unseen days in the same
    order: each takes the days nobody holds, and the read that follows waits only for the
    days another run took, by then mostly done.
    """
    done = {}
    for day in days:
        try:
            got = _prepare_day(config, settings, lake, day, source, wait=False)
        except LakeError:
            continue  # moved to quarantine or rewritten by another run meanwhile: the read looks again, with its retry
        if got is not None:
            done[day.key] = got
    return done


def _read_day(config: DatasetConfig, settings: Settings, lake: Lake, day: Interval, source: Source | None, columns: list[str] | None = None, *, prepared=None):
    """``(info, rows, ingested now)`` of a validated day, or why the day is skipped (a string).

    ``prepared``: what ``_prepare_day`` returned for the day earlier in this read, if it did.
    """
    got = _prepare_day(config, settings, lake, day, source) if prepared is None else prepared
    if isinstance(got, str):
        return got
    info, df = lake.load(day, columns)
    mark = lake.validation(day)
    if mark is None or mark.get("content_hash") != info.content_hash:
        raise LakeError(
            f"dataset {config.name!r}, partition {day}: rewritten or moved while this run read it, twice in a row; "
            "another run is working on that day. Clear this task once that run is done."
        )
    return info, df, got
