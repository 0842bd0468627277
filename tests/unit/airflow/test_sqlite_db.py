"""The embedded default's SQLite connections: a savepoint-started write waits instead of failing.

Airflow creates every backfill run inside ``session.begin_nested()`` (read, then write). On a
plain SQLite connection in WAL mode, a commit by another process between that read and the
write made the write fail at once with "database is locked", whatever the busy timeout.
"""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from mlops.airflow import db as mlops_db
from mlops.airflow.db import SQLITE_CONNECT_ARGS, use_wal


@pytest.fixture
def as_backfill_creation(monkeypatch):
    """This module's savepoints count as Airflow's backfill creation (the only write-first caller)."""
    monkeypatch.setattr(mlops_db, "WRITE_FIRST_CALLERS", (*mlops_db.WRITE_FIRST_CALLERS, __name__))


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "airflow.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY, who TEXT)")
    assert use_wal(str(path)) == "wal"
    return path


def _other_process_writes(path, done: dict):
    """Another writer (the scheduler): commits one row, waiting for the lock like Airflow's do."""
    with sqlite3.connect(path, timeout=30) as conn:
        conn.execute("INSERT INTO runs (who) VALUES ('scheduler')")
    done["at"] = time.monotonic()


def _savepoint_beside_a_writer(path, connect_args, while_open) -> tuple[dict, float]:
    """Read inside a savepoint, start another process's write, run ``while_open(session, writer, done)``
    before the savepoint is released, commit; returns the writer's record and when the savepoint was released."""
    engine = create_engine(f"sqlite:///{path}", connect_args=connect_args)
    done: dict = {}
    with Session(engine) as session:
        with session.begin_nested():
            session.execute(text("SELECT count(*) FROM runs")).scalar_one()
            writer = threading.Thread(target=_other_process_writes, args=(path, done))
            writer.start()
            while_open(session, writer, done)
        released = time.monotonic()
        session.commit()
    writer.join(timeout=30)
    engine.dispose()
    return done, released


def _backfill_like_creation(path, connect_args) -> float:
    """Read inside a savepoint, let another process commit, then write: Airflow's pattern."""

    def write_late(session, writer, done):
        time.sleep(0.5)  # without the write lock taken up front, the other writer commits here
        session.execute(text("INSERT INTO runs (who) VALUES ('backfill')"))

    done, released = _savepoint_beside_a_writer(path, connect_args, write_late)
    assert "at" in done, "the other writer never committed"
    return done["at"] - released


def test_plain_connections_fail_the_savepoint_write_at_once(db):
    """The defect itself, on Python's sqlite3 with the old connect arguments (timeout only)."""
    with pytest.raises(OperationalError, match="database is locked"):
        _backfill_like_creation(db, {"timeout": 60})


def test_only_backfill_creation_takes_the_lock_first():
    assert mlops_db.WRITE_FIRST_CALLERS == ("airflow.models.backfill",)
    import airflow.models.backfill as backfill

    assert backfill.__name__ in mlops_db.WRITE_FIRST_CALLERS


def test_other_savepoints_stay_deferred(db):
    """Elsewhere a savepoint that only reads holds no write lock: another writer commits meanwhile."""

    def writer_commits_meanwhile(session, writer, done):
        writer.join(timeout=10)
        assert "at" in done, "a reading savepoint outside backfill creation blocked another writer"

    _savepoint_beside_a_writer(db, dict(SQLITE_CONNECT_ARGS), writer_commits_meanwhile)


def test_the_savepoint_write_waits_and_nothing_is_lost(db, as_backfill_creation):
    waited_until_after_release = _backfill_like_creation(db, dict(SQLITE_CONNECT_ARGS))
    with sqlite3.connect(db) as conn:
        who = [r[0] for r in conn.execute("SELECT who FROM runs ORDER BY id")]
    # The creation took the lock first; the other writer waited for it and committed after.
    assert who == ["backfill", "scheduler"]
    assert waited_until_after_release >= -0.05


def test_releasing_the_outermost_savepoint_commits_like_sqlite_does(db, as_backfill_creation):
    """Each run Airflow creates is visible to the scheduler as soon as its nested block ends."""
    engine = create_engine(f"sqlite:///{db}", connect_args=dict(SQLITE_CONNECT_ARGS))
    with Session(engine) as session:
        with session.begin_nested():
            session.execute(text("INSERT INTO runs (who) VALUES ('first')"))
        with sqlite3.connect(db) as other:
            assert other.execute("SELECT who FROM runs").fetchall() == [("first",)]
        nested = session.begin_nested()
        session.execute(text("INSERT INTO runs (who) VALUES ('rolled back')"))
        nested.rollback()
        session.execute(text("INSERT INTO runs (who) VALUES ('second')"))
        session.commit()
    engine.dispose()
    with sqlite3.connect(db) as other:
        assert [r[0] for r in other.execute("SELECT who FROM runs ORDER BY id")] == ["first", "second"]
