"""Parquet or CSV files with a timestamp column: a folder, a file, or a glob."""

from __future__ import annotations

import glob
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.errors import SourceError
from mlops.sources.base import Interval, clip_to_interval, to_utc

if TYPE_CHECKING:
    import pandas as pd

SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz")


class FilesSource:
    """Reads every matching file and keeps the rows inside the interval.

    Parameters
    ----------
    path : str
        A folder (all ``*.parquet``/``*.csv`` files below it), a file, or a glob such as
        ``/data/events/*.parquet``. Relative paths resolve against ``base_dir``.
    timestamp_column : str
        Column holding the event time (parsed as UTC; naive values are taken as UTC).
    """

    def __init__(self, *, path: str, timestamp_column: str, base_dir: Path | None = None):
        p = Path(path)
        if not p.is_absolute() and base_dir is not None:
            p = Path(base_dir) / p
        self.pattern = str(p)
        self.timestamp_column = timestamp_column
        self.description = f"files:{self.pattern}"

    def files(self) -> list[Path]:
        p = Path(self.pattern)
        if p.is_dir():
            found = [f for f in sorted(p.rglob("*")) if f.is_file() and f.name.endswith(SUFFIXES)]
        else:
            found = [Path(f) for f in sorted(glob.glob(self.pattern, recursive=True)) if f.endswith(SUFFIXES)]
        if not found:
            raise SourceError(
                f"files source: no Parquet or CSV files match {self.pattern!r}; expected at least one "
                f"file ending in {', '.join(SUFFIXES)}. Check source.options.path in the dataset config."
            )
        return found

    def read(self, interval: Interval) -> pd.DataFrame:
        import pandas as pd

        frames = []
        for f in self.files():
            if f.name.endswith((".parquet", ".pq")):
                df = pd.read_parquet(f)
            else:
                df = pd.read_csv(f)
            if self.timestamp_column not in df.columns:
                raise SourceError(
                    f"files source: {f} has no timestamp column {self.timestamp_column!r}; "
                    f"its columns are {sorted(df.columns)[:20]}. Fix the file or timestamp_column."
                )
            df[self.timestamp_column] = to_utc(df[self.timestamp_column], column=self.timestamp_column, where=str(f))
            frames.append(clip_to_interval(df, self.timestamp_column, interval, where=str(f)))
        return pd.concat(frames, ignore_index=True)
