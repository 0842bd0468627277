"""Alert events: stable types, default severities, and the event record itself.

Standard library only: dataset configs validate their ``alerts`` section against
``EVENT_TYPES``, and DAG files read ``DEFAULT_LATE_AFTER_HOURS`` at parse time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

SEVERITIES = ("info", "warning", "critical")

#: Every event type: its default severity and what it means. The names are stable (receivers
#: filter on them); a dataset config may change a type's severity or mute it.
EVENT_TYPES: dict[str, tuple[str, str]] = {
    "run_failed": ("critical", "a nightly, promotion or rollback DAG run failed"),
    "partition_quarantined": ("warning", "a partition failed validation and was quarantined; nothing trains on it"),
    "drift_alarm": ("warning", "the watched features drifted past the retraining threshold, or the dataset drifted"),
    "retrain_decided": ("info", "the nightly run decided to retrain, with its reasons"),
    "challenger_registered": ("info", "a new model version was registered as challenger"),
    "gate_rejected": ("warning", "a challenger was rejected by the promotion gates or by its approver"),
    "approval_waiting": ("warning", "a challenger passed the gates and waits for a person's approval"),
    "promoted": ("info", "a challenger became champion"),
    "rolled_back": ("warning", "the champion was rolled back to an earlier version"),
    "nightly_late": ("critical", "a nightly run had not finished its deadline after its data interval end"),
    "champion_stale": ("warning", "the champion was trained on data older than the dataset's max model age"),
    "scoring_failed": ("critical", "a batch scoring DAG run failed"),
    "digest": ("info", "the night's low-severity events of a dataset, in one message"),
}

#: Hours after a nightly run's data interval end before it counts as late (``alerts.late_after_hours``).
DEFAULT_LATE_AFTER_HOURS = 6.0

#: Events about a model version: the version is part of their identity.
VERSION_EVENTS = frozenset({"challenger_registered", "gate_rejected", "approval_waiting", "promoted", "rolled_back"})


def default_severity(event_type: str) -> str:
    return EVENT_TYPES[event_type][0]


@dataclass(frozen=True)
class Event:
    """One thing that happened and someone may need to act on.

    ``key`` identifies it: the same type, dataset, day (and version, for version events)
    is the same event, however often a retry or a re-run reports it.

    Attributes
    ----------
    numbers : dict
        The figures behind the summary (drift share, failed expectations, ages, metrics).
    links : dict
        Label → URL: the Airflow run or task, the MLflow version, the drift report, Data Docs,
        the approval page, the Models page.
    details : list of str
        Further lines (failed expectations, reasons), shown below the summary.
    run : dict
        The Airflow run it came from: ``dag_id``, ``run_id``, ``task_id``, ``run_type``.
    """

    type: str
    dataset: str
    summary: str
    day: date
    severity: str = ""
    version: str | None = None
    numbers: dict[str, Any] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    details: list[str] = field(default_factory=list)
    run: dict[str, Any] = field(default_factory=dict)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown alert event type {self.type!r}; known: {sorted(EVENT_TYPES)}")
        if not self.severity:
            object.__setattr__(self, "severity", default_severity(self.type))
        if self.severity not in SEVERITIES:
            raise ValueError(f"alert severity must be one of {SEVERITIES}, got {self.severity!r}")
        if self.type in VERSION_EVENTS and not self.version:
            raise ValueError(f"alert event {self.type!r} is about a model version: give its version")

    @property
    def key(self) -> str:
        """``type|dataset|day[|version]``: the delivery log's unique key."""
        parts = [self.type, self.dataset, self.day.isoformat()]
        if self.type in VERSION_EVENTS:
            parts.append(str(self.version))
        return "|".join(parts)

    def with_severity(self, severity: str) -> Event:
        from dataclasses import replace

        return replace(self, severity=severity)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what a webhook receives under ``event``)."""
        out = asdict(self)
        out["day"] = self.day.isoformat()
        out["occurred_at"] = self.occurred_at.isoformat()
        out["key"] = self.key
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        data = {k: v for k, v in data.items() if k != "key"}
        data["day"] = date.fromisoformat(data["day"])
        data["occurred_at"] = datetime.fromisoformat(data["occurred_at"])
        return cls(**data)
