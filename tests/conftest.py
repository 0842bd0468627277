"""Shared fixtures. Unit tests use small in-memory frames and a real SQLite MLflow store."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from mlops.config import DatasetConfig, Settings, load_dataset


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory) -> str:
    """One real SQLite tracking/registry store for the unit tests (creating one takes ~3 s)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def settings(tmp_path: Path, mlflow_uri: str) -> Settings:
    return Settings(home=tmp_path / "home", tracking_uri=mlflow_uri)


@pytest.fixture
def synthetic_config() -> DatasetConfig:
    return load_dataset("synthetic", override={"source": {"options": {"rows_per_day": 300, "drift": []}}})


@pytest.fixture
def day() -> date:
    return date(2024, 1, 10)
