"""The shadow soak gate: a challenger that passed the offline gates proves itself on new, labelled days.

While a challenger waits for its decision the scoring DAG scores it in shadow beside the
champion, on the same rows (``mlops.predictions.scoring``). Each time a day's labels have
arrived (``labels.delay_days`` after the day), :func:`soak_look` pairs that day's rows, turns
them into per-row loss differences (log-loss for classification, squared error for
regression; ``champion − challenger``, positive when the challenger did better) and adds them
to the sequential test of ``mlops.promotion.sequential``. The soak ends at the first look
that decides:

``promote``
    the challenger is significantly better (or, at ``max_days`` with
    ``on_inconclusive: promote_if_non_inferior``, shown non-inferior within ``margin``);
``reject``
    significantly worse, or inconclusive at ``max_days`` (``on_inconclusive: reject``) or
    not shown non-inferior;
``superseded``
    a newer challenger was registered during the soak (the version is marked superseded by
    it, and the next promotion run soaks the newer one);
``continue``
    not yet: the soak waits for the next labelled day.

A champion change during the soak (a rollback) restarts the test against the new champion:
the looks so far stay recorded under their ``epoch`` and a new epoch begins.

Every look is written to the prediction store (table ``shadow_looks``) with the test's state
after it, before anything else happens: a look is computed once, and whoever looks next (the
task, or the trigger after a triggerer restart) starts from the stored state and looks at the
days not yet looked at, oldest first, so no look is lost or taken twice. The version's gate
tag ``mlops.gate.shadow`` carries the summary and the looks (day, rows, estimate, interval,
p-value, e-value) for the Models page and the approver.
"""

from __future__ import annotations

import json
import logging
import math
from datetime import UTC, datetime
from typing import Any

from mlops import schema
from mlops.config import DatasetConfig
from mlops.predictions.store import PredictionStore
from mlops.promotion.sequential import PairedSequentialTest, decide, row_losses

log = logging.getLogger(__name__)

GATE_NAME = "shadow"
#: Columns of a look in the gate tag (one list per look keeps the tag small).
LOOK_COLUMNS = ("day", "rows", "estimate", "lower", "upper", "p_value", "e_value", "verdict")
#: Decisions that end the soak.
FINAL = frozenset({"promote", "reject", "superseded"})


def _finite(value: Any, digits: int = 6) -> float | None:
    if value is None:
        return None
    value = float(value)
    return float(f"{value:.{digits}g}") if math.isfinite(value) else None


def _state_of(rows) -> PairedSequentialTest | None:
    """The test after the last stored look of an epoch (looks rebuilt from the rows)."""
    if rows.empty:
        return None
    state = json.loads(rows.iloc[-1]["state"])
    looks = [
        {
            "day": r.partition_date.isoformat(),
            "days": int(r.seq),
            "rows": int(r.rows),
            "estimate": r.estimate,
            "lower": r.lower,
            "upper": r.upper,
            "p_value": r.p_value,
            "e_value": r.e_value,
            "champion_loss": r.champion_loss,
            "challenger_loss": r.challenger_loss,
            "verdict": r.verdict,
        }
        for r in rows.itertuples()
    ]
    return PairedSequentialTest.from_dict({**state, "looks": looks})


def _look_row(look: dict) -> list:
    return [look["day"], look["rows"], *(_finite(look[k]) for k in ("estimate", "lower", "upper", "p_value", "e_value")), look["verdict"]]


def _losses(config: DatasetConfig, pairs) -> tuple[Any, Any]:
    column = "score" if config.task == "classification" else "prediction"
    return (row_losses(config.task, pairs["label"], pairs[f"champion_{column}"]), row_losses(config.task, pairs["label"], pairs[f"challenger_{column}"]))


def _record(client, config: DatasetConfig, version: str, result: dict) -> None:
    name = config.model_name
    client.set_model_version_tag(name, str(version), *schema.GATE.tag(GATE_NAME).item(result))
    if result["decision"] == "reject":
        client.set_model_version_tag(name, str(version), *schema.GATES_PASSED.item(False))


def _newer_challenger(client, config: DatasetConfig, version: str, tags: dict) -> str | None:
    from mlops.registry import CHALLENGER, alias_version

    if schema.DECISION.get(tags) == "superseded":
        return str(schema.SUPERSEDED_BY.get(tags) or "a newer version")
    challenger = alias_version(client, config.model_name, CHALLENGER)
    if challenger is not None and int(challenger.version) > int(version):
        return str(challenger.version)
    return None


