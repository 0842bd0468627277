"""Typed settings and dataset configs.

A *dataset config* is a YAML file under ``include/datasets/`` (or the folder named by
``MLOPS_DATASETS_DIR``). It declares where the data comes from, its schema, the model,
and the thresholds of every step, so a new dataset needs a config and no code. An Airflow
Variable ``mlops_dataset__<name>`` holding a JSON object may override any key at run time
(merged key by key over the file).

Every config is validated when the DAG files are parsed (``mlops.dagspec``: a config with a
problem gets no DAGs and is reported as the import error of ``dags/mlops_dataset_configs.py``)
and again when a task loads it with its override. Errors name the file and line of each key
(or the override it came from) and list the valid choices: the metrics of the task, the
columns a validation rule may name, the keys of the ``dag:`` section. The estimator is
imported only in tasks (``mlops.training.model.check_estimator``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops.alerts.events import DEFAULT_LATE_AFTER_HOURS, EVENT_TYPES
from mlops.configfile import ConfigFile, did_you_mean, read_config_file
from mlops.errors import ConfigError
from mlops.schema import REQUIRED_LINEAGE
from mlops.settings import Settings
from mlops.training.metrics import CLASSIFICATION, REGRESSION

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_DATASETS_DIR = PACKAGE_DIR.parent / "datasets"
#: Folders of the lake root that are not datasets (predictions, labels, holdout scores).
RESERVED_LAKE_NAMES = frozenset({"predictions", "labels", "holdout_scores"})


class ConfigProblems(ValueError):
    """Problems found by a validator, each with its location in the config (``("training", "primary_metric")``).

    Pydantic keeps the exception in the error's context, so ``describe_errors`` can point each
    problem at its own key and line.
    """

    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]):
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {msg}" if loc else msg for loc, msg in problems))
        self.problems = problems


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
    max_rows: int | None = Field(
        None,
        ge=10,
        description=(
            "Most rows the train step fits on: a longer training window is sampled to this many rows (seeded by "
            "model.seed, stratified by class for classification, drawn while the partitions are read so memory holds "
            "one partition plus this many rows per class); the sample is recorded on the MLflow run. None: every row"
        ),
    )
    primary_metric: str = Field(
        "roc_auc",
        description=(
            "Metric that ranks challenger and champion; one the task computes (classification: roc_auc, accuracy, f1, "
            "log_loss, brier; regression: rmse, mae, r2). Default: roc_auc for classification, rmse for regression"
        ),
    )
    metric_floors: dict[str, float] = Field(default_factory=dict, description="Minimum values per metric (maximum for lower-is-better metrics)")
    min_improvement: float = Field(0.0, description="Absolute improvement of the primary metric over the champion needed to bless a challenger")

    @model_validator(mode="after")
    def _holdout_inside_window(self) -> TrainingConfig:
        if self.holdout_days >= self.window_days:
            raise ValueError(f"holdout_days ({self.holdout_days}) must be smaller than window_days ({self.window_days})")
        if self.max_rows is not None and self.max_rows < self.min_train_rows:
            raise ValueError(
                f"max_rows ({self.max_rows}) must be at least min_train_rows ({self.min_train_rows}): a sample smaller than the "
                "minimum could never be trained on"
            )
        return self

    def windows(
        self, window_days: int | None = None, holdout_days: int | None = None, *, source: str = "the run's params (trigger form or conf)"
    ) -> tuple[int, int]:
        """``(window_days, holdout_days)`` of a run: the values given (e.g. by the trigger form), else the config's.

        Raises ``ConfigError`` when the holdout would not leave a training day, naming where each value came from.
        """
        window = window_days or self.window_days
        holdout = holdout_days or self.holdout_days
        if holdout >= window:
            w_from = source if window_days else "the dataset config (training.window_days)"
            h_from = source if holdout_days else "the dataset config (training.holdout_days)"
            raise ConfigError(
                f"holdout_days={holdout} (from {h_from}) must be smaller than training_window_days={window} (from {w_from}): "
                f"the holdout is the last days of the window and at least one day must remain to train on. "
                "Trigger again with a longer window or a shorter holdout."
            )
        return window, holdout


class ValidationConfig(_Strict):
    min_rows: int = Field(1, ge=0, description="Fewest rows a partition may have")
    max_rows: int | None = None
    max_null_fraction: float = Field(0.05, ge=0, le=1, description="Default largest share of nulls per feature")
    null_fraction: dict[str, float] = Field(default_factory=dict, description="Per-column overrides of max_null_fraction")
    ranges: dict[str, tuple[float | None, float | None]] = Field(default_factory=dict, description="Allowed [min, max] per numeric column")
    categories: dict[str, list[str]] = Field(default_factory=dict, description="Allowed values per categorical column")
    max_unknown_category_fraction: float = Field(0.01, ge=0, le=1)
    extra_columns: list[str] = Field(
        default_factory=list,
        description="Other columns the source delivers besides timestamp, features and target (ids, keys, raw fields "
        "the model does not use); part of the expected schema",
    )
    allow_extra_columns: bool = Field(
        False, description="Let undeclared columns through; by default a partition must hold exactly the declared and extra columns"
    )
    key_columns: list[str] = Field(
        default_factory=list,
        description="Columns that identify a row (e.g. [time_hour, carrier, flight]): each combination may appear once per partition",
    )
    max_duplicate_fraction: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Largest share of rows that are exact copies of another row of the partition (every copy counts, so one "
        "duplicated pair in 1,000 rows is 0.2 %); 1 turns the check off",
    )

    @field_validator("extra_columns", "key_columns")
    @classmethod
    def _no_repeats(cls, v: list[str]) -> list[str]:
        repeated = sorted({c for c in v if v.count(c) > 1})
        if repeated:
            raise ValueError(f"columns listed twice: {repeated}")
        return v


class DriftConfig(_Strict):
    """Per-feature drift tests (``mlops.drift``; method, references and calibration tables in ``docs/drift.md``).

    A feature drifts when its change is both statistically distinguishable from sampling
    noise at the two sample sizes (its test's p-value <= ``p_value``) and practically
    relevant (its effect size, less the part sampling noise explains, >= the threshold).
    """

    reference_days: int = Field(14, ge=1, description="Trailing window used as reference when there is no champion")
    p_value: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="Significance level of each feature's two-sample test (Kolmogorov-Smirnov for numeric features; chi-square, "
        "or Fisher's exact test for sparse 2x2 tables, on category shares and on null rates)",
    )
    numeric_distance_threshold: float = Field(
        0.1,
        gt=0,
        description="Effect threshold of numeric features: Wasserstein distance in units of the reference's robust scale "
        "(IQR / 1.349, the standard deviation for normal data), less the distance sampling noise alone gives; 0.1 = a tenth of a standard deviation",
    )
    categorical_distance_threshold: float = Field(
        0.1,
        gt=0,
        description="Effect threshold of categorical and few-valued numeric features: Fisher-Rao distance of the category shares "
        "(Cohen's h for two categories: 50 % -> 60 % is 0.20, 0 % -> 5 % is 0.45), less the distance sampling noise alone gives",
    )
    missing_value_threshold: float = Field(
        0.2,
        gt=0,
        description="Effect threshold of missing-value drift: Cohen's h between the null shares (0 % -> 1 % is 0.20, "
        "10 % -> 20 % is 0.23, 0 % -> 20 % is 0.93), less the distance sampling noise alone gives",
    )
    min_values: int = Field(
        30,
        ge=2,
        description="Fewest values on each side for a check to run (non-null values for the distribution, rows for the null rate); "
        "a feature with fewer is reported as not tested, with a warning",
    )
    discrete_max_values: int = Field(
        10,
        ge=1,
        description="Numeric features with at most this many distinct values in the reference are compared as categories (flags, small counts)",
    )
    exclude: list[Literal["datetime", "id_like", "constant"]] = Field(
        default_factory=lambda: ["datetime", "id_like"],
        description="Suspect column kinds reported as not tested: 'datetime' (datetime dtype or ISO date strings), "
        "'id_like' (95 %+ of reference values distinct), 'constant' (one value in the reference). Every suspect column gets a warning either way",
    )
    dataset_drift_share: float = Field(0.5, gt=0, le=1, description="Share of drifted features that counts as dataset drift")
    small_sample_rows: int | None = Field(
        None,
        ge=10,
        description="Deprecated and ignored: the tests no longer switch method at a reference size. Accepted so older configs still load",
    )


class RetrainPolicy(_Strict):
    """When the nightly DAG retrains.

    The decay rule compares the champion's primary metric on each new labelled partition with
    its value on the champion's own holdout, in the metric's direction (a fall for roc_auc,
    a rise for rmse). ``performance_tolerance_relative`` is a fraction of the holdout value,
    so the same 0.05 (5 % worse) suits an AUC near 0.8 and an RMSE in dollars;
    ``performance_tolerance_absolute`` is in the metric's own units. When both are set, a
    drop beyond either one triggers retraining.
    """

    drift_share: float = Field(0.3, gt=0, le=1, description="Retrain when at least this share of features drift")
    performance_tolerance_relative: float | None = Field(
        0.05,
        ge=0,
        description=(
            "Retrain when the champion's primary metric on new data is worse than on its holdout by more than this "
            "fraction of the holdout value (0.05 = 5 % worse), in the metric's direction. null: no relative rule"
        ),
    )
    performance_tolerance_absolute: float | None = Field(
        None,
        ge=0,
        description="Retrain when the drop exceeds this amount in the metric's units (e.g. 0.02 of AUC, 5.0 dollars of RMSE). null: no absolute rule",
    )
    max_model_age_days: int = Field(30, ge=1, description="Retrain when the champion's training data ends this many days before data_interval_end")
    drift_features: list[str] | None = Field(
        None,
        description="Features whose drift counts toward drift_share (default: all). All features are still tested and reported.",
    )
    missing_value_drift: bool = Field(
        True,
        description="A feature whose null rate drifted counts as drifted toward drift_share (as does one whose values drifted)",
    )

    @model_validator(mode="before")
    @classmethod
    def _renamed_tolerance(cls, data: Any) -> Any:
        if isinstance(data, dict) and "performance_tolerance" in data:
            old = data["performance_tolerance"]
            raise ConfigProblems(
                [
                    (
                        ("performance_tolerance",),
                        f"performance_tolerance ({old}) was an absolute amount in the metric's units and is replaced: set "
                        f"performance_tolerance_relative (a fraction of the champion's holdout value, e.g. 0.05 for 5 % worse) or, "
                        f"to keep today's rule exactly, performance_tolerance_absolute: {old}",
                    )
                ]
            )
        return data


class ShadowSoakConfig(_Strict):
    """The shadow soak gate: after the offline gates, the challenger proves itself on new, labelled days.

    The scoring DAG scores the waiting challenger in shadow beside the champion; on each day
    whose labels have arrived, a sequential paired test compares their per-row losses on the
    same rows (``mlops.promotion.sequential``; method and figures in docs/shadow.md).
    """

    enabled: bool = Field(False, description="Run the shadow soak after the offline gates pass (needs scoring.shadow and labels)")
    min_days: int = Field(3, ge=1, le=60, description="Labelled shadow days before any verdict")
    max_days: int = Field(14, ge=1, le=60, description="Labelled shadow days after which an undecided soak ends as inconclusive")
    min_rows: int = Field(500, ge=2, description="Paired labelled rows before any verdict")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="Error rate of each early verdict, whatever the number of looks")
    margin: float = Field(0.01, ge=0, lt=1, description="promote_if_non_inferior: how much worse (relative mean loss) the challenger may be")
    on_inconclusive: Literal["reject", "promote_if_non_inferior"] = Field(
        "reject",
        description="What an inconclusive soak at max_days does: reject, or promote when shown non-inferior within margin",
    )
    poke_seconds: float = Field(300.0, gt=0, le=86_400, description="Seconds between two looks for newly labelled days (in the triggerer)")

    @model_validator(mode="after")
    def _days(self) -> ShadowSoakConfig:
        if self.min_days > self.max_days:
            raise ValueError(f"min_days ({self.min_days}) must not exceed max_days ({self.max_days})")
        return self


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
    shadow: ShadowSoakConfig = ShadowSoakConfig()


Severity = Literal["info", "warning", "critical"]


class AlertChannelConfig(_Strict):
    """One place alerts go: an HTTP webhook or an email list, through an Airflow connection.

    The connection holds the address and the secrets (the webhook URL and its signing secret,
    the SMTP server, login and password); the config names only the connection.
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,40}$", description="Shown in the delivery log and on the Models page")
    kind: Literal["webhook", "email"]
    conn_id: str = Field(min_length=1, description="Airflow connection: http (webhook URL, password = signing secret) or smtp")
    to: list[str] = Field(default_factory=list, description="Email recipients (email channels only)")
    severities: list[Severity] = Field(default_factory=lambda: ["info", "warning", "critical"], description="Severities this channel receives")

    @model_validator(mode="after")
    def _recipients(self) -> AlertChannelConfig:
        if self.kind == "email" and not self.to:
            raise ValueError(f"alert channel {self.name!r}: an email channel needs at least one recipient in 'to'")
        if self.kind == "webhook" and self.to:
            raise ValueError(f"alert channel {self.name!r}: 'to' is for email channels; a webhook's address is its connection's")
        return self


