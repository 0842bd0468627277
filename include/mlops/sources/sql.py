"""A table or a query through SQLAlchemy, with the interval as bound parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops.errors import ConfigError, SourceDataError, SourceError
from mlops.sources.base import Interval, clip_to_interval

if TYPE_CHECKING:
    import pandas as pd


class SqlSource:
    """Reads ``[start, end)`` from a database.

    Parameters
    ----------
    url : str
        SQLAlchemy URL. In Airflow it comes from a connection (``conn_id`` in the
        config); it is never logged or written to a partition.
    table : str, optional
        Table name (``schema.table`` allowed); the filter on ``timestamp_column`` is built
        with SQLAlchemy Core.
    query : str, optional
        A SELECT that uses the bound parameters ``:start`` and ``:end``. The values are
        passed as parameters, never formatted into the SQL text.
    """

    def __init__(self, *, url: str, timestamp_column: str, table: str | None = None, query: str | None = None):
        if bool(table) == bool(query):
            raise ConfigError("sql source: set exactly one of 'table' or 'query' in source.options")
        if query and (":start" not in query or ":end" not in query):
            raise ConfigError(
                "sql source: the query must filter on the bound parameters :start and :end "
                "(e.g. WHERE ts >= :start AND ts < :end) so each run reads only its data interval"
            )
        self.url, self.table, self.query = url, table, query
        self.timestamp_column = timestamp_column
        self.description = f"sql:{'table=' + table if table else 'query'}"

    def statement(self, engine):
        import sqlalchemy as sa

        if self.query:
            return sa.text(self.query)
        schema, _, name = self.table.rpartition(".")
        table = sa.Table(name, sa.MetaData(), schema=schema or None, autoload_with=engine)
        if self.timestamp_column not in table.c:
            raise SourceDataError(
                f"sql source: table {self.table!r} has no column {self.timestamp_column!r}; "
                f"columns are {[c.name for c in table.c][:20]}. Fix timestamp_column in the dataset config."
            )
        ts = table.c[self.timestamp_column]
        return sa.select(table).where(ts >= sa.bindparam("start"), ts < sa.bindparam("end"))

    def read(self, interval: Interval) -> "pd.DataFrame":
        import pandas as pd
        import sqlalchemy as sa

        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                stmt = self.statement(engine)
                # Naive UTC values compare correctly with both naive and ISO-string timestamp columns.
                params = {"start": interval.start.replace(tzinfo=None), "end": interval.end.replace(tzinfo=None)}
                df = pd.read_sql(stmt, conn, params=params)
        except (sa.exc.NoSuchTableError, sa.exc.ProgrammingError) as e:
            # The database answered: the table or the query is wrong, and a retry will not change that.
            raise SourceDataError(
                f"sql source ({self.description}) failed for {interval}: {type(e).__name__}: {e.orig if getattr(e, 'orig', None) else e}. "
                "Fix source.options (table or query) in the dataset config, then clear the ingest task."
            ) from e
        except sa.exc.SQLAlchemyError as e:
            raise SourceError(f"sql source ({self.description}) failed for {interval}: {type(e).__name__}: {e.orig if hasattr(e, 'orig') else e}") from e
        finally:
            engine.dispose()
        return clip_to_interval(df, self.timestamp_column, interval, where=self.description)
