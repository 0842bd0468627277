"""Parquet or CSV files with a timestamp column: a folder, a file, or a glob.

What a read does with each file, so that one bad file never blocks the days it cannot hold:

* files and folders whose names start with ``.`` or ``_`` are ignored (temporary files of
  writers, ``_SUCCESS`` markers), as Spark and Hive do;
* a Parquet file whose footer statistics put all its timestamps outside the interval is
  not read at all; any other file is read and clipped to the interval;
* a file that holds rows of the interval must carry every declared column (the dataset's
  timestamp, features and target), with the same kind of values (numbers, text, times) as
  the other files of the interval: otherwise the read is refused with a
  ``SourceDataError`` naming the file and the column (concatenating it would turn a
  missing column into nulls);
* a file that cannot be read at all (truncated Parquet, a CSV named ``.parquet``, an
  empty or garbled file) or has no readable timestamp column is a ``BadSourceFile``. Which
  interval it belonged to cannot be read from its content, so:

  - a copy is kept under ``quarantine_dir/<sha256[:16]>/`` with ``reason.json`` (what was
    expected, what was found, which interval met it first); the file itself is left where
    it is, the source folder belongs to whoever writes it;
  - the interval it belongs to fails, not retried, with a message naming the file: the
    day in its name (``…2024-03-05…``, ``…20240305…``, ``ds=2024-03-05/…``) when the path
    holds exactly one date, else the first interval that met it;
  - every other interval skips it while its content is unchanged, and records that in the
    partition (``skipped_source_files``) and the task log. A file replaced by a good one
    has another hash and is read again.

The rows a read used are recorded as well: ``DataFrame.attrs["mlops_provenance"]`` holds
``{"files": {name: rows}, "empty_files": [...], "skipped_files": {name: reason}}``; the
ingest step stores it with the partition, and a failed validation names these files.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mlops.errors import BadSourceFile, SourceDataError, SourceError
from mlops.sources.base import PROVENANCE, Interval, to_utc

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz")
SUFFIXES = PARQUET_SUFFIXES + CSV_SUFFIXES
_GLOB_CHARS = re.compile(r"[*?\[]")
_DATE_IN_PATH = re.compile(r"(?<!\d)((?:19|20)\d{2})[-_]?(0[1-9]|1[0-2])[-_]?(0[1-9]|[12]\d|3[01])(?!\d)")


def _ignored(rel: Path) -> bool:
    return any(part.startswith((".", "_")) for part in rel.parts)


def date_in_path(rel: Path) -> date | None:
    """The one calendar day a relative path names (``events-2024-03-05.parquet``), if exactly one."""
    days = set()
    for m in _DATE_IN_PATH.finditer(rel.as_posix()):
        try:
            days.add(date(int(m.group(1)), int(m.group(2)), int(m.group(3))))
        except ValueError:
            continue
    return days.pop() if len(days) == 1 else None


def _kind_of(series: pd.Series) -> str | None:
    """Coarse kind of a column's values (``None`` when every value is null: nothing to compare)."""
    import pandas as pd

    if series.isna().all():
        return None
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return "numbers"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "times"
    return "text"


