"""SQLite settings of the embedded default's metadata DB.

Airflow's scheduler, dag-processor, triggerer, api-server and task supervisors all write to
one SQLite file. With SQLite's default 5 s busy timeout and rollback journal, a writer that
waits for another one fails ("database is locked"; the API answers 503 when creating a
backfill). ``scripts/run.sh`` switches the file to write-ahead logging once (readers then
never block the writer), and ``scripts/env.sh`` points
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS`` here so a writer waits up to 60 s.
PostgreSQL (the production profile) needs neither.

Waiting is not enough for one pattern. SQLAlchemy's ``session.begin_nested()`` sends
``SAVEPOINT``; outside a transaction SQLite starts a *deferred* one there, the reads that
follow pin a snapshot, and when the first write comes after another process committed,
SQLite answers "database is locked" at once, without waiting (SQLITE_BUSY_SNAPSHOT: waiting
could not help that snapshot). Airflow creates each backfill run that way, beside a
scheduler that commits every second, so a long backfill failed to be created (503) and the
runs already created were deleted under the scheduler. :class:`Connection` starts such a
transaction with ``BEGIN IMMEDIATE`` (it takes the write lock first, waiting for it like
any writer) and commits it when that outermost savepoint is released, which is what SQLite
does for a transaction a savepoint started.

Only for savepoints opened by Airflow's backfill creation (``WRITE_FIRST_CALLERS``): taking
the write lock at every savepoint also caught Airflow's asset-event queueing, whose caller
can then write through a second connection of the same process and wait for its own lock
until the busy timeout (seen: the whole stack stalled for 60 s). Other statements are
untouched: plain reads stay lock-free, and a transaction opened by a write already holds
the lock.
"""

from __future__ import annotations

import sqlite3
import sys

#: Modules whose savepoints take the write lock first (see the module doc).
WRITE_FIRST_CALLERS: tuple[str, ...] = ("airflow.models.backfill",)


def _write_first() -> bool:
    """Whether the code opening this savepoint is one of ``WRITE_FIRST_CALLERS``."""
    frame = sys._getframe(2)
    for _ in range(100):
        if frame is None:
            return False
        if frame.f_globals.get("__name__") in WRITE_FIRST_CALLERS:
            return True
        frame = frame.f_back
    return False


class Cursor(sqlite3.Cursor):
    """Opens a savepoint-started transaction with ``BEGIN IMMEDIATE`` (see the module doc)."""

    def execute(self, sql, parameters=(), /):
        conn = self.connection
        words = sql.split(None, 2)
        if words and words[0].upper() == "SAVEPOINT" and not conn.in_transaction and _write_first():
            super().execute("BEGIN IMMEDIATE")
            conn.outer_savepoint = words[1] if len(words) > 1 else None
            return super().execute(sql, parameters)
        result = super().execute(sql, parameters)
        if (
            conn.outer_savepoint is not None
            and len(words) == 3
            and words[0].upper() == "RELEASE"
            and words[1].upper() == "SAVEPOINT"
            and words[2].strip() == conn.outer_savepoint
        ):
            conn.outer_savepoint = None
            conn.commit()
        return result


class Connection(sqlite3.Connection):
    """``sqlite3.connect(..., factory=Connection)``: cursors are :class:`Cursor`."""

    outer_savepoint: str | None = None

    def cursor(self, factory=Cursor):
        return super().cursor(factory)

    def commit(self):
        self.outer_savepoint = None
        super().commit()

    def rollback(self):
        self.outer_savepoint = None
        super().rollback()


SQLITE_CONNECT_ARGS = {"timeout": 60, "factory": Connection}


def use_wal(path: str) -> str:
    """Switch the SQLite database at ``path`` to write-ahead logging; return the journal mode."""
    with sqlite3.connect(path, timeout=60) as conn:
        return conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]


if __name__ == "__main__":
    print(use_wal(sys.argv[1]))
