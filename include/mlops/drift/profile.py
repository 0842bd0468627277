"""A drift reference profiled once: what ``detect_drift`` needs of the reference, without the reference.

The reference of the nightly drift step is the champion's training window, the same every
night until the champion or the window's partitions change. :func:`build_profile` reads it
once and keeps, per feature, exactly the quantities ``detect_drift`` derives from it:

* numeric: the row and null counts; the distinct values and their counts when there are at
  most ``discrete_max_values`` (compared as categories); else the finite values **sorted**
  (memory-mapped from disk, only the few bins walked point by point are read), their counts
  and sums of offsets on a grid of the reference's own range, the robust scale and the
  noise integral from the same strided sample as ``detect_drift``; a sample for the
  report's histogram;
* categorical: the labels and their counts, the null count, the suspect-column findings.

:func:`compare_with_profile` then computes each verdict from the profile and the current
partition only. The statistics are exact either way (the KS statistic to the integer, the
Wasserstein distance to floating-point rounding; the grid only decides which bins are
walked point by point), so the verdicts equal ``detect_drift``'s on the same frames
(``tests/unit/drift/test_profile.py`` compares them).

:func:`save_profile` / :func:`load_profile` store a profile as a folder (``profile.json`` and
``numeric.npy``); ``mlops.monitor`` keys it by the champion version and the content hashes
of the reference partitions, so a new champion or a rewritten partition gets a new profile.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops.config import DriftConfig
from mlops.drift.columns import ID_LIKE_SHARE, aligned_counts, category_counts, few_distinct, finite_values, is_datetime, looks_like_dates, value_counts
from mlops.drift.distance import _SORT_BELOW, Side, Workspace, reference_side, wasserstein_ks, wasserstein_ks_side
from mlops.drift.shares import compare_shares
from mlops.drift.stats import (
    _SCALE_SAMPLE,
    DriftResult,
    FeatureDrift,
    _check_inputs,
    _continuous_verdict,
    _guard,
    _missing_check,
    _shares_result,
    _shown,
)
from mlops.errors import ConfigError

#: Bumped whenever what a profile holds changes: older profiles are built again.
PROFILE_FORMAT = 1
PLOT_VALUES = 50_000  # as mlops.drift.report.MAX_PLOT_VALUES


@dataclass
class NumericProfile:
    name: str
    rows: int
    nulls: int
    datetime: bool
    levels: np.ndarray | None = None  # at most discrete_max_values distinct values: compared as categories
    level_counts: np.ndarray | None = None
    sorted_values: np.ndarray | None = None  # continuous: the finite values, ascending
    scale_sample: np.ndarray | None = None  # the strided sample detect_drift takes (in the reference's order)
    plot_sample: np.ndarray | None = None
    side: Side | None = None

    @property
    def n(self) -> int:
        return self.rows - self.nulls


@dataclass
class CategoricalProfile:
    name: str
    rows: int
    nulls: int
    labels: np.ndarray
    counts: np.ndarray
    looks_like_dates: bool


@dataclass
class ReferenceProfile:
    """Everything the drift test reads of a reference frame (see the module docstring)."""

    rows: int
    numeric: dict[str, NumericProfile] = field(default_factory=dict)
    categorical: dict[str, CategoricalProfile] = field(default_factory=dict)
    discrete_max_values: int = 10
    meta: dict[str, Any] = field(default_factory=dict)


def build_profile(
    reference: pd.DataFrame, *, numeric: list[str], categorical: list[str], config: DriftConfig, expected_current: int | None = None
) -> ReferenceProfile:
    """Profile ``reference`` for :func:`compare_with_profile` (the same checks of the inputs as ``detect_drift``)."""
    _check_inputs(reference, reference, numeric, categorical)
    out = ReferenceProfile(rows=len(reference), discrete_max_values=config.discrete_max_values)
    for name in numeric:
        col = reference[name]
        x, nulls = finite_values(col)
        prof = NumericProfile(name=name, rows=len(col), nulls=nulls, datetime=is_datetime(col))
        levels = few_distinct(x, config.discrete_max_values)
        if levels is not None:
            prof.levels = levels
            prof.level_counts = value_counts(x, levels)[1] if levels.size else np.zeros(0, dtype=np.int64)
        elif x.size:
            prof.scale_sample = np.array(x[:: max(1, x.size // _SCALE_SAMPLE)], dtype=np.float64)
            prof.plot_sample = np.array(x[:: max(1, math.ceil(x.size / PLOT_VALUES))], dtype=np.float64)
            prof.sorted_values = np.sort(x)
            prof.side = reference_side(prof.sorted_values, expected_current=expected_current)
        out.numeric[name] = prof
    for name in categorical:
        col = reference[name]
        labels, counts, nulls = category_counts(col)
        out.categorical[name] = CategoricalProfile(
            name=name,
            rows=len(col),
            nulls=nulls,
            labels=labels,
            counts=counts,
            looks_like_dates=looks_like_dates(col, labels),
        )
    return out


def compare_with_profile(profile: ReferenceProfile, current: pd.DataFrame, *, numeric: list[str], categorical: list[str], config: DriftConfig) -> DriftResult:
    """``detect_drift(reference, current, ...)`` computed from ``build_profile(reference, ...)``: the same verdicts."""
    _check_inputs(current, current, numeric, categorical)
    missing = [f for f in numeric if f not in profile.numeric] + [f for f in categorical if f not in profile.categorical]
    if missing or config.discrete_max_values != profile.discrete_max_values:
        raise ConfigError(
            f"drift: the reference profile does not fit this comparison (features not profiled: {missing}; "
            f"discrete_max_values {profile.discrete_max_values} profiled, {config.discrete_max_values} asked); build it again."
        )
    work = Workspace()
    results = [_numeric(profile.numeric[name], current[name], config, work) for name in numeric]
    results += [_categorical(profile.categorical[name], current[name], config) for name in categorical]
    return DriftResult(features=results, n_reference=profile.rows, n_current=len(current), dataset_drift_share=config.dataset_drift_share)


def _numeric(prof: NumericProfile, cur: pd.Series, config: DriftConfig, work: Workspace) -> FeatureDrift:
    y, nulls_y = finite_values(cur)
    common: dict[str, Any] = dict(
        feature=prof.name,
        kind="numeric",
        threshold=config.numeric_distance_threshold,
        n_reference=prof.n,
        n_current=int(y.size),
        nulls_reference=prof.nulls,
        nulls_current=nulls_y,
        alpha=config.p_value,
        warnings=[],
        **_missing_check((prof.nulls, nulls_y), (prof.rows, len(cur)), config),
    )
    suspects = []
    if prof.datetime or is_datetime(cur):
        suspects.append(("datetime", "has a datetime dtype; every partition covers a later time span, so its values always look shifted"))
    levels = prof.levels
    if levels is not None and levels.size == 1:
        suspects.append(("constant", f"has a single value in the reference ({_shown(levels[0])}); any other value in the current data counts as drift"))
    guarded = _guard(common, suspects, config)
    if guarded is not None:
        return guarded
    if levels is not None:
        all_levels, cur_counts = value_counts(y, levels)
        ref_on_all = np.zeros(all_levels.size, dtype=np.int64)
        ref_on_all[np.searchsorted(all_levels, levels)] = prof.level_counts
        cmp = compare_shares(ref_on_all, cur_counts)
        note = f"{levels.size} distinct value{'s' if levels.size > 1 else ''} in the reference (drift.discrete_max_values is {config.discrete_max_values}): compared as categories"
        return _shares_result(common, cmp, config.categorical_distance_threshold, config.p_value, note)
    x, sample = prof.sorted_values, prof.scale_sample
    top = max(abs(float(x[0])), abs(float(x[-1])), abs(float(y.min())), abs(float(y.max())))
    if top != 0.0 and not 2.0**-512 <= top <= 2.0**512:
        # extreme magnitudes: both sides times the same power of two, as detect_drift does (exact)
        exponent = math.frexp(top)[1]
        x, y, sample = np.ldexp(np.asarray(x), -exponent), np.ldexp(y, -exponent), np.ldexp(sample, -exponent)
        wd = wasserstein_ks(x, y, work=work)
    else:
        wd = None
        if prof.side is not None and x.size + y.size >= _SORT_BELOW:
            wd = wasserstein_ks_side(prof.side, y, work=work)
        if wd is None:  # small samples or a grid that cannot hold y: the plain exact path
            wd = wasserstein_ks(np.asarray(x), y, work=work)
    return _continuous_verdict(common, x, y, wd, np.sort(sample), config)


def _categorical(prof: CategoricalProfile, cur: pd.Series, config: DriftConfig) -> FeatureDrift:
    nulls_y = int(cur.isna().sum())
    n_x, n_y = int(prof.counts.sum()), len(cur) - nulls_y
    common: dict[str, Any] = dict(
        feature=prof.name,
        kind="categorical",
        threshold=config.categorical_distance_threshold,
        n_reference=n_x,
        n_current=n_y,
        nulls_reference=prof.nulls,
        nulls_current=nulls_y,
        alpha=config.p_value,
        warnings=[],
        **_missing_check((prof.nulls, nulls_y), (prof.rows, len(cur)), config),
    )
    suspects = []
    if prof.looks_like_dates or is_datetime(cur):
        example = str(prof.labels[0]) if prof.labels.size else "no reference value"
        suspects.append(("datetime", f"holds dates or times (e.g. '{example[:40]}'); every partition brings values the reference never saw"))
    if prof.labels.size >= ID_LIKE_SHARE * n_x and n_x >= config.min_values:
        suspects.append(
            (
                "id_like",
                f"looks like an identifier: {prof.labels.size:,} distinct values in {n_x:,} reference values; shares of near-unique values cannot be compared",
            )
        )
    if prof.labels.size == 1:
        suspects.append(
            ("constant", f"has a single value in the reference ('{str(prof.labels[0])[:40]}'); any other value in the current data counts as drift")
        )
    guarded = _guard(common, suspects, config)
    if guarded is not None:
        return guarded
    cur_labels, cur_counts, _ = category_counts(cur)
    _, r, c = aligned_counts((prof.labels, prof.counts), (cur_labels, cur_counts))
    return _shares_result(common, compare_shares(r, c), config.categorical_distance_threshold, config.p_value, "")


# --------------------------------------------------------------------------- report


def reference_values(reference: pd.DataFrame | ReferenceProfile, name: str) -> np.ndarray:
    """The reference's finite values of a numeric feature for a histogram (a strided sample from a profile)."""
    if isinstance(reference, ReferenceProfile):
        prof = reference.numeric[name]
        if prof.plot_sample is not None:
            return prof.plot_sample
        return np.repeat(prof.levels, np.minimum(prof.level_counts, PLOT_VALUES)) if prof.levels is not None else np.empty(0)
    return finite_values(reference[name])[0]