class FilesSource:
    """Reads the files that hold rows of the interval; see the module docstring.

    Parameters
    ----------
    path : str
        A folder (all ``*.parquet``/``*.pq``/``*.csv``/``*.csv.gz`` files below it), a file,
        or a glob such as ``/data/events/*.parquet``. Relative paths resolve against ``base_dir``.
    timestamp_column : str
        Column holding the event time (parsed as UTC; naive values are taken as UTC).
    columns : list of str, optional
        Columns every file with rows in the interval must carry (the dataset's declared columns).
    quarantine_dir : Path, optional
        Where copies of unreadable files and their reasons are kept. Without it an unreadable
        file fails every interval (nothing records which one it belongs to).
    """

    def __init__(
        self,
        *,
        path: str,
        timestamp_column: str,
        columns: list[str] | None = None,
        base_dir: Path | None = None,
        quarantine_dir: Path | None = None,
    ):
        p = Path(path).expanduser()
        if not p.is_absolute() and base_dir is not None:
            p = Path(base_dir) / p
        self.pattern = str(p)
        self.timestamp_column = timestamp_column
        self.columns = list(columns or [])
        self.quarantine_dir = Path(quarantine_dir) if quarantine_dir else None
        self.description = f"files:{self.pattern}"

    # -- listing --------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The folder that file names are reported relative to (the pattern up to its first wildcard)."""
        p = Path(self.pattern)
        if not _GLOB_CHARS.search(self.pattern):
            return p if p.is_dir() else p.parent
        fixed = []
        for part in p.parts:
            if _GLOB_CHARS.search(part):
                break
            fixed.append(part)
        return Path(*fixed) if fixed else Path(".")

    def files(self) -> list[Path]:
        """The source's data files, sorted; a path that does not exist is a data error (not retried)."""
        p = Path(self.pattern)
        if not _GLOB_CHARS.search(self.pattern):
            if not p.exists():
                raise SourceDataError(
                    f"files source: {self.pattern} does not exist; expected a folder, a file or a glob of "
                    f"Parquet/CSV files. Check source.options.path in the dataset config (relative paths "
                    "resolve against MLOPS_HOME), or mount the folder, then clear the ingest task."
                )
            candidates = sorted(p.rglob("*")) if p.is_dir() else [p]
        else:
            candidates = [Path(f) for f in sorted(glob.glob(self.pattern, recursive=True))]
        found = [f for f in candidates if f.is_file() and f.name.endswith(SUFFIXES) and not _ignored(Path(self.name(f)))]
        if not found:
            where = "the folder holds" if p.is_dir() else "the pattern matches"
            raise SourceDataError(
                f"files source: no Parquet or CSV files in {self.pattern!r} ({where} no file ending in "
                f"{', '.join(SUFFIXES)}, names starting with '.' or '_' are ignored). Check source.options.path "
                "in the dataset config or what the upstream delivered, then clear the ingest task."
            )
        return found

    def name(self, f: Path) -> str:
        """A file's name relative to the source's root (what messages and provenance show)."""
        return str(f.relative_to(self.root)) if f.is_relative_to(self.root) else str(f)

    # -- reading --------------------------------------------------------------------------

    def read(self, interval: Interval) -> pd.DataFrame:
        import pandas as pd

        frames: list[tuple[str, pd.DataFrame]] = []
        empty: list[str] = []
        skipped: dict[str, str] = {}
        template = None  # the columns and types of an interval without rows: those of the files
        for f in self.files():
            try:
                df = self._read_rows(f, interval)
            except BadSourceFile as e:
                if self._owned_by(f, e, interval):
                    raise
                reason = f"unreadable, kept at {e.quarantined}; belongs to another interval"
                skipped[self.name(f)] = reason
                log.warning("files source: %s: skipping %s (%s)", interval, self.name(f), reason)
                continue
            if df is None:
                template = template if template is not None else f
                continue
            if df.attrs.pop("empty_file", False):
                empty.append(self.name(f))
            if len(df):
                self._check_columns(f, df, interval)
                frames.append((self.name(f), df))
            elif template is None or isinstance(template, Path):
                template = df
        self._check_kinds(frames, interval)
        if frames:
            out = pd.concat([df for _, df in frames], ignore_index=True) if len(frames) > 1 else frames[0][1]
        else:
            out = self._no_rows(template)
        out.attrs[PROVENANCE] = {
            "files": {name: len(df) for name, df in frames},
            "empty_files": empty,
            "skipped_files": skipped,
        }
        return out

    def _read_rows(self, f: Path, interval: Interval) -> pd.DataFrame | None:
        """The rows of one file inside the interval; ``None`` when footer statistics show it holds none."""
        import pandas as pd
        import pyarrow as pa

        parquet = f.name.endswith(PARQUET_SUFFIXES)
        try:
            if parquet:
                span = self._parquet_span(f)
                if span is not None and (span[1] < interval.start or span[0] >= interval.end):
                    return None
                df = pd.read_parquet(f)
            else:
                df = pd.read_csv(f)
        except FileNotFoundError as e:
            raise SourceError(
                f"files source: {f} disappeared while it was read; the upstream may be replacing it. "
                "The task is retried; if it keeps failing, check what writes that folder."
            ) from e
        except PermissionError as e:
            raise SourceDataError(
                f"files source: {f} cannot be opened ({e.strerror}); expected a file the Airflow worker may read. "
                "Fix its permissions, then clear the ingest task."
            ) from e
        except (OSError, ValueError, pa.ArrowException) as e:
            # ArrowInvalid, pandas' ParserError/EmptyDataError and UnicodeDecodeError are ValueErrors.
            raise self._bad_file(f, interval, parquet=parquet, error=e) from e
        if self.timestamp_column not in df.columns:
            raise self._bad_file(
                f,
                interval,
                parquet=parquet,
                found=f"no timestamp column {self.timestamp_column!r} (columns: {sorted(map(str, df.columns))[:20]})",
            )
        try:
            df[self.timestamp_column] = to_utc(df[self.timestamp_column], column=self.timestamp_column, where=str(f))
        except SourceDataError as e:
            raise self._bad_file(f, interval, parquet=parquet, found=f"timestamps that do not parse ({e.__cause__})") from e
        was_empty = len(df) == 0
        ts = df[self.timestamp_column]
        df = df.loc[(ts >= pd.Timestamp(interval.start)) & (ts < pd.Timestamp(interval.end))].reset_index(drop=True)
        df.attrs["empty_file"] = was_empty
        return df

    def _no_rows(self, template: pd.DataFrame | Path | None) -> pd.DataFrame:
        """An interval without rows: the columns and types of a file (or the declared columns)."""
        import pandas as pd
        import pyarrow.parquet as pq

        if isinstance(template, Path):  # a Parquet file pruned by its footer: its schema
            template = pq.read_schema(template).empty_table().to_pandas()
            template[self.timestamp_column] = to_utc(template[self.timestamp_column], column=self.timestamp_column, where="")
        if template is not None:
            return template.iloc[0:0].reset_index(drop=True)
        out = pd.DataFrame({c: pd.Series(dtype="float64") for c in self.columns if c != self.timestamp_column})
        out.insert(0, self.timestamp_column, pd.Series(dtype="datetime64[us, UTC]"))
        return out

    def _parquet_span(self, f: Path) -> tuple[datetime, datetime] | None:
        """First and last timestamp from the footer's statistics; ``None`` when they do not tell."""
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(f).metadata
        names = [meta.schema.column(i).path for i in range(meta.num_columns)]
        if self.timestamp_column not in names or meta.num_row_groups == 0:
            return None
        idx = names.index(self.timestamp_column)
        lo = hi = None
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(idx).statistics
            if stats is None or not stats.has_min_max or not isinstance(stats.min, datetime):
                return None
            lo = stats.min if lo is None else min(lo, stats.min)
            hi = stats.max if hi is None else max(hi, stats.max)

        def as_utc(d):
            return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)

        return as_utc(lo), as_utc(hi)

    # -- checks ---------------------------------------------------------------------------

    def _check_columns(self, f: Path, df: pd.DataFrame, interval: Interval) -> None:
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            raise SourceDataError(
                f"files source: {f} holds {len(df)} rows of {interval} but lacks the declared column(s) {missing}; "
                f"its columns are {sorted(map(str, df.columns))[:30]}. Rows without them cannot be validated or "
                "trained on. Fix the file (or the dataset config's features/target), then clear the ingest task."
            )

    def _check_kinds(self, frames: list[tuple[str, pd.DataFrame]], interval: Interval) -> None:
        if len(frames) < 2:
            return
        for col in self.columns:
            seen: dict[str, tuple[str, str]] = {}
            for name, df in frames:
                kind = _kind_of(df[col]) if col in df.columns else None
                if kind is not None:
                    seen.setdefault(kind, (name, str(df[col].dtype)))
            if len(seen) > 1:
                detail = "; ".join(f"{kind} ({dtype}) in {name}" for kind, (name, dtype) in seen.items())
                raise SourceDataError(
                    f"files source: column {col!r} holds different kinds of values across the files of {interval}: "
                    f"{detail}. Expected one type per column. Fix the file whose type changed, then clear the ingest task."
                )

    # -- unreadable files -------------------------------------------------------------------

    def _bad_file(self, f: Path, interval: Interval, *, parquet: bool, error: Exception | None = None, found: str | None = None) -> BadSourceFile:
        data = f.read_bytes() if f.is_file() else b""
        kind = "Parquet" if parquet else "CSV"
        found = found or _diagnose(data, parquet=parquet, error=error)
        digest = hashlib.sha256(data).hexdigest()
        record = {
            "path": str(f),
            "name": self.name(f),
            "size": len(data),
            "sha256": digest,
            "expected": f"a complete {kind} file with a timestamp column {self.timestamp_column!r}",
            "found": found,
            "error": f"{type(error).__name__}: {error}" if error else None,
            "first_interval": interval.key,
            "quarantined_at": datetime.now(UTC).isoformat(),
        }
        copy = self._quarantine(f, data, record) if self.quarantine_dir else None
        if copy is not None:
            record = json.loads((copy.parent / "reason.json").read_text())  # first writer wins
        owner = date_in_path(Path(self.name(f)))
        belongs = f"the day in its name, {owner.isoformat()}" if owner else f"the first interval that met it, {record['first_interval']}"
        kept = (
            f"A copy was kept at {copy} with reason.json; the file itself was left in place. "
            f"It is counted against {belongs}, which fails until the file is fixed; other intervals skip it while "
            "its content is unchanged and record the skip in their partition."
            if copy
            else "Nothing recorded which interval it belongs to, so every interval fails until it is fixed."
        )
        fix = "a complete Parquet file (or give a CSV file a .csv name)" if parquet else "a well-formed CSV file with a header line"
        message = (
            f"files source: {f} ({len(data)} bytes) cannot be read as {kind}: {found}. "
            f"Expected {record['expected']}. {kept} Replace it with {fix} or remove it, then clear the ingest task of {interval}."
        )
        return BadSourceFile(message, path=str(f), quarantined=str(copy) if copy else None, record=record)

    def _quarantine(self, f: Path, data: bytes, record: dict) -> Path:
        """Keep a copy of ``f`` and its reason under ``quarantine_dir/<sha16>/`` (idempotent, first reason wins)."""
        folder = self.quarantine_dir / record["sha256"][:16]
        folder.mkdir(parents=True, exist_ok=True)
        copy = folder / f.name
        if not copy.is_file():
            fd, tmp = tempfile.mkstemp(prefix=f".{f.name}.", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, copy)
        reason = folder / "reason.json"
        if not reason.is_file():
            fd, tmp = tempfile.mkstemp(prefix=".reason.", suffix=".tmp", dir=folder)
            with os.fdopen(fd, "w") as fh:
                json.dump(record, fh, indent=2, sort_keys=True)
            try:
                os.link(tmp, reason)  # fails if a concurrent run recorded it first: keep theirs
            except FileExistsError:
                pass
            finally:
                os.unlink(tmp)
        return copy

    def _owned_by(self, f: Path, err: BadSourceFile, interval: Interval) -> bool:
        """Whether ``interval`` is the one an unreadable file is counted against (see the module docstring)."""
        if err.quarantined is None:
            return True
        owner = date_in_path(Path(self.name(f)))
        if owner is not None:
            return any(d.date() == owner for d in interval.day_starts())
        return err.record.get("first_interval") == interval.key


