"""Events from Airflow callback contexts: what happened, the numbers behind it, and where to look.

A builder takes the context Airflow hands a callback (a task's, a DAG run's, or a Deadline
Alert's, whose ``dag_run`` is plain JSON) and the dataset config, and returns the events it
stands for (often none: a decision that retrains for no alarming reason is only ``retrain_decided``).
Builders read XCom values the tasks already returned; they never recompute the pipeline.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from mlops.alerts.events import Event
from mlops.config import DatasetConfig

DATASET_TAG = "dataset:"


def _get(obj: Any, *names: str) -> Any:
    """The first of ``names`` present on ``obj`` (a dict or an object), else None."""
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def dataset_of(context: dict) -> str | None:
    """The dataset of the DAG a context belongs to, from its ``dataset:<name>`` tag."""
    dag = context.get("dag")
    for tag in sorted(getattr(dag, "tags", None) or []):
        if str(tag).startswith(DATASET_TAG):
            return str(tag)[len(DATASET_TAG) :]
    return None


def run_of(context: dict) -> dict[str, Any]:
    """``dag_id``, ``run_id``, ``task_id``, ``run_type``, ``try_number`` of the context's run (and task)."""
    dag_run = context.get("dag_run") or {}
    ti = context.get("ti")
    dag = context.get("dag")
    run_type = _get(dag_run, "run_type")
    return {
        "dag_id": getattr(dag, "dag_id", None) or _get(dag_run, "dag_id") or getattr(ti, "dag_id", None),
        "run_id": context.get("run_id") or _get(dag_run, "run_id", "dag_run_id") or getattr(ti, "run_id", None),
        "task_id": getattr(ti, "task_id", None),
        "run_type": str(getattr(run_type, "value", run_type) or ""),
        "try_number": getattr(ti, "try_number", None),
    }


def day_of(context: dict) -> date:
    """The day an event of this run belongs to: its logical date (a nightly run's partition), else
    its data interval start, else when it was due."""
    dag_run = context.get("dag_run") or {}
    for value in (
        context.get("logical_date"),
        _get(dag_run, "logical_date"),
        context.get("data_interval_start"),
        _get(dag_run, "data_interval_start"),
        _get(dag_run, "run_after"),
    ):
        when = _when(value)
        if when is not None:
            return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC).date()
    return datetime.now(UTC).date()


def is_backfill(context: dict) -> bool:
    return run_of(context)["run_type"] == "backfill"


def airflow_url(path: str = "") -> str:
    from mlops.settings import Settings

    base = Settings.value("airflow_base_url").rstrip("/")
    return f"{base}/{path.lstrip('/')}" if path else base


def run_url(dag_id: str, run_id: str) -> str:
    return airflow_url(f"dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}")


def task_url(dag_id: str, run_id: str, task_id: str) -> str:
    return f"{run_url(dag_id, run_id)}/tasks/{quote(task_id, safe='')}"


def approval_url(dag_id: str, run_id: str, task_id: str = "approve") -> str:
    """The Airflow UI's page where a person answers the task's required action."""
    return f"{task_url(dag_id, run_id, task_id)}/required_actions"


def _models_url(path: str) -> str:
    from mlops.airflow.operators import models_page_url

    return models_page_url(path)


def _mlflow_version_url(model: str, version: str) -> str | None:
    from mlops import tracking
    from mlops.config import Settings

    try:
        return tracking.model_version_url(Settings.from_env(), model, version)
    except Exception:
        return None


def links_of(run: dict, **extra: str | None) -> dict[str, str]:
    links = {}
    if run.get("dag_id") and run.get("run_id"):
        links["Airflow run"] = run_url(run["dag_id"], run["run_id"])
        if run.get("task_id"):
            links["task log"] = task_url(run["dag_id"], run["run_id"], run["task_id"])
    links.update({k: v for k, v in extra.items() if v})
    return {k.replace("_", " "): v for k, v in links.items()}


def _xcom(context: dict, task_id: str, key: str = "return_value") -> Any:
    ti = context.get("ti")
    if ti is None:
        return None
    try:
        return ti.xcom_pull(task_ids=task_id, key=key)
    except Exception:
        return None


