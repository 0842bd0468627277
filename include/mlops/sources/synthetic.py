"""A synthetic source with controlled drift and data-quality incidents.

Each UTC day is generated from its own seed (``seed`` and the day's ordinal), so a day
always yields the same rows, whatever interval asks for it.

Features (``n_numeric`` numeric ``x0 … xK`` drawn from N(0, 1); ``n_categorical``
categoricals ``c0 … cM`` over ``n_categories`` levels ``a, b, c, …`` with fixed,
unequal base frequencies). The target follows from the features:

* classification: ``y = 1`` with probability ``sigmoid(sum_i w_i x_i + effect(c0))``;
* regression: ``y = sum_i w_i x_i + effect(c0) + N(0, 0.5)``,

with fixed weights ``w_i = 1 / (i + 1)``. Covariate drift therefore also moves the label
distribution the way it would in real data.

``drift`` is a list of injections, each active on days ``start <= day < end`` (``end``
optional): ``{"features": [...], "start": "2024-01-10", "end": null,
"shift": 1.0, "scale": 1.0, "category_mass": 0.0, "concept": false}``:

* ``shift``: numeric features move by this many standard deviations;
* ``scale``: numeric features are multiplied by this factor around their mean;
* ``category_mass``: this share of a categorical feature's values is moved to its last level;
* ``concept``: the sign of the label weights flips (the relation changes, not the inputs).

``id_column`` (default ``row_id``; None for none) names an int64 column that identifies each
row (the day's ordinal times 10,000,000 plus the row's position), for a dataset's
``row_key``; it draws nothing from the generator, so the other columns are the same with or
without it.

``incidents`` inject data-quality failures the validation step must catch:
``{"kind": "nulls" | "missing_column" | "out_of_range", "feature": "x0", "start": …,
"end": …, "fraction": 0.5}``.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from mlops.errors import ConfigError
from mlops.sources.base import Interval, clip_to_interval

if TYPE_CHECKING:
    import pandas as pd

#: Ids of one day's rows lie in ``[ordinal * ROWS_PER_ID_DAY, (ordinal + 1) * ROWS_PER_ID_DAY)``.
ROWS_PER_ID_DAY = 10_000_000


def _day(value: Any) -> date | None:
    if value is None:
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _active(spec: dict, day: date) -> bool:
    start, end = _day(spec.get("start")), _day(spec.get("end"))
    return (start is None or day >= start) and (end is None or day < end)


class SyntheticSource:
    """Deterministic generator; see the module docstring for the model and the injections."""

    def __init__(
        self,
        *,
        timestamp_column: str = "ts",
        target: str = "y",
        task: str = "classification",
        rows_per_day: int = 1000,
        n_numeric: int = 5,
        n_categorical: int = 2,
        n_categories: int = 5,
        seed: int = 0,
        drift: list[dict] | None = None,
        incidents: list[dict] | None = None,
        id_column: str | None = "row_id",
    ):
        if task not in ("classification", "regression"):
            raise ConfigError(f"synthetic source: task must be 'classification' or 'regression', got {task!r}")
        if id_column is not None and id_column in (timestamp_column, target):
            raise ConfigError(f"synthetic source: id_column {id_column!r} clashes with the timestamp or target column")
        if rows_per_day > ROWS_PER_ID_DAY:
            raise ConfigError(f"synthetic source: rows_per_day is at most {ROWS_PER_ID_DAY:,}, got {rows_per_day:,}")
        self.id_column = id_column
        if rows_per_day < 1 or n_numeric < 1 or n_categories < 2:
            raise ConfigError("synthetic source: rows_per_day >= 1, n_numeric >= 1 and n_categories >= 2 are required")
        self.timestamp_column, self.target, self.task = timestamp_column, target, task
        self.rows_per_day, self.n_numeric, self.n_categorical = rows_per_day, n_numeric, n_categorical
        self.n_categories, self.seed = n_categories, seed
        self.drift, self.incidents = list(drift or []), list(incidents or [])
        known = {f"x{i}" for i in range(n_numeric)} | {f"c{j}" for j in range(n_categorical)}
        for spec in [*self.drift, *self.incidents]:
            unknown = sorted(set(spec.get("features", [spec.get("feature")])) - known - {None})
            if unknown:
                raise ConfigError(f"synthetic source: injection names unknown features {unknown}; known: {sorted(known)}")
        self.description = f"synthetic:seed={seed}:rows_per_day={rows_per_day}"

    @property
    def levels(self) -> list[str]:
        return [chr(ord("a") + k) for k in range(self.n_categories)]

    def generate_day(self, day: date) -> pd.DataFrame:
        import numpy as np
        import pandas as pd

        rng = np.random.default_rng([self.seed, day.toordinal()])
        n = self.rows_per_day
        seconds = np.sort(rng.integers(0, 86400, size=n))
        ts = pd.Timestamp(day.isoformat(), tz="UTC") + pd.to_timedelta(seconds, unit="s")
        cols: dict[str, Any] = {self.timestamp_column: ts.astype("datetime64[us, UTC]")}
        if self.id_column:
            cols[self.id_column] = np.arange(n, dtype="int64") + day.toordinal() * ROWS_PER_ID_DAY
        x = rng.standard_normal((n, self.n_numeric))
        base_p = np.arange(self.n_categories, 0, -1, dtype=float)
        base_p /= base_p.sum()
        cats = [rng.choice(self.n_categories, size=n, p=base_p) for _ in range(self.n_categorical)]
        weights = 1.0 / (np.arange(self.n_numeric) + 1.0)
        for spec in self.drift:
            if not _active(spec, day):
                continue
            for feat in spec.get("features", []):
                if feat.startswith("x"):
                    i = int(feat[1:])
                    x[:, i] = x[:, i] * float(spec.get("scale", 1.0)) + float(spec.get("shift", 0.0))
                else:
                    j = int(feat[1:])
                    move = rng.random(n) < float(spec.get("category_mass", 0.0))
                    cats[j] = np.where(move, self.n_categories - 1, cats[j])
            if spec.get("concept"):
                weights = -weights
        effect = (cats[0] - (self.n_categories - 1) / 2) * 0.3 if self.n_categorical else 0.0
        signal = x @ weights + effect
        if self.task == "classification":
            y = (rng.random(n) < 1 / (1 + np.exp(-signal))).astype("int64")
        else:
            y = signal + rng.normal(0, 0.5, size=n)
        for i in range(self.n_numeric):
            cols[f"x{i}"] = x[:, i]
        levels = np.array(self.levels, dtype=object)
        for j in range(self.n_categorical):
            cols[f"c{j}"] = pd.array(levels[cats[j]], dtype="string")
        cols[self.target] = y
        df = pd.DataFrame(cols)
        for spec in self.incidents:
            if not _active(spec, day):
                continue
            feat, kind = spec.get("feature"), spec.get("kind")
            if kind == "missing_column":
                df = df.drop(columns=[feat])
            elif kind == "nulls":
                hit = rng.random(n) < float(spec.get("fraction", 0.5))
                df[feat] = df[feat].mask(hit)
            elif kind == "out_of_range":
                hit = rng.random(n) < float(spec.get("fraction", 0.5))
                df.loc[hit, feat] = float(spec.get("value", 1e6))
            else:
                raise ConfigError(f"synthetic source: unknown incident kind {kind!r}; use nulls, missing_column or out_of_range")
        return df

    def read(self, interval: Interval) -> pd.DataFrame:
        import pandas as pd

        days = [d.date() for d in interval.day_starts()]
        frames = [self.generate_day(d) for d in days]
        df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        if not interval.is_day:
            df = clip_to_interval(df, self.timestamp_column, interval, where=self.description)
        return df
