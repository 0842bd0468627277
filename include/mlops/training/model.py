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
    """The class named by ``model.estimator``; ``ConfigError`` with the closest names when it is not there."""
    from mlops.configfile import did_you_mean

    module_name, _, name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(
            f"model.estimator {path!r}: module {module_name!r} cannot be imported ({e}); "
            "use a scikit-learn estimator path like 'sklearn.linear_model.LogisticRegression'"
        ) from e
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        public = [n for n in getattr(module, "__all__", dir(module)) if isinstance(getattr(module, n, None), type)]
        raise ConfigError(
            f"model.estimator {path!r}: {module_name} has no class {name!r}{did_you_mean(name, public)}; it offers {', '.join(sorted(public)[:40])}"
        )
    return cls


def check_estimator(config: DatasetConfig) -> type:
    """Import ``model.estimator`` and check it fits the task and accepts ``model.params`` (before any data is read).

    Raises ``ConfigError`` naming the estimator, the valid choices and what to change.
    """
    from sklearn.base import BaseEstimator, is_classifier, is_regressor

    from mlops.configfile import did_you_mean

    path = config.model.estimator
    cls = estimator_class(path)
    if not issubclass(cls, BaseEstimator):
        raise ConfigError(f"model.estimator {path!r} is not a scikit-learn estimator (no BaseEstimator); use an estimator class")
    accepted = cls._get_param_names()
    unknown = [k for k in config.model.params if k not in accepted]
    if unknown:
        raise ConfigError(
            f"model.params of {path}: {', '.join(repr(k) + did_you_mean(k, accepted) for k in unknown)} "
            f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'}; it accepts {', '.join(accepted)}"
        )
    try:
        estimator = cls(**config.model.params)
        # scikit-learn checks parameter values against its declared constraints at fit; do it now, before any data is read.
        getattr(estimator, "_validate_params", lambda: None)()
    except (TypeError, ValueError) as e:
        raise ConfigError(f"model.params do not fit {path}: {e}") from e
    fits = is_classifier(estimator) if config.task == "classification" else is_regressor(estimator)
    if not fits:
        kind = "classifier" if config.task == "classification" else "regressor"
        raise ConfigError(f"model.estimator {path!r} is not a {kind}, and the dataset's task is {config.task}; choose a {kind}")
    return cls


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

    cls = check_estimator(config)
    params: dict[str, Any] = dict(config.model.params)
    estimator = cls(**params)
    if "random_state" in estimator.get_params():
        estimator.set_params(random_state=config.model.seed)
    numeric_steps = [("impute", SimpleImputer(strategy="median"))]
    if not config.model.estimator.startswith("sklearn.ensemble."):
        numeric_steps.append(("scale", StandardScaler()))
    transformers = []
    if config.numeric_features:
        transformers.append(("numeric", Pipeline(numeric_steps), list(config.numeric_features)))
    if config.categorical_features:
        transformers.append(
            (
                "categorical",
                OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=10, sparse_output=False),
                list(config.categorical_features),
            )
        )
    return Pipeline([("prepare", ColumnTransformer(transformers, verbose_feature_names_out=False)), ("model", estimator)])


def predict_scores(model: Any, X: pd.DataFrame, task: str):
    """P(class 1) for classification (sklearn or pyfunc model), predictions for regression."""
    import numpy as np

    if task == "classification" and hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X))[:, 1]
    return np.asarray(model.predict(X), dtype=float).ravel()
