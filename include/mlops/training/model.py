"""The scikit-learn Pipeline built from a dataset config."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlops.config import DatasetConfig
from mlops.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

MISSING = "__missing__"


def estimator_class(path: str) -> type:
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"model.estimator {path!r} cannot be imported ({e}); use a scikit-learn estimator path") from e


def prepare_features(df: pd.DataFrame, config: DatasetConfig) -> pd.DataFrame:
    """Feature columns with model dtypes: numerics as float64, categoricals as strings (missing → ``__missing__``)."""
    import pandas as pd

    missing = [c for c in config.features if c not in df.columns]
    if missing:
        raise ConfigError(f"dataset {config.name!r}: feature columns {missing} are not in the data (columns: {sorted(df.columns)[:20]})")
    out = pd.DataFrame(index=df.index)
    for col in config.numeric_features:
        out[col] = pd.to_numeric(df[col], errors="coerce").astype("float64")
    for col in config.categorical_features:
        out[col] = df[col].astype("object").where(df[col].notna(), MISSING).astype(str).astype(object)
    return out


def build_pipeline(config: DatasetConfig) -> Pipeline:
    """ColumnTransformer (impute numerics, one-hot categoricals) + the configured estimator, seeded."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    cls = estimator_class(config.model.estimator)
    params: dict[str, Any] = dict(config.model.params)
    try:
        estimator = cls(**params)
    except TypeError as e:
        raise ConfigError(f"model.params do not fit {config.model.estimator}: {e}") from e
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=config.model.seed)
    numeric_steps = [("impute", SimpleImputer(strategy="median"))]
    if not config.model.estimator.startswith("sklearn.ensemble."):
        numeric_steps.append(("scale", StandardScaler()))
    transformers = []
    if config.numeric_features:
        transformers.append(("numeric", Pipeline(numeric_steps), list(config.numeric_features)))
    if config.categorical_features:
        transformers.append((
            "categorical",
            OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=10, sparse_output=False),
            list(config.categorical_features),
        ))
    return Pipeline([("prepare", ColumnTransformer(transformers, verbose_feature_names_out=False)), ("model", estimator)])


def predict_scores(model: Any, X: pd.DataFrame, task: str):
    """P(class 1) for classification (sklearn or pyfunc model), predictions for regression."""
    import numpy as np

    if task == "classification" and hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X))[:, 1]
    return np.asarray(model.predict(X), dtype=float).ravel()
