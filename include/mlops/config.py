"""Typed settings and dataset configs.

A *dataset config* is a YAML file under ``include/datasets/`` (or the folder named by
``MLOPS_DATASETS_DIR``). It declares where the data comes from, its schema, the model,
and the thresholds of every step, so a new dataset needs a config and no code. An Airflow
Variable ``mlops_dataset__<name>`` holding a JSON object may override any key at run time
(merged key by key over the file).

Configs are built inside tasks, never at DAG parse time.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops.errors import ConfigError
from mlops.schema import REQUIRED_LINEAGE

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_DATASETS_DIR = PACKAGE_DIR.parent / "datasets"
#: Folders of the lake root that are not datasets (predictions, labels, holdout scores).
RESERVED_LAKE_NAMES = frozenset({"predictions", "labels", "holdout_scores"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """Where a dataset's rows come from.

    ``kind`` selects the source; ``options`` are passed to it as keyword arguments
    (see ``mlops.sources``).
    """

    kind: Literal["replay", "files", "sql", "synthetic"]
    options: dict[str, Any] = Field(default_factory=dict)


class ModelConfig(_Strict):
    """The estimator at the end of the scikit-learn Pipeline."""

    estimator: str = Field(description="Import path, e.g. sklearn.ensemble.HistGradientBoostingClassifier")
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 42

    @field_validator("estimator")
    @classmethod
    def _sklearn_only(cls, v: str) -> str:
        if not v.startswith("sklearn.") or v.count(".") < 2:
            raise ValueError(f"estimator must be a scikit-learn import path like 'sklearn.linear_model.LogisticRegression', got {v!r}")
        return v


class TrainingConfig(_Strict):
    window_days: int = Field(28, ge=2, le=3660, description="Days of data ending at data_interval_end used to train and evaluate")
    holdout_days: int = Field(3, ge=1, description="The most recent days of the window, held out for evaluation")
    min_train_rows: int = Field(500, ge=10)
    primary_metric: str = Field("roc_auc", description="Metric that ranks challenger and champion (higher is better, except *_error metrics)")
    metric_floors: dict[str, float] = Field(default_factory=dict, description="Minimum values per metric (maximum for *_error metrics)")
    min_improvement: float = Field(0.0, description="Absolute improvement of the primary metric over the champion needed to bless a challenger")

    @model_validator(mode="after")
    def _holdout_inside_window(self) -> TrainingConfig:
        if self.holdout_days >= self.window_days:
            raise ValueError(f"holdout_days ({self.holdout_days}) must be smaller than window_days ({self.window_days})")
        return self


class ValidationConfig(_Strict):
    min_rows: int = Field(1, ge=0, description="Fewest rows a partition may have")
    max_rows: int | None = None
    max_null_fraction: float = Field(0.05, ge=0, le=1, description="Default largest share of nulls per feature")
    null_fraction: dict[str, float] = Field(default_factory=dict, description="Per-column overrides of max_null_fraction")
    ranges: dict[str, tuple[float | None, float | None]] = Field(default_factory=dict, description="Allowed [min, max] per numeric column")
    categories: dict[str, list[str]] = Field(default_factory=dict, description="Allowed values per categorical column")
    max_unknown_category_fraction: float = Field(0.01, ge=0, le=1)


class DriftConfig(_Strict):
    reference_days: int = Field(14, ge=1, description="Trailing window used as reference when there is no champion")
    small_sample_rows: int = Field(1000, ge=10, description="At or below this many reference rows, use p-value tests")
    p_value: float = Field(0.05, gt=0, lt=1)
    numeric_distance_threshold: float = Field(0.1, gt=0, description="Wasserstein distance / std(reference)")
    categorical_distance_threshold: float = Field(0.1, gt=0, description="Jensen-Shannon distance (base 2)")
    dataset_drift_share: float = Field(0.5, gt=0, le=1, description="Share of drifted features that counts as dataset drift")


class RetrainPolicy(_Strict):
    drift_share: float = Field(0.3, gt=0, le=1, description="Retrain when at least this share of features drift")
    performance_tolerance: float = Field(0.05, ge=0, description="Retrain when the champion's primary metric on new data falls this much below its holdout value")
    max_model_age_days: int = Field(30, ge=1, description="Retrain when the champion's training data ends this many days before data_interval_end")
    drift_features: list[str] | None = Field(
        None,
        description="Features whose drift counts toward drift_share (default: all). All features are still tested and reported.",
    )


class PromotionConfig(_Strict):
    """Gates and approval of the promotion DAG."""

    require_approval: bool = Field(False, description="A person must approve in the Airflow UI before a challenger becomes champion")
    min_improvement: float = Field(0.0, description="Absolute gain of the primary metric over the champion on the same data")
    min_relative_improvement: float = Field(0.0, ge=0, description="Relative gain over the champion, e.g. 0.01 for 1 %")
    latency_budget_ms: float = Field(500.0, gt=0, description="Serving check: largest prediction time per 1,000 rows")
    serving_sample_rows: int = Field(1000, ge=10, description="Rows of the holdout scored by the serving check")
    required_tags: list[str] = Field(
        default_factory=lambda: [t.name for t in REQUIRED_LINEAGE],
        description="Lineage tags a version must carry to be promoted",
    )
    sensor_poke_seconds: int = Field(60, ge=1)
    sensor_timeout_hours: float = Field(24.0, gt=0)


class LabelsConfig(_Strict):
    """When the target of a day's rows becomes known.

    ``delay_days = 0``: the target comes with the partition. ``delay_days = k > 0``: the
    day-D partition arrives without the target, and the targets of day D arrive with the
    nightly run of day D + k, which joins them to the rows (by ``row_key``) and to the
    predictions stored for day D. Training windows then end at the last labelled day.
    """

    delay_days: int = Field(0, ge=0, le=365, description="Days between a row's day and the arrival of its label")
    source: SourceConfig | None = Field(
        None,
        description=(
            "Where labels come from (columns: the timestamp, the row_key columns, the target). Default: the dataset's "
            "source, read again for the labelled day (replay and synthetic); files and sql sources need their own."
        ),
    )


class ScoringConfig(_Strict):
    """Batch scoring of each validated partition with the champion (and a waiting challenger)."""

    conn_id: str = Field(
        "mlops_predictions",
        pattern=r"^[A-Za-z0-9_.-]{1,200}$",
        description="Airflow connection of the prediction store (SQLite or PostgreSQL); undefined: a SQLite file under MLOPS_HOME",
    )
    shadow: bool = Field(True, description="Also score a challenger waiting for its promotion decision, as role 'shadow'")
    lake: bool = Field(True, description="Also write each scored partition as Parquet under lake/predictions/<dataset>/")
    chunk_rows: int = Field(200_000, ge=1000, description="Rows scored and written per batch")
    decay_on_estimate: bool = Field(
        False,
        description="Classification: while the champion's labels are pending, the decay rule may use the estimated primary metric",
    )


class DatasetConfig(_Strict):
    """Everything the pipeline needs to know about one dataset."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,40}$")
    description: str = ""
    source: SourceConfig
    timestamp_column: str
    target: str
    task: Literal["classification", "regression"]
    numeric_features: list[str] = Field(default_factory=list)
    categorical_features: list[str] = Field(default_factory=list)
    model: ModelConfig
    registered_model_name: str | None = None
    training: TrainingConfig = TrainingConfig()
    validation: ValidationConfig = ValidationConfig()
    drift: DriftConfig = DriftConfig()
    retrain: RetrainPolicy = RetrainPolicy()
    promotion: PromotionConfig = PromotionConfig()
    row_key: list[str] = Field(default_factory=list, description="Columns that identify a row (scoring and the label join)")
    labels: LabelsConfig = LabelsConfig()
    scoring: ScoringConfig | None = None

    @model_validator(mode="after")
    def _columns_consistent(self) -> DatasetConfig:
        features = self.numeric_features + self.categorical_features
        if not features:
            raise ValueError("declare at least one feature in numeric_features or categorical_features")
        dupes = sorted({f for f in features if features.count(f) > 1})
        if dupes:
            raise ValueError(f"features listed twice: {dupes}")
        unknown = sorted(set(self.retrain.drift_features or []) - set(features))
        if unknown:
            raise ValueError(f"retrain.drift_features names columns that are not features: {unknown}")
        for special in (self.target, self.timestamp_column):
            if special in features:
                raise ValueError(f"column {special!r} cannot be both a feature and the target/timestamp")
        return self

    @model_validator(mode="after")
    def _keys_for_scoring_and_labels(self) -> DatasetConfig:
        if self.name in RESERVED_LAKE_NAMES:
            raise ValueError(f"dataset name {self.name!r} is reserved for a lake folder; reserved: {sorted(RESERVED_LAKE_NAMES)}")
        needs = [what for what, on in (("scoring", self.scoring is not None), ("labels.delay_days > 0", self.labels.delay_days > 0)) if on]
        if needs and not self.row_key:
            raise ValueError(f"{' and '.join(needs)} need row_key: the columns that identify a row (e.g. [id])")
        if len(set(self.row_key)) != len(self.row_key) or self.target in self.row_key:
            raise ValueError(f"row_key {self.row_key} must list distinct columns and not the target {self.target!r}")
        if self.labels.delay_days > 0 and self.source.kind in ("files", "sql") and self.labels.source is None:
            raise ValueError(
                f"labels.delay_days > 0 with a {self.source.kind} source needs labels.source: where the labels arrive "
                "(a files path or a sql table/query with the timestamp, row_key and target columns)"
            )
        return self

    @property
    def partition_columns(self) -> list[str]:
        """Columns a partition must hold: without the target while labels arrive later, with the row key."""
        cols = [self.timestamp_column, *self.features] + ([] if self.labels.delay_days else [self.target])
        return cols + [c for c in self.row_key if c not in cols]

    @property
    def features(self) -> list[str]:
        return [*self.numeric_features, *self.categorical_features]

    @property
    def model_name(self) -> str:
        return self.registered_model_name or f"{self.name}_model"

    @property
    def columns(self) -> list[str]:
        return [self.timestamp_column, *self.features, self.target]

    def fingerprint(self) -> str:
        """Short hash of the config's content: same config, same fingerprint."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]


class Settings(_Strict):
    """Process-wide settings, read from the environment.

    ``MLOPS_HOME``: folder for the lake, quarantine, reports and Data Docs.
    ``MLFLOW_TRACKING_URI``: where runs and models go (required: the pipeline never
    falls back to a stray ``mlflow.db`` in the working directory).
    ``MLOPS_DATASETS_DIR`` (read by ``load_dataset``): folder of dataset configs.
    """

    home: Path
    tracking_uri: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        missing = [k for k in ("MLOPS_HOME", "MLFLOW_TRACKING_URI") if not env.get(k)]
        if missing:
            raise ConfigError(
                f"environment variables {missing} are not set; expected the data folder and the MLflow "
                "tracking URI. Source scripts/env.sh (or set them in the Airflow deployment) and retry."
            )
        return cls(
            home=Path(env["MLOPS_HOME"]).expanduser().resolve(),
            tracking_uri=env["MLFLOW_TRACKING_URI"],
        )

    @property
    def lake_dir(self) -> Path:
        return self.home / "lake"

    @property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def gx_dir(self) -> Path:
        return self.home / "gx"

    @property
    def data_docs_dir(self) -> Path:
        """The GX file context's local Data Docs site (GX's default location inside ``gx_dir``)."""
        return self.gx_dir / "uncommitted" / "data_docs" / "local_site"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def datasets_folder(datasets_dir: Path | None = None) -> Path:
    """``datasets_dir``, else ``MLOPS_DATASETS_DIR``, else ``include/datasets``."""
    return Path(datasets_dir or os.environ.get("MLOPS_DATASETS_DIR") or DEFAULT_DATASETS_DIR)


def read_dataset_file(name: str, datasets_dir: Path | None = None) -> dict:
    """Read a dataset config file as a plain dict (no validation)."""
    folder = datasets_folder(datasets_dir)
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(f"dataset config {path} not found; known datasets in {folder}: {known}. Add {name}.yaml there.")
    with path.open() as fh:
        raw = yaml.safe_load(fh) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"dataset config {path} must hold a mapping at the top level, found {type(raw).__name__}")
    return raw


def load_dataset(
    name: str,
    *,
    datasets_dir: Path | None = None,
    override: dict | str | None = None,
) -> DatasetConfig:
    """Load and validate a dataset config, optionally merged with an override.

    Parameters
    ----------
    name : str
        File stem under ``datasets_dir``.
    override : dict or JSON str, optional
        Keys merged over the file (e.g. the Airflow Variable ``mlops_dataset__<name>``).
        An override that changes ``model.estimator`` replaces ``model.params`` as a whole.
    """
    raw = read_dataset_file(name, datasets_dir)
    raw.pop("dag", None)  # DAG wiring (id, schedule) is read by the DAG file only
    if override:
        if isinstance(override, str):
            try:
                override = json.loads(override)
            except json.JSONDecodeError as e:
                raise ConfigError(f"override for dataset {name!r} is not valid JSON: {e}. Fix the Variable mlops_dataset__{name}.") from e
        if not isinstance(override, dict):
            raise ConfigError(f"override for dataset {name!r} must be a JSON object, found {type(override).__name__}")
        new_model = override.get("model") or {}
        if new_model.get("estimator") and new_model["estimator"] != (raw.get("model") or {}).get("estimator"):
            # Another estimator: the file's params belong to the old one.
            raw = {**raw, "model": {k: v for k, v in raw["model"].items() if k != "params"}}
        raw = _merge(raw, override)
    try:
        return DatasetConfig(**raw)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"dataset config {name!r} is invalid: {problems}. Fix the YAML file or the override.") from e


def list_datasets(datasets_dir: Path | None = None) -> list[str]:
    return sorted(p.stem for p in datasets_folder(datasets_dir).glob("*.yaml"))
