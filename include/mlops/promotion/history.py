"""Champion moves and their history, kept in the model registry itself.

Each promotion or rollback appends one registered-model tag ``mlops.history.NNNNNN``
holding a JSON entry: sequence, time, kind, version, from_version, DAG run, approver,
comment, reason and gate results. Anyone can answer "which version served as champion on
a given date, who approved it and why" from the registry alone (``champion_at``).

Moving the aliases is safe to retry: the entry is keyed by the DAG run, and a retry after
a crash at any point converges on one move and one entry.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlops import schema
from mlops.errors import RegistryError
from mlops.registry import CHALLENGER, CHAMPION, PREVIOUS, alias_version, describe, record_decision, version_key


def history(client, name: str) -> list[dict]:
    """Every champion move of ``name``, oldest first."""
    entries = schema.HISTORY.collect(client.get_registered_model(name).tags).values()
    return sorted(entries, key=lambda e: e["seq"])


def champion_at(client, name: str, when: datetime) -> dict | None:
    """The history entry that made the champion serving at ``when`` (None before the first)."""
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    current = None
    for entry in history(client, name):
        if datetime.fromisoformat(entry["time"]) <= when:
            current = entry
    return current


def _delete_alias(client, name: str, alias: str, version: str) -> None:
    v = alias_version(client, name, alias)
    if v is not None and str(v.version) == str(version):
        client.delete_registered_model_alias(name, alias)


def move_champion(
    client,
    name: str,
    version: str,
    *,
    kind: str,
    run_key: str,
    reason: str,
    approval: dict | None = None,
    gates: dict | None = None,
    shadow: dict | None = None,
    now: datetime | None = None,
) -> dict:
    """Point ``champion`` at ``version``, ``previous`` at the old champion, clear ``challenger``; append history.

    ``kind`` is ``promotion``, ``rollback`` or ``backfill`` (a replayed decision). The version must have passed the gates
    (tag ``mlops.gates_passed=true``); the champion never points at one that did not. A promotion
    never moves the champion back to an older version (one whose data ends before the champion's,
    or with a lower number; see ``version_key``): only a rollback does.
    ``shadow`` is the shadow soak's summary (``mlops.promotion.shadow.summary``), kept in the entry.
    Returns the history entry (the existing one when this run already made the move).
    """
    version = str(version)
    for entry in reversed(history(client, name)):
        if entry["run_key"] == run_key and entry["version"] == version:
            return entry
    mv = client.get_model_version(name, version)
    if schema.GATES_PASSED.get(mv.tags) is not True:
        raise RegistryError(
            f"model {name!r} version {version}: refusing to make it champion, its gates did not pass "
            f"({schema.GATES_PASSED}={mv.tags.get(schema.GATES_PASSED.name)!r}). Run the promotion DAG's gates for it first."
        )
    pending = schema.PROMOTION_PENDING.get(mv.tags)
    if pending is None or pending.get("run_key") != run_key:
        current = alias_version(client, name, CHAMPION)
        if kind == "promotion" and current is not None and version_key(mv) < version_key(current):
            raise RegistryError(
                f"model {name!r}: refusing to promote {describe(mv)} over the newer champion {describe(current)}; "
                "a promotion only moves forward. Trigger the rollback DAG to go back to an older version."
            )
        pending = {"run_key": run_key, "from_version": str(current.version) if current else None}
        client.set_model_version_tag(name, version, *schema.PROMOTION_PENDING.item(pending))
    from_version = pending["from_version"]
    if from_version == version:
        raise RegistryError(f"model {name!r}: version {version} is already the champion; nothing to {kind}")
    if from_version is not None:
        client.set_registered_model_alias(name, PREVIOUS, from_version)
    client.set_registered_model_alias(name, CHAMPION, version)
    _delete_alias(client, name, CHALLENGER, version)
    now = now or datetime.now(UTC)
    seq = len(history(client, name)) + 1
    entry: dict[str, Any] = {
        "seq": seq,
        "time": now.isoformat(),
        "kind": kind,
        "version": version,
        "from_version": from_version,
        "run_key": run_key,
        "reason": reason,
        "approved_by": (approval or {}).get("by"),
        "approved_at": (approval or {}).get("at"),
        "comment": (approval or {}).get("comment"),
        "gates": {g: r.get("passed") for g, r in (gates or {}).items()},
    }
    if shadow:
        entry["gates"]["shadow"] = shadow.get("decision") == "promote"
        entry["shadow"] = shadow
    client.set_registered_model_tag(name, *schema.HISTORY.tag(seq).item(entry))
    record_decision(client, name, version, "rolled_back_to" if kind == "rollback" else "promoted", run_key=run_key, at=now)
    client.delete_model_version_tag(name, version, schema.PROMOTION_PENDING.name)
    return entry


def reject(client, name: str, version: str, *, run_key: str, reasons: list[str]) -> dict:
    """Mark a challenger rejected with its reasons; the champion does not move.

    Older undecided versions are marked superseded by it, as after a promotion (registration
    normally did that already; a registry from before that rule may still hold some).
    """
    version = str(version)
    now = datetime.now(UTC)
    record_decision(client, name, version, "rejected", run_key=run_key, at=now, extra={schema.REJECTION_REASONS: reasons})
    _delete_alias(client, name, CHALLENGER, version)
    superseded = supersede_older(client, name, version, run_key=run_key)
    return {"version": version, "decision": "rejected", "reasons": reasons, "at": now.isoformat(), "superseded": superseded}


def supersede_older(client, name: str, version: str, *, run_key: str) -> list[str]:
    """Mark undecided versions older than ``version`` as superseded (a newer challenger replaced them)."""
    marked = []
    now = datetime.now(UTC)
    for mv in client.search_model_versions(f"name = '{name}'"):
        if int(mv.version) < int(version) and schema.DECISION.name not in mv.tags and schema.RUN_KEY.name in mv.tags:
            record_decision(client, name, str(mv.version), "superseded", run_key=run_key, at=now, extra={schema.SUPERSEDED_BY: str(version)})
            marked.append(str(mv.version))
    return sorted(marked, key=int)


def pending_challenger(client, name: str) -> str | None:
    """The version behind ``challenger`` if no decision was made on it yet."""
    mv = alias_version(client, name, CHALLENGER)
    if mv is None or schema.DECISION.get(mv.tags):
        return None
    return str(mv.version)


def replay_decision(client, name: str, version: str, *, run_key: str, evaluation: dict) -> dict:
    """A backfill's stand-in for the promotion DAG, inside the backfill's own registered model.

    The evaluation's verdict decides (challenger vs. that backfill's champion on the same
    holdout, and the metric floors): blessed versions become the backfill's champion,
    the others are rejected. Production aliases are never touched here.
    """
    version = str(version)
    decided = schema.DECISION.get(client.get_model_version(name, version).tags)
    if decided:  # a re-run of an old backfill run: its version was decided (or superseded) before
        return {"version": version, "decision": decided, "kind": "backfill", "already": True}
    blessed = bool(evaluation.get("blessed"))
    reasons = list(evaluation.get("reasons") or [])
    client.set_model_version_tag(name, version, *schema.GATES_PASSED.item(blessed))
    client.set_model_version_tag(name, version, *schema.GATE.tag("evaluation").item({"passed": blessed, "detail": "; ".join(reasons)}))
    if not blessed:
        return {**reject(client, name, version, run_key=run_key, reasons=reasons), "kind": "backfill"}
    champion = alias_version(client, name, CHAMPION)
    if champion is not None and str(champion.version) == version:
        return {"version": version, "decision": "promoted", "kind": "backfill", "already": True}
    return move_champion(client, name, version, kind="backfill", run_key=run_key, reason="; ".join(reasons) or "blessed by evaluation")


def propose(client, source_name: str, version: str, target_name: str) -> dict:
    """Copy a version (e.g. from a backfill's registered model) into ``target_name`` as its ``challenger``.

    The copy keeps the lineage tags but none of the source's decisions or gate results, so
    the promotion DAG gates (and, where required, a person approves) it like any challenger.
    This is the explicit, separate step that takes a backfilled model towards production.
    """
    src = f"models:/{source_name}/{version}"
    copy = client.copy_model_version(src, target_name)
    for key in list(copy.tags):
        if key in {t.name for t in schema.DECISION_TAGS} or schema.GATE.matches(key):
            client.delete_model_version_tag(target_name, copy.version, key)
    client.set_model_version_tag(target_name, copy.version, *schema.COPIED_FROM.item(src))
    client.set_registered_model_alias(target_name, CHALLENGER, copy.version)
    return {"model_name": target_name, "version": str(copy.version), "copied_from": src, "alias": CHALLENGER}
