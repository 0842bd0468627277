"""Row keys: the dataset's ``row_key`` columns as one string per row, stable across files and sources.

The key is what joins a prediction to the label that arrives days later, so the same row must
give the same key whether it was read from a lake partition, a labels file or a SQL query:
timestamps become UTC ISO strings (``2013-01-01T05:00:00``), integral numbers lose any
``.0``, columns are joined with ``|``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops.errors import MlopsError

if TYPE_CHECKING:
    import pandas as pd

SEPARATOR = "|"


def _as_text(series: pd.Series) -> pd.Series:
    from pandas.api import types

    if types.is_datetime64_any_dtype(series):
        s = series.dt.tz_convert("UTC") if series.dt.tz is not None else series.dt.tz_localize("UTC")
        return s.dt.strftime("%Y-%m-%dT%H:%M:%S")
    if types.is_bool_dtype(series):
        return series.astype("int64").astype(str)
    if types.is_integer_dtype(series):
        return series.astype("int64").astype(str)
    if types.is_float_dtype(series):
        integral = (series % 1 == 0).all()
        return series.astype("int64").astype(str) if integral else series.map(repr)
    return series.astype(str)


def row_keys(frame: pd.DataFrame, columns: list[str], *, where: str, error: type[MlopsError] = MlopsError) -> pd.Series:
    """One key string per row of ``frame`` (same index); raises ``error`` naming missing columns or null keys.

    Parameters
    ----------
    where : str
        Names the data in messages, e.g. ``"dataset 'flights', partition ds=2013-03-01"``.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise error(
            f"{where}: row_key columns {missing} are missing; found columns {sorted(map(str, frame.columns))[:30]}. "
            "Fix row_key in the dataset config or the data."
        )
    nulls = {c: int(n) for c, n in frame[columns].isna().sum().items() if n}
    if nulls:
        raise error(f"{where}: row_key columns hold nulls ({', '.join(f'{c}: {n} of {len(frame)} rows' for c, n in nulls.items())}); every row needs a key.")
    parts = [_as_text(frame[c]) for c in columns]
    keys = parts[0] if len(parts) == 1 else parts[0].str.cat(parts[1:], sep=SEPARATOR)
    return keys.astype(object)


def duplicate_count(keys: pd.Series) -> tuple[int, list[str]]:
    """How many rows repeat an earlier key, and a few of those keys."""
    dupes = keys[keys.duplicated()]
    return len(dupes), sorted(set(dupes.head(50)))[:5]
