"""A thin layer over MLflow's model registry: idempotent registration, aliases, lineage."""

from mlops.registry.client import (
    CHALLENGER,
    CHAMPION,
    PREVIOUS,
    alias_version,
    describe,
    find_version_by_run_key,
    missing_model,
    model_exists,
    record_decision,
    register_version,
    version_key,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "PREVIOUS",
    "alias_version",
    "describe",
    "find_version_by_run_key",
    "missing_model",
    "model_exists",
    "record_decision",
    "register_version",
    "version_key",
]
