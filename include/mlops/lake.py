"""Partitions on disk: layout, atomic writes, content hashes, validation marks, quarantine.

Layout under ``Settings.lake_dir``::

    <dataset>/ds=2013-03-01.parquet            one partition per data interval
    <dataset>/ds=2013-03-01.validation.json    written by the validation step

    <dataset>/ds=2013-03-01.quarantined.json   the day's partition is in quarantine, or its source was refused

The partition's metadata (interval, rows, content hash, source, the source files it came
from) lives in the Parquet file's key-value metadata, so data and metadata are replaced
together by one rename. A partition that fails validation moves to
``Settings.quarantine_dir`` with its result.

**Quarantine records** (``ds=….quarantined.json``) make quarantine safe with concurrent
runs and cheap for windows:

* ``quarantine`` writes the record (with the content hash) *before* it moves the file, and
  readers look at the partition *before* the record, so a reader always sees either the
  partition or the record: a partition that vanished mid-read is reported as
  ``PartitionQuarantined`` with the reason, never as a damaged file;
* a day whose source was refused (``record_refusal``: an unreadable source file, a missing
  column) gets a record too;
* windows (``mlops.windows.read_window``) skip a day with a record instead of ingesting and
  validating it again on every read; a deliberate re-ingest (the day's ingest task)
  rewrites the partition and removes the record.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import LakeError, PartitionQuarantined, SourceDataError, StorageFull
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
    #: Where the rows came from, when the source tells (files source: ``files``, ``empty_files``, ``skipped_files``).
    provenance: dict = field(default_factory=dict)

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


#: errno values that mean "the file system has no room for this file".
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def disk_full_error(path: Path | None, exc: BaseException, *, near: Path | None = None, atomic: bool = False) -> StorageFull | None:
    """``StorageFull`` naming ``path`` and the free space when ``exc`` says its file system is full, else None.

    Without a path (the error did not say which file), the free space is that of ``near``.
    ``atomic``: the write was ``atomic_write``'s, so nothing half-written is left.
    """
    if not isinstance(exc, OSError) or exc.errno not in _NO_ROOM:
        return None
    folder = Path(path).parent if path else Path(near or ".")
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        usage = shutil.disk_usage(folder)
        room = f"{_size(usage.free)} free of {_size(usage.total)} on the file system of {folder}"
    except OSError:
        room = f"free space on the file system of {folder} unknown"
    left = "nothing was written there and the previous file, if any, is unchanged" if atomic else "the file may be incomplete; the task's retry writes it again"
    return StorageFull(
        f"could not write {path or 'a file (the system did not say which)'}: {os.strerror(exc.errno)} ({room}); {left}. "
        "Free space on that file system (old partitions, quarantine, reports, MLflow artifacts) or move MLOPS_HOME "
        "to a larger one, then clear the task."
    )


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """Create or replace ``path`` whole or not at all.

    ``write(tmp)`` fills a temporary file in the same folder, which is flushed to disk and
    renamed over ``path``. On any failure the temporary file is removed; a full file system
    raises ``StorageFull`` naming the path and the free space.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # a full disk can show only here (delayed allocation, network file systems)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        full = disk_full_error(path, e, atomic=True)
        if full is not None:
            raise full from e
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_parquet(path: Path, table) -> None:
    """Write a pyarrow Table as Parquet atomically (see ``atomic_write``)."""
    import pyarrow.parquet as pq

    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


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

    def quarantine_record_path(self, interval: Interval) -> Path:
        return self.dir / f"{interval.key}.quarantined.json"

    @contextmanager
    def day_lock(self, interval: Interval, *, wait: bool = True) -> Iterator[bool]:
        """Hold ``interval``'s lock while a window ingests or validates it (``mlops.windows``).

        Several runs can need the same day the lake does not hold yet, at the same moment: the
        first days of a backfill each read a reference window of days never ingested. Under the
        lock one of them ingests and validates it and the others find it done. Yields False at
        once, holding nothing, when ``wait`` is False and another process holds the lock. An
        advisory ``flock`` on ``<dataset>/.locks/<day>.lock``, released when the block ends or
        the process does, however it ends. Never taken twice by one process: a second ``flock``
        on another descriptor of the same file waits for the first.
        """
        import fcntl

        path = self.dir / ".locks" / f"{interval.key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                held = True
            except BlockingIOError:
                held = False
            try:
                yield held
            finally:
                if held:
                    fcntl.flock(f, fcntl.LOCK_UN)

    def write(self, df: pd.DataFrame, interval: Interval, *, timestamp_column: str, source: str, provenance: dict | None = None) -> PartitionInfo:
        """Write the rows of one interval atomically; returns its info (same rows → same hash).

        The interval's validation mark and quarantine record go: the new content has to be validated.
        """
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
            provenance=dict(provenance or {}),
        )
        try:
            table = pa.Table.from_pandas(df, preserve_index=False)
        except (pa.ArrowException, ValueError, TypeError) as e:
            raise SourceDataError(
                f"dataset {self.dataset!r}, partition {interval}: the rows from {source} cannot be stored as Parquet "
                f"({type(e).__name__}: {e}); a column holds values of mixed types. Make each column hold one type in "
                "the source, then clear the ingest task."
            ) from e
        meta = dict(table.schema.metadata or {})
        meta[META_KEY] = json.dumps(info.to_dict()).encode()
        table = table.replace_schema_metadata(meta)
        atomic_write_parquet(self.path_for(interval), table)
        # A rewritten partition must be validated again. New content lifts the quarantine record; the same
        # content keeps it (it is known bad, and a concurrent quarantine of it stays visible to readers).
        self.validation_path(interval).unlink(missing_ok=True)
        record = self.quarantine_record(interval)
        if record is not None and record.get("content_hash") != info.content_hash:
            self.quarantine_record_path(interval).unlink(missing_ok=True)
        return info

    def info(self, interval: Interval) -> PartitionInfo:
        """The partition's metadata; ``PartitionQuarantined`` or ``LakeError`` when it is not there."""
        try:
            return read_info(self.path_for(interval))
        except FileNotFoundError:
            raise self._absent(interval) from None

    def load(self, interval: Interval, columns: list[str] | None = None) -> tuple[PartitionInfo, pd.DataFrame]:
        """Metadata and rows read from one opening of the file, so the hash always describes these rows.

        ``columns``: read only these (those the file does not hold are left out, not an error).
        """
        import pyarrow.parquet as pq

        path = self.path_for(interval)
        try:
            with pq.ParquetFile(path) as f:
                names = f.schema_arrow.names
                table = f.read(columns=None if columns is None else [c for c in names if c in set(columns)])
        except FileNotFoundError:
            raise self._absent(interval) from None
        except (OSError, ValueError) as e:
            raise _unreadable(path, e) from e
        return _info_from(path, table.schema.metadata), table.to_pandas()

    def quarantine_record(self, interval: Interval) -> dict | None:
        """The interval's quarantine record, if any (see the module docstring)."""
        try:
            return json.loads(self.quarantine_record_path(interval).read_text())
        except FileNotFoundError:
            return None

    def state(self, interval: Interval) -> tuple[str, PartitionInfo | dict | None]:
        """``("validated" | "unvalidated", info)``, ``("quarantined", record)`` or ``("missing", None)``.

        Looks at the partition before the record: ``quarantine`` writes the record before it
        moves the file, so a partition moved away in between is still seen as quarantined.
        """
        try:
            info = read_info(self.path_for(interval))
        except FileNotFoundError:
            record = self.quarantine_record(interval)
            return ("quarantined", record) if record else ("missing", None)
        record = self.quarantine_record(interval)
        if record and record.get("content_hash") == info.content_hash:
            return "quarantined", record
        return ("validated" if self._mark_hash(interval) == info.content_hash else "unvalidated"), info

    def _mark_hash(self, interval: Interval) -> str | None:
        try:
            return json.loads(self.validation_path(interval).read_text()).get("content_hash")
        except FileNotFoundError:
            return None

    def _absent(self, interval: Interval) -> LakeError:
        """The error for a partition that is not on disk: quarantined (with why) or never written."""
        record = self.quarantine_record(interval)
        if record:
            return PartitionQuarantined(describe_quarantine(self.dataset, interval, record), record=record)
        return LakeError(
            f"dataset {self.dataset!r}: partition {interval} not found at {self.path_for(interval)}; expected the ingest task "
            "to have written it. Run (or clear) the ingest task for that interval."
        )

    def exists(self, interval: Interval) -> bool:
        return self.path_for(interval).is_file()

    def read(self, interval: Interval, columns: list[str] | None = None) -> pd.DataFrame:
        return self.load(interval, columns)[1]

    def mark_validated(self, interval: Interval, result: dict, *, content_hash: str | None = None) -> None:
        """Record a passed validation for ``content_hash`` (the content that was validated; default: the current one).

        A quarantine record of that same content goes: it passed now (the suite was relaxed, say).
        """
        digest = content_hash or self.info(interval).content_hash
        atomic_write_json(self.validation_path(interval), {**result, "content_hash": digest})
        record = self.quarantine_record(interval)
        if record is not None and record.get("content_hash") == digest:
            self.quarantine_record_path(interval).unlink(missing_ok=True)

    def validation(self, interval: Interval) -> dict | None:
        """The stored validation result, if it was made for the partition's current content."""
        path = self.validation_path(interval)
        try:
            result = json.loads(path.read_text())
            current = self.info(interval).content_hash
        except (FileNotFoundError, LakeError):
            return None
        return result if result.get("content_hash") == current else None

    def partitions(self) -> list[PartitionInfo]:
        if not self.dir.is_dir():
            return []
        out = []
        for p in sorted(self.dir.glob("*.parquet")):
            try:
                out.append(read_info(p))
            except FileNotFoundError:
                continue  # quarantined since the listing
        return out

    def quarantine(self, interval: Interval, result: dict, *, content_hash: str | None = None, message: str = "") -> Path:
        """Move a partition that failed validation out of the lake, with its result beside it.

        ``content_hash`` is the content that failed (default: what is on disk). Safe against a
        concurrent run quarantining the same content: the second call finds it done.
        """
        src = self.path_for(interval)
        try:
            info = read_info(src)
        except FileNotFoundError:
            record = self.quarantine_record(interval)
            if record and content_hash in (None, record.get("content_hash")):
                return Path(record["quarantined_to"])  # a concurrent run moved it already
            raise self._absent(interval) from None
        if content_hash is not None and info.content_hash != content_hash:
            raise LakeError(
                f"dataset {self.dataset!r}, partition {interval}: it was rewritten while it was validated (validated "
                f"content {content_hash[:16]}, now {info.content_hash[:16]}); it was left in the lake. Clear the "
                "validate task to validate the new content."
            )
        dest = self.quarantine_dir / interval.key
        target = dest / f"{info.content_hash[:16]}.parquet"
        now = datetime.now(UTC).isoformat()
        atomic_write_json(
            dest / f"{info.content_hash[:16]}.validation.json",
            {**result, "partition": info.to_dict(), "quarantined_at": now},
        )
        record = {
            "reason": "failed validation",
            "content_hash": info.content_hash,
            "quarantined_to": str(target),
            "quarantined_at": now,
            "failed_expectations": result.get("failed_expectations") or [],
            "message": message,
        }
        # The record first, the move second: a reader that misses the file finds the record.
        atomic_write_json(self.quarantine_record_path(interval), record)
        try:
            shutil.move(str(src), target)
        except FileNotFoundError:
            if not target.is_file():
                raise
        if self.quarantine_record(interval) is None:  # lifted by a concurrent write of other content meanwhile
            atomic_write_json(self.quarantine_record_path(interval), record)
        self.validation_path(interval).unlink(missing_ok=True)
        return target

    def record_refusal(self, interval: Interval, error: Exception) -> None:
        """Record that the source's data for ``interval`` was refused (no partition was written)."""
        atomic_write_json(
            self.quarantine_record_path(interval),
            {
                "reason": "source refused",
                "content_hash": None,
                "quarantined_to": getattr(error, "quarantined", None),
                "quarantined_at": datetime.now(UTC).isoformat(),
                "error": type(error).__name__,
                "message": str(error),
            },
        )