def soak_look(config: DatasetConfig, client, store: PredictionStore, version: str, *, now: datetime | None = None) -> dict:
    """Look at every labelled shadow day not looked at yet, oldest first, until one decides.

    Returns ``{decision, detail, version, champion_version, epoch, days, rows, estimate, lower,
    upper, p_value, e_value, looks, ...}`` (``decision`` one of ``continue``, ``promote``,
    ``reject``, ``superseded``) and records it as the version's gate tag ``mlops.gate.shadow``.
    """
    from mlops.registry import CHAMPION, alias_version, record_decision

    soak = config.promotion.shadow
    name, version = config.model_name, str(version)
    now = now or datetime.now(UTC)
    base = {
        "version": version,
        "alpha": soak.alpha,
        "min_days": soak.min_days,
        "max_days": soak.max_days,
        "min_rows": soak.min_rows,
        "margin": soak.margin,
        "on_inconclusive": soak.on_inconclusive,
        "loss": "log-loss" if config.task == "classification" else "squared error",
        "updated_at": now.isoformat(),
    }
    tags = client.get_model_version(name, version).tags or {}
    newer = _newer_challenger(client, config, version, tags)
    if newer is not None:
        result = {
            **base,
            "decision": "superseded",
            "passed": False,
            "champion_version": None,
            "detail": f"soak ended: version {newer} was registered during the soak and is the challenger now",
        }
        if schema.DECISION.get(tags) is None and newer.isdigit():
            record_decision(client, name, version, "superseded", run_key=f"shadow soak of version {version}", at=now, extra={schema.SUPERSEDED_BY: newer})
        _record(client, config, version, result)
        return result
    champion = alias_version(client, name, CHAMPION)
    if champion is None or str(champion.version) == version:
        result = {
            **base,
            "decision": "promote",
            "passed": True,
            "champion_version": None,
            "detail": "no champion to compare with in shadow: the offline gates decide",
        }
        _record(client, config, version, result)
        return result
    champion_version = int(champion.version)

    stored = store.shadow_looks(config.name, name, int(version))
    epoch, restarts = 0, []
    if not stored.empty:
        epoch = int(stored["epoch"].max())
        for e in range(1, epoch + 1):
            before, after = stored[stored["epoch"] == e - 1], stored[stored["epoch"] == e]
            restarts.append(
                {
                    "epoch": e,
                    "from_champion": int(before["champion_version"].iloc[-1]),
                    "to_champion": int(after["champion_version"].iloc[0]),
                    "after_days": len(before),
                }
            )
        if int(stored[stored["epoch"] == epoch]["champion_version"].iloc[-1]) != champion_version:
            last = stored[stored["epoch"] == epoch]
            restarts.append(
                {"epoch": epoch + 1, "from_champion": int(last["champion_version"].iloc[-1]), "to_champion": champion_version, "after_days": len(last)}
            )
            log.info("%s v%s: the champion is now v%s; the soak restarts against it (epoch %d)", name, version, champion_version, epoch + 1)
            epoch += 1
    current = stored[stored["epoch"] == epoch]
    test = _state_of(current)
    decision, detail = "continue", f"waiting for the first labelled shadow day of v{version} beside champion v{champion_version}"
    if test is not None and test.looks:
        decision, detail = decide(test.looks[-1], max_days=soak.max_days, margin=soak.margin, on_inconclusive=soak.on_inconclusive)
    if decision == "continue":
        looked = set(current["partition_date"]) if not current.empty else set()
        for day in store.shadow_days(config.name, name, challenger=int(version), champion=champion_version):
            if day in looked:
                continue
            pairs = store.paired_labelled(config.name, day, name, challenger=int(version), champion=champion_version)
            if pairs.empty:
                log.info("%s v%s: %s has no row scored by both versions and labelled; not a look", name, version, day)
                continue
            champion_loss, challenger_loss = _losses(config, pairs)
            if test is None:  # ρ is fixed before the first difference is seen, from the number of rows only
                test = PairedSequentialTest.start(alpha=soak.alpha, expected_rows=len(pairs) * soak.min_days)
            look = test.update(day.isoformat(), champion_loss, challenger_loss, min_days=soak.min_days, min_rows=soak.min_rows).to_dict()
            state = {k: v for k, v in test.to_dict().items() if k != "looks"}
            written = store.add_shadow_look(
                {
                    "dataset": config.name,
                    "model_name": name,
                    "version": int(version),
                    "epoch": epoch,
                    "champion_version": champion_version,
                    "partition_date": day,
                    "seq": look["days"],
                    "rows": look["rows"],
                    "day_rows": len(pairs),
                    **{k: _finite(look[k], 12) for k in ("estimate", "lower", "upper", "e_value", "champion_loss", "challenger_loss")},
                    "p_value": float(look["p_value"]),
                    "verdict": look["verdict"],
                    "state": json.dumps(state),
                    "looked_at": now,
                }
            )
            if not written:  # another process took this look first: its state is the one that counts
                log.warning("%s v%s: the look at %s was stored by another process; the next look starts from it", name, version, day)
                return soak_look(config, client, store, version, now=now)
            decision, detail = decide(look, max_days=soak.max_days, margin=soak.margin, on_inconclusive=soak.on_inconclusive)
            log.info("%s v%s vs champion v%s, look %d (%s): %s", name, version, champion_version, look["days"], day, detail)
            if decision != "continue":
                break
    looks = test.looks if test is not None else []
    last = looks[-1] if looks else None
    result = {
        **base,
        "decision": decision,
        "passed": {"promote": True, "reject": False}.get(decision),
        "detail": detail,
        "champion_version": str(champion_version),
        "epoch": epoch,
        "restarts": restarts,
        "days": last["days"] if last else 0,
        "rows": last["rows"] if last else 0,
        **{k: _finite(last[k]) if last else None for k in ("estimate", "lower", "upper", "p_value", "e_value", "champion_loss", "challenger_loss")},
        "look_columns": list(LOOK_COLUMNS),
        "looks": [_look_row(x) for x in looks],
    }
    _record(client, config, version, result)
    return result


def series(gate: dict | None) -> dict | None:
    """The running estimate and interval per look from a gate tag, for the Models page (None without looks)."""
    if not gate or not gate.get("looks"):
        return None
    columns = gate.get("look_columns") or list(LOOK_COLUMNS)
    looks = [dict(zip(columns, row, strict=False)) for row in gate["looks"] if isinstance(row, list)]
    return {
        "looks": looks,
        "decision": gate.get("decision"),
        "detail": gate.get("detail"),
        "version": gate.get("version"),
        "champion_version": gate.get("champion_version"),
        "restarts": gate.get("restarts") or [],
    }


def summary(result: dict | None) -> dict | None:
    """What the promotion history keeps of a soak: its decision and final numbers."""
    if not result:
        return None
    keys = ("decision", "detail", "champion_version", "days", "rows", "estimate", "lower", "upper", "p_value", "e_value", "epoch")
    return {k: result.get(k) for k in keys}
