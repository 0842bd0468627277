"""The prediction store: predictions, labels and live metrics in a SQL database (SQLAlchemy 2 Core).

The embedded default is a SQLite file under ``MLOPS_HOME``; the production profile uses
PostgreSQL. Tasks reach it through the Airflow connection named by ``scoring.conn_id``
(``mlops.airflow.runtime.prediction_store``).

Tables (``SCHEMA_VERSION`` 2, created and migrated by :func:`ensure_schema`):

``predictions``
    One row per (dataset, partition_date, model_name, version, role, row_key): the model's
    prediction and score (P(class 1) for classification), when and by which DAG run.
``labels``
    One row per (dataset, partition_date, row_key): the label that arrived for a row.
``live_metrics``
    One row per (dataset, model_name, version, role, partition_date, kind, metric): realised
    and estimated performance and prediction drift of a version on a day.
``shadow_looks``
    One row per look of a shadow soak (dataset, model_name, version, epoch, partition_date):
    the day looked at, the running estimate and confidence sequence of the paired test, and
    the test's state after it (``mlops.promotion.shadow``). ``epoch`` counts restarts (the
    champion changed during the soak). A look, once written, is never rewritten.
``mlops_store_schema``
    The schema version, so a newer or older release never writes a schema it does not know.

Every write replaces a whole unit in one transaction (delete, then insert), so a re-run never
duplicates rows and a failed write leaves the previous rows in place. Writers of the same
unit are serialised (PostgreSQL: a transaction-scoped advisory lock; SQLite: ``BEGIN
IMMEDIATE``), and unique indexes make a duplicate row impossible whatever happens.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from mlops.errors import StoreError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
COMPONENT = "prediction_store"
ROLES = ("champion", "shadow")

metadata = sa.MetaData()

schema_table = sa.Table(
    "mlops_store_schema",
    metadata,
    sa.Column("component", sa.String(64), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("migrated_at", sa.DateTime(timezone=True), nullable=False),
)

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("dataset", sa.String(64), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("row_key", sa.String(512), nullable=False),
    sa.Column("model_name", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("prediction", sa.Float, nullable=False),
    sa.Column("score", sa.Float, nullable=True),
    sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("dag_id", sa.String(250), nullable=True),
    sa.Column("run_id", sa.String(250), nullable=True),
    # (dataset, partition_date) is the prefix of the unique index: it serves "a day's predictions".
    sa.Index("ux_predictions_day_unit_row", "dataset", "partition_date", "model_name", "version", "role", "row_key", unique=True),
    sa.Index("ix_predictions_version_day", "dataset", "model_name", "version", "role", "partition_date"),
    sa.Index("ix_predictions_row", "dataset", "row_key"),
)

labels = sa.Table(
    "labels",
    metadata,
    sa.Column("dataset", sa.String(64), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("row_key", sa.String(512), nullable=False),
    sa.Column("label", sa.Float, nullable=False),
    sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("dag_id", sa.String(250), nullable=True),
    sa.Column("run_id", sa.String(250), nullable=True),
    sa.Index("ux_labels_day_row", "dataset", "partition_date", "row_key", unique=True),
)

live_metrics = sa.Table(
    "live_metrics",
    metadata,
    sa.Column("dataset", sa.String(64), nullable=False),
    sa.Column("model_name", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # realised | estimated | drift
    sa.Column("metric", sa.String(64), nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ux_live_metrics", "dataset", "model_name", "version", "role", "partition_date", "kind", "metric", unique=True),
    sa.Index("ix_live_metrics_day", "dataset", "partition_date"),
)

shadow_looks = sa.Table(
    "shadow_looks",
    metadata,
    sa.Column("dataset", sa.String(64), nullable=False),
    sa.Column("model_name", sa.String(256), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),  # the challenger
    sa.Column("epoch", sa.Integer, nullable=False),  # 0, then +1 each time the champion changed during the soak
    sa.Column("champion_version", sa.Integer, nullable=False),
    sa.Column("partition_date", sa.Date, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),  # 1, 2, ... within the epoch
    sa.Column("rows", sa.Integer, nullable=False),  # paired labelled rows so far
    sa.Column("day_rows", sa.Integer, nullable=False),
    sa.Column("estimate", sa.Float, nullable=True),
    sa.Column("lower", sa.Float, nullable=True),
    sa.Column("upper", sa.Float, nullable=True),
    sa.Column("p_value", sa.Float, nullable=False),
    sa.Column("e_value", sa.Float, nullable=True),
    sa.Column("champion_loss", sa.Float, nullable=True),
    sa.Column("challenger_loss", sa.Float, nullable=True),
    sa.Column("verdict", sa.String(16), nullable=False),
    sa.Column("state", sa.Text, nullable=False),  # JSON: the test's running sums after this look
    sa.Column("looked_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ux_shadow_looks_day", "dataset", "model_name", "version", "epoch", "partition_date", unique=True),
    sa.Index("ux_shadow_looks_seq", "dataset", "model_name", "version", "epoch", "seq", unique=True),
)

#: ``{target version: function(connection)}`` that brings the schema from the version before.
#: Version 2 adds ``shadow_looks``, which ``metadata.create_all`` has created by then.
MIGRATIONS: dict[int, Any] = {2: lambda conn: None}


@dataclass(frozen=True, order=True)
class Unit:
    """What one scoring write replaces: a partition's predictions by one model version in one role."""

    dataset: str
    partition_date: date
    model_name: str
    version: int
    role: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise StoreError(f"role must be one of {ROLES}, got {self.role!r}")
        object.__setattr__(self, "version", int(self.version))

    def where(self, table: sa.Table = predictions):
        c = table.c
        return sa.and_(
            c.dataset == self.dataset,
            c.partition_date == self.partition_date,
            c.model_name == self.model_name,
            c.version == self.version,
            c.role == self.role,
        )

    def __str__(self) -> str:
        return f"{self.dataset} ds={self.partition_date} {self.model_name} v{self.version} ({self.role})"


