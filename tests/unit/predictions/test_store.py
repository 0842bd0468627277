"""The prediction store on a real SQLite file: schema, replace-not-duplicate, atomic failures, the label join."""

from datetime import UTC, date, datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from mlops.errors import StoreError
from mlops.predictions import store as store_module
from mlops.predictions.store import SCHEMA_VERSION, PredictionStore, Unit, embedded_url

DAY = date(2024, 1, 10)
NOW = datetime(2024, 1, 11, 3, tzinfo=UTC)


def frame(n: int, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_key": [str(i + offset) for i in range(n)],
            "prediction": [float(i % 2) for i in range(n)],
            "score": [0.1 + 0.8 * (i % 2) for i in range(n)],
        }
    )


@pytest.fixture
def store(tmp_path):
    return PredictionStore(embedded_url(tmp_path))


def test_schema_is_created_once_with_its_version(store, tmp_path):
    inspector = sa.inspect(store.engine)
    assert {"predictions", "labels", "live_metrics", "mlops_store_schema"} <= set(inspector.get_table_names())
    indexes = {ix["name"]: ix for ix in inspector.get_indexes("predictions")}
    assert indexes["ux_predictions_day_unit_row"]["unique"]
    assert indexes["ux_predictions_day_unit_row"]["column_names"][:2] == ["dataset", "partition_date"]
    assert indexes["ix_predictions_version_day"]["column_names"] == ["dataset", "model_name", "version", "role", "partition_date"]
    assert indexes["ix_predictions_row"]["column_names"] == ["dataset", "row_key"]
    assert store_module.ensure_schema(store.engine) == SCHEMA_VERSION  # again: nothing changes
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*), max(version) from mlops_store_schema")).one() == (1, SCHEMA_VERSION)


def test_a_newer_schema_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'newer.sqlite'}"
    engine = sa.create_engine(url)
    store_module.ensure_schema(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("update mlops_store_schema set version = :v"), {"v": SCHEMA_VERSION + 1})
    engine.dispose()
    with pytest.raises(StoreError, match=rf"has schema version {SCHEMA_VERSION + 1}; this release knows up to {SCHEMA_VERSION}"):
        PredictionStore(url)


def test_rescoring_replaces_the_unit_and_never_duplicates(store):
    champion = Unit("synthetic", DAY, "m", 3, "champion")
    shadow = Unit("synthetic", DAY, "m", 4, "shadow")
    assert store.replace_predictions(champion, frame(100), scored_at=NOW, dag_id="d", run_id="r1") == 100
    store.replace_predictions(shadow, frame(100), scored_at=NOW)
    store.replace_predictions(champion, frame(80, offset=5), scored_at=NOW, dag_id="d", run_id="r2")
    assert store.count("synthetic", DAY, version=3, role="champion") == 80
    assert store.count("synthetic", DAY, version=4, role="shadow") == 100
    assert store.count("synthetic") == 180
    rows = store.predictions("synthetic", DAY, version=3)
    assert set(rows["run_id"]) == {"r2"} and rows["partition_date"].iloc[0] == DAY
    assert store.units("synthetic", DAY) == [champion, shadow]


def test_a_failed_write_leaves_the_previous_rows(store):
    unit = Unit("synthetic", DAY, "m", 1, "champion")
    store.replace_predictions(unit, frame(10), scored_at=NOW)
    bad = frame(10)
    bad.loc[3, "row_key"] = None  # NOT NULL: the insert fails after the delete
    with pytest.raises(StoreError, match=r"writing 10 predictions of synthetic ds=2024-01-10 m v1 \(champion\) failed .*previous rows are unchanged"):
        store.replace_predictions(unit, bad, scored_at=NOW)
    assert store.count("synthetic", DAY) == 10
    dupes = pd.concat([frame(3), frame(3)])
    with pytest.raises(StoreError):  # the unique index makes a duplicate impossible
        store.replace_predictions(unit, dupes, scored_at=NOW)
    assert store.count("synthetic", DAY) == 10


def test_unknown_role_is_refused():
    with pytest.raises(StoreError, match=r"role must be one of \('champion', 'shadow'\), got 'canary'"):
        Unit("synthetic", DAY, "m", 1, "canary")


def test_labels_join_the_predictions_of_their_day(store):
    store.replace_predictions(Unit("synthetic", DAY, "m", 1, "champion"), frame(10), scored_at=NOW)
    store.replace_predictions(Unit("synthetic", date(2024, 1, 11), "m", 1, "champion"), frame(10), scored_at=NOW)
    labels = pd.DataFrame({"row_key": [str(i) for i in range(0, 10, 2)], "label": [1.0, 0.0, 1.0, 0.0, 1.0]})
    assert store.replace_labels("synthetic", DAY, labels, arrived_at=NOW) == 5
    joined = store.labelled_predictions("synthetic", DAY)
    assert sorted(joined["row_key"]) == ["0", "2", "4", "6", "8"] and set(joined["version"]) == {1}
    assert store.labelled_predictions("synthetic", date(2024, 1, 11)).empty
    store.replace_labels("synthetic", DAY, labels.head(2), arrived_at=NOW)
    assert store.label_count("synthetic", DAY) == 2


def test_live_metrics_are_replaced_per_unit_and_kind(store):
    unit = Unit("synthetic", DAY, "m", 2, "champion")
    store.replace_live_metrics(unit, "realised", {"roc_auc": 0.8, "accuracy": 0.7}, rows=100, computed_at=NOW)
    store.replace_live_metrics(unit, "realised", {"roc_auc": 0.81}, rows=120, computed_at=NOW)
    store.replace_live_metrics(unit, "estimated", {"roc_auc": 0.79}, rows=120, computed_at=NOW)
    got = store.live_metrics("synthetic", "m")
    assert sorted(zip(got["kind"], got["metric"], got["value"], strict=True)) == [("estimated", "roc_auc", 0.79), ("realised", "roc_auc", 0.81)]


def test_the_url_shown_never_holds_the_password():
    assert store_module.safe_url("postgresql+psycopg2://u:s3cret@h:5432/db") == "postgresql+psycopg2://u:***@h:5432/db"


def test_a_store_of_schema_1_is_migrated_with_the_shadow_look_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = sa.create_engine(url)
    old = [t for name, t in store_module.metadata.tables.items() if name != "shadow_looks"]
    with engine.begin() as conn:
        store_module.metadata.create_all(conn, tables=old)
        conn.execute(sa.text("insert into mlops_store_schema (component, version, migrated_at) values ('prediction_store', 1, '2024-01-01')"))
        conn.execute(
            sa.text("insert into labels (dataset, partition_date, row_key, label, arrived_at) values ('synthetic', '2024-01-10', 'k', 1, '2024-01-11')")
        )
    engine.dispose()
    store = PredictionStore(url)
    assert "shadow_looks" in sa.inspect(store.engine).get_table_names()
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("select version from mlops_store_schema")).scalar() == SCHEMA_VERSION == 2
    assert store.label_count("synthetic", DAY) == 1  # what was there stays
    assert store.shadow_looks("synthetic", "m", 2).empty