def describe_quarantine(dataset: str, interval: Interval, record: dict) -> str:
    """One paragraph on why a day is in quarantine and how to bring it back."""
    if record.get("reason") == "source refused":
        what = f"its source data was refused ({record.get('error')}: {first_line(record.get('message', ''))})"
    else:
        n = len(record.get("failed_expectations") or [])
        what = f"it failed validation ({n} expectation{'s' if n != 1 else ''}) and was moved to {record.get('quarantined_to')}"
    return (
        f"dataset {dataset!r}, partition {interval}: in quarantine since {record.get('quarantined_at')}: {what}. "
        f"Nothing downstream uses it. Fix the source data, then clear the ingest task of {interval} to ingest it again."
    )


def first_line(text: str, limit: int = 300) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def read_info(path: Path) -> PartitionInfo:
    """A partition file's metadata. ``FileNotFoundError`` passes through (the caller knows why a file may be gone)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:
        raise _unreadable(path, e) from e
    return _info_from(path, meta)


def _info_from(path: Path, meta: dict | None) -> PartitionInfo:
    try:
        return PartitionInfo(**json.loads((meta or {})[META_KEY]))
    except (KeyError, ValueError, TypeError) as e:
        raise _unreadable(path, e) from e


def _unreadable(path: Path, e: Exception) -> LakeError:
    return LakeError(
        f"partition file {path} is unreadable or lacks its metadata ({type(e).__name__}: {e}); "
        "it was not written by the ingest step (or was damaged on disk). Move it out of the lake and re-run "
        "ingest for that interval."
    )
