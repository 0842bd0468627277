"""Registration and alias look-ups.

Every version the pipeline registers carries ``mlops.run_key`` = ``<dag_id>/<run_id>``;
registering is a look-up by that key first, so a retry or a re-run of the same DAG run
returns the version it already made instead of creating a second one.
"""

from __future__ import annotations

import logging

from mlops import schema
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

    Returns the register step's contract value ``{model_name, version, alias, created, run_id}``.
    """
    from mlflow.exceptions import MlflowException

    existing = find_version_by_run_key(client, name, run_key)
    created = existing is None
    if existing is not None:
        if existing.run_id != run_id:
            log.warning(
                "model %s: version %s was already registered by %s from run %s; run %s is not registered again",
                name, existing.version, run_key, existing.run_id, run_id,
            )
        version = existing
    else:
        try:
            client.create_registered_model(name, tags=schema.encode_tags({schema.MANAGED: True}))
        except MlflowException as e:
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        all_tags = {k: schema.truncate(v) for k, v in tags.items()} | schema.encode_tags({schema.RUN_KEY: run_key})
        version = client.create_model_version(
            name, source=model_uri, run_id=run_id, tags=all_tags, description=description, model_id=model_id
        )
        if version.status != "READY":
            raise RegistryError(
                f"model {name!r} version {version.version}: status {version.status} ({version.status_message}); "
                "expected READY. Check the MLflow server's artifact store, then clear the register task."
            )
    if alias:
        client.set_registered_model_alias(name, alias, version.version)
    return {
        "model_name": name,
        "version": str(version.version),
        "alias": alias,
        "created": created,
        "run_id": version.run_id,
    }