class AlertsConfig(_Strict):
    """Who is told what (see ``mlops.alerts``): channels per severity, digest, the nightly deadline."""

    channels: list[AlertChannelConfig] = Field(default_factory=list, description="Where alerts go; none: alerts are recorded and shown on the Models page only")
    digest: list[Severity] = Field(
        default_factory=lambda: ["info"], description="Severities sent as one digest message per dataset per night instead of one by one"
    )
    late_after_hours: float | None = Field(
        DEFAULT_LATE_AFTER_HOURS, gt=0, le=720, description="nightly_late: a run not finished this many hours after its interval end (null: no deadline)"
    )
    severity: dict[str, Severity] = Field(default_factory=dict, description="Severity per event type, overriding the defaults")
    mute: list[str] = Field(default_factory=list, description="Event types recorded but never sent")
    attempts: int = Field(3, ge=1, le=10, description="Delivery attempts per channel and event (the first one included)")
    backoff_seconds: float = Field(1.0, ge=0, le=60, description="Wait before the second attempt; doubles for each further one")
    timeout_seconds: float = Field(10.0, gt=0, le=120, description="Per attempt: connect, send and wait for the answer")

    @model_validator(mode="after")
    def _known_names(self) -> AlertsConfig:
        unknown = sorted((set(self.severity) | set(self.mute)) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"alerts names unknown event types {unknown}; known: {sorted(EVENT_TYPES)}")
        names = [c.name for c in self.channels]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"alert channels named twice: {dupes}")
        return self


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
    alerts: AlertsConfig = AlertsConfig()
    row_key: list[str] = Field(default_factory=list, description="Columns that identify a row (scoring and the label join)")
    labels: LabelsConfig = LabelsConfig()
    scoring: ScoringConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_primary_metric(cls, data: Any) -> Any:
        """A regression config without ``training.primary_metric`` ranks by rmse (roc_auc is for classification)."""
        if isinstance(data, dict) and data.get("task") == "regression":
            training = data.get("training")
            if training is None or (isinstance(training, dict) and "primary_metric" not in training):
                data = {**data, "training": {**(training or {}), "primary_metric": "rmse"}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> DatasetConfig:
        problems = consistency_problems(self)
        if problems:
            raise ConfigProblems(problems)
        return self

    @model_validator(mode="after")
    def _validation_columns_known(self) -> DatasetConfig:
        declared = set(self.columns) | set(self.validation.extra_columns)
        unknown = [c for c in self.validation.key_columns if c not in declared]
        if unknown:
            raise ValueError(f"validation.key_columns names columns that are neither declared nor in validation.extra_columns: {unknown}")
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

    @model_validator(mode="after")
    def _shadow_soak_inputs(self) -> DatasetConfig:
        if not self.promotion.shadow.enabled:
            return self
        problems = []
        if self.scoring is None:
            problems.append("there is no scoring section, so nothing scores the challenger in shadow; add scoring: {shadow: true}")
        elif not self.scoring.shadow:
            problems.append("scoring.shadow is false, so the challenger is never scored in shadow; set scoring.shadow: true")
        if problems:
            raise ConfigProblems(
                [
                    (
                        ("promotion", "shadow", "enabled"),
                        "the shadow soak needs shadow predictions: " + "; ".join(problems) + ", or set promotion.shadow.enabled: false",
                    )
                ]
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
        """Short hash of the config's content: same config, same fingerprint.

        Alert routing is left out: who is told about a model does not change the model.
        """
        payload = json.dumps(self.model_dump(mode="json", exclude={"alerts"}), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]


def task_metrics(task: str) -> tuple[str, ...]:
    """The metrics the pipeline computes for ``task``."""
    return CLASSIFICATION if task == "classification" else REGRESSION


def consistency_problems(config: DatasetConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Cross-field problems of a config, each with its location; empty when consistent."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    features = config.numeric_features + config.categorical_features
    if not features:
        problems.append((("numeric_features",), "declare at least one feature in numeric_features or categorical_features"))
    dupes = sorted({f for f in features if features.count(f) > 1})
    if dupes:
        problems.append((("categorical_features",), f"features listed twice: {dupes}"))
    for special, key in ((config.target, "target"), (config.timestamp_column, "timestamp_column")):
        if special in features:
            problems.append(((key,), f"column {special!r} cannot be both a feature and the {key}"))
    metrics = task_metrics(config.task)
    valid = f"the metrics of a {config.task} task are {', '.join(metrics)}"
    if config.training.primary_metric not in metrics:
        name = config.training.primary_metric
        problems.append((("training", "primary_metric"), f"{name!r} is not a metric this task computes{did_you_mean(name, metrics)}; {valid}"))
    for name in config.training.metric_floors:
        if name not in metrics:
            problems.append((("training", "metric_floors", name), f"{name!r} is not a metric this task computes{did_you_mean(name, metrics)}; {valid}"))

    def unknown_columns(section: str, keys, allowed: list[str], what: str) -> None:
        for col in keys:
            if col not in allowed:
                problems.append(
                    (
                        ("validation", section, col),
                        f"{col!r} is not {what}{did_you_mean(col, allowed)}; {section} may name {', '.join(allowed) or 'none'}",
                    )
                )

    v = config.validation
    unknown_columns("ranges", v.ranges, [*config.numeric_features, config.target], "a numeric feature or the target")
    target_categories = [config.target] if config.task == "classification" else []
    unknown_columns(
        "categories",
        v.categories,
        [*config.categorical_features, *target_categories],
        "a categorical feature" + (" or the target" if target_categories else ""),
    )
    unknown_columns("null_fraction", v.null_fraction, features, "a feature")
    for col, (lo, hi) in v.ranges.items():
        if lo is not None and hi is not None and lo > hi:
            problems.append((("validation", "ranges", col), f"the range of {col!r} is empty: minimum {lo} > maximum {hi}"))
    unknown = [f for f in config.retrain.drift_features or [] if f not in features]
    for name in unknown:
        problems.append(
            (("retrain", "drift_features"), f"{name!r} is not a feature{did_you_mean(name, features)}; drift_features may name {', '.join(features)}")
        )
    return problems


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
    return Path(datasets_dir or Settings.value("datasets_dir") or DEFAULT_DATASETS_DIR)


def dataset_file(name: str, datasets_dir: Path | None = None) -> Path:
    """The config file of dataset ``name``; ``ConfigError`` listing the known datasets when there is none."""
    folder = datasets_folder(datasets_dir)
    path = folder / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.yaml"))
        raise ConfigError(f"dataset config {path} not found; known datasets in {folder}: {known}. Add {name}.yaml there.")
    return path


def read_dataset_file(name: str, datasets_dir: Path | None = None) -> dict:
    """Read a dataset config file as a plain dict (no validation; YAML errors name the file and line)."""
    return read_config_file(dataset_file(name, datasets_dir)).data


def _in(mapping: Any, loc: tuple) -> bool:
    for key in loc:
        if not isinstance(mapping, dict) or key not in mapping:
            return False
        mapping = mapping[key]
    return True


def describe_errors(e: ValidationError, file: ConfigFile | None = None, *, override: dict | None = None, override_source: str = "the override") -> list[str]:
    """One line per problem: ``<where>: <key>: <message>``, pointing at the file's line or at the override."""
    out = []
    for err in e.errors():
        base = tuple(err["loc"])
        cause = (err.get("ctx") or {}).get("error")
        items = [(base + tuple(loc), msg) for loc, msg in cause.problems] if isinstance(cause, ConfigProblems) else [(base, err["msg"])]
        for loc, msg in items:
            msg = msg.removeprefix("Value error, ")
            key = ".".join(map(str, loc)) or "<top level>"
            if override and loc and _in(override, loc[:2]):
                where = override_source
            elif file is not None:
                where = file.where(loc)
            else:
                where = "the config"
            out.append(f"{where}: {key}: {msg}")
    return out


def validate_dataset(file: ConfigFile, *, override: dict | None = None, override_source: str = "the override") -> DatasetConfig:
    """Validate a parsed config file (merged with ``override``); ``ConfigError`` names file, line and key of each problem."""
    raw = {k: v for k, v in file.data.items() if k != "dag"}  # DAG wiring is read by the DAG files (mlops.dagspec)
    if override:
        new_model = override.get("model") or {}
        if new_model.get("estimator") and new_model["estimator"] != (raw.get("model") or {}).get("estimator"):
            # Another estimator: the file's params belong to the old one.
            raw = {**raw, "model": {k: v for k, v in (raw.get("model") or {}).items() if k != "params"}}
        raw = _merge(raw, override)
    try:
        return DatasetConfig(**raw)
    except ValidationError as e:
        problems = describe_errors(e, file, override=override, override_source=override_source)
        name = raw.get("name", file.path.stem)
        raise ConfigError(
            f"dataset config {name!r} is invalid ({len(problems)} problem{'s' if len(problems) > 1 else ''}):\n  - "
            + "\n  - ".join(problems)
            + f"\nFix {file.path}"
            + (f" or {override_source}" if override else "")
            + "."
        ) from e


def load_dataset(
    name: str,
    *,
    datasets_dir: Path | None = None,
    override: dict | str | None = None,
    override_source: str | None = None,
) -> DatasetConfig:
    """Load and validate a dataset config, optionally merged with an override.

    Parameters
    ----------
    name : str
        File stem under ``datasets_dir``.
    override : dict or JSON str, optional
        Keys merged over the file (e.g. the Airflow Variable ``mlops_dataset__<name>``).
        An override that changes ``model.estimator`` replaces ``model.params`` as a whole.
    override_source : str, optional
        How errors name the override (default ``"the override"``), e.g. ``"Airflow Variable mlops_dataset__flights"``.

    Errors name the file and line of each problem, or the override when the key comes from it.
    The estimator is not imported here (see ``mlops.training.model.check_estimator``).
    """
    source = override_source or "the override"
    file = read_config_file(dataset_file(name, datasets_dir))
    if override and isinstance(override, str):
        try:
            override = json.loads(override)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{source} for dataset {name!r} is not valid JSON: {e}. Fix it (a JSON object of config keys).") from e
    if override and not isinstance(override, dict):
        raise ConfigError(f"{source} for dataset {name!r} must be a JSON object of config keys, found {type(override).__name__}")
    return validate_dataset(file, override=override or None, override_source=source)


def list_datasets(datasets_dir: Path | None = None) -> list[str]:
    return sorted(p.stem for p in datasets_folder(datasets_dir).glob("*.yaml"))
