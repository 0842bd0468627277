"""One exception hierarchy for the pipeline.

Every message says what failed, where (dataset, partition, column, model version),
what was expected, what was found, and what to do next.
"""

from __future__ import annotations


class MlopsError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class ConfigError(MlopsError):
    """A dataset config or a setting is missing or invalid."""


class SourceError(MlopsError):
    """A source could not deliver the requested data interval."""


class LakeError(MlopsError):
    """A partition is missing, unreadable or inconsistent on disk."""


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
