"""SQLite settings of the embedded default's metadata DB.

Airflow's scheduler, dag-processor, triggerer, api-server and task supervisors all write to
one SQLite file. With SQLite's default 5 s busy timeout and rollback journal, a writer that
waits for another one fails ("database is locked"; the API answers 503 when creating a
backfill). ``scripts/run.sh`` switches the file to write-ahead logging once (readers then
never block the writer), and ``scripts/env.sh`` points
``AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS`` here so a writer waits up to 60 s.
PostgreSQL (the production profile) needs neither.
"""

from __future__ import annotations

import sqlite3
import sys

SQLITE_CONNECT_ARGS = {"timeout": 60}


def use_wal(path: str) -> str:
    """Switch the SQLite database at ``path`` to write-ahead logging; return the journal mode."""
    with sqlite3.connect(path, timeout=60) as conn:
        return conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]


if __name__ == "__main__":
    print(use_wal(sys.argv[1]))
