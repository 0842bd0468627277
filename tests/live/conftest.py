import os
import shutil

import pytest
import yaml
from live.stack import live_stack

from mlops.config import DEFAULT_DATASETS_DIR

#: A scheduled copy of the synthetic dataset: backfills need a schedule.
BACKFILL_DATASET = {
    "name": "livebf",
    "dag": {"dag_id": "live_backfill", "promotion_dag_id": "live_backfill_promotion", "rollback_dag_id": "live_backfill_rollback",
            "schedule": "@daily", "start_date": "2024-01-01"},
    "registered_model_name": "livebf_model",
    "labels": {"delay_days": 0},
}


BROWSER_DATASET = {
    "name": "livebrowser",
    "dag": {"dag_id": "live_browser", "promotion_dag_id": "live_browser_promotion", "rollback_dag_id": "live_browser_rollback",
            "schedule": None, "start_date": "2024-01-01"},
    "registered_model_name": "livebrowser_model",
    "labels": {"delay_days": 0},
}


#: A copy of the synthetic dataset of its own for the scoring test (its champion is set by the test).
SCORING_DATASET = {
    "name": "livescore",
    "dag": {"dag_id": "live_scoring_nightly", "promotion_dag_id": "live_scoring_promotion", "rollback_dag_id": "live_scoring_rollback",
            "scoring_dag_id": "live_scoring", "schedule": None, "start_date": "2024-01-01"},
    "registered_model_name": "livescore_model",
}


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The real stack, with approval required for promotions (as in the production profile)."""
    home = tmp_path_factory.mktemp("live")
    datasets = home / "datasets"
    datasets.mkdir()
    shutil.copy(DEFAULT_DATASETS_DIR / "synthetic.yaml", datasets / "synthetic.yaml")
    bf = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    bf.update(BACKFILL_DATASET)
    # Drift from 9 January: the backfill must retrain mid-period, not only on its first day.
    bf["source"]["options"].update(rows_per_day=400, drift=[{"features": ["x0", "x1", "x2"], "start": "2024-01-09", "shift": 1.5}])
    bf["training"].update(window_days=5, holdout_days=1, min_train_rows=800)
    bf["drift"] = {"reference_days": 3}
    (datasets / "livebf.yaml").write_text(yaml.safe_dump(bf))
    # A model of its own for the browser test: its first challenger always reaches the approval step.
    browser = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    browser.update(BROWSER_DATASET)
    (datasets / "livebrowser.yaml").write_text(yaml.safe_dump(browser))
    scoring = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    scoring.update(SCORING_DATASET)
    scoring["source"]["options"].update(rows_per_day=300, drift=[])
    scoring["training"].update(window_days=5, holdout_days=1, min_train_rows=500)
    scoring["drift"] = {"reference_days": 3}
    (datasets / "livescore.yaml").write_text(yaml.safe_dump(scoring))
    s = live_stack(
        home,
        api_port=int(os.environ.get("MLOPS_TEST_API_PORT", "18080")),
        mlflow_port=int(os.environ.get("MLOPS_TEST_MLFLOW_PORT", "15000")),
        extra_env={"MLOPS_REQUIRE_APPROVAL": "true", "MLOPS_DATASETS_DIR": str(datasets)},
    )
    try:
        yield s.start()
    finally:
        s.stop()
