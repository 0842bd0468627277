"""The rollback DAG's check of its target: which version, and may it serve again.

A rollback moves ``champion`` back to ``previous`` or to a named version. The target must
exist, must not already be the champion, must have passed the promotion gates once (only
versions that served, or could have, go back), and must still load and serve in a fresh
process (``serving`` gate, recorded on the version as ``mlops.gate.serving_at_rollback``).
"""

from __future__ import annotations

from mlops import schema
from mlops.config import DatasetConfig, Settings
from mlops.errors import RegistryError


def resolve_target(client, name: str, target: str):
    """The model version behind ``target`` (``previous`` or a version number)."""
    from mlflow.exceptions import MlflowException

    from mlops.registry import PREVIOUS, alias_version, missing_model

    target = str(target).strip()
    if target == "previous":
        mv = alias_version(client, name, PREVIOUS)
        if mv is None:
            raise RegistryError(f"model {name!r} has no 'previous' version to roll back to; name a version number instead")
        return mv
    if not target.isdigit():
        raise RegistryError(f"model {name!r}: rollback target must be 'previous' or a version number, got {target!r}")
    try:
        return client.get_model_version(name, target)
    except MlflowException as e:
        if missing_model(client, name, e):
            raise RegistryError(f"model {name!r} has no version {target}; name an existing version or 'previous'") from e
        raise


def check_target(mv, champion) -> None:
    """Refuse a target that is the champion already or never passed the gates (pure)."""
    name = mv.name
    if champion is not None and str(champion.version) == str(mv.version):
        raise RegistryError(f"model {name!r}: version {mv.version} already is the champion; nothing to roll back")
    if schema.GATES_PASSED.get(mv.tags) is not True:
        raise RegistryError(
            f"model {name!r} version {mv.version} never passed the promotion gates "
            f"({schema.GATES_PASSED}={mv.tags.get(schema.GATES_PASSED.name)!r}); choose a version that served before"
        )


def check_rollback_target(config: DatasetConfig, settings: Settings, target: str) -> dict:
    """Resolve and check the target, run its serving check, record it; ``{version, from_version, serving}``."""
    from mlops import tracking
    from mlops.promotion.gates import evaluation_frame, serving_gate
    from mlops.registry import CHAMPION, alias_version

    client = tracking.client(settings)
    name = config.model_name
    mv = resolve_target(client, name, target)
    champion = alias_version(client, name, CHAMPION)
    check_target(mv, champion)
    serving = serving_gate(config, f"models:/{name}/{mv.version}", evaluation_frame(config, settings, mv.tags))
    if not serving["passed"]:
        raise RegistryError(f"model {name!r} version {mv.version} fails the serving check: {serving['detail']}")
    client.set_model_version_tag(name, str(mv.version), *schema.GATE.tag("serving_at_rollback").item(serving))
    return {"version": str(mv.version), "from_version": str(champion.version) if champion else None, "serving": serving}
