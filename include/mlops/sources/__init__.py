"""Sources deliver the rows of one data interval. ``build_source`` picks one from a config."""

from __future__ import annotations

from pathlib import Path

from mlops.config import DatasetConfig, Settings
from mlops.errors import ConfigError
from mlops.sources.base import Interval, Source


def build_source(config: DatasetConfig, settings: Settings, *, sql_url: str | None = None, columns: list[str] | None = None) -> Source:
    """Instantiate the source a dataset config declares.

    ``columns``: what each file of a files source must hold (default: a partition's columns,
    ``DatasetConfig.partition_columns``; a source of late labels passes its own).

    ``sql_url`` is the SQLAlchemy URL for ``kind: sql`` (resolved from an Airflow
    connection by the caller, or given as ``options.url`` outside Airflow).
    """
    kind, options = config.source.kind, dict(config.source.options)
    try:
        if kind == "replay":
            from mlops.sources.replay import ReplaySource

            return ReplaySource(cache_dir=settings.cache_dir, timestamp_column=config.timestamp_column, **options)
        if kind == "synthetic":
            from mlops.sources.synthetic import SyntheticSource

            return SyntheticSource(timestamp_column=config.timestamp_column, target=config.target, task=config.task, **options)
        if kind == "files":
            from mlops.sources.files import FilesSource

            return FilesSource(
                timestamp_column=config.timestamp_column,
                columns=columns or config.partition_columns,
                base_dir=settings.home,
                quarantine_dir=source_files_quarantine(config, settings),
                **options,
            )
        if kind == "sql":
            from mlops.sources.sql import SqlSource

            options.pop("conn_id", None)
            url = sql_url or options.pop("url", None)
            if not url:
                raise ConfigError(
                    f"dataset {config.name!r}: the sql source needs source.options.conn_id (an Airflow connection) "
                    "or source.options.url; neither resolved to a URL"
                )
            options.pop("url", None)
            return SqlSource(url=url, timestamp_column=config.timestamp_column, **options)
    except TypeError as e:
        raise ConfigError(f"dataset {config.name!r}: source.options do not fit the {kind} source: {e}") from e
    raise ConfigError(f"dataset {config.name!r}: unknown source kind {kind!r}")


def source_files_quarantine(config: DatasetConfig, settings: Settings) -> Path:
    """Where copies of a dataset's unreadable source files are kept (``<quarantine>/<dataset>/source-files``)."""
    return settings.quarantine_dir / config.name / "source-files"


__all__ = ["Interval", "Source", "build_source", "source_files_quarantine"]
