"""What the DAG files need at parse time: which datasets get DAGs, with which ids and schedule.

A dataset config with a ``dag:`` section gets a nightly training DAG, a promotion DAG and a
rollback DAG; its keys are ``dag_id`` (default ``mlops_nightly_training__<name>``),
``promotion_dag_id`` (default ``mlops_model_promotion__<name>``), ``rollback_dag_id``
(default ``mlops_model_rollback__<name>``), ``scoring_dag_id`` (default
``mlops_batch_scoring_<name>``; the DAG exists when the config also has a ``scoring:`` section),
``schedule`` (default ``@daily``; ``null`` for
manual runs only), ``start_date`` (default 2013-01-01) and ``tags``. The nightly DAG's
Deadline Alert comes from the config's ``alerts.late_after_hours`` (read here, at parse time).

Every config is checked here, at parse time, as a whole: YAML syntax, the ``dag:`` section,
and the dataset config itself (``mlops.config``, without importing the estimator). A config
with a problem gets no DAGs; the others are not affected. The problems, each naming its file
and line, are what ``dags/mlops_dataset_configs.py`` raises, so Airflow lists them as that
file's import error (an import error of a file that defines DAGs would mark all of that
file's DAGs stale in Airflow 3.3, so the DAG files themselves never raise for a config).

Cheap by design: ``yaml``, ``pathlib`` and the pydantic models (pydantic is loaded by
``airflow.sdk`` already); nothing heavy (``bench/parse_bench.py`` measures it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from mlops.alerts.events import DEFAULT_LATE_AFTER_HOURS
from mlops.configfile import ConfigFile, did_you_mean, read_config_file
from mlops.errors import ConfigError, MlopsError
from mlops.settings import Settings

DATASETS_DIR = Path(__file__).resolve().parent.parent / "datasets"

#: The keys of a config's ``dag:`` section.
DAG_KEYS = ("dag_id", "promotion_dag_id", "rollback_dag_id", "scoring_dag_id", "schedule", "start_date", "tags", "start_in_triggerer")
DAG_ID_KEYS = ("dag_id", "promotion_dag_id", "rollback_dag_id", "scoring_dag_id")
#: Airflow's rule for DAG ids (``airflow.sdk.definitions._internal.types``: KEY_REGEX, 250 characters).
DAG_ID_PATTERN = re.compile(r"^[\w.-]{1,250}$")


@dataclass(frozen=True)
class DatasetScan:
    """Every config of a folder: the DAG specs of the valid ones and one message per invalid one."""

    specs: list[dict]
    problems: list[str]


def _check_schedule(file: ConfigFile, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise file.error(
            ("dag", "schedule"), f"dag.schedule must be a cron expression or preset such as '@daily', or null for manual runs only; found {value!r}"
        )
    from croniter import croniter  # what Airflow's cron timetables validate with; loaded with airflow.sdk

    try:
        from airflow.utils.dates import cron_presets
    except ImportError:  # pragma: no cover - Airflow is installed wherever DAGs are parsed
        cron_presets = {}
    expr = cron_presets.get(value, value)
    try:
        croniter(expr)
    except Exception as e:
        presets = ", ".join(sorted(cron_presets))
        raise file.error(
            ("dag", "schedule"),
            f"dag.schedule {value!r} is not a cron expression or preset{did_you_mean(value, cron_presets)} ({e}); "
            f"use five cron fields like '0 2 * * *', a preset ({presets}), or null for manual runs only",
        ) from e


def _check_dag_section(file: ConfigFile, dag: dict) -> None:
    unknown = [k for k in dag if k not in DAG_KEYS]
    if unknown:
        key = unknown[0]
        raise file.error(
            ("dag", key),
            f"dag: unknown key {key!r}{did_you_mean(key, DAG_KEYS)}; the keys of the dag section are {', '.join(DAG_KEYS)}. "
            "An unknown key would be ignored silently (a misspelt schedule would fall back to @daily).",
        )
    for key in DAG_ID_KEYS:
        value = dag.get(key)
        if value is not None and not (isinstance(value, str) and DAG_ID_PATTERN.match(value)):
            raise file.error(("dag", key), f"dag.{key} must be letters, digits, '_', '.' or '-' (at most 250), found {value!r}")
    _check_schedule(file, dag.get("schedule", "@daily"))
    start = dag.get("start_date", "2013-01-01")
    try:
        datetime.fromisoformat(start.isoformat() if isinstance(start, date) else str(start))
    except ValueError as e:
        raise file.error(("dag", "start_date"), f"dag.start_date must be a date like 2024-01-31, found {start!r}") from e
    if not isinstance(dag.get("start_in_triggerer", True), bool):
        raise file.error(("dag", "start_in_triggerer"), f"dag.start_in_triggerer must be true or false, found {dag['start_in_triggerer']!r}")
    tags = dag.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and 0 < len(t) <= 100 for t in tags):
        raise file.error(("dag", "tags"), f"dag.tags must be a list of strings of at most 100 characters, found {tags!r}")


def _spec(file: ConfigFile) -> dict | None:
    raw = file.data
    name = raw.get("name", file.path.stem)
    if name != file.path.stem:
        raise file.error(
            ("name",),
            f"name {name!r} differs from the file name {file.path.name!r}; tasks load a dataset's config by its name, "
            f"so rename the file to {name}.yaml or set name: {file.path.stem}",
        )
    from mlops.config import validate_dataset

    validate_dataset(file)
    dag = raw.get("dag")
    if dag is None:
        return None
    if not isinstance(dag, dict):
        raise file.error(("dag",), f"dag must be a mapping with the keys {', '.join(DAG_KEYS)}, found {type(dag).__name__}")
    _check_dag_section(file, dag)
    return {
        "dataset": name,
        "dag_id": dag.get("dag_id") or f"mlops_nightly_training__{name}",
        "promotion_dag_id": dag.get("promotion_dag_id") or f"mlops_model_promotion__{name}",
        "rollback_dag_id": dag.get("rollback_dag_id") or f"mlops_model_rollback__{name}",
        "scoring_dag_id": dag.get("scoring_dag_id") or f"mlops_batch_scoring_{name}",
        "scoring": isinstance(raw.get("scoring"), dict),
        "model_name": raw.get("registered_model_name") or f"{name}_model",
        "schedule": dag.get("schedule", "@daily"),
        "start_date": str(dag.get("start_date", "2013-01-01")),
        "tags": list(dag.get("tags", [])),
        "start_in_triggerer": dag.get("start_in_triggerer", True),
        "description": " ".join(str(raw.get("description", "")).split()),
        "task": raw.get("task"),
        "path": str(file.path),
        "late_after_hours": (raw.get("alerts") or {}).get("late_after_hours", DEFAULT_LATE_AFTER_HOURS),
    }


#: Source files whose code decides a scan's result: a change to any of them invalidates cached scans.
_CHECKING_CODE = ("dagspec.py", "config.py", "configfile.py", "schema.py", "settings.py", "alerts/events.py", "training/metrics.py")
_memo: dict[str, DatasetScan] = {}


def _scan_key(folder: Path, paths: list[Path]) -> str | None:
    """Hash of every config's name and bytes, the checking code and the library versions; None when a file cannot be read."""
    import hashlib
    from importlib.metadata import version

    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    try:
        for name in _CHECKING_CODE:
            st = (here / name).stat()
            h.update(f"{name}:{st.st_mtime_ns}:{st.st_size};".encode())
        h.update(f"{version('pydantic')};{version('apache-airflow')};{version('croniter')};{folder.resolve()};".encode())
        for path in paths:
            h.update(path.name.encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    except OSError:
        return None
    return h.hexdigest()[:32]


def _cache_file(key: str) -> Path | None:
    home = Settings.value("home", default=None)
    return Path(home).expanduser() / "cache" / "dagspec" / f"{key}.json" if home else None


def scan_datasets(datasets_dir: str | Path | None = None) -> DatasetScan:
    """Read and check every ``*.yaml`` of the datasets folder; a bad file affects only itself.

    Every DAG file scans the folder when it is parsed, each in its own process. A scan's
    result is therefore kept, in the process and in ``$MLOPS_HOME/cache/dagspec/``, keyed by
    the bytes of every config, the checking code and the library versions: an unchanged folder
    is checked once, not once per DAG file and parse loop. Any change to a config, or to the
    code that checks it, gives another key. The cache is an optimisation only: when it cannot
    be read or written the folder is scanned as before.
    """
    import json

    folder = Path(datasets_dir or Settings.value("datasets_dir") or DATASETS_DIR)
    paths = sorted(folder.glob("*.yaml"))
    key = _scan_key(folder, paths)
    if key is not None and key in _memo:
        return _memo[key]
    cache = _cache_file(key) if key is not None else None
    if cache is not None:
        try:
            stored = json.loads(cache.read_text())
            scan = DatasetScan(specs=stored["specs"], problems=stored["problems"])
        except (OSError, ValueError, KeyError, TypeError):
            scan = None
        if scan is not None:
            _memo[key] = scan
            return scan
    scan = _scan(folder, paths)
    if key is not None:
        _memo[key] = scan
    if cache is not None:
        try:
            from mlops.lake import atomic_write_json

            atomic_write_json(cache, {"specs": scan.specs, "problems": scan.problems})
        except (OSError, MlopsError):  # read-only or full file system: parse without the cache
            pass
    return scan


def _scan(folder: Path, paths: list[Path]) -> DatasetScan:
    specs: list[dict] = []
    problems: list[str] = []
    owner: dict[str, str] = {}
    for path in paths:
        try:
            file = read_config_file(path)
            spec = _spec(file)
            if spec is None:
                continue
            ids = [spec[k] for k in DAG_ID_KEYS]
            for key, dag_id in zip(DAG_ID_KEYS, ids, strict=True):
                if ids.count(dag_id) > 1 or dag_id in owner:
                    other = owner.get(dag_id, str(path))
                    raise file.error(("dag", key), f"DAG id {dag_id!r} is already used by {other}; every DAG needs its own id")
        except ConfigError as e:
            problems.append(str(e))
            continue
        owner.update(dict.fromkeys(ids, str(path)))
        specs.append(spec)
    return DatasetScan(specs=specs, problems=problems)


def dag_specs(datasets_dir: str | Path | None = None) -> list[dict]:
    """The DAG specs of the valid configs (see ``scan_datasets`` for the problems of the others)."""
    return scan_datasets(datasets_dir).specs
