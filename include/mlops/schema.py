"""What the product writes to MLflow: every tag name, its encoding and its size limit.

MLflow tags are this product's data schema: the promotion gates, the Models page, the CLI
and the retraining decision read what the nightly DAG wrote. Every tag is declared here
once, with one encoding, and written and read only through ``Tag.encode`` / ``Tag.get``
(or ``TagFamily`` for tags with a variable suffix, such as one per gate).

Encodings:

``text``
    A plain string.
``bool``
    ``"true"`` or ``"false"``.
``json``
    A JSON document (objects, lists, numbers). A value too long for ``MAX_TAG_CHARS`` is
    shrunk so that it stays valid JSON (long strings and lists cut, with a marker), never
    sliced in the middle of the document.
``datetime``
    ISO 8601 with its UTC offset.

Limits: MLflow accepts 8,000 characters in a run tag and 100,000 in a registry tag on its
own server; other back-ends are stricter, and a tag is for reading at a glance. Every value
is kept within ``MAX_TAG_CHARS``; cut text ends with ``TRUNCATION_MARKER``.

Credentials never reach a tag: the password of a URL and the value of a ``password=``-like
parameter in a ``text`` or ``json`` value are masked (``mlops.redact``) before it is encoded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from mlops.redact import redact_config, redact_text

PREFIX = "mlops."
MAX_TAG_CHARS = 5000
TRUNCATION_MARKER = "…[truncated]"

Encoding = Literal["text", "bool", "json", "datetime"]


def truncate(text: str, limit: int = MAX_TAG_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters, ending with ``TRUNCATION_MARKER`` when cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(TRUNCATION_MARKER), 0)] + TRUNCATION_MARKER


def _shrink(value: Any, max_str: int, max_items: int) -> Any:
    """A copy of a JSON-able value with long strings and lists cut (markers say so)."""
    if isinstance(value, str):
        return truncate(value, max_str)
    if isinstance(value, Mapping):
        return {str(k): _shrink(v, max_str, max_items) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_shrink(v, max_str, max_items) for v in list(value)[:max_items]]
        if len(value) > max_items:
            items.append(f"{TRUNCATION_MARKER} {len(value) - max_items} more")
        return items
    return value


def dumps_bounded(value: Any, limit: int = MAX_TAG_CHARS) -> str:
    """JSON text of ``value`` within ``limit`` characters, still valid JSON when it had to be cut."""
    text = json.dumps(value, sort_keys=True, default=str)
    if len(text) <= limit:
        return text
    plain = json.loads(text)  # dates and other objects become their JSON form once
    max_str, max_items = limit // 4, 100
    while max_str >= 16:
        text = json.dumps(_shrink(plain, max_str, max_items), sort_keys=True)
        if len(text) <= limit:
            return text
        max_str, max_items = max_str // 2, max(max_items // 2, 1)
    # Still too large (very many keys): keep a readable head as a string inside a JSON object.
    head = truncate(json.dumps(plain, sort_keys=True), limit - 40)
    return json.dumps({"truncated": True, "head": head[: limit - 40]})


@dataclass(frozen=True)
class Tag:
    """One tag: its full name, its encoding and what it means."""

    name: str
    encoding: Encoding
    doc: str

    def encode(self, value: Any) -> str:
        """The tag value to store for ``value`` (bounded by ``MAX_TAG_CHARS``)."""
        if self.encoding == "json":
            return dumps_bounded(redact_config(value))
        if self.encoding == "bool":
            if isinstance(value, str):
                value = value.strip().lower() == "true"
            return "true" if value else "false"
        if self.encoding == "datetime":
            return value.isoformat() if isinstance(value, datetime) else str(value)
        return truncate(redact_text(str(value)))

    def decode(self, raw: str | None, default: Any = None) -> Any:
        """The value a stored string stands for (``default`` when absent or empty)."""
        if raw is None or raw == "":
            return default
        if self.encoding == "json":
            try:
                return json.loads(raw)
            except json.JSONDecodeError:
                return raw  # written by hand or by an older release: show it as it is
        if self.encoding == "bool":
            return raw.strip().lower() == "true"
        if self.encoding == "datetime":
            return datetime.fromisoformat(raw)
        return raw

    def get(self, tags: Mapping[str, str], default: Any = None) -> Any:
        """Decoded value of this tag in a tags mapping (an MLflow run's or version's ``tags``)."""
        return self.decode(tags.get(self.name), default)

    def item(self, value: Any) -> tuple[str, str]:
        """``(name, encoded value)``, for building a tags dict."""
        return self.name, self.encode(value)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class TagFamily:
    """Tags that share a prefix and an encoding, e.g. one per gate or one per history entry."""

    prefix: str
    encoding: Encoding
    doc: str

    def tag(self, suffix: str | int) -> Tag:
        if isinstance(suffix, int):
            suffix = f"{suffix:06d}"
        return Tag(self.prefix + suffix, self.encoding, self.doc)

    def matches(self, name: str) -> bool:
        return name.startswith(self.prefix)

    def suffix(self, name: str) -> str:
        return name.removeprefix(self.prefix)

    def collect(self, tags: Mapping[str, str]) -> dict[str, Any]:
        """``{suffix: decoded value}`` of every tag of this family in ``tags``."""
        return {self.suffix(k): self.tag(self.suffix(k)).decode(v) for k, v in tags.items() if self.matches(k)}


def _t(name: str, encoding: Encoding, doc: str) -> Tag:
    return Tag(PREFIX + name, encoding, doc)


# --- Lineage: on the training run and on the model version --------------------------------------
RUN_KEY = _t("run_key", "text", "<dag_id>/<run_id> of the DAG run that made it; the idempotency key")
DAG_ID = _t("dag_id", "text", "Airflow DAG id of that run")
RUN_ID = _t("run_id", "text", "Airflow run id of that run")
RUN_TYPE = _t("run_type", "text", "scheduled, manual, backfill, ...")
LOGICAL_DATE = _t("logical_date", "text", "logical date of the DAG run")
DATASET = _t("dataset", "text", "dataset config name")
NOTE = _t("note", "text", "why the run was triggered (trigger form)")
DATA_INTERVAL_END = _t("data_interval_end", "datetime", "end of the data the model saw (exclusive)")
CONFIG_FINGERPRINT = _t("config_fingerprint", "text", "hash of the dataset config")
CODE_VERSION = _t("code_version", "text", "git commit (or source hash) of the product")
INPUT_FINGERPRINT = _t("input_fingerprint", "text", "hash of data hashes, config, code and windows")
DATA_FINGERPRINT = _t("data_fingerprint", "text", "hash of the partitions' content hashes")
DATA_HASHES = _t("data_hashes", "json", "{partition key: content hash prefix}")
TRAINING_WINDOW = _t("training_window", "json", "[start, end) of the training rows, ISO strings")
TRAINING_SAMPLE = _t(
    "training_sample",
    "json",
    "{max_rows, window_rows, rows, sampled, seed, stratified_by, strata_rows, sample_hash} when training.max_rows bounds the rows fitted on",
)
HOLDOUT_WINDOW = _t("holdout_window", "json", "[start, end) of the holdout rows, ISO strings")
METRICS = _t("metrics", "json", "holdout metrics {name: value}")
VALIDATION = _t("validation", "json", "{success, docs_uri} of the partition's validation")
DRIFT_REPORT_URI = _t("drift_report_uri", "text", "the day's drift report")
DRIFT_SHARE = _t("drift_share", "text", "share of drifted features that day")
RETRAIN_REASONS = _t("retrain_reasons", "json", "list of the reasons the decide step gave")
BLESSED = _t("blessed", "bool", "the evaluate step's verdict (challenger vs champion on the same holdout)")
EVALUATION = _t("evaluation", "json", "the evaluate step's numbers and reasons")
CLOSED_BY_RETRY = _t("closed_by_retry", "text", "on a training run an earlier attempt left open: why and when its retry closed it (FAILED)")
TRAIN_COMPLETE = _t("train_complete", "bool", "set last on a training run: it finished and logged its model")

# --- Decisions on a model version ----------------------------------------------------------------
GATES_PASSED = _t("gates_passed", "bool", "every promotion gate passed")
GATE = TagFamily(PREFIX + "gate.", "json", "one promotion gate's result {passed, detail, ...numbers}")
DECISION = _t("decision", "text", "promoted, rejected, superseded or rolled_back_to; absent while pending")
DECISION_AT = _t("decision_at", "datetime", "when the decision was made")
DECISION_BY = _t("decision_by", "text", "the DAG run (run key) that decided")
REJECTION_REASONS = _t("rejection_reasons", "json", "list of reasons for a rejection")
SUPERSEDED_BY = _t("superseded_by", "text", "the newer version that replaced this undecided one")
PROMOTION_PENDING = _t("promotion_pending", "json", "{run_key, from_version} while a promotion is half-way")
PROMOTION_ERROR = _t("promotion_error", "json", "{task, error, run_key, at} of the last promotion run that failed on this version (it stays undecided)")
COPIED_FROM = _t("copied_from", "text", "models:/ URI this version was copied from (mlops propose)")

# --- Registered model and monitoring runs --------------------------------------------------------
MANAGED = _t("managed", "bool", "created and managed by this product")
MODEL_NAME = _t("model_name", "text", "registered model a report run belongs to")
HISTORY = TagFamily(PREFIX + "history.", "json", "one champion move {seq, time, kind, version, from_version, ...}")
INTERVAL = _t("interval", "text", "partition key of a monitoring run")
REFERENCE = _t("reference", "text", "why the drift reference window was chosen")
LIVE_MODEL_VERSION = _t("live_model_version", "text", "model version whose live metrics (realised, estimated, prediction drift) a monitoring run holds")

#: Tags that record a decision about a version; a copy to another model drops them.
DECISION_TAGS = (GATES_PASSED, DECISION, DECISION_AT, DECISION_BY, REJECTION_REASONS, SUPERSEDED_BY, PROMOTION_PENDING, PROMOTION_ERROR)

#: Lineage a version must carry to be promoted (the default of ``promotion.required_tags``).
REQUIRED_LINEAGE = (RUN_KEY, TRAINING_WINDOW, HOLDOUT_WINDOW, DATA_HASHES, CODE_VERSION, CONFIG_FINGERPRINT, METRICS, VALIDATION)


def all_tags() -> list[Tag]:
    """Every fixed-name tag declared in this module."""
    return [v for v in globals().values() if isinstance(v, Tag)]


def encode_tags(values: Mapping[Tag, Any]) -> dict[str, str]:
    """``{name: encoded}`` for ``{Tag: value}``, leaving out values that are None."""
    return dict(tag.item(value) for tag, value in values.items() if value is not None)
