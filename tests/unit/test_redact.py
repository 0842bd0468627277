"""Credentials never leave the process: URLs, configs, tags and the sql source's errors."""

from __future__ import annotations

import traceback

import pytest

from mlops import schema
from mlops.errors import SourceError
from mlops.redact import redact_config, redact_text
from mlops.sources.base import Interval

SECRET = "Tr0ub4dor-and-3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"postgresql+psycopg2://alice:{SECRET}@db.example:5432/flights", "postgresql+psycopg2://alice:***@db.example:5432/flights"),
        (
            f"postgresql://alice:p@ss{SECRET}@db/x?sslmode=require&password={SECRET}&token=t0k",
            "postgresql://alice:***@db/x?sslmode=require&password=***&token=***",
        ),
        (f"http://pipeline:{SECRET}@mlflow:5000/api/2.0", "http://pipeline:***@mlflow:5000/api/2.0"),
        (f"connection failed: host=db user=alice password={SECRET} dbname=x", "connection failed: host=db user=alice password=*** dbname=x"),
        (f"could not parse 'mysql://root:{SECRET}@localhost/db'", "could not parse 'mysql://root:***@localhost/db'"),
        # nothing secret: unchanged
        ("http://127.0.0.1:5000/#/models/m/versions/1", "http://127.0.0.1:5000/#/models/m/versions/1"),
        ("sqlite:////tmp/events.db", "sqlite:////tmp/events.db"),
        ("mysql://root@localhost/db?charset=utf8", "mysql://root@localhost/db?charset=utf8"),
        ("file:///data/lake/ds=2024-01-10.parquet", "file:///data/lake/ds=2024-01-10.parquet"),
    ],
)
def test_redact_text(text, expected):
    assert redact_text(text) == expected


def test_redact_config_masks_credential_keys_and_urls_only():
    config = {
        "name": "orders",
        "source": {"kind": "sql", "options": {"url": f"postgresql://u:{SECRET}@h/db", "table": "orders", "password": SECRET}},
        "db_password": SECRET,
        "api_token": SECRET,
        "primary_key": "id",
        "empty_password": "",
        "features": ["a", "b"],
        "params": {"max_depth": 3},
    }
    out = redact_config(config)
    assert SECRET not in repr(out)
    assert out["source"]["options"] == {"url": "postgresql://u:***@h/db", "table": "orders", "password": "***"}
    assert (out["db_password"], out["api_token"], out["primary_key"], out["empty_password"]) == ("***", "***", "id", "")
    assert out["features"] == ["a", "b"] and out["params"] == {"max_depth": 3}


def test_tags_never_carry_a_password():
    assert schema.NOTE.encode(f"rerun after fixing postgresql://u:{SECRET}@h/db") == "rerun after fixing postgresql://u:***@h/db"
    assert SECRET not in schema.EVALUATION.encode({"reasons": [f"source at mysql://r:{SECRET}@h/x failed"]})


def test_sql_source_errors_name_the_database_without_its_password():
    from mlops.sources.sql import SqlSource

    # A real PostgreSQL (trust auth) and a database that does not exist.
    url = f"postgresql+psycopg2://postgres:{SECRET}@127.0.0.1:5432/mlops_no_such_db"
    source = SqlSource(url=url, timestamp_column="ts", table="events")
    with pytest.raises(SourceError) as e:
        source.read(Interval.parse("2024-01-10", "2024-01-11"))
    assert "postgresql+psycopg2://postgres:***@127.0.0.1:5432/mlops_no_such_db" in str(e.value)
    assert "mlops_no_such_db" in str(e.value) and SECRET not in "".join(traceback.format_exception(e.value))
    # A URL SQLAlchemy cannot parse: the message says so, the traceback holds no password.
    broken = SqlSource(url=f"postgresql+psycopg2://postgres:{SECRET}@127.0.0.1:notaport/db", timestamp_column="ts", table="events")
    with pytest.raises(SourceError, match=r"not a usable SQLAlchemy URL") as e:
        broken.read(Interval.parse("2024-01-10", "2024-01-11"))
    assert SECRET not in "".join(traceback.format_exception(e.value))