def safe_url(url: str | sa.URL) -> str:
    """The URL with its password hidden, for logs and messages."""
    return sa.make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # Driver-level autocommit: SQLAlchemy's "begin" event below emits BEGIN itself, so
    # transactions are real (pysqlite's own handling skips BEGIN before DDL).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=60000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("mlops_write") else "BEGIN")


_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def engine_for(url: str) -> sa.Engine:
    """One engine per URL and process, with the schema checked (and created) once."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is not None:
            return engine
        parsed = sa.make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                from pathlib import Path

                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(parsed, connect_args={"timeout": 60})
            sa.event.listen(engine, "connect", _sqlite_pragmas)
            sa.event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = sa.create_engine(parsed, pool_pre_ping=True)
        try:
            ensure_schema(engine)
        except sa.exc.SQLAlchemyError as e:
            engine.dispose()
            raise StoreError(
                f"prediction store {safe_url(url)}: cannot open or create its schema ({type(e).__name__}: {getattr(e, 'orig', e)}). "
                "Check that the database exists and the connection's user may create tables."
            ) from e
        _engines[url] = engine
        return engine


@contextmanager
def _transaction(engine: sa.Engine, *, write: bool, lock_key: str | None = None) -> Iterator[sa.Connection]:
    with engine.connect() as conn:
        conn.info["mlops_write"] = write
        with conn.begin():
            if lock_key is not None and conn.dialect.name == "postgresql":
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(lock_key))))
            yield conn


def ensure_schema(engine: sa.Engine) -> int:
    """Create the tables on first use, apply migrations, refuse a schema newer than this release."""
    with _transaction(engine, write=True, lock_key="mlops_store_schema") as conn:
        metadata.create_all(conn, tables=[schema_table])
        current = conn.execute(sa.select(schema_table.c.version).where(schema_table.c.component == COMPONENT)).scalar()
        if current is not None and current > SCHEMA_VERSION:
            raise StoreError(
                f"prediction store {safe_url(engine.url)} has schema version {current}; this release knows up to {SCHEMA_VERSION}. "
                "Upgrade the product on this host (or point scoring.conn_id at another database)."
            )
        metadata.create_all(conn)  # checkfirst: creates what is missing, never touches what exists
        now = datetime.now(UTC)
        if current is None:
            conn.execute(schema_table.insert().values(component=COMPONENT, version=SCHEMA_VERSION, migrated_at=now))
        elif current < SCHEMA_VERSION:
            for target in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[target](conn)
            conn.execute(schema_table.update().where(schema_table.c.component == COMPONENT).values(version=SCHEMA_VERSION, migrated_at=now))
    return SCHEMA_VERSION


def _bound_constants(conn: sa.Connection, table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """Values as the dialect stores them (dates and timestamps as SQLAlchemy would write them)."""
    out = {}
    for name, value in values.items():
        proc = table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        out[name] = proc(value) if proc is not None and value is not None else value
    return out


#: Rows sent to the database per statement (COPY or executemany) inside one transaction.
INSERT_BATCH_ROWS = 200_000


def _bulk_insert(conn: sa.Connection, table: sa.Table, constants: dict[str, Any], frame: pd.DataFrame, columns: list[str]) -> None:
    """Insert ``frame[columns]`` with ``constants`` in every row: COPY on PostgreSQL (psycopg2), executemany otherwise."""
    names = [*constants, *columns]
    copy = conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg2"
    if copy:
        plain = {k: v.isoformat() if isinstance(v, (date, datetime)) else v for k, v in constants.items()}
        sql = f"COPY {table.name} ({', '.join(names)}) FROM STDIN WITH (FORMAT csv, NULL '')"
    else:
        fixed = tuple(_bound_constants(conn, table, constants).values())
        marks = ", ".join(["?" if conn.dialect.paramstyle == "qmark" else "%s"] * len(names))
        sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({marks})"
    for start in range(0, len(frame), INSERT_BATCH_ROWS):
        part = frame.iloc[start : start + INSERT_BATCH_ROWS]
        if copy:
            buf = io.StringIO()
            part[columns].assign(**plain)[names].to_csv(buf, index=False, header=False, na_rep="")
            buf.seek(0)
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                cursor.copy_expert(sql, buf)
            finally:
                cursor.close()
        else:
            cols = [part[c].astype(object).where(part[c].notna(), None).tolist() for c in columns]
            conn.exec_driver_sql(sql, [fixed + tuple(r) for r in zip(*cols, strict=True)])


class PredictionStore:
    """Reads and writes of the prediction store at ``url`` (see the module docstring)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = engine_for(url)

    def __repr__(self) -> str:
        return f"PredictionStore({safe_url(self.url)})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    # --- predictions -----------------------------------------------------------------------

    def replace_predictions(self, unit: Unit, frame: pd.DataFrame, *, scored_at: datetime, dag_id: str | None = None, run_id: str | None = None) -> int:
        """Replace the unit's rows by ``frame`` (``row_key``, ``prediction``, ``score``) in one transaction."""
        constants = {
            "dataset": unit.dataset,
            "partition_date": unit.partition_date,
            "model_name": unit.model_name,
            "version": unit.version,
            "role": unit.role,
            "scored_at": scored_at,
            "dag_id": dag_id,
            "run_id": run_id,
        }
        try:
            with _transaction(self.engine, write=True, lock_key=f"predictions/{unit}") as conn:
                conn.execute(predictions.delete().where(unit.where()))
                _bulk_insert(conn, predictions, constants, frame, ["row_key", "prediction", "score"])
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(
                f"prediction store {safe_url(self.url)}: writing {len(frame)} predictions of {unit} failed "
                f"({type(e).__name__}: {getattr(e, 'orig', e)}); the unit's previous rows are unchanged. Clear the task to retry."
            ) from e
        return len(frame)

    def count(self, dataset: str, partition_date: date | None = None, **where: Any) -> int:
        """Prediction rows of ``dataset`` (optionally of a day, a model_name, version or role)."""
        c = predictions.c
        clauses = [c.dataset == dataset] + ([c.partition_date == partition_date] if partition_date else [])
        clauses += [c[k] == v for k, v in where.items()]
        with _transaction(self.engine, write=False) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(predictions).where(*clauses)).scalar())

    def predictions(self, dataset: str, partition_date: date, **where: Any) -> pd.DataFrame:
        import pandas as pd

        c = predictions.c
        stmt = sa.select(predictions).where(c.dataset == dataset, c.partition_date == partition_date, *[c[k] == v for k, v in where.items()])
        with _transaction(self.engine, write=False) as conn:
            return pd.read_sql(stmt.order_by(c.model_name, c.version, c.role, c.row_key), conn)

    def units(self, dataset: str, partition_date: date) -> list[Unit]:
        """Which (model_name, version, role) have predictions for the day."""
        c = predictions.c
        stmt = sa.select(c.model_name, c.version, c.role).where(c.dataset == dataset, c.partition_date == partition_date).distinct()
        with _transaction(self.engine, write=False) as conn:
            rows = conn.execute(stmt).all()
        return sorted(Unit(dataset, partition_date, m, int(v), r) for m, v, r in rows) if rows else []

    # --- labels ----------------------------------------------------------------------------

    def replace_labels(
        self, dataset: str, partition_date: date, frame: pd.DataFrame, *, arrived_at: datetime, dag_id: str | None = None, run_id: str | None = None
    ) -> int:
        """Replace the day's labels by ``frame`` (``row_key``, ``label``) in one transaction."""
        c = labels.c
        constants = {"dataset": dataset, "partition_date": partition_date, "arrived_at": arrived_at, "dag_id": dag_id, "run_id": run_id}
        try:
            with _transaction(self.engine, write=True, lock_key=f"labels/{dataset}/{partition_date}") as conn:
                conn.execute(labels.delete().where(c.dataset == dataset, c.partition_date == partition_date))
                _bulk_insert(conn, labels, constants, frame, ["row_key", "label"])
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(
                f"prediction store {safe_url(self.url)}: writing {len(frame)} labels of {dataset} ds={partition_date} failed "
                f"({type(e).__name__}: {getattr(e, 'orig', e)}); the day's previous labels are unchanged. Clear the task to retry."
            ) from e
        return len(frame)

    def label_count(self, dataset: str, partition_date: date) -> int:
        c = labels.c
        with _transaction(self.engine, write=False) as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(labels).where(c.dataset == dataset, c.partition_date == partition_date)).scalar())

    def labelled_predictions(self, dataset: str, partition_date: date) -> pd.DataFrame:
        """The day's predictions joined with their labels (rows without a label left out)."""
        import pandas as pd

        p, lab = predictions.c, labels.c
        stmt = (
            sa.select(p.model_name, p.version, p.role, p.row_key, p.prediction, p.score, lab.label)
            .join_from(predictions, labels, sa.and_(p.dataset == lab.dataset, p.partition_date == lab.partition_date, p.row_key == lab.row_key))
            .where(p.dataset == dataset, p.partition_date == partition_date)
        )
        with _transaction(self.engine, write=False) as conn:
            return pd.read_sql(stmt, conn)

    # --- live metrics ----------------------------------------------------------------------

    def replace_live_metrics(self, unit: Unit, kind: str, values: dict[str, float | None], *, rows: int, computed_at: datetime) -> None:
        """Replace the (unit, kind) metrics of the day by ``values``."""
        import pandas as pd

        c = live_metrics.c
        where = sa.and_(
            c.dataset == unit.dataset,
            c.model_name == unit.model_name,
            c.version == unit.version,
            c.role == unit.role,
            c.partition_date == unit.partition_date,
            c.kind == kind,
        )
        constants = {
            "dataset": unit.dataset,
            "model_name": unit.model_name,
            "version": unit.version,
            "role": unit.role,
            "partition_date": unit.partition_date,
            "kind": kind,
            "rows": int(rows),
            "computed_at": computed_at,
        }
        frame = pd.DataFrame({"metric": list(values), "value": [None if v is None else float(v) for v in values.values()]})
        try:
            with _transaction(self.engine, write=True, lock_key=f"live/{unit}/{kind}") as conn:
                conn.execute(live_metrics.delete().where(where))
                _bulk_insert(conn, live_metrics, constants, frame, ["metric", "value"])
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(
                f"prediction store {safe_url(self.url)}: writing {kind} metrics of {unit} failed ({type(e).__name__}: {getattr(e, 'orig', e)})"
            ) from e

    def live_metrics(self, dataset: str, model_name: str | None = None, *, since: date | None = None, **where: Any) -> pd.DataFrame:
        """Live metrics of ``dataset`` (optionally one model, from a day on), oldest day first."""
        import pandas as pd

        c = live_metrics.c
        clauses = [c.dataset == dataset] + ([c.model_name == model_name] if model_name else []) + ([c.partition_date >= since] if since else [])
        clauses += [c[k] == v for k, v in where.items()]
        stmt = sa.select(live_metrics).where(*clauses).order_by(c.partition_date, c.version, c.role, c.kind, c.metric)
        with _transaction(self.engine, write=False) as conn:
            return pd.read_sql(stmt, conn)

    # --- shadow soaks ----------------------------------------------------------------------

    def shadow_days(self, dataset: str, model_name: str, *, challenger: int, champion: int) -> list[date]:
        """Days with predictions of ``challenger`` as shadow and of ``champion`` as champion, and labels; oldest first."""
        p, lab = predictions.c, labels.c
        shadow = (
            sa.select(p.partition_date).where(p.dataset == dataset, p.model_name == model_name, p.version == int(challenger), p.role == "shadow").distinct()
        )
        serving = (
            sa.select(p.partition_date).where(p.dataset == dataset, p.model_name == model_name, p.version == int(champion), p.role == "champion").distinct()
        )
        labelled = sa.select(lab.partition_date).where(lab.dataset == dataset).distinct()
        stmt = sa.intersect(shadow, serving, labelled)
        with _transaction(self.engine, write=False) as conn:
            days = [r[0] for r in conn.execute(stmt).all()]
        return sorted(d if isinstance(d, date) else date.fromisoformat(str(d)) for d in days)

    def paired_labelled(self, dataset: str, day: date, model_name: str, *, challenger: int, champion: int) -> pd.DataFrame:
        """The day's rows scored by both versions (challenger as shadow, champion as champion) with their label.

        Columns ``row_key``, ``label``, ``champion_prediction``, ``champion_score``,
        ``challenger_prediction``, ``challenger_score``; one row per row key, ordered by it.
        """
        import pandas as pd

        champ, chall, lab = predictions.alias("champ"), predictions.alias("chall"), labels.c
        stmt = (
            sa.select(
                champ.c.row_key,
                lab.label,
                champ.c.prediction.label("champion_prediction"),
                champ.c.score.label("champion_score"),
                chall.c.prediction.label("challenger_prediction"),
                chall.c.score.label("challenger_score"),
            )
            .join_from(
                champ,
                chall,
                sa.and_(
                    chall.c.dataset == champ.c.dataset,
                    chall.c.partition_date == champ.c.partition_date,
                    chall.c.row_key == champ.c.row_key,
                    chall.c.model_name == champ.c.model_name,
                    chall.c.version == int(challenger),
                    chall.c.role == "shadow",
                ),
            )
            .join(labels, sa.and_(lab.dataset == champ.c.dataset, lab.partition_date == champ.c.partition_date, lab.row_key == champ.c.row_key))
            .where(
                champ.c.dataset == dataset,
                champ.c.partition_date == day,
                champ.c.model_name == model_name,
                champ.c.version == int(champion),
                champ.c.role == "champion",
            )
            .order_by(champ.c.row_key)
        )
        with _transaction(self.engine, write=False) as conn:
            return pd.read_sql(stmt, conn)

    def shadow_looks(self, dataset: str, model_name: str, version: int, *, epoch: int | None = None) -> pd.DataFrame:
        """The looks of the soak of ``version`` (of one epoch, or all), in order."""
        import pandas as pd

        c = shadow_looks.c
        where = [c.dataset == dataset, c.model_name == model_name, c.version == int(version)] + ([c.epoch == int(epoch)] if epoch is not None else [])
        with _transaction(self.engine, write=False) as conn:
            frame = pd.read_sql(sa.select(shadow_looks).where(*where).order_by(c.epoch, c.seq), conn)
        frame["partition_date"] = pd.to_datetime(frame["partition_date"]).dt.date
        return frame

    def add_shadow_look(self, values: dict[str, Any]) -> bool:
        """Append one look; False (nothing written) when that look or that day of the epoch is already stored."""
        key = f"shadow/{values['dataset']}/{values['model_name']}/{values['version']}/{values['epoch']}"
        c = shadow_looks.c
        try:
            with _transaction(self.engine, write=True, lock_key=key) as conn:
                taken = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(shadow_looks)
                    .where(
                        c.dataset == values["dataset"],
                        c.model_name == values["model_name"],
                        c.version == int(values["version"]),
                        c.epoch == int(values["epoch"]),
                        sa.or_(c.seq == int(values["seq"]), c.partition_date == values["partition_date"]),
                    )
                ).scalar()
                if taken:
                    return False
                conn.execute(shadow_looks.insert().values(**values))
        except sa.exc.IntegrityError:
            return False
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(
                f"prediction store {safe_url(self.url)}: writing the shadow look of {values['model_name']} v{values['version']} "
                f"on {values['partition_date']} failed ({type(e).__name__}: {getattr(e, 'orig', e)}); the soak's earlier looks are "
                "unchanged and the next look retries it."
            ) from e
        return True


def open_store(url: str) -> PredictionStore:
    return PredictionStore(url)


def embedded_url(home) -> str:
    """The embedded default: ``<MLOPS_HOME>/predictions.sqlite``."""
    from pathlib import Path

    return f"sqlite:///{Path(home) / 'predictions.sqlite'}"
