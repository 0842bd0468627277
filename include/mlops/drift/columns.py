"""Reading feature columns for the drift tests: values, category counts, suspect columns.

Categorical values are compared as strings; integral floats are written as integers
(``3.0`` -> ``'3'``) so an integer column that gained nulls (and became float) still
matches its reference. Counting goes through ``pandas.factorize`` (or the codes of a
``category`` column), and the labels of the distinct values are built with vectorised
conversions, so a near-unique column of a million strings costs a hash pass, not a
million Python calls. :func:`as_categories` converts the categorical columns of a frame
once, so the drift test and its report count them cheaply.

Suspect columns get a warning (and are left out when ``drift.exclude`` names their kind):

* ``datetime``: a datetime dtype, or strings that read as ISO dates (``2013-01-01 ...``);
  every partition brings values the reference never saw.
* ``id_like``: at least ``ID_LIKE_SHARE`` of the reference's values are distinct.
* ``constant``: a single distinct value in the reference.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

ID_LIKE_SHARE = 0.95
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
_DATE_SAMPLE = 50  # labels checked against _ISO_DATE


def is_datetime(series: pd.Series) -> bool:
    return bool(pd.api.types.is_datetime64_any_dtype(series.dtype) or isinstance(series.dtype, pd.PeriodDtype))


def finite_values(series: pd.Series) -> tuple[np.ndarray, int]:
    """The finite values of a numeric (or datetime) series as float64, and the count of the rest.

    A float64 column is read without a copy when it has no missing values. Datetimes
    become their integer time stamps (any unit: only differences and ranks matter).
    """
    if is_datetime(series):
        if isinstance(series.dtype, pd.PeriodDtype):
            series = series.dt.to_timestamp()
        missing = series.isna().to_numpy()
        stamps = series.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(series.dt, "tz", None) is not None else series
        values = stamps.to_numpy().view(np.int64).astype(np.float64)  # in the column's own unit
        values[missing] = np.nan
    elif series.dtype == np.float64:
        values = series.to_numpy()
    else:
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(values)
    n_bad = values.size - int(np.count_nonzero(finite))
    return (values[finite] if n_bad else values), n_bad


def few_distinct(values: np.ndarray, limit: int) -> np.ndarray | None:
    """The sorted distinct values when there are at most ``limit`` of them, else ``None``.

    A strided sample of a few thousand values rules out most continuous columns at once;
    otherwise every value is checked against the sample's distinct values.
    """
    if values.size == 0:
        return np.empty(0)
    probe = np.unique(values[:: max(1, values.size // 4096)])
    if probe.size > limit:
        return None
    idx = np.minimum(np.searchsorted(probe, values), probe.size - 1)
    unseen = probe[idx] != values
    if not unseen.any():
        return probe
    extra = np.unique(values[unseen])
    if probe.size + extra.size > limit:
        return None
    return np.union1d(probe, extra)


def value_counts(values: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of ``values`` per level of the sorted ``levels``, plus the values not in ``levels`` as new levels.

    Returns ``(levels, counts)`` with the new levels merged in sorted order.
    """
    if levels.size == 0:
        return np.unique(values, return_counts=True)
    idx = np.minimum(np.searchsorted(levels, values), levels.size - 1)
    known = levels[idx] == values
    counts = np.bincount(idx[known], minlength=levels.size)
    if known.all():
        return levels, counts
    new, new_counts = np.unique(values[~known], return_counts=True)
    all_levels = np.concatenate([levels, new])
    order = np.argsort(all_levels, kind="stable")
    return all_levels[order], np.concatenate([counts, new_counts])[order]


def category_counts(series: pd.Series) -> tuple[np.ndarray, np.ndarray, int]:
    """Distinct labels (str, object array), their counts, and the number of nulls."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        uniques: Any = series.cat.categories
    else:
        codes, uniques = pd.factorize(series, use_na_sentinel=True)
    present = codes >= 0
    nulls = int(codes.size - np.count_nonzero(present))
    counts = np.bincount(codes[present] if nulls else codes, minlength=len(uniques)).astype(np.int64)
    labels, exact = _labels(uniques)
    used = counts > 0
    if not used.all():
        labels, counts = labels[used], counts[used]
    if not exact and not pd.Index(labels).is_unique:  # e.g. 1, 1.0 and '1' in one object column
        labels, inverse = np.unique(labels.astype(str), return_inverse=True)
        counts = np.bincount(inverse, weights=counts).round().astype(np.int64)
        labels = labels.astype(object)
    return labels, counts, nulls


def aligned_counts(ref: tuple[np.ndarray, np.ndarray], cur: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The union of two samples' labels with each sample's counts on it.

    The order depends on the labels only (their hashes), not on which sample holds them:
    :func:`mlops.drift.shares.compare_shares` breaks ties with it.
    """
    ref_labels, ref_counts = ref
    cur_labels, cur_counts = cur
    pos = pd.Index(ref_labels).get_indexer(cur_labels)
    new = pos < 0
    labels = np.concatenate([ref_labels, cur_labels[new]]).astype(object)
    r = np.concatenate([ref_counts, np.zeros(int(new.sum()), dtype=np.int64)])
    c = np.zeros(labels.size, dtype=np.int64)
    c[pos[~new]] = cur_counts[~new]
    c[ref_labels.size :] = cur_counts[new]
    order = np.argsort(pd.util.hash_array(labels, categorize=False), kind="stable")  # labels are distinct
    return labels[order], r[order], c[order]


def _labels(uniques: Any) -> tuple[np.ndarray, bool]:
    """String labels of distinct values, and whether they are sure to be distinct too."""
    values = uniques.to_numpy() if isinstance(uniques, (pd.Index, pd.api.extensions.ExtensionArray)) else np.asarray(uniques)
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind in ("string", "empty"):
        return np.asarray(values, dtype=object), True
    if kind in ("integer", "boolean"):
        return np.asarray(values).astype(str).astype(object), True
    if kind == "floating":
        arr = np.asarray(values, dtype=np.float64)
        out = arr.astype(str).astype(object)
        integral = np.isfinite(arr) & (np.abs(arr) < 2.0**53) & (arr == np.round(arr))
        out[integral] = arr[integral].astype(np.int64).astype(str)
        return out, True
    return np.array([_label(v) for v in values], dtype=object), False


def _label(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def looks_like_dates(series: pd.Series, labels: np.ndarray) -> bool:
    """A datetime dtype, or labels that (nearly all, in an even sample) read as ISO dates."""
    if is_datetime(series):
        return True
    if labels.size == 0 or not (pd.api.types.is_string_dtype(series.dtype) or series.dtype == object or isinstance(series.dtype, pd.CategoricalDtype)):
        return False
    sample = labels[:: max(1, labels.size // _DATE_SAMPLE)][:_DATE_SAMPLE]
    hits = sum(bool(_ISO_DATE.match(str(v))) for v in sample)
    return hits >= 0.9 * sample.size


def as_categories(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """A shallow copy of ``frame`` with ``columns`` converted to ``category`` dtype (once).

    Columns that already are categories, and near-unique columns (whose categories would
    cost more than they save), are left as they are.
    """
    out = frame.copy(deep=False)
    for name in columns:
        col = out[name]
        if isinstance(col.dtype, pd.CategoricalDtype) or is_datetime(col):
            continue
        codes, uniques = pd.factorize(col, use_na_sentinel=True)
        if len(uniques) > 0.5 * max(len(col), 1):
            continue
        out[name] = pd.Categorical.from_codes(codes, categories=pd.Index(uniques), validate=False)
    return out
