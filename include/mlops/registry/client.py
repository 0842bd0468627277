"""Registration, alias look-ups and the order of versions.

Every version the pipeline registers carries ``mlops.run_key`` = ``<dag_id>/<run_id>``;
registering is a look-up by that key first, so a retry or a re-run of the same DAG run
returns the version it already made instead of creating a second one.

Aliases only move forward. Versions are ordered by the end of the data they saw
(``mlops.data_interval_end``), then by version number (``version_key``). ``challenger`` goes
to a version only when it is the newest of its registered model: a re-run of an old DAG run
finds its old version and leaves the alias where it is, and a version that is not the newest
is marked ``superseded`` by the newest one at once, so no undecided version is left without
the alias (pending for ever). When a new version takes ``challenger``, the older undecided
versions are marked ``superseded`` by it the same way.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from mlops import faults, schema
from mlops.errors import RegistryError

log = logging.getLogger(__name__)

CHAMPION, CHALLENGER, PREVIOUS = "champion", "challenger", "previous"
RUN_KEY_TAG = schema.RUN_KEY.name


def model_exists(client, name: str) -> bool:
    """Whether the registered model ``name`` exists (and the caller may read it)."""
    from mlops.tracking import _quote

    return bool(client.search_registered_models(filter_string=f"name = '{_quote(name)}'", max_results=1))


def missing_model(client, name: str, error) -> bool:
    """Whether an ``MlflowException`` from a look-up in ``name`` means the model or alias does not exist.

    MLflow's basic-auth app answers 403 ``PERMISSION_DENIED`` rather than 404 for a registered
    model that does not exist, so a denial counts as "missing" only when a search (which
    lists what the caller may read) does not find the model either.
    """
    if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
        return True
    return error.error_code == "PERMISSION_DENIED" and not model_exists(client, name)


def alias_version(client, name: str, alias: str):
    """The model version behind ``name@alias``, or None when the model or alias does not exist."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as e:
        if missing_model(client, name, e):
            return None
        raise


def find_version_by_run_key(client, name: str, run_key: str):
    """The version registered by the DAG run ``run_key`` (``dag_id/run_id``), or None."""
    quoted = run_key.replace("'", "\\'")
    found = client.search_model_versions(f"name = '{name}' and tags.`{RUN_KEY_TAG}` = '{quoted}'")
    if len(found) > 1:
        versions = sorted(int(v.version) for v in found)
        raise RegistryError(
            f"model {name!r}: versions {versions} all carry {RUN_KEY_TAG}={run_key!r}; expected at most one. "
            "Delete the duplicates in the MLflow UI (keep the lowest) and clear the register task."
        )
    return found[0] if found else None


def version_key(mv) -> tuple[datetime, int]:
    """Sort key of a model version: end of its data (``mlops.data_interval_end``), then its number.

    A version without the tag (registered by hand) sorts before every version that has it.
    """
    end = schema.DATA_INTERVAL_END.get(mv.tags)
    if end is not None and end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return end or datetime.min.replace(tzinfo=UTC), int(mv.version)


def describe(mv) -> str:
    """``version 9 (data to 2014-01-10)`` for messages."""
    end = mv.tags.get(schema.DATA_INTERVAL_END.name)
    return f"version {mv.version}" + (f" (data to {end[:10]})" if end else "")


def record_decision(client, name: str, version: str, decision: str, *, run_key: str, at: datetime, extra: dict | None = None) -> None:
    """Record a decision on a version: decision, when, by which run, plus ``extra`` tags (``{Tag: value}``)."""
    values = {schema.DECISION: decision, schema.DECISION_AT: at, schema.DECISION_BY: run_key, **(extra or {})}
    for tag, value in schema.encode_tags(values).items():
        client.set_model_version_tag(name, str(version), tag, value)


def _undecided(mv) -> bool:
    """Made by the pipeline (has a run key) and no decision yet."""
    return schema.RUN_KEY.name in mv.tags and schema.DECISION.name not in mv.tags


def _place_alias(client, name: str, version, alias: str, *, run_key: str) -> tuple[bool, str | None, list[str]]:
    """Point ``alias`` at ``version`` if it is the newest version of ``name``; ``(moved, why not, superseded)``.

    Whichever way it goes, undecided versions older than the newest one are marked superseded
    by the newest (which holds or will hold the alias), so none is left pending without it.
    """
    from mlops.tracking import _quote

    versions = client.search_model_versions(f"name = '{_quote(name)}'")
    this = next((v for v in versions if str(v.version) == str(version.version)), version)
    newest = max([*versions, this], key=version_key)
    now = datetime.now(UTC)
    if str(newest.version) != str(version.version):
        why = f"{describe(newest)} is newer than {describe(this)}; the alias {alias!r} only moves forward"
        if schema.DECISION.name in this.tags:
            why += f" and {describe(this)} was decided already (mlops.decision={this.tags[schema.DECISION.name]})"
    else:
        why = None
        client.set_registered_model_alias(name, alias, version.version)
    superseded = []
    for mv in versions:
        if str(mv.version) != str(newest.version) and _undecided(mv) and version_key(mv) < version_key(newest):
            record_decision(client, name, str(mv.version), "superseded", run_key=run_key, at=now, extra={schema.SUPERSEDED_BY: str(newest.version)})
            superseded.append(str(mv.version))
    return why is None, why, sorted(superseded, key=int)


def register_version(
    client,
    *,
    name: str,
    model_uri: str,
    run_id: str,
    run_key: str,
    tags: dict[str, str],
    alias: str | None = CHALLENGER,
    model_id: str | None = None,
    description: str | None = None,
) -> dict:
    """Register ``model_uri`` under ``name`` once per ``run_key`` and point ``alias`` at it.

    Returns the register step's contract value
    ``{model_name, version, alias, created, run_id, alias_note, superseded}``: ``alias`` is
    None and ``alias_note`` says why when the alias stayed on a newer version (a re-run of an
    old DAG run); ``superseded`` lists the versions this registration marked superseded.
    """
    from mlflow.exceptions import MlflowException

    existing = find_version_by_run_key(client, name, run_key)
    created = existing is None
    if existing is not None:
        if existing.run_id != run_id:
            log.warning(
                "model %s: version %s was already registered by %s from run %s; run %s is not registered again",
                name,
                existing.version,
                run_key,
                existing.run_id,
                run_id,
            )
        version = existing
    else:
        try:
            client.create_registered_model(name, tags=schema.encode_tags({schema.MANAGED: True}))
        except MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        all_tags = {k: schema.truncate(v) for k, v in tags.items()} | schema.encode_tags({schema.RUN_KEY: run_key})
        version = client.create_model_version(name, source=model_uri, run_id=run_id, tags=all_tags, description=description, model_id=model_id)
        if version.status != "READY":
            raise RegistryError(
                f"model {name!r} version {version.version}: status {version.status} ({version.status_message}); "
                "expected READY. Check the MLflow server's artifact store, then clear the register task."
            )
        faults.reach("register.version_created")
    moved, note, superseded = (False, None, [])
    if alias:
        moved, note, superseded = _place_alias(client, name, version, alias, run_key=run_key)
        if note:
            log.warning("model %s: %s left at its place: %s", name, alias, note)
        if superseded:
            log.info("model %s: versions %s superseded by a newer version", name, superseded)
    return {
        "model_name": name,
        "version": str(version.version),
        "alias": alias if moved else None,
        "created": created,
        "run_id": version.run_id,
        "alias_note": note,
        "superseded": superseded,
    }
