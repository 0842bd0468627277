"""What the promotion DAG decides between its tasks: where to go after the gates, and how a run ends.

A run of the promotion DAG ends in one of four ways:

``promoted``
    the challenger passed the gates (and the approver, when one is required) and is champion.
``rejected``
    the gates, the shadow soak or the approver said no: the version is marked ``rejected`` with the reasons, the
    champion stays, and the run succeeds (a rejection is a decision, not an error).
``failed``
    a task of the path crashed (the sensor, the gates, the approval, the promotion). The run
    fails with the reason, so Airflow's ``max_consecutive_failed_dag_runs`` can pause the DAG;
    the version gets no decision (it stays the undecided ``challenger`` and the next run tries
    again) but carries the error in ``mlops.promotion_error``.
``superseded``
    a newer challenger was registered while this one soaked in shadow: the older one is
    marked superseded, the champion stays, and the next run soaks the newer one.
nothing
    no challenger was checked (the sensor gave up waiting): the final task is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime

from mlops import schema
from mlops.config import DatasetConfig
from mlops.errors import PromotionFailed

#: The promotion path's tasks in order; a failure of any fails the run.
PATH_TASKS = ("wait_for_challenger", "check_gates", "route", "shadow_soak", "after_soak", "approve", "promote")
#: Task states that mean the task itself crashed (not one of its upstreams).
CRASHED = frozenset({"failed"})


def approval_required(config: DatasetConfig, params: Mapping) -> bool:
    """Whether a person must approve: the dataset config, ``MLOPS_REQUIRE_APPROVAL``, or the run's ``require_approval`` param."""
    from mlops.settings import Settings

    return Settings.value("require_approval") or config.promotion.require_approval or bool(params.get("require_approval"))


def route(gates: Mapping, *, approval: bool, soak: bool = False) -> str:
    """The task after the gates: ``finalize`` (reject) when they failed, else ``shadow_soak``, ``approve`` or ``promote``."""
    if not gates["passed"]:
        return "finalize"
    if soak:
        return "shadow_soak"
    return "approve" if approval else "promote"


def after_soak(soak: Mapping, *, approval: bool) -> str:
    """The task after the shadow soak: ``approve`` or ``promote`` when it says promote, else ``finalize``."""
    if soak.get("decision") == "promote":
        return "approve" if approval else "promote"
    return "finalize"


def failure_reasons(gates: Mapping) -> list[str]:
    """``<gate>: <detail>`` for each gate that did not pass."""
    return [f"{g}: {r['detail']}" for g, r in gates["gates"].items() if not r["passed"]]


def rejection_reasons(gates: Mapping, approval: Mapping | None, soak: Mapping | None = None) -> list[str] | None:
    """Why the version is rejected (gates first, then the shadow soak, then the approver), or None when nobody rejected it."""
    if not gates["passed"]:
        return failure_reasons(gates)
    if soak and soak.get("decision") == "reject":
        return [f"shadow: {soak.get('detail')}"]
    if approval and approval.get("chosen") == "Reject":
        return [f"rejected by {approval.get('by')} at {approval.get('at')}: {approval.get('comment') or 'no comment'}"]
    return None


def record_error(client, name: str, version: str, *, task: str, error: BaseException, run_key: str) -> None:
    """Write ``mlops.promotion_error`` on a version; the version keeps no decision."""
    value = {"task": task, "error": f"{type(error).__name__}: {error}", "run_key": run_key, "at": datetime.now(UTC).isoformat()}
    client.set_model_version_tag(name, str(version), *schema.PROMOTION_ERROR.item(value))


@contextmanager
def recording_failure(client, name: str, version: str, *, task: str, run_key: str) -> Iterator[None]:
    """Record any exception of the block on the version (see ``record_error``), then re-raise it."""
    try:
        yield
    except BaseException as e:
        try:
            record_error(client, name, version, task=task, error=e, run_key=run_key)
        except Exception as tagging:  # the registry may be what failed: keep the original error
            e.add_note(f"could not record the error on {name} version {version}: {tagging}")
        raise


def crash_reason(states: Mapping[str, str], error: Mapping | None, *, run_key: str, version: str | None) -> str | None:
    """Why the run must fail: the crashed tasks of the path and the error recorded by this run, or None."""
    crashed = [t for t in PATH_TASKS if states.get(t) in CRASHED]
    if not crashed:
        return None
    what = f"version {version}" if version else "the challenger"
    detail = ""
    if error and error.get("run_key") == run_key and error.get("task") in crashed:
        detail = f": {error['error'].rstrip('.')}"
    return (
        f"promotion of {what} failed in {', '.join(crashed)}{detail}. The version stays undecided (no decision, "
        f"still the challenger); see the task log, fix the cause, then clear this run"
    )


def finalize_promotion(
    client,
    name: str,
    *,
    run_key: str,
    version: str | None,
    gates: Mapping | None,
    promoted: Mapping | None,
    approval: Mapping | None,
    states: Mapping[str, str],
    soak: Mapping | None = None,
) -> dict | None:
    """End a promotion run: ``{decision: promoted|rejected, ...}``, None when no challenger was checked.

    ``version`` is the sensor's challenger (None when it found none), ``gates``, ``promoted``,
    ``approval`` and ``soak`` (the shadow soak's result) the other tasks' results, ``states`` the run's task states. Raises
    ``PromotionFailed`` with the reason when a task of the path crashed, and when a version
    passed the gates but was neither promoted nor rejected by the approver.
    """
    from mlops.promotion.history import reject

    version = str(gates["version"]) if gates else (str(version) if version else None)
    error = schema.PROMOTION_ERROR.get(client.get_model_version(name, version).tags) if version else None
    reason = crash_reason(states, error, run_key=run_key, version=version)
    if reason:
        raise PromotionFailed(reason)
    if gates is None:
        if version:
            raise PromotionFailed(f"version {version} was found but its gates left no result (task states: {dict(states)}); clear this run")
        return None
    if promoted:
        return {"decision": "promoted", "version": version}
    if soak and soak.get("decision") == "superseded":
        return {"decision": "superseded", "version": version, "reason": soak.get("detail")}
    reasons = rejection_reasons(gates, approval, soak)
    if reasons is None:
        raise PromotionFailed(
            f"version {version} passed the gates but was neither promoted nor rejected (task states: {dict(states)}); "
            "see the approve and promote task logs, then clear this run"
        )
    return reject(client, name, version, run_key=run_key, reasons=reasons)
