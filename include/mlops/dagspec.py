"""What the DAG files need at parse time: which datasets get a nightly DAG, with which id and schedule.

Only ``yaml`` and ``pathlib``: DAG files must parse fast, so nothing heavy is imported here.
A dataset config with a ``dag:`` section gets a nightly training DAG, a promotion DAG and a
rollback DAG; its keys are ``dag_id`` (default ``mlops_nightly_training__<name>``),
``promotion_dag_id`` (default ``mlops_model_promotion__<name>``), ``rollback_dag_id``
(default ``mlops_model_rollback__<name>``), ``scoring_dag_id`` (default
``mlops_batch_scoring_<name>``; the DAG exists when the config also has a ``scoring:`` section), ``schedule`` (default ``@daily``; ``null`` for
manual runs only), ``start_date`` (default 2013-01-01) and ``tags``.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

DATASETS_DIR = Path(__file__).resolve().parent.parent / "datasets"


def dag_specs(datasets_dir: str | Path | None = None) -> list[dict]:
    folder = Path(datasets_dir or os.environ.get("MLOPS_DATASETS_DIR") or DATASETS_DIR)
    specs = []
    for path in sorted(folder.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text()) or {}
        dag = raw.get("dag")
        if not isinstance(dag, dict):
            continue
        name = raw.get("name", path.stem)
        specs.append({
            "dataset": name,
            "dag_id": dag.get("dag_id") or f"mlops_nightly_training__{name}",
            "promotion_dag_id": dag.get("promotion_dag_id") or f"mlops_model_promotion__{name}",
            "rollback_dag_id": dag.get("rollback_dag_id") or f"mlops_model_rollback__{name}",
            "scoring_dag_id": dag.get("scoring_dag_id") or f"mlops_batch_scoring_{name}",
            "scoring": isinstance(raw.get("scoring"), dict),
            "model_name": raw.get("registered_model_name") or f"{name}_model",
            "schedule": dag.get("schedule", "@daily"),
            "start_date": str(dag.get("start_date", "2013-01-01")),
            "tags": list(dag.get("tags", [])),
            "description": " ".join(str(raw.get("description", "")).split()),
            "task": raw.get("task"),
        })
    return specs
