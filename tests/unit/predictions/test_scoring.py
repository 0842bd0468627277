"""Batch scoring with real registered models (SQLite MLflow store), a real lake and a real SQLite prediction store."""

import shutil
from datetime import date

import pandas as pd
import pytest

from mlops import schema
from mlops.errors import ScoringError
from mlops.lake import uri_to_path
from mlops.predictions.keys import row_keys
from mlops.predictions.scoring import ModelCache, partitions_from_events, run_note, run_scoring, score_partition, serving_models
from mlops.registry import CHAMPION
from mlops.sources.base import Interval

DAY = date(2024, 1, 12)  # the day of the fixture's validated partition (conftest.py)


def test_champion_and_waiting_challenger_are_scored_and_rescoring_replaces(settings, env):
    config, client, store, lake, info = env
    models, why = serving_models(config, client)
    assert why is None and [(m.version, m.role) for m in models] == [(1, "champion"), (2, "shadow")]
    result = score_partition(config, settings, store, DAY, models, ModelCache(), expected_hash=info.content_hash, dag_id="d", run_id="r1")
    assert result["status"] == "scored" and result["rows"] == 300
    assert [(u["version"], u["role"], u["rows"]) for u in result["units"]] == [(1, "champion", 300), (2, "shadow", 300)]
    rows = store.predictions(config.name, DAY, role="champion")
    partition = lake.read(Interval.days(DAY))
    assert sorted(rows["row_key"]) == sorted(partition["row_id"].astype(str))
    assert rows["score"].between(0, 1).all() and set(rows["prediction"]) <= {0.0, 1.0}
    assert (rows["prediction"] == (rows["score"] >= 0.5)).all()
    parquet = pd.read_parquet(result["units"][0]["lake_path"])
    assert len(parquet) == 300 and "version=1/role=champion" in result["units"][0]["lake_path"]

    again = score_partition(config, settings, store, DAY, models, ModelCache(), dag_id="d", run_id="r2")
    assert again["status"] == "scored"
    assert store.count(config.name, DAY) == 600  # two units, each replaced, never duplicated
    assert set(store.predictions(config.name, DAY)["run_id"]) == {"r2"}


def test_no_champion_skips_with_the_reason(settings, env):
    config, client, store, *_ = env
    client.delete_registered_model_alias(config.model_name, CHAMPION)
    out = run_scoring(config, settings, [{"partition": DAY.isoformat()}], store=store, client=client)
    (result,) = out["results"]
    assert result["status"] == "skipped" and result["reason"].startswith(f"no champion yet: models:/{config.model_name}@champion does not exist")
    assert store.count(config.name) == 0
    assert run_note(out["results"]).startswith("ds=2024-01-12: skipped: no champion yet")


def test_a_decided_challenger_is_not_scored(env):
    config, client, *_ = env
    client.set_model_version_tag(config.model_name, "2", *schema.DECISION.item("rejected"))
    models, _ = serving_models(config, client)
    assert [m.role for m in models] == ["champion"]
    no_shadow = config.model_copy(update={"scoring": config.scoring.model_copy(update={"shadow": False})})
    client.delete_model_version_tag(config.model_name, "2", schema.DECISION.name)
    assert [m.role for m in serving_models(no_shadow, client)[0]] == ["champion"]


def test_quarantined_or_changed_partitions_are_not_scored(settings, env):
    config, client, store, lake, _ = env
    models, _ = serving_models(config, client)
    changed = score_partition(config, settings, store, DAY, models, ModelCache(), expected_hash="0" * 64)
    assert changed["status"] == "skipped" and "content changed since the event" in changed["reason"]
    lake.quarantine(Interval.days(DAY), {"success": False})
    quarantined = score_partition(config, settings, store, DAY, models, ModelCache())
    assert quarantined["status"] == "skipped" and quarantined["reason"].startswith("quarantined")
    assert store.count(config.name) == 0


def test_columns_that_do_not_fit_the_signature_fail_with_their_names(settings, env):
    config, client, store, lake, _ = env
    interval = Interval.days(DAY)
    bad = lake.read(interval).drop(columns=["x3"]).assign(x0="n/a")
    lake.write(bad, interval, timestamp_column="ts", source="t")
    lake.mark_validated(interval, {"success": True})
    with pytest.raises(ScoringError) as e:
        score_partition(config, settings, store, DAY, serving_models(config, client)[0], ModelCache())
    msg = str(e.value)
    assert f"partition ds=2024-01-12: the partition does not fit the input signature of {config.model_name} v1 (champion)" in msg
    assert "missing columns ['x3']" in msg and "'x0' (expected double, found" in msg and "300 non-numeric values, e.g. ['n/a'" in msg
    assert store.count(config.name) == 0


