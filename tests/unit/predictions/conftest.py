"""Fixtures of the production-loop tests: a trained model registered as champion and challenger, a validated partition."""

from datetime import UTC, date, datetime

import pytest

from mlops import schema, tracking
from mlops.lake import Lake
from mlops.predictions.store import PredictionStore, embedded_url
from mlops.registry import CHALLENGER, CHAMPION, register_version
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource
from mlops.training.train import train_model

DAY = date(2024, 1, 12)
SOURCE = SyntheticSource(rows_per_day=300, seed=9)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mlflow_uri):
    """One trained model for the module (training is the slow part)."""
    from mlops.config import Settings, load_dataset

    config = load_dataset("synthetic", override={"source": {"options": {"rows_per_day": 300, "drift": []}}, "labels": {"delay_days": 0}})
    home = Settings(home=tmp_path_factory.mktemp("scoring-train"), tracking_uri=mlflow_uri)
    return train_model(config, home, end=datetime(2024, 1, 12, tzinfo=UTC), run_key="dag/scoring", source=SOURCE, window_days=5, holdout_days=1)


@pytest.fixture
def env(settings, synthetic_config, trained, request):
    """A dataset whose model has a champion (v1) and a waiting challenger (v2), and a validated partition of DAY."""
    name = f"unit_scoring_{request.node.name[:40]}"
    config = synthetic_config.model_copy(update={"registered_model_name": name})
    client = tracking.client(settings)
    tags = schema.encode_tags({schema.METRICS: trained["metrics"], schema.HOLDOUT_WINDOW: trained["holdout_window"]})
    for key, alias in (("dag/v1", CHAMPION), ("dag/v2", CHALLENGER)):
        register_version(client, name=name, model_uri=trained["model_uri"], run_id=trained["run_id"], run_key=key, tags=tags, alias=alias)
    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    holdout = Interval.parse(*trained["holdout_window"])  # the versions' holdout: their reference scores
    lake.write(SOURCE.read(holdout), holdout, timestamp_column="ts", source="t")
    lake.mark_validated(holdout, {"success": True})
    interval = Interval.days(DAY)
    info = lake.write(SOURCE.read(interval), interval, timestamp_column="ts", source="t")
    lake.mark_validated(interval, {"success": True})
    return config, client, PredictionStore(embedded_url(settings.home)), lake, info
