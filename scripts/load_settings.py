"""Load connections, pools and variables from ``airflow_settings.yaml`` into the Airflow metadata DB.

The file uses the Astro CLI format::

    airflow:
      connections:  [{conn_id, conn_type, conn_host, conn_schema, conn_login, conn_password,
                      conn_port, conn_extra}]
      pools:        [{pool_name, pool_slot, pool_description}]
      variables:    [{variable_name, variable_value}]

``airflow_settings.local.yaml`` next to it (git-ignored, for real credentials) is read afterwards
when present; an item with the same id replaces the one from the tracked file. ``$VAR`` and
``${VAR}`` in string values are expanded from the environment (e.g. ``${AIRFLOW_HOME}``).

Every item is created or updated in place, so running this twice changes nothing. Run it after
``airflow db migrate`` with the stack's environment (``. scripts/env.sh``)::

    python scripts/load_settings.py [FILE ...]
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILES = (ROOT / "airflow_settings.yaml", ROOT / "airflow_settings.local.yaml")
SECTIONS = {  # section -> (id key, allowed keys, required keys)
    "connections": (
        "conn_id",
        {"conn_id", "conn_type", "conn_host", "conn_schema", "conn_login", "conn_password", "conn_port", "conn_extra", "conn_description"},
        {"conn_id", "conn_type"},
    ),
    "pools": ("pool_name", {"pool_name", "pool_slot", "pool_description"}, {"pool_name", "pool_slot"}),
    "variables": ("variable_name", {"variable_name", "variable_value"}, {"variable_name"}),
}


class SettingsError(Exception):
    """A settings file that cannot be loaded; the message says where and what to fix."""


def _expand(value: Any) -> Any:
    if isinstance(value, str):
        return os.path.expandvars(value)
    if isinstance(value, dict):
        return {k: _expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


def read_settings(paths: list[Path]) -> dict[str, dict[str, dict[str, Any]]]:
    """Read and validate the files; later files override items with the same id."""
    merged: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in SECTIONS}
    for path in paths:
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise SettingsError(f"{path}: not valid YAML ({e}). Fix the file and run again.") from e
        airflow = doc.get("airflow") if isinstance(doc, dict) else None
        if airflow is None:
            continue
        if not isinstance(airflow, dict):
            raise SettingsError(f"{path}: 'airflow' must be a mapping with connections/pools/variables.")
        unknown = set(airflow) - set(SECTIONS)
        if unknown:
            raise SettingsError(f"{path}: unknown section(s) under 'airflow': {sorted(unknown)}; expected {sorted(SECTIONS)}.")
        for section, (id_key, allowed, required) in SECTIONS.items():
            for i, item in enumerate(airflow.get(section) or []):
                where = f"{path}: airflow.{section}[{i}]"
                if not isinstance(item, dict):
                    raise SettingsError(f"{where}: expected a mapping, found {type(item).__name__}.")
                extra, missing = set(item) - allowed, {k for k in required if item.get(k) in (None, "")}
                if extra:
                    raise SettingsError(f"{where}: unknown key(s) {sorted(extra)}; allowed: {sorted(allowed)}.")
                if missing:
                    raise SettingsError(f"{where}: missing required key(s) {sorted(missing)}.")
                merged[section][str(item[id_key])] = _expand(item)
    return merged


def _conn_fields(item: dict[str, Any]) -> dict[str, Any]:
    extra = item.get("conn_extra")
    if isinstance(extra, (dict, list)):
        extra = json.dumps(extra, sort_keys=True)
    port = item.get("conn_port")
    return {
        "conn_type": item["conn_type"],
        "description": item.get("conn_description"),
        "host": item.get("conn_host"),
        "schema": item.get("conn_schema"),
        "login": item.get("conn_login"),
        "password": item.get("conn_password"),
        "port": int(port) if port not in (None, "") else None,
        "extra": extra or None,
    }


def apply_settings(settings: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Create or update each item in the metadata DB; return one line per item."""
    from airflow.models import Connection, Pool, Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    report: list[str] = []
    with create_session() as session:
        for conn_id, item in settings["connections"].items():
            fields = _conn_fields(item)
            conn = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
            if conn is None:
                session.add(Connection(conn_id=conn_id, **fields))
                report.append(f"connection {conn_id}: created")
                continue
            changed = [k for k, v in fields.items() if getattr(conn, k) != v]
            for key in changed:
                setattr(conn, key, fields[key])
            report.append(f"connection {conn_id}: " + (f"updated {changed}" if changed else "unchanged"))

        for name, item in settings["pools"].items():
            slots, desc = int(item["pool_slot"]), item.get("pool_description") or ""
            pool = session.scalar(select(Pool).where(Pool.pool == name))
            state = "created" if pool is None else ("unchanged" if (pool.slots, pool.description or "") == (slots, desc) else "updated")
            Pool.create_or_update_pool(
                name=name,
                slots=slots,
                description=desc,
                include_deferred=bool(pool.include_deferred) if pool else False,
                session=session,
            )
            report.append(f"pool {name}: {state} ({slots} slots)")

        for key, item in settings["variables"].items():
            raw = item.get("variable_value")
            value = "" if raw is None else raw if isinstance(raw, str) else json.dumps(raw)
            var = session.scalar(select(Variable).where(Variable.key == key))
            state = "created" if var is None else ("unchanged" if var.val == value else "updated")
            if state != "unchanged":
                Variable.set(key, value, description=var.description if var else None, session=session)
            report.append(f"variable {key}: {state}")
    return report


def main(argv: list[str]) -> int:
    paths = [Path(p) for p in argv] if argv else [p for p in DEFAULT_FILES if p.exists()]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"load_settings: file(s) not found: {missing}", file=sys.stderr)
        return 2
    try:
        settings = read_settings(paths)
    except SettingsError as e:
        print(f"load_settings: {e}", file=sys.stderr)
        return 2
    for line in apply_settings(settings):
        print(f"load_settings: {line}")
    print(f"load_settings: read {', '.join(p.name for p in paths) or 'nothing'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
