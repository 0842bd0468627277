"""Shadow days for the soak's tests: two versions score the same rows, the labels arrive later."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from mlops.predictions.store import Unit

NOW = datetime(2024, 3, 20, tzinfo=UTC)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def scored_day(store, name: str, day: date, *, champion: int, challenger: int, challenger_noise: float, rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """Predictions of both versions for the day (stored now) and the day's labels (returned, stored later)."""
    rng = np.random.default_rng(seed + day.toordinal())
    logit = rng.normal(0, 1.5, rows)
    y = (rng.random(rows) < _sigmoid(logit)).astype(float)
    keys = [f"{day}-{i}" for i in range(rows)]
    for version, role, noise in ((champion, "champion", 1.0), (challenger, "shadow", challenger_noise)):
        score = _sigmoid(logit + rng.normal(0, noise, rows))
        frame = pd.DataFrame({"row_key": keys, "prediction": (score > 0.5).astype(float), "score": score})
        store.replace_predictions(Unit("synthetic", day, name, version, role), frame, scored_at=NOW)
    return pd.DataFrame({"row_key": keys, "label": y})


def label(store, day: date, labels: pd.DataFrame) -> None:
    store.replace_labels("synthetic", day, labels, arrived_at=NOW)