def _as_dict(value: Any) -> dict:
    from mlops.airflow.operators import json_dict

    try:
        return json_dict("alert", "xcom", value)
    except Exception:
        return {}


def _cause(error: BaseException | None, name: str) -> BaseException | None:
    seen = set()
    while error is not None and id(error) not in seen:
        if type(error).__name__ == name:
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def _first_line(text: Any, limit: int = 300) -> str:
    line = str(text or "").strip().splitlines()[0] if str(text or "").strip() else ""
    return line[:limit]


# --- the events ------------------------------------------------------------------------------------


def run_failed(context: dict, config: DatasetConfig) -> list[Event]:
    """A DAG run failed (``scoring_failed`` for a scoring DAG, tagged ``scoring``)."""
    run = run_of(context)
    dag = context.get("dag")
    kind = "scoring_failed" if "scoring" in set(getattr(dag, "tags", None) or []) else "run_failed"
    task = run.get("task_id")
    reason = context.get("reason")
    summary = f"run {run['run_id']} of {run['dag_id']} failed" + (f" at task {task}" if task else "")
    details = [d for d in (_first_line(context.get("exception")), f"reason: {reason}" if reason and reason != "task_failure" else "") if d]
    numbers = {k: v for k, v in {"failed task": task, "try": run.get("try_number"), "run type": run.get("run_type")}.items() if v}
    return [Event(type=kind, dataset=config.name, summary=summary, day=day_of(context), numbers=numbers, details=details, run=run, links=links_of(run))]


def partition_quarantined(context: dict, config: DatasetConfig) -> list[Event]:
    """The validate task failed because the partition failed its suite (not for other errors)."""
    failure = _cause(context.get("exception"), "ValidationFailed")
    if failure is None:
        return []
    from mlops.validation.run import describe_failure

    run = run_of(context)
    day = day_of(context)
    failed = list(getattr(failure, "failed_expectations", []) or [])
    evaluated = None
    message = str(failure)
    # "… partition …: N of M expectations failed:" is the first line of ValidationFailed.
    head = message.splitlines()[0] if message else ""
    if " of " in head and "expectations failed" in head:
        try:
            evaluated = int(head.split(" of ")[-1].split()[0])
        except ValueError:
            evaluated = None
    details = []
    for item in failed:
        try:
            details.append(describe_failure(item))
        except Exception:
            details.append(str(item)[:200])
    numbers = {"failed expectations": len(failed)}
    if evaluated is not None:
        numbers["evaluated expectations"] = evaluated
    columns = sorted({str(f.get("column")) for f in failed if f.get("column")})
    if columns:
        numbers["columns"] = columns
    summary = f"partition {day} quarantined: {len(failed)}{f' of {evaluated}' if evaluated else ''} expectations failed"
    links = links_of(run, data_docs=_models_url("datadocs/index.html"), models_page=_models_url(f"models?dataset={quote(config.name)}"))
    return [Event(type="partition_quarantined", dataset=config.name, summary=summary, day=day, numbers=numbers, details=details, run=run, links=links)]


def _interval_end(context: dict) -> datetime | None:
    from mlops.airflow.runtime import interval_of

    try:
        return interval_of(context).end
    except Exception:
        return None


