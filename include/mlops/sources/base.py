"""The contract every source honours, and helpers they share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from mlops.errors import ConfigError, SourceDataError

if TYPE_CHECKING:
    import pandas as pd

#: ``DataFrame.attrs`` key under which a source may say where a read's rows came from
#: (stored with the partition by the ingest step, named in validation failures).
PROVENANCE = "mlops_provenance"


@dataclass(frozen=True)
class Interval:
    """A half-open data interval ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            object.__setattr__(self, name, _plain_utc(getattr(self, name)))
        if self.end <= self.start:
            raise ConfigError(
                f"data interval [{self.start.isoformat()}, {self.end.isoformat()}) is empty; expected end after start. "
                "Use a schedule with data intervals (e.g. CronDataIntervalTimetable) or pass both bounds."
            )

    @classmethod
    def parse(cls, start: str | datetime, end: str | datetime) -> Interval:
        return cls(_as_datetime(start), _as_datetime(end))

    @classmethod
    def days(cls, first: date, count: int = 1) -> Interval:
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        return cls(start, start + timedelta(days=count))

    @property
    def is_day(self) -> bool:
        return self.end - self.start == timedelta(days=1) and self.start.time() == datetime.min.time()

    @property
    def key(self) -> str:
        """Partition key: ``ds=2013-03-01`` for one UTC day, ``from=…_to=…`` otherwise."""
        if self.is_day:
            return f"ds={self.start.date().isoformat()}"
        fmt = "%Y-%m-%dT%H%M%S"
        return f"from={self.start.strftime(fmt)}_to={self.end.strftime(fmt)}"

    def day_starts(self) -> list[datetime]:
        """Midnights (UTC) of every day the interval touches."""
        first = datetime(self.start.year, self.start.month, self.start.day, tzinfo=UTC)
        out, day = [], first
        while day < self.end:
            out.append(day)
            day += timedelta(days=1)
        return out

    def __str__(self) -> str:
        return self.key if self.is_day else f"[{self.start.isoformat()}, {self.end.isoformat()})"


def _plain_utc(value: datetime) -> datetime:
    """A stdlib ``datetime`` in UTC (naive values are taken as UTC).

    Subclasses such as pendulum's ``DateTime`` (what Airflow passes in the context) can
    drop their zone in arithmetic, so intervals always hold plain datetimes.
    """
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, tzinfo=UTC)


def _as_datetime(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class Source(Protocol):
    """Reads the rows whose timestamp lies in a data interval."""

    #: A short description recorded with each partition (no secrets).
    description: str

    def read(self, interval: Interval) -> pd.DataFrame:
        """Rows with ``interval.start <= timestamp < interval.end``; the timestamp column as UTC datetimes."""
        ...


def to_utc(series: pd.Series, *, column: str, where: str) -> pd.Series:
    """Parse a timestamp column to timezone-aware UTC, naming the column and source on failure."""
    import pandas as pd

    try:
        parsed = pd.to_datetime(series, utc=True)
    except (ValueError, TypeError) as e:
        raise SourceDataError(
            f"{where}: timestamp column {column!r} could not be parsed as datetimes ({e}); "
            "expected ISO-8601 strings or datetime values. Fix the data or set timestamp_column in the dataset config."
        ) from e
    return parsed.astype("datetime64[us, UTC]")


def clip_to_interval(df: pd.DataFrame, column: str, interval: Interval, *, where: str) -> pd.DataFrame:
    """Keep rows inside the interval; fail if the timestamp column is missing."""
    import pandas as pd

    if column not in df.columns:
        raise SourceDataError(
            f"{where}: timestamp column {column!r} not found; columns are {sorted(df.columns)[:20]}. Set timestamp_column in the dataset config to one of them."
        )
    df = df.copy()
    df[column] = to_utc(df[column], column=column, where=where)
    lo, hi = pd.Timestamp(interval.start), pd.Timestamp(interval.end)
    mask = (df[column] >= lo) & (df[column] < hi)
    return df.loc[mask].reset_index(drop=True)
