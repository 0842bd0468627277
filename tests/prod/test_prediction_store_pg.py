"""The prediction store on the machine's PostgreSQL (a database of its own, dropped afterwards):
schema, COPY writes, replace-not-duplicate under concurrent writers, the label join."""

from __future__ import annotations

import os
import threading
from datetime import UTC, date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from .conftest import PG, sql

pytestmark = pytest.mark.prod

DAY = date(2024, 1, 10)
NOW = datetime(2024, 1, 11, 3, tzinfo=UTC)


@pytest.fixture(scope="module")
def store():
    from mlops.predictions.store import PredictionStore

    name = f"mlops_t{os.getpid()}_store"
    sql(f'create database "{name}"')
    url = sa.URL.create("postgresql+psycopg2", username=PG["user"], host=PG["host"], port=PG["port"], database=name).render_as_string(hide_password=False)
    try:
        yield PredictionStore(url)
    finally:
        from mlops.predictions import store as store_module

        store_module._engines.pop(url).dispose()
        sql(f'drop database if exists "{name}" with (force)')


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_key": [f"k{i}" for i in range(n)],
            "prediction": [float((i + seed) % 2) for i in range(n)],
            "score": [((i * 7 + seed) % 100) / 100 for i in range(n)],
        }
    )


def test_schema_and_indexes_in_postgresql(store):
    inspector = sa.inspect(store.engine)
    assert store.dialect == "postgresql"
    assert {"predictions", "labels", "live_metrics", "mlops_store_schema"} <= set(inspector.get_table_names())
    assert {ix["name"] for ix in inspector.get_indexes("predictions")} == {"ux_predictions_day_unit_row", "ix_predictions_version_day", "ix_predictions_row"}


def test_copy_writes_replace_the_unit_even_under_concurrent_writers(store):
    from mlops.predictions.store import Unit

    unit = Unit("pg", DAY, "m", 7, "champion")
    errors: list[BaseException] = []

    def write(seed: int) -> None:
        try:
            store.replace_predictions(unit, _frame(5000, seed), scored_at=NOW, dag_id="d", run_id=f"r{seed}")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    rows = store.predictions("pg", DAY)
    assert len(rows) == 5000 and rows["run_id"].nunique() == 1  # one writer's rows, whole
    assert rows["scored_at"].iloc[0] == pd.Timestamp(NOW)
    assert rows["score"].isna().sum() == 0


def test_labels_join_and_null_scores_in_postgresql(store):
    from mlops.predictions.store import Unit

    frame = _frame(10).assign(score=[None] * 10)  # regression: no score
    store.replace_predictions(Unit("pg", date(2024, 1, 12), "m", 1, "champion"), frame, scored_at=NOW)
    store.replace_labels("pg", date(2024, 1, 12), pd.DataFrame({"row_key": ["k1", "k2", "zz"], "label": [1.0, 0.0, 1.0]}), arrived_at=NOW)
    joined = store.labelled_predictions("pg", date(2024, 1, 12))
    assert sorted(joined["row_key"]) == ["k1", "k2"] and joined["score"].isna().all()
    unit = Unit("pg", date(2024, 1, 12), "m", 1, "champion")
    store.replace_live_metrics(unit, "realised", {"rmse": 0.5, "r2": None}, rows=2, computed_at=NOW)
    store.replace_live_metrics(unit, "realised", {"rmse": 0.4}, rows=2, computed_at=NOW)
    live = store.live_metrics("pg", "m")
    assert list(zip(live["metric"], live["value"], live["rows"], strict=True)) == [("rmse", 0.4, 2)]


def test_shadow_soak_looks_in_postgresql(store, logged_model):
    """The soak's queries and its look table on PostgreSQL: the same looks as on SQLite, a look never written twice."""
    from datetime import timedelta

    from mlops.config import load_dataset
    from mlops.promotion.shadow import soak_look
    from mlops.registry import register_version
    from unit.promotion.soak_data import NOW as LOOKED
    from unit.promotion.soak_data import label, scored_day

    client, model_uri, run_id = logged_model
    name = f"pg_shadow_{os.getpid()}"
    for k in (1, 2):
        register_version(client, name=name, model_uri=model_uri, run_id=run_id, run_key=f"dag/pg{k}", tags={})
    client.set_registered_model_alias(name, "champion", "1")
    config = load_dataset("synthetic", override={"registered_model_name": name, "promotion": {"shadow": {"min_days": 2, "max_days": 6, "min_rows": 200}}})
    days = [date(2024, 3, 1) + timedelta(days=i) for i in range(6)]
    for d in days:
        label(store, d, scored_day(store, name, d, champion=1, challenger=2, challenger_noise=0.2))
    assert store.shadow_days("synthetic", name, challenger=2, champion=1) == days
    result = soak_look(config, client, store, "2", now=LOOKED)
    assert result["decision"] == "promote" and 2 <= result["days"] < 6
    looks = store.shadow_looks("synthetic", name, 2)
    assert list(looks["partition_date"]) == days[: result["days"]] and list(looks["seq"]) == list(range(1, result["days"] + 1))
    row = {c: looks.iloc[0][c] for c in looks.columns}
    assert store.add_shadow_look({**row, "partition_date": days[0], "looked_at": LOOKED}) is False
    assert soak_look(config, client, store, "2", now=LOOKED)["days"] == result["days"]  # looked again: nothing added
