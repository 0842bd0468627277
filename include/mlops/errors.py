"""One exception hierarchy for the pipeline.

Every message says what failed, where (dataset, partition, column, model version),
what was expected, what was found, and what to do next.
"""

from __future__ import annotations


class MlopsError(Exception):
    """Base class of every error the pipeline raises on purpose.

    ``retryable`` says whether a retry of the same task can succeed without anyone acting
    (Airflow's retries are kept for those; every other error fails the task at once).
    """

    retryable: bool = False


class ConfigError(MlopsError):
    """A dataset config or a setting is missing or invalid."""


class SourceError(MlopsError):
    """A source could not deliver the requested data interval, for a reason that may pass
    (a database that does not answer): retried."""

    retryable = True


class SourceDataError(SourceError):
    """The source answered, but what it holds cannot be used as the dataset config declares:
    a missing path, a file without a declared column, unparsable timestamps. Someone has to
    fix the data or the config, so it is not retried."""

    retryable = False


class BadSourceFile(SourceDataError):
    """One source file cannot be read as what its name says (truncated Parquet, a CSV named
    ``.parquet``, an empty file).

    Attributes
    ----------
    path : str
        The file as found in the source.
    quarantined : str or None
        Where a copy of it was kept for inspection.
    record : dict
        What was expected and found, its size and hash, the interval it is counted against.
    """

    def __init__(self, message: str, *, path: str, quarantined: str | None = None, record: dict | None = None):
        super().__init__(message)
        self.path, self.quarantined, self.record = path, quarantined, record or {}


class LakeError(MlopsError):
    """A partition is missing, unreadable or inconsistent on disk."""


class PartitionQuarantined(LakeError):
    """A partition was moved to quarantine (possibly by a concurrent run) while it was wanted.

    Attributes
    ----------
    record : dict
        The quarantine record (``reason``, ``quarantined_to``, ``failed_expectations``, ...).
    """

    def __init__(self, message: str, *, record: dict):
        super().__init__(message)
        self.record = record


class ValidationFailed(MlopsError):
    """A partition failed its expectation suite and was quarantined.

    Attributes
    ----------
    failed_expectations : list of dict
        One entry per failed expectation: ``expectation``, ``column``, ``details``.
    """

    def __init__(self, message: str, *, failed_expectations: list[dict] | None = None):
        super().__init__(message)
        self.failed_expectations = failed_expectations or []


class InsufficientData(MlopsError):
    """Not enough validated rows in a window to train or evaluate."""


class RegistryError(MlopsError):
    """The model registry is in a state the pipeline cannot act on safely."""


class InfrastructureError(MlopsError):
    """A service or resource the pipeline depends on failed; a retry may succeed once it is back.

    Tasks keep Airflow's retries for these.
    """

    retryable = True


class TrackingUnavailable(InfrastructureError):
    """The MLflow tracking server did not answer (refused, unreachable or timed out)."""


class StorageFull(InfrastructureError):
    """A file could not be written because its file system is full (or over quota)."""


class PromotionFailed(MlopsError):
    """A task of the promotion path failed; the challenger stays undecided and the run fails."""


class InconclusiveMeasurement(MlopsError):
    """A measurement was too noisy to decide on (e.g. latency under CPU load); a later retry may decide it."""

    retryable = True


class StoreError(MlopsError):
    """The prediction store is unreachable, of an unknown schema version, or refused a write."""


class ScoringError(MlopsError):
    """A partition could not be scored: the model did not load, or the data does not fit its signature."""


class LabelsRejected(MlopsError):
    """A batch of labels was refused (unknown or duplicate row keys, invalid values); nothing was stored.

    Attributes
    ----------
    counts : dict
        What was wrong, by kind (``unknown_keys``, ``duplicate_keys``, ``invalid_values``, ``rows``).
    """

    def __init__(self, message: str, *, counts: dict | None = None):
        super().__init__(message)
        self.counts = counts or {}
