"""A table or a query through SQLAlchemy, with the interval as bound parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops.errors import ConfigError, SourceDataError, SourceError
from mlops.redact import redact_text, redacted_error
from mlops.sources.base import Interval, clip_to_interval

if TYPE_CHECKING:
    import pandas as pd


class SqlSource:
    """Reads ``[start, end)`` from a database.

    Parameters
    ----------
    url : str
        SQLAlchemy URL. In Airflow it comes from a connection (``conn_id`` in the
        config); it is never logged or written to a partition, and error messages show it
        with its password masked (``mlops.redact``).
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
        self.where = f"sql source ({self.description} at {redact_text(url)})"

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

    def read(self, interval: Interval) -> pd.DataFrame:
        import pandas as pd
        import sqlalchemy as sa

        try:
            engine = sa.create_engine(self.url)
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError, ValueError) as e:
            raise SourceError(
                f"{self.where}: the URL is not a usable SQLAlchemy URL ({redacted_error(e)}); expected e.g. "
                "postgresql+psycopg2://user:password@host:5432/db. Fix the connection or source.options.url."
            ) from _loggable(e)
        try:
            with engine.connect() as conn:
                stmt = self.statement(engine)
                # Naive UTC values compare correctly with both naive and ISO-string timestamp columns.
                params = {"start": interval.start.replace(tzinfo=None), "end": interval.end.replace(tzinfo=None)}
                df = pd.read_sql(stmt, conn, params=params)
        except (sa.exc.NoSuchTableError, sa.exc.ProgrammingError) as e:
            # The database answered: the table or the query is wrong, and a retry will not change that.
            detail = redacted_error(e.orig if getattr(e, "orig", None) else e)
            raise SourceDataError(
                f"{self.where} failed for {interval}: {detail}. Fix source.options (table or query) in the dataset config, then clear the ingest task."
            ) from _loggable(e)
        except sa.exc.SQLAlchemyError as e:
            detail = redacted_error(e.orig if getattr(e, "orig", None) else e)
            raise SourceError(f"{self.where} failed for {interval}: {detail}") from _loggable(e)
        finally:
            engine.dispose()
        return clip_to_interval(df, self.timestamp_column, interval, where=self.description)


def _loggable(cause: BaseException) -> BaseException | None:
    """``cause`` to chain to the source's error, or None when its text holds a credential.

    Airflow logs the whole chain; a driver's message may quote the URL with its password.
    """
    return cause if redact_text(str(cause)) == str(cause) else None
