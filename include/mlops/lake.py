"""Partitions on disk: layout, atomic writes, content hashes, validation marks, quarantine.

Layout under ``Settings.lake_dir``::

    <dataset>/ds=2013-03-01.parquet            one partition per data interval
    <dataset>/ds=2013-03-01.validation.json    written by the validation step

The partition's metadata (interval, rows, content hash, source) lives in the Parquet
file's key-value metadata, so data and metadata are replaced together by one rename.
A partition that fails validation moves to ``Settings.quarantine_dir`` with its result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import LakeError
from mlops.sources.base import Interval

if TYPE_CHECKING:
    import pandas as pd

META_KEY = b"mlops.partition"


@dataclass(frozen=True)
class PartitionInfo:
    """What a partition holds; the contract value of the ingest step."""

    partition_uri: str
    dataset: str
    interval_start: str
    interval_end: str
    rows: int
    content_hash: str
    source: str

    @property
    def path(self) -> Path:
        return uri_to_path(self.partition_uri)

    @property
    def interval(self) -> Interval:
        return Interval.parse(self.interval_start, self.interval_end)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def path_to_uri(path: Path) -> str:
    """``file://`` URI of a local path, keeping ``=`` readable (``ds=2013-03-01``)."""
    from urllib.parse import quote

    return "file://" + quote(str(Path(path).resolve()), safe="/=:@-._~+,")


def uri_to_path(uri: str) -> Path:
    """Local path of a ``file://`` URI (``Path.as_uri`` percent-encodes ``=`` in partition names)."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise LakeError(f"expected a local file URI, got {uri!r}")
    return Path(unquote(parsed.path))


def content_hash(df: pd.DataFrame) -> str:
    """SHA-256 of the frame's column names, dtypes and values (row order included).

    Independent of the file encoding, so re-writing the same rows gives the same hash.
    """
    import pandas as pd

    h = hashlib.sha256()
    h.update(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode())
    if len(df):
        h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def canonical_order(df: pd.DataFrame, timestamp_column: str) -> pd.DataFrame:
    """Rows sorted by timestamp, then by every other column: a deterministic order whatever the source returned."""
    others = [c for c in df.columns if c != timestamp_column]
    return df.sort_values([timestamp_column, *others], kind="mergesort", na_position="last").reset_index(drop=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_parquet(path: Path, table) -> None:
    """Write a pyarrow Table as Parquet atomically (a temporary file in the same folder, then a rename)."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, payload: Any) -> None:
    atomic_write_bytes(path, json.dumps(payload, indent=2, sort_keys=True, default=str).encode())


class Lake:
    """Partitions of one dataset."""

    def __init__(self, root: Path, dataset: str, *, quarantine_root: Path | None = None):
        self.dir = Path(root) / dataset
        self.dataset = dataset
        self.quarantine_dir = Path(quarantine_root or Path(root).parent / "quarantine") / dataset

    def path_for(self, interval: Interval) -> Path:
        return self.dir / f"{interval.key}.parquet"

    def validation_path(self, interval: Interval) -> Path:
        return self.dir / f"{interval.key}.validation.json"

    def write(self, df: pd.DataFrame, interval: Interval, *, timestamp_column: str, source: str) -> PartitionInfo:
        """Write the rows of one interval atomically; returns its info (same rows → same hash)."""
        import pyarrow as pa

        df = canonical_order(df, timestamp_column)
        info = PartitionInfo(
            partition_uri=path_to_uri(self.path_for(interval)),
            dataset=self.dataset,
            interval_start=interval.start.isoformat(),
            interval_end=interval.end.isoformat(),
            rows=len(df),
            content_hash=content_hash(df),
            source=source,
        )
        table = pa.Table.from_pandas(df, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[META_KEY] = json.dumps(info.to_dict()).encode()
        table = table.replace_schema_metadata(meta)
        atomic_write_parquet(self.path_for(interval), table)
        # A rewritten partition must be validated again.
        self.validation_path(interval).unlink(missing_ok=True)
        return info

    def info(self, interval: Interval) -> PartitionInfo:
        return read_info(self.path_for(interval))

    def exists(self, interval: Interval) -> bool:
        return self.path_for(interval).is_file()

    def read(self, interval: Interval, columns: list[str] | None = None) -> pd.DataFrame:
        path = self.path_for(interval)
        if not path.is_file():
            raise LakeError(
                f"dataset {self.dataset!r}: partition {interval} not found at {path}; expected the ingest task "
                "to have written it. Run (or clear) the ingest task for that interval."
            )
        import pandas as pd

        return pd.read_parquet(path, columns=columns)

    def mark_validated(self, interval: Interval, result: dict) -> None:
        info = self.info(interval)
        atomic_write_json(self.validation_path(interval), {**result, "content_hash": info.content_hash})

    def validation(self, interval: Interval) -> dict | None:
        """The stored validation result, if it was made for the partition's current content."""
        path = self.validation_path(interval)
        if not path.is_file() or not self.exists(interval):
            return None
        result = json.loads(path.read_text())
        return result if result.get("content_hash") == self.info(interval).content_hash else None

    def partitions(self) -> list[PartitionInfo]:
        if not self.dir.is_dir():
            return []
        return [read_info(p) for p in sorted(self.dir.glob("*.parquet"))]

    def quarantine(self, interval: Interval, result: dict) -> Path:
        """Move a partition that failed validation out of the lake, with its result beside it."""
        src = self.path_for(interval)
        info = self.info(interval)
        dest = self.quarantine_dir / interval.key
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / f"{info.content_hash[:16]}.parquet"
        shutil.move(str(src), target)
        atomic_write_json(
            dest / f"{info.content_hash[:16]}.validation.json",
            {**result, "partition": info.to_dict(), "quarantined_at": datetime.now(UTC).isoformat()},
        )
        self.validation_path(interval).unlink(missing_ok=True)
        return target


def read_info(path: Path) -> PartitionInfo:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
        return PartitionInfo(**json.loads(meta[META_KEY]))
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise LakeError(
            f"partition file {path} is unreadable or lacks its metadata ({type(e).__name__}: {e}); "
            "it was not written by the ingest step. Delete it and re-run ingest for that interval."
        ) from e
