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
}


BROWSER_DATASET = {
    "name": "livebrowser",
    "dag": {"dag_id": "live_browser", "promotion_dag_id": "live_browser_promotion", "rollback_dag_id": "live_browser_rollback",
            "schedule": None, "start_date": "2024-01-01"},
    "registered_model_name": "livebrowser_model",
}


#: Malformed YAML (line 5 is indented under a scalar).
BROKEN_DATASET = "name: broken\ndag:\n  dag_id: live_broken\ntarget: y\n  task: classification\n"


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
    # A malformed config beside the good ones, for the whole live session: the good DAGs must
    # load, run and be triggered as usual (tests/live/test_config_guards.py checks the error).
    (datasets / "broken.yaml").write_text(BROKEN_DATASET)
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