def decision(context: dict, config: DatasetConfig) -> list[Event]:
    """What the decide step found: ``drift_alarm``, ``champion_stale``, ``retrain_decided``."""
    run = run_of(context)
    ti = context.get("ti")
    decided = _as_dict(_xcom(context, getattr(ti, "task_id", "decide"), key="decision"))
    # The drift the decision used (measured again if the champion moved after detect_drift).
    drift = _as_dict(_xcom(context, getattr(ti, "task_id", "decide"), key="drift") or _xcom(context, "detect_drift"))
    day = day_of(context)
    events: list[Event] = []
    report = _models_url(f"reports/{quote(config.name)}/drift/{day}.html")
    share = decided.get("watched_drift_share")
    threshold = config.retrain.drift_share
    if (share is not None and share >= threshold) or drift.get("dataset_drift"):
        drifted = list(decided.get("watched_drifted") or drift.get("drifted_features") or [])
        numbers = {
            "watched drift share": share,
            "threshold": threshold,
            "drift share (all features)": drift.get("drift_share"),
            "dataset drift": drift.get("dataset_drift"),
            "drifted": drifted,
        }
        share_text = f"{share:.0%}" if isinstance(share, (int, float)) else "n/a"
        if share is not None and share >= threshold:
            summary = f"{share_text} of the watched features drifted on {day} (threshold {threshold:.0%}): {', '.join(drifted[:8])}"
        else:  # the dataset as a whole drifted, while the features the retraining rule watches did not
            everything = list(drift.get("drifted_features") or [])
            summary = (
                f"dataset drift on {day}: {drift.get('drift_share', 0):.0%} of all features drifted ({', '.join(everything[:8])}); "
                f"the watched features stay below the retraining threshold ({share_text} < {threshold:.0%})"
            )
        events.append(
            Event(
                type="drift_alarm",
                dataset=config.name,
                day=day,
                run=run,
                summary=summary,
                numbers={k: v for k, v in numbers.items() if v is not None},
                details=[f"reference: {(drift.get('reference') or {}).get('why', 'n/a')}"],
                links=links_of(run, drift_report=report),
            )
        )
    facts = _as_dict(_xcom(context, getattr(ti, "task_id", "decide"), key="champion"))
    champion, data_end = facts.get("version"), _when(facts.get("data_end"))
    interval_end = _interval_end(context)
    if champion and data_end and interval_end:
        age = (interval_end - data_end).days
        if age > config.retrain.max_model_age_days:
            model = config.model_name
            events.append(
                Event(
                    type="champion_stale",
                    dataset=config.name,
                    day=day,
                    run=run,
                    summary=f"champion {model} v{champion} was trained on data ending {data_end.date()}: {age} days old (maximum {config.retrain.max_model_age_days})",
                    numbers={"age (days)": age, "max model age (days)": config.retrain.max_model_age_days, "champion": champion},
                    links=links_of(run, champion=_mlflow_version_url(model, str(champion))),
                )
            )
    if decided.get("retrain"):
        reasons = list(decided.get("reasons") or [])
        events.append(
            Event(
                type="retrain_decided",
                dataset=config.name,
                day=day,
                run=run,
                summary=f"retraining on {day}: {len(reasons)} reason{'s' if len(reasons) != 1 else ''}",
                details=reasons,
                links=links_of(run, drift_report=report),
            )
        )
    return events


def challenger_registered(context: dict, config: DatasetConfig) -> list[Event]:
    run = run_of(context)
    ti = context.get("ti")
    result = _as_dict(_xcom(context, getattr(ti, "task_id", "retrain.register")))
    if not result.get("version"):
        return []
    model, version = result.get("model_name") or config.model_name, str(result["version"])
    evaluation = _as_dict(_xcom(context, "retrain.evaluate"))
    metrics = evaluation.get("challenger_metrics") or {}
    primary = config.training.primary_metric
    numbers = {
        f"challenger {primary}": metrics.get(primary),
        f"champion {primary}": (evaluation.get("champion_metrics") or {}).get(primary),
        "blessed by evaluation": evaluation.get("blessed"),
    }
    return [
        Event(
            type="challenger_registered",
            dataset=config.name,
            day=day_of(context),
            version=version,
            run=run,
            summary=f"{model} version {version} registered as challenger",
            numbers={k: v for k, v in numbers.items() if v is not None},
            details=list(evaluation.get("reasons") or []),
            links=links_of(run, mlflow_version=_mlflow_version_url(model, version)),
        )
    ]


def _gates(context: dict) -> dict:
    return _as_dict(_xcom(context, "check_gates"))


def _gate_lines(gates: dict, soak: dict | None = None) -> list[str]:
    lines = [f"{name}: {'pass' if g.get('passed') else 'FAIL'}: {g.get('detail', '')}" for name, g in (gates.get("gates") or {}).items()]
    if soak and soak.get("decision"):
        lines.append(f"shadow: {soak['decision']}: {soak.get('detail', '')}")
    return lines