def _diagnose(data: bytes, *, parquet: bool, error: Exception | None) -> str:
    """What an unreadable file holds, in words."""
    if not data:
        return "the file is empty (0 bytes)"
    head = data[:4096]
    if parquet:
        if head[:4] == b"PAR1" and data[-4:] != b"PAR1":
            return "it starts like Parquet but its footer is missing, so it was cut short (a copy or a writer that did not finish)"
        if head[:4] != b"PAR1":
            text = _as_text(head)
            if text is not None:
                first = text.splitlines()[0][:120] if text.strip() else ""
                looks = "CSV" if any(sep in first for sep in (",", ";", "\t")) else "text"
                return f"it holds {looks}, not Parquet (first line: {first!r})"
            return f"it does not start with Parquet's magic bytes PAR1 (found {head[:4]!r})"
        return f"its Parquet metadata or pages are corrupt ({type(error).__name__}: {error})"
    if head[:4] == b"PAR1":
        return "it holds Parquet, not CSV (rename it to .parquet)"
    if _as_text(head) is None:
        return "it is not UTF-8 text (a binary or compressed file?)"
    return f"it is not well-formed CSV ({type(error).__name__}: {error})"


def _as_text(head: bytes) -> str | None:
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not just a character cut at the 4 KiB boundary
            return None
        text = head[: e.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return text if text and printable / len(text) > 0.95 else None