def test_duplicate_row_keys_fail_before_anything_is_written(settings, env):
    config, client, store, lake, _ = env
    interval = Interval.days(DAY)
    df = lake.read(interval)
    df.loc[df.index[:4], "row_id"] = df["row_id"].iloc[0]
    lake.write(df, interval, timestamp_column="ts", source="t")
    lake.mark_validated(interval, {"success": True})
    with pytest.raises(ScoringError, match=r"3 of 300 rows repeat a row_key \['row_id'\]"):
        score_partition(config, settings, store, DAY, serving_models(config, client)[0], ModelCache())
    assert store.count(config.name) == 0


def test_a_champion_that_does_not_load_fails_the_run_and_nothing_else_serves(settings, env, tmp_path):
    config, client, store, *_ = env
    # A third version whose model file is corrupt becomes the champion; v1 (the previous one) and v2 still load.
    copy = tmp_path / "broken-model"
    shutil.copytree(uri_to_path(client.get_model_version_download_uri(config.model_name, "1")), copy)
    (model_file,) = [p for p in copy.rglob("*.skops")]
    model_file.write_bytes(b"not a model")
    broken = client.create_model_version(config.model_name, source=copy.as_uri())
    client.set_registered_model_alias(config.model_name, CHAMPION, broken.version)
    with pytest.raises(ScoringError) as e:
        run_scoring(config, settings, [{"partition": DAY.isoformat()}], store=store, client=client)
    assert f"model {config.model_name} version 3 (the champion, models:/{config.model_name}/3) could not be loaded" in str(e.value)
    assert "no other version is used in its place" in str(e.value)
    assert store.count(config.name) == 0
    assert [m.version for m in serving_models(config, client)[0]] == [3, 2]  # v1 loads, yet it was never used
    ModelCache().get(serving_models(config, client)[0][1])


def test_events_are_coalesced_per_partition_and_backfills_left_out():
    events = [
        {"timestamp": "2024-01-12T01:00:00", "extra": {"partition": "2024-01-11", "content_hash": "a", "run_type": "scheduled"}},
        {"timestamp": "2024-01-12T02:00:00", "extra": {"partition": "2024-01-11", "content_hash": "b", "run_type": "manual"}},
        {"timestamp": "2024-01-12T03:00:00", "extra": {"partition": "2024-01-10", "content_hash": "c", "run_type": "scheduled"}},
        {"timestamp": "2024-01-12T04:00:00", "extra": {"partition": "2024-01-09", "content_hash": "d", "run_type": "backfill"}},
        {"timestamp": "2024-01-12T05:00:00", "extra": {}},
    ]
    requests, ignored = partitions_from_events(events)
    assert [(r["partition"], r["content_hash"]) for r in requests] == [("2024-01-10", "c"), ("2024-01-11", "b")]
    assert [i["partition"] for i in ignored] == ["2024-01-09", None]
    assert "backfill" in ignored[0]["reason"] and "without a partition" in ignored[1]["reason"]


def test_row_keys_are_stable_across_types_and_refuse_nulls():
    df = pd.DataFrame(
        {
            "time_hour": pd.to_datetime(["2013-01-01 05:00", "2013-01-01 06:00"], utc=True),
            "carrier": pd.array(["UA", "AA"], dtype="string"),
            "flight": [1545, 1141],
            "origin": ["EWR", "JFK"],
        }
    )
    keys = row_keys(df, ["time_hour", "carrier", "flight", "origin"], where="t")
    assert keys.tolist() == ["2013-01-01T05:00:00|UA|1545|EWR", "2013-01-01T06:00:00|AA|1141|JFK"]
    as_text = df.assign(time_hour=df["time_hour"].dt.tz_localize(None), flight=df["flight"].astype(float))
    assert row_keys(as_text, ["time_hour", "carrier", "flight", "origin"], where="t").tolist() == keys.tolist()
    with pytest.raises(ScoringError, match=r"t: row_key columns hold nulls \(flight: 1 of 2 rows\)"):
        row_keys(df.assign(flight=[1.0, None]), ["flight"], where="t", error=ScoringError)
    with pytest.raises(ScoringError, match=r"t: row_key columns \['id'\] are missing"):
        row_keys(df, ["id"], where="t", error=ScoringError)
