"""Parse-time reading of dataset configs: a bad file costs only its own DAGs and is named with its line."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from mlops.config import DEFAULT_DATASETS_DIR
from mlops.dagspec import dag_specs, scan_datasets


@pytest.fixture
def folder(tmp_path):
    for name in ("flights", "synthetic"):
        shutil.copy(DEFAULT_DATASETS_DIR / f"{name}.yaml", tmp_path / f"{name}.yaml")
    return tmp_path


def synthetic_copy(folder, name: str, *, dag: dict | None = None, **changes) -> str:
    """A valid config of its own (name, DAG ids), with ``changes`` applied; returns its path."""
    raw = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    raw.update(name=name, dag=dag or {"dag_id": f"{name}_n", "promotion_dag_id": f"{name}_p", "rollback_dag_id": f"{name}_r"})
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            raw[section][field] = value
        else:
            raw[section] = value
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(path)


def line_of(path: str, text: str) -> int:
    return 1 + next(i for i, line in enumerate(Path(path).read_text().splitlines()) if text in line)


SHIPPED_DAGS = {"mlops_nightly_training", "mlops_nightly_training_synthetic"}


def test_a_malformed_yaml_breaks_only_itself_and_is_named_with_its_line(folder):
    (folder / "broken.yaml").write_text("name: broken\ndag:\n  dag_id: broken_nightly\ntarget: y\n  task: classification\n")
    scan = scan_datasets(folder)
    assert {s["dag_id"] for s in scan.specs} == SHIPPED_DAGS
    assert len(scan.problems) == 1
    assert scan.problems[0].startswith(f"dataset config {folder / 'broken.yaml'}, line 5, column 7: not valid YAML: mapping values are not allowed")
    assert "<unicode string>" not in scan.problems[0]


def test_unknown_dag_keys_are_refused_with_the_valid_ones(folder):
    path = synthetic_copy(folder, "typo", dag={"dag_id": "typo_n", "promotion_dag_id": "typo_p", "rollback_dag_id": "typo_r", "scheduel": "@hourly"})
    scan = scan_datasets(folder)
    assert "typo_n" not in {s["dag_id"] for s in scan.specs}
    assert scan.problems == [
        f"dataset config {path}, line {line_of(path, 'scheduel')}: dag: unknown key 'scheduel' (did you mean 'schedule'?); the keys of the dag "
        "section are dag_id, promotion_dag_id, rollback_dag_id, scoring_dag_id, schedule, start_date, tags, start_in_triggerer. An unknown key would be ignored silently "
        "(a misspelt schedule would fall back to @daily)."
    ]


@pytest.mark.parametrize(
    ("dag", "expected"),
    [
        ({"schedule": "@dayly"}, r"dag.schedule '@dayly' is not a cron expression or preset \(did you mean '@daily'\?\)"),
        ({"schedule": "61 * * * *"}, r"dag.schedule '61 \* \* \* \*' is not a cron expression or preset"),
        ({"schedule": 5}, r"dag.schedule must be a cron expression or preset such as '@daily', or null for manual runs only; found 5"),
        ({"start_date": "yesterday"}, r"dag.start_date must be a date like 2024-01-31, found 'yesterday'"),
        ({"tags": "nightly"}, r"dag.tags must be a list of strings"),
        ({"dag_id": "has space"}, r"dag.dag_id must be letters, digits"),
        ({"start_in_triggerer": "yes"}, r"dag.start_in_triggerer must be true or false, found 'yes'"),
    ],
)
def test_dag_section_values_are_checked(folder, dag, expected):
    synthetic_copy(folder, "odd", dag={"dag_id": "odd_n", "promotion_dag_id": "odd_p", "rollback_dag_id": "odd_r", **dag})
    scan = scan_datasets(folder)
    assert {s["dag_id"] for s in scan.specs} == SHIPPED_DAGS
    assert len(scan.problems) == 1 and "odd.yaml, line " in scan.problems[0]
    assert re.search(expected, scan.problems[0]), scan.problems[0]


def test_dataset_config_problems_are_reported_at_parse_time(folder):
    path = synthetic_copy(folder, "metric", training__primary_metric="auc")
    scan = scan_datasets(folder)
    assert "metric_n" not in {s["dag_id"] for s in scan.specs}
    assert (
        f"{path}, line {line_of(path, 'primary_metric')}: training.primary_metric: 'auc' is not a metric this task computes (did you mean 'roc_auc'?)"
        in scan.problems[0]
    )


def test_duplicate_dag_ids_and_names_are_refused(folder):
    synthetic_copy(folder, "zcopy", dag={"dag_id": "mlops_nightly_training_synthetic", "promotion_dag_id": "z_p", "rollback_dag_id": "z_r"})
    raw = yaml.safe_load((DEFAULT_DATASETS_DIR / "synthetic.yaml").read_text())
    raw["dag"] = {"dag_id": "other_n", "promotion_dag_id": "other_p", "rollback_dag_id": "other_r"}
    (folder / "other.yaml").write_text(yaml.safe_dump(raw))  # name: synthetic in other.yaml
    scan = scan_datasets(folder)
    assert {s["dag_id"] for s in scan.specs} == SHIPPED_DAGS
    assert "name 'synthetic' differs from the file name 'other.yaml'; tasks load a dataset's config by its name" in scan.problems[0]
    assert f"DAG id 'mlops_nightly_training_synthetic' is already used by {folder / 'synthetic.yaml'}" in scan.problems[1]


def test_shipped_configs_have_no_problems():
    scan = scan_datasets(DEFAULT_DATASETS_DIR)
    assert scan.problems == []
    assert {s["dag_id"] for s in dag_specs(DEFAULT_DATASETS_DIR)} == SHIPPED_DAGS


def test_a_scan_is_kept_until_a_config_changes(folder, tmp_path, monkeypatch):
    """Each DAG file scans the folder in its own process: an unchanged folder is checked once (cache under MLOPS_HOME)."""
    import mlops.dagspec as dagspec

    home = tmp_path / "home"
    monkeypatch.setenv("MLOPS_HOME", str(home))
    checked = []
    real = dagspec._scan
    monkeypatch.setattr(dagspec, "_scan", lambda f, p: checked.append(len(p)) or real(f, p))
    bad = synthetic_copy(folder, "extra", training__primary_metric="roc_acu")
    first = scan_datasets(folder)
    assert checked == [3] and len(first.problems) == 1 and "roc_acu" in first.problems[0]
    cached = list((home / "cache" / "dagspec").glob("*.json"))
    assert len(cached) == 1
    # Another process (the memo emptied): read from the file, the same result, nothing checked again.
    dagspec._memo.clear()
    again = scan_datasets(folder)
    assert checked == [3] and again == first
    # A fixed config is checked again and gets its DAGs; so does a config whose bytes change at all.
    synthetic_copy(folder, "extra", training__primary_metric="roc_auc")
    fixed = scan_datasets(folder)
    assert checked == [3, 3] and not fixed.problems and "extra_n" in {s["dag_id"] for s in fixed.specs}
    Path(bad).write_text(Path(bad).read_text() + "\n# a comment\n")
    scan_datasets(folder)
    assert checked == [3, 3, 3]
    # A damaged cache file is ignored (and replaced); parsing never depends on the cache.
    dagspec._memo.clear()
    for f in (home / "cache" / "dagspec").glob("*.json"):
        f.write_text("{not json")
    assert scan_datasets(folder) == fixed and checked == [3, 3, 3, 3]


def test_a_full_file_system_never_breaks_parsing(folder, tmp_path, monkeypatch):
    """The scan cache is written with atomic_write, which reports a full disk as StorageFull: parsing goes on without it."""
    import errno

    import mlops.dagspec as dagspec
    import mlops.lake as lake

    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / "home"))
    dagspec._memo.clear()

    def full(path, write):
        raise lake.disk_full_error(path, OSError(errno.ENOSPC, "No space left on device"), atomic=True)

    monkeypatch.setattr(lake, "atomic_write", full)
    scan = scan_datasets(folder)
    assert {s["dag_id"] for s in scan.specs} == SHIPPED_DAGS and not (tmp_path / "home" / "cache" / "dagspec").exists()