def approval_waiting(context: dict, config: DatasetConfig) -> list[Event]:
    run = run_of(context)
    gates = _gates(context)
    if not gates.get("version"):
        return []
    version = str(gates["version"])
    approve = approval_url(run["dag_id"], run["run_id"], run.get("task_id") or "approve")
    return [
        Event(
            type="approval_waiting",
            dataset=config.name,
            day=day_of(context),
            version=version,
            run=run,
            summary=f"{config.model_name} version {version} passed the gates and waits for approval",
            numbers={"champion": gates.get("champion_version") or "none"},
            details=_gate_lines(gates, _as_dict(_xcom(context, "shadow_soak"))),
            links={"approve or reject": approve, **links_of(run, mlflow_version=_mlflow_version_url(config.model_name, version))},
        )
    ]


def gate_rejected(context: dict, config: DatasetConfig) -> list[Event]:
    run = run_of(context)
    ti = context.get("ti")
    result = _as_dict(_xcom(context, getattr(ti, "task_id", "finalize")))
    if result.get("decision") != "rejected":
        return []
    version = str(result.get("version"))
    gates = _gates(context)
    reasons = list(result.get("reasons") or [])
    by = "the gates" if not gates.get("passed") else "its shadow soak" if any(str(r).startswith("shadow:") for r in reasons) else "its approver"
    return [
        Event(
            type="gate_rejected",
            dataset=config.name,
            day=day_of(context),
            version=version,
            run=run,
            summary=f"{config.model_name} version {version} rejected by {by}; the champion stays",
            numbers={"champion": gates.get("champion_version") or "none"},
            details=list(result.get("reasons") or []) + _gate_lines(gates),
            links=links_of(run, mlflow_version=_mlflow_version_url(config.model_name, version)),
        )
    ]


def champion_moved(context: dict, config: DatasetConfig) -> list[Event]:
    """``promoted`` or ``rolled_back``, from the history entry the promote/rollback task returned."""
    run = run_of(context)
    ti = context.get("ti")
    entry = _as_dict(_xcom(context, getattr(ti, "task_id", "promote")))
    if not entry.get("version"):
        return []
    version, previous = str(entry["version"]), entry.get("from_version")
    rollback = entry.get("kind") == "rollback"
    who = entry.get("approved_by")
    summary = (
        f"champion of {config.model_name} rolled back from v{previous} to v{version}"
        if rollback
        else f"{config.model_name} version {version} is champion (was {f'v{previous}' if previous else 'none'})"
    )
    numbers = {"version": version, "previous": previous or "none", "approved by": who}
    details = [d for d in (entry.get("reason"), f"comment: {entry['comment']}" if entry.get("comment") else "") if d]
    return [
        Event(
            type="rolled_back" if rollback else "promoted",
            dataset=config.name,
            day=day_of(context),
            version=version,
            run=run,
            summary=summary,
            numbers={k: v for k, v in numbers.items() if v is not None},
            details=details,
            links=links_of(
                run, mlflow_version=_mlflow_version_url(config.model_name, version), models_page=_models_url(f"models?dataset={quote(config.name)}")
            ),
        )
    ]


def nightly_late(context: dict, config: DatasetConfig) -> list[Event]:
    """From a Deadline Alert: the nightly run had not finished its deadline after its interval end."""
    run = run_of(context)
    dag_run = context.get("dag_run") or {}
    deadline = _when(_get(context.get("deadline") or {}, "deadline_time"))
    hours = config.alerts.late_after_hours
    state = _get(dag_run, "state")
    summary = (
        f"nightly run {run['run_id']} has not finished {hours:g} h after its data interval end" if hours else f"nightly run {run['run_id']} missed its deadline"
    )
    numbers = {
        "state": str(state) if state else None,
        "deadline": deadline.isoformat() if deadline else None,
        "late after (hours)": hours,
        "data interval end": _get(dag_run, "data_interval_end"),
    }
    return [
        Event(
            type="nightly_late",
            dataset=config.name,
            day=day_of(context),
            summary=summary,
            run=run,
            numbers={k: v for k, v in numbers.items() if v is not None},
            links=links_of(run),
        )
    ]


BUILDERS = {
    "run_failed": run_failed,
    "partition_quarantined": partition_quarantined,
    "decision": decision,
    "challenger_registered": challenger_registered,
    "approval_waiting": approval_waiting,
    "gate_rejected": gate_rejected,
    "promoted": champion_moved,
    "rolled_back": champion_moved,
    "nightly_late": nightly_late,
}
