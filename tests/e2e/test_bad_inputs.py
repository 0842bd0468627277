"""A corpus of bad inputs through the real nightly DAG, on a dataset made for this test.

``meters``: household energy readings (regression of ``kwh`` on the weather, the household
and its tariff), delivered by an upstream as one Parquet file per day,
``readings-YYYY-MM-DD.parquet``, in a folder read by the files source. Four good days train
version 1, which is made champion. Then each of twelve days brings one kind of bad file,
written just before that day's run as an upstream would; every bad file stays in the
folder for the rest of the test. Each such run must fail at ingest or validate with a
message naming the file or the column, without retries, register nothing, leave the
champion alone and keep the bad data for inspection; the next good day must run as usual,
and a retrain whose window spans the bad days trains on the good days only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
import yaml

from e2e.helpers import run_dag, states, xcom

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

DAG_ID = "e2e_meters"
MODEL = "meters_model"
FIRST = date(2024, 5, 1)
ROWS = 300
TARIFFS, REGIONS = ["day", "night", "flat"], ["north", "south", "east", "west"]


def readings(day: date, rows: int = ROWS) -> pd.DataFrame:
    """One day of meter readings; the same day always gives the same rows."""
    rng = np.random.default_rng(day.toordinal())
    start = pd.Timestamp(day.isoformat(), tz="UTC")
    temp = rng.normal(12, 6, rows).round(1)
    occupants = rng.integers(1, 7, rows)
    area = rng.uniform(30, 250, rows).round(0)
    tariff = rng.choice(TARIFFS, rows)
    kwh = 0.4 + 0.03 * area + 0.9 * occupants + 0.12 * np.clip(18 - temp, 0, None) + (tariff == "night") * 1.5 + rng.normal(0, 0.5, rows)
    return pd.DataFrame(
        {
            "meter_id": rng.permutation(np.arange(10_000, 10_000 + rows)),
            "read_at": (start + pd.to_timedelta(np.sort(rng.integers(0, 86_400, rows)), unit="s")).astype("datetime64[us, UTC]"),
            "temp_c": temp,
            "occupants": occupants,
            "floor_area": area,
            "tariff": pd.array(tariff, dtype="string"),
            "region": pd.array(rng.choice(REGIONS, rows), dtype="string"),
            "kwh": kwh.round(3),
        }
    )


def _null_share(df, col, share, seed=1):
    return df.assign(**{col: df[col].mask(np.random.default_rng(seed).random(len(df)) < share)})


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])


# name: (how the day's file is spoiled, the task that must fail, what the message must say)
CASES = {
    "missing_column": (
        lambda df, p: df.drop(columns=["temp_c"]).to_parquet(p),
        "ingest",
        r"{file} holds 300 rows of {ds} but lacks the declared column\(s\) \['temp_c'\]",
    ),
    "extra_column": (
        lambda df, p: df.assign(promo_code="SPRING").to_parquet(p),
        "validate",
        r"expect_table_columns_to_match_set on table: mismatched columns \{{'unexpected': \['promo_code'\]\}}",
    ),
    "type_change": (
        lambda df, p: df.assign(occupants=df["occupants"].astype(str) + " people").to_parquet(p),
        "validate",
        r"expect_column_values_to_be_in_type_list on column 'occupants'",
    ),
    "null_surge": (
        lambda df, p: _null_share(df, "temp_c", 0.4).to_parquet(p),
        "validate",
        r"expect_column_values_to_not_be_null on column 'temp_c': \d+ of 300 values violate it",
    ),
    "out_of_range": (
        lambda df, p: df.assign(floor_area=df["floor_area"] * np.where(np.arange(len(df)) % 10 == 0, 1000, 1)).to_parquet(p),
        "validate",
        r"expect_column_values_to_be_between on column 'floor_area': 30 of 300 values violate it",
    ),
    "empty": (
        lambda df, p: df.iloc[0:0].to_parquet(p),
        "validate",
        r"\(no source file in \S+ holds rows of this interval; empty files: {file}\): 1 of \d+ expectations failed:\n"
        r"  - expect_table_row_count_to_be_between on table: observed 0; expected \{{'min_value': 50\}}",
    ),
    "duplicated_rows": (
        lambda df, p: pd.concat([df] * 3).to_parquet(p),
        "validate",
        r"expect_compound_columns_to_be_unique on columns \['meter_id', 'read_at'\]: 900 of 900 rows share their values",
    ),
    "unseen_categories": (
        lambda df, p: df.assign(tariff=df["tariff"].mask(np.arange(len(df)) % 3 == 0, "dynamic")).to_parquet(p),
        "validate",
        r"expect_column_values_to_be_in_set on column 'tariff': 100 of 300 values violate it \(e\.g\. \['dynamic'",
    ),
    "target_missing": (
        lambda df, p: df.drop(columns=["kwh"]).to_parquet(p),
        "ingest",
        r"{file} holds 300 rows of {ds} but lacks the declared column\(s\) \['kwh'\]",
    ),
    "target_all_null": (
        lambda df, p: df.assign(kwh=np.nan).to_parquet(p),
        "validate",
        r"expect_column_values_to_not_be_null on column 'kwh': 300 of 300 values violate it",
    ),
    "truncated_parquet": (
        lambda df, p: (df.to_parquet(p), _truncate(p)),
        "ingest",
        r"files source: \S*{file} \(\d+ bytes\) cannot be read as Parquet: it starts like Parquet but its footer is missing",
    ),
    "csv_named_parquet": (
        lambda df, p: df.to_csv(p, index=False),
        "ingest",
        r"files source: \S*{file} \(\d+ bytes\) cannot be read as Parquet: it holds CSV, not Parquet \(first line: 'meter_id,read_at,",
    ),
}
BAD_DAYS = {name: FIRST + timedelta(days=4 + k) for k, name in enumerate(CASES)}
NEXT_GOOD = FIRST + timedelta(days=4 + len(CASES))


def _file(day: date) -> str:
    return f"readings-{day.isoformat()}.parquet"


def _config(folder) -> dict:
    return {
        "name": "meters",
        "description": "Household energy readings, one file per day.",
        "dag": {"dag_id": DAG_ID, "schedule": None},
        "source": {"kind": "files", "options": {"path": str(folder)}},
        "timestamp_column": "read_at",
        "target": "kwh",
        "task": "regression",
        "numeric_features": ["temp_c", "occupants", "floor_area"],
        "categorical_features": ["tariff", "region"],
        "model": {"estimator": "sklearn.linear_model.Ridge", "params": {"alpha": 1.0}, "seed": 0},
        "training": {"window_days": 4, "holdout_days": 1, "min_train_rows": 300, "primary_metric": "rmse", "metric_floors": {}},
        "validation": {
            "min_rows": 50,
            "max_null_fraction": 0.05,
            "ranges": {"temp_c": [-40, 50], "occupants": [1, 20], "floor_area": [10, 2000]},
            "categories": {"tariff": TARIFFS, "region": REGIONS},
            "extra_columns": ["meter_id"],
            "key_columns": ["meter_id", "read_at"],
        },
        "drift": {"reference_days": 3, "small_sample_rows": 5000},
        # A quiet policy: the good day after the bad ones must not retrain unless asked to.
        "retrain": {"drift_share": 1.0, "performance_tolerance_absolute": 5.0, "max_model_age_days": 60},
    }


@pytest.fixture(scope="module")
def corpus(stack, tmp_path_factory):
    from mlops import tracking

    datasets = tmp_path_factory.mktemp("datasets")
    upstream = tmp_path_factory.mktemp("upstream")
    (datasets / "meters.yaml").write_text(yaml.safe_dump(_config(upstream)))
    os.environ["MLOPS_DATASETS_DIR"] = str(datasets)
    client = tracking.client(stack)
    try:
        for k in range(4):
            day = FIRST + timedelta(days=k)
            readings(day).to_parquet(upstream / _file(day))
        first = run_dag(DAG_ID, (FIRST + timedelta(days=3)).isoformat())
        assert first.state == "success", states(first)
        assert xcom(first, "retrain.register")["version"] == "1"
        client.set_registered_model_alias(MODEL, "champion", "1")
        runs = {}
        for name, (spoil, _, _) in CASES.items():
            day = BAD_DAYS[name]
            spoil(readings(day), upstream / _file(day))
            t0 = time.monotonic()
            dr = run_dag(DAG_ID, day.isoformat())
            runs[name] = {"dag_run": dr, "seconds": time.monotonic() - t0, "tis": {ti.task_id: ti for ti in dr.get_task_instances()}}
        yield {"settings": stack, "client": client, "upstream": upstream, "runs": runs, "first": first}
    finally:
        os.environ.pop("MLOPS_DATASETS_DIR", None)
        shutil.rmtree(datasets, ignore_errors=True)


def _record(settings, day: date) -> dict:
    return json.loads((settings.lake_dir / "meters" / f"ds={day.isoformat()}.quarantined.json").read_text())


@pytest.mark.parametrize("case", list(CASES))
def test_each_bad_input_fails_its_run_clearly_and_keeps_the_data(corpus, case):
    _, failing_task, pattern = CASES[case]
    day, run = BAD_DAYS[case], corpus["runs"][case]
    settings, ds = corpus["settings"], f"ds={day.isoformat()}"
    assert run["dag_run"].state == "failed", states(run["dag_run"])
    ti = run["tis"][failing_task]
    assert str(ti.state) == "failed" and ti.try_number == 1, "a data error must fail at once, without retries"
    assert not {t for t, i in run["tis"].items() if str(i.state) == "success"} - {"ingest", "wait_for_previous_run"}, states(run["dag_run"])
    # The message (kept in the day's quarantine record, and logged by the task) names the file or the column.
    record = _record(settings, day)
    assert re.search(pattern.format(file=re.escape(_file(day)), ds=ds), record["message"], re.S), record["message"]
    # The bad data is kept for inspection: the upstream's file where it was, plus the quarantined partition or a copy.
    assert (corpus["upstream"] / _file(day)).is_file()
    if failing_task == "validate":
        assert _file(day) in record["message"], "a failed validation names the source file the rows came from"
        moved = settings.quarantine_dir / "meters" / ds
        assert len(list(moved.glob("*.parquet"))) == 1 and len(list(moved.glob("*.validation.json"))) == 1
        assert not (settings.lake_dir / "meters" / f"{ds}.parquet").exists()
    elif case in ("truncated_parquet", "csv_named_parquet"):
        copies = list((settings.quarantine_dir / "meters" / "source-files").glob(f"*/{_file(day)}"))
        assert len(copies) == 1 and copies[0].read_bytes() == (corpus["upstream"] / _file(day)).read_bytes()
        assert json.loads((copies[0].parent / "reason.json").read_text())["first_interval"] == ds


def test_no_version_was_registered_and_the_champion_stayed(corpus):
    client = corpus["client"]
    assert sorted(str(v.version) for v in client.search_model_versions(f"name = '{MODEL}'")) == ["1"]
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"


def test_the_next_good_day_runs_as_usual(corpus):
    upstream = corpus["upstream"]
    readings(NEXT_GOOD).to_parquet(upstream / _file(NEXT_GOOD))
    dr = run_dag(DAG_ID, NEXT_GOOD.isoformat())
    assert dr.state == "success", states(dr)
    assert states(dr)["no_retrain"] == "success"
    partition = xcom(dr, "ingest")
    assert partition["rows"] == ROWS
    assert partition["provenance"]["files"] == {_file(NEXT_GOOD): ROWS}
    # The unreadable files of other days are still in the folder: skipped, and said so.
    assert sorted(partition["provenance"]["skipped_files"]) == [_file(BAD_DAYS["truncated_parquet"]), _file(BAD_DAYS["csv_named_parquet"])]
    assert str(corpus["client"].get_model_version_by_alias(MODEL, "champion").version) == "1"


def test_a_retrain_across_the_bad_days_uses_only_good_days(corpus):
    settings, upstream = corpus["settings"], corpus["upstream"]
    before = {case: _record(settings, day)["quarantined_at"] for case, day in BAD_DAYS.items()}
    day = NEXT_GOOD + timedelta(days=1)
    readings(day).to_parquet(upstream / _file(day))
    if not (upstream / _file(NEXT_GOOD)).exists():
        readings(NEXT_GOOD).to_parquet(upstream / _file(NEXT_GOOD))
    dr = run_dag(DAG_ID, day.isoformat(), {"force_retrain": True, "training_window_days": 16})
    assert dr.state == "success", states(dr)
    trained = xcom(dr, "retrain.train")
    good = {f"ds={d.isoformat()}" for d in (FIRST + timedelta(days=2), FIRST + timedelta(days=3), NEXT_GOOD, day)}
    assert set(trained["data_hashes"]) == good
    # The window skipped the quarantined days without ingesting and quarantining them again.
    assert {case: _record(settings, d)["quarantined_at"] for case, d in BAD_DAYS.items()} == before
    client = corpus["client"]
    assert xcom(dr, "retrain.register")["version"] == "2"
    assert str(client.get_model_version_by_alias(MODEL, "champion").version) == "1"


def test_the_task_log_opens_with_the_message(corpus, caplog):
    day = NEXT_GOOD + timedelta(days=2)
    path = corpus["upstream"] / _file(day)
    readings(day).to_parquet(path)
    _truncate(path)
    dr = run_dag(DAG_ID, day.isoformat())
    assert dr.state == "failed" and states(dr)["ingest"] == "failed"
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    # The first error the task logs is the one-line-led message, before Airflow's traceback of the pyarrow error.
    assert errors[0].getMessage().startswith(f"BadSourceFile: files source: {path} ("), errors[0].getMessage()
    assert errors[0].name == "mlops.airflow.runtime"
