"""
### Dataset configs: the import error of an invalid config

Defines no DAG. Every dataset config under `include/datasets/` (or `MLOPS_DATASETS_DIR`) is
checked when the DAG files are parsed: YAML syntax, the `dag:` section (unknown keys, DAG
ids, schedule, start date, tags), and the config itself (columns, metrics of the task,
validation ranges and categories, windows, the retraining policy). A config with a problem
gets no DAGs, and the DAGs of the other configs load as usual.

This file reports the problems: Airflow lists them as its import error (UI: *Dag Import
Errors*; `airflow dags list-import-errors`; `GET /api/v2/importErrors`), one line per
invalid config with its file, line and what to change. The nightly, promotion and rollback
DAG files never raise for a config: in Airflow 3.3 an import error of a DAG file marks every
DAG of that file stale, so one bad config would stop every dataset's DAGs.
"""

from __future__ import annotations

from mlops.dagspec import scan_datasets
from mlops.errors import ConfigError

_problems = scan_datasets().problems
if _problems:
    raise ConfigError(
        f"{len(_problems)} dataset config(s) are invalid and have no DAGs until fixed; the other datasets' DAGs are not affected.\n\n" + "\n\n".join(_problems)
    )