def reference_counts(reference: pd.DataFrame | ReferenceProfile, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Labels and counts of a categorical feature in the reference."""
    if isinstance(reference, ReferenceProfile):
        if name in reference.numeric:  # a few-valued numeric feature, compared as categories
            prof = reference.numeric[name]
            levels = prof.levels if prof.levels is not None else np.empty(0)
            counts = prof.level_counts if prof.level_counts is not None else np.zeros(0, dtype=np.int64)
            return category_counts(pd.Series(levels))[0], counts
        prof = reference.categorical[name]
        return prof.labels, prof.counts
    labels, counts, _ = category_counts(reference[name])
    return labels, counts


# --------------------------------------------------------------------------- storage


def save_profile(profile: ReferenceProfile, folder: Path) -> None:
    """Write ``profile`` into ``folder``: written aside, then renamed into place.

    A folder of the same key already stored by a concurrent run holds the same profile and is
    kept; a folder without its ``profile.json`` (damaged) is replaced.
    """
    import os
    import shutil
    import tempfile

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        chunks, offset, numeric = [], 0, {}
        grids: list[np.ndarray] = []
        grid_offset = 0
        arrays: dict[str, np.ndarray] = {}
        for name, p in profile.numeric.items():
            entry: dict[str, Any] = {"rows": p.rows, "nulls": p.nulls, "datetime": p.datetime}
            if p.levels is not None:
                entry |= {"levels": p.levels.tolist(), "level_counts": p.level_counts.tolist()}
            elif p.sorted_values is not None:
                entry |= {"offset": offset, "size": int(p.sorted_values.size)}
                chunks.append(p.sorted_values)
                offset += p.sorted_values.size
                arrays[f"{name}/scale_sample"] = p.scale_sample
                arrays[f"{name}/plot_sample"] = p.plot_sample
                if p.side is not None:
                    entry |= {"grid": [p.side.lo, p.side.inv, p.side.bins], "grid_offset": grid_offset}
                    grids.append(np.stack([p.side.counts.astype(np.float64), p.side.sums]))
                    grid_offset += p.side.counts.size
            numeric[name] = entry
        categorical = {
            name: {"rows": p.rows, "nulls": p.nulls, "labels": [str(v) for v in p.labels], "counts": p.counts.tolist(), "looks_like_dates": p.looks_like_dates}
            for name, p in profile.categorical.items()
        }
        np.save(tmp / "numeric.npy", np.concatenate(chunks) if chunks else np.empty(0))
        np.save(tmp / "grids.npy", np.concatenate(grids, axis=1) if grids else np.empty((2, 0)))
        np.savez(tmp / "arrays.npz", **{k.replace("/", "__"): v for k, v in arrays.items()})
        doc = {
            "format": PROFILE_FORMAT,
            "rows": profile.rows,
            "discrete_max_values": profile.discrete_max_values,
            "numeric": numeric,
            "categorical": categorical,
            "meta": profile.meta,
        }
        (tmp / "profile.json").write_text(json.dumps(doc, default=str))
        try:
            os.replace(tmp, folder)  # atomic; fails when the folder exists
        except OSError:
            if not (folder / "profile.json").is_file():
                shutil.rmtree(folder, ignore_errors=True)  # a damaged or partial folder
                os.replace(tmp, folder)
            # else: a concurrent run stored the profile of the same key (the same content) first: keep it
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_profile(folder: Path) -> ReferenceProfile | None:
    """The profile stored in ``folder``; None when there is none (or of an older format, or damaged)."""
    folder = Path(folder)
    try:
        doc = json.loads((folder / "profile.json").read_text())
        if doc.get("format") != PROFILE_FORMAT:
            return None
        values = np.load(folder / "numeric.npy", mmap_mode="r")
        grids = np.load(folder / "grids.npy", mmap_mode="r")
        with np.load(folder / "arrays.npz") as z:
            arrays = {k.replace("__", "/"): z[k] for k in z.files}
    except (OSError, ValueError, KeyError):
        return None
    out = ReferenceProfile(rows=doc["rows"], discrete_max_values=doc["discrete_max_values"], meta=doc.get("meta") or {})
    for name, e in doc["numeric"].items():
        p = NumericProfile(name=name, rows=e["rows"], nulls=e["nulls"], datetime=e["datetime"])
        if "levels" in e:
            p.levels = np.asarray(e["levels"], dtype=np.float64)
            p.level_counts = np.asarray(e["level_counts"], dtype=np.int64)
        elif "offset" in e:
            p.sorted_values = values[e["offset"] : e["offset"] + e["size"]]
            p.scale_sample = arrays[f"{name}/scale_sample"]
            p.plot_sample = arrays[f"{name}/plot_sample"]
            if "grid" in e:
                nb, at = e["grid"][2] + 2, e["grid_offset"]
                p.side = Side.stored(p.sorted_values, *e["grid"], counts=grids[0, at : at + nb].astype(np.int64), sums=grids[1, at : at + nb])
        out.numeric[name] = p
    for name, e in doc["categorical"].items():
        out.categorical[name] = CategoricalProfile(
            name=name,
            rows=e["rows"],
            nulls=e["nulls"],
            labels=np.asarray(e["labels"], dtype=object),
            counts=np.asarray(e["counts"], dtype=np.int64),
            looks_like_dates=e["looks_like_dates"],
        )
    return out
