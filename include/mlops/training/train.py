"""The train step: fit the configured Pipeline on a window that ends at ``data_interval_end``."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from datetime import datetime, timedelta

from mlops import schema
from mlops.config import DatasetConfig, Settings
from mlops.errors import ConfigError, InsufficientData
from mlops.predictions.labels import labelled_end
from mlops.sources.base import Interval, Source
from mlops.training.metrics import CLASSIFICATION, TWO_CLASS_METRICS, compute_metrics
from mlops.training.model import build_pipeline, predict_scores, prepare_features
from mlops.windows import RowCap, data_fingerprint, read_window

log = logging.getLogger(__name__)

#: Namespaces whose types may be trusted in a model file the pipeline wrote itself.
TRUSTED_NAMESPACES = ("sklearn.", "numpy.", "scipy.")


def skops_trusted_types(model) -> list[str]:
    """Types of ``model`` that skops does not trust by default; all must come from scikit-learn, NumPy or SciPy."""
    import skops.io as sio

    untrusted = sorted(sio.get_untrusted_types(data=sio.dumps(model)))
    foreign = [t for t in untrusted if not t.startswith(TRUSTED_NAMESPACES)]
    if foreign:
        raise ConfigError(
            f"the model holds types outside scikit-learn/NumPy/SciPy: {foreign}; the pipeline only logs models "
            "whose every type it can vouch for. Use a scikit-learn estimator in the dataset config."
        )
    return untrusted


def experiment_name(config: DatasetConfig) -> str:
    return f"mlops/{config.name}"


def split_windows(end: datetime, window_days: int, holdout_days: int) -> tuple[Interval, Interval]:
    """``(train, holdout)``: the last ``holdout_days`` before ``end`` are held out; both end by ``end``."""
    holdout_start = end - timedelta(days=holdout_days)
    return Interval(end - timedelta(days=window_days), holdout_start), Interval(holdout_start, end)


def check_holdout_classes(config: DatasetConfig, holdout_df, holdout: Interval) -> None:
    """Refuse a classification holdout with a single class when a metric the config needs is undefined on it.

    roc_auc needs both classes; when it is the primary metric or has a floor, a one-class
    holdout could neither rank the challenger nor pass the gates.
    """
    if config.task != "classification":
        return
    needed = [m for m in TWO_CLASS_METRICS if m == config.training.primary_metric or m in config.training.metric_floors]
    counts = holdout_df[config.target].value_counts().to_dict()
    if not needed or len(counts) >= 2:
        return
    found = ", ".join(f"{k!r}: {v} rows" for k, v in sorted(counts.items(), key=str)) or "no rows"
    roles = [
        role
        for role, on in (("the primary metric", needed[0] == config.training.primary_metric), ("a metric floor", needed[0] in config.training.metric_floors))
        if on
    ]
    others = ", ".join(m for m in CLASSIFICATION if m not in TWO_CLASS_METRICS)
    raise InsufficientData(
        f"dataset {config.name!r}: the holdout window [{holdout.start.date()}, {holdout.end.date()}) holds a single class of "
        f"{config.target!r} ({found}); {needed[0]} ({' and '.join(roles)}) is undefined on one class, so the challenger could not be "
        f"scored. Widen training.holdout_days (or the trigger form's holdout_days), or rank by a metric defined on one class ({others})."
    )


def training_cap(config: DatasetConfig) -> RowCap | None:
    """The bound on the rows the train step fits on (``training.max_rows``), or None."""
    if config.training.max_rows is None:
        return None
    stratify = config.target if config.task == "classification" else None
    return RowCap(max_rows=config.training.max_rows, seed=config.model.seed, stratify=stratify)


def sample_record(window) -> dict | None:
    """What ``training.max_rows`` kept of the training window, with the hash of the rows fitted on; None without a cap."""
    if window.sample is None:
        return None
    from mlops.lake import content_hash

    return {**window.sample, "sample_hash": content_hash(window.frame)}


#: Rows the schema of a logged dataset input is inferred from (see ``logged_dataset``).
SCHEMA_ROWS = 1000


def logged_dataset(frame, name: str, target: str, source: str, digest: str):
    """An MLflow dataset input for ``frame``: its digest given (partition hashes), its schema read from its first rows.

    MLflow infers a dataset's schema by visiting every value of every text column in Python
    (a 3M-row holdout took most of a minute) and hashes it again for the digest. The rows come
    from validated partitions, whose suite checked every value's type, so the first
    ``SCHEMA_ROWS`` rows give the same schema; the digest is the hash of the partitions (or of
    the sample) the rows came from. Rows and elements are counted on the whole frame.
    """
    from functools import cached_property

    from mlflow.data.pandas_dataset import PandasDataset
    from mlflow.models import infer_signature

    class _Validated(PandasDataset):
        @cached_property
        def schema(self):
            return infer_signature(self.df.head(SCHEMA_ROWS)).inputs

    return _Validated(frame, source=_dataset_source(source), targets=target, name=name, digest=digest)


def _dataset_source(uri: str):
    from mlflow.data.dataset_source_registry import resolve_dataset_source

    return resolve_dataset_source(uri)


def fit(config: DatasetConfig, train_df, holdout_df):
    """Fit on ``train_df`` (rows sorted deterministically) and score ``holdout_df``; pure, no MLflow."""
    if train_df[config.target].nunique() < 2 and config.task == "classification":
        raise InsufficientData(
            f"dataset {config.name!r}: the training window holds a single class of {config.target!r}; expected both classes. Widen training.window_days."
        )
    pipe = build_pipeline(config)
    pipe.fit(prepare_features(train_df, config), train_df[config.target].to_numpy())
    scores = predict_scores(pipe, prepare_features(holdout_df, config), config.task)
    return pipe, compute_metrics(config.task, holdout_df[config.target].to_numpy(), scores)


def train_model(
    config: DatasetConfig,
    settings: Settings,
    *,
    end: datetime,
    run_key: str,
    lineage: dict[str, str] | None = None,
    window_days: int | None = None,
    holdout_days: int | None = None,
    source: Source | None = None,
) -> dict:
    """Train, evaluate on the holdout, and log everything to MLflow.

    Idempotent: a finished run with the same ``run_key`` and the same input fingerprint
    (data hashes, config, code version, window) is returned instead of training again. Runs of
    the same ``run_key`` that an earlier attempt left unfinished (killed) are closed first
    (``tracking.close_abandoned_runs``), so a retry leaves one finished run and no run
    ``RUNNING`` or model ``PENDING`` behind.

    Returns the train step's contract value
    ``{run_id, experiment_id, model_uri, model_id, metrics, training_window, holdout_window, data_hashes, input_fingerprint, reused}``.
    """
    import mlflow

    from mlops import tracking
    from mlops.lake import path_to_uri

    window_days, holdout_days = config.training.windows(window_days, holdout_days)
    end = labelled_end(config, settings, end)  # late labels: the window ends at the last labelled day
    train_iv, holdout_iv = split_windows(end, window_days, holdout_days)
    train_w = read_window(config, settings, train_iv, source=source, min_rows=config.training.min_train_rows, cap=training_cap(config))
    holdout_w = read_window(config, settings, holdout_iv, source=source, min_rows=1)
    check_holdout_classes(config, holdout_w.frame, holdout_iv)
    hashes = {**train_w.data_hashes, **holdout_w.data_hashes}
    fingerprint = hashlib.sha256(
        json.dumps([sorted(hashes.items()), config.fingerprint(), tracking.code_version(), window_days, holdout_days]).encode()
    ).hexdigest()[:16]

    tracking.client(settings)
    exp_id = tracking.experiment_id(settings, experiment_name(config))
    previous = tracking.find_run(
        settings,
        experiment_name(config),
        schema.encode_tags({schema.RUN_KEY: run_key, schema.INPUT_FINGERPRINT: fingerprint, schema.TRAIN_COMPLETE: True}),
    )
    if previous is not None:
        log.info("run %s already trained these inputs in MLflow run %s; reusing it", run_key, previous.info.run_id)
        stored = mlflow.artifacts.load_dict(f"runs:/{previous.info.run_id}/lineage/train_result.json")
        return {**stored, "reused": True}

    closed = tracking.close_abandoned_runs(settings, experiment_name(config), run_key)
    if closed:
        log.warning("run %s: closed MLflow runs %s that an earlier attempt left unfinished", run_key, closed)

    sample = sample_record(train_w)
    if sample is not None and sample["sampled"]:
        log.info("training window %s: %d rows, fitting on a sample of %d (training.max_rows)", train_iv, sample["window_rows"], sample["rows"])
    started = time.perf_counter()
    pipe, metrics = fit(config, train_w.frame, holdout_w.frame)
    fit_seconds = time.perf_counter() - started

    from mlflow.models import infer_signature

    X_example = prepare_features(holdout_w.frame.head(200), config)
    tags = schema.encode_tags(
        {
            schema.RUN_KEY: run_key,
            schema.INPUT_FINGERPRINT: fingerprint,
            schema.DATASET: config.name,
            schema.CONFIG_FINGERPRINT: config.fingerprint(),
            schema.CODE_VERSION: tracking.code_version(),
            schema.DATA_INTERVAL_END: end,
            schema.TRAINING_SAMPLE: sample,
        }
    ) | (lineage or {})
    with mlflow.start_run(experiment_id=exp_id, run_name=f"train {train_iv.start.date()}..{end.date()}", tags=tags) as run:
        mlflow.log_params(
            {
                "estimator": config.model.estimator,
                **{f"model.{k}": v for k, v in config.model.params.items()},
                "seed": config.model.seed,
                "window_days": window_days,
                "holdout_days": holdout_days,
                "train_rows": len(train_w.frame),
                "train_window_rows": sample["window_rows"] if sample else len(train_w.frame),
                "max_rows": config.training.max_rows,
                "holdout_rows": len(holdout_w.frame),
                "features": ",".join(config.features)[:500],
            }
        )
        mlflow.log_metrics({f"holdout_{k}": v for k, v in metrics.items()} | {"fit_seconds": fit_seconds})
        lake_uri = path_to_uri(settings.lake_dir / config.name)
        train_digest = sample["sample_hash"][:16] if sample else data_fingerprint(train_w.data_hashes)
        mlflow.log_input(logged_dataset(train_w.frame, f"{config.name}-train", config.target, lake_uri, train_digest), context="training")
        mlflow.log_input(
            logged_dataset(holdout_w.frame, f"{config.name}-holdout", config.target, lake_uri, data_fingerprint(holdout_w.data_hashes)),
            context="evaluation",
        )
        mlflow.log_dict(
            {"train": train_w.data_hashes, "holdout": holdout_w.data_hashes, "skipped": {**train_w.skipped, **holdout_w.skipped}}, "lineage/data_hashes.json"
        )
        from mlops.redact import redact_config  # a sql source's URL may hold a password

        mlflow.log_dict(redact_config(config.model_dump(mode="json")), "lineage/dataset_config.json")
        with warnings.catch_warnings():
            # skops audits the model by walking every loaded module, which touches Airflow's deprecated aliases.
            warnings.filterwarnings("ignore", message=r"The `airflow\.")
            info = mlflow.sklearn.log_model(
                pipe,
                name="model",
                pip_requirements=tracking.pip_requirements(),
                signature=infer_signature(X_example, predict_scores(pipe, X_example, config.task)),
                input_example=X_example.head(5),
                serialization_format="skops",  # safe to load, unlike pickle
                skops_trusted_types=skops_trusted_types(pipe),
            )
        result = {
            "run_id": run.info.run_id,
            "experiment_id": exp_id,
            "model_uri": info.model_uri,
            "model_id": getattr(info, "model_id", None),
            "metrics": metrics,
            "training_window": [train_iv.start.isoformat(), train_iv.end.isoformat()],
            "holdout_window": [holdout_iv.start.isoformat(), holdout_iv.end.isoformat()],
            "data_hashes": hashes,
            "data_fingerprint": data_fingerprint(hashes),
            "input_fingerprint": fingerprint,
            "train_rows": len(train_w.frame),
            "holdout_rows": len(holdout_w.frame),
            "training_sample": sample,
        }
        mlflow.log_dict(result, "lineage/train_result.json")
        # Set last: it marks the run as complete for the idempotency look-up.
        mlflow.set_tag(*schema.TRAIN_COMPLETE.item(True))
    return {**result, "reused": False}
