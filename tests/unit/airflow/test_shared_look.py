"""The ordering triggers of a backfill's waiting days share their looks at the runs before them (``SharedLook``).

The execution API's answers come from ``Runs`` (the runs' task states as the scheduler would
set them), so that the looks can be counted; the triggers are the real ones, run in one event
loop as the triggerer runs them.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from mlops.airflow import triggers

CHAIN = ["decide", "retrain.train", "retrain.evaluate", "retrain.register", "retrain.replay_promotion"]
BACKFILL_CHAIN = CHAIN[:2]
START = datetime(2013, 3, 1, tzinfo=UTC)
POKE, IDLE = 0.05, 0.1


class Runs:
    """A backfill's runs as the execution API answers for them (``task_states``), each day played by ``play``."""

    def __init__(self, days: int):
        self.dates = {f"backfill__{(START + timedelta(days=d)).isoformat()}": START + timedelta(days=d) for d in range(days)}
        self.states: dict[str, dict[str, str]] = {run: {} for run in self.dates}
        self.looks = 0

    def fetch(self, dag_id, task_ids, *, logical_dates=None, run_ids=None):
        self.looks += 1
        wanted = [run for run, when in self.dates.items() if when in logical_dates] if logical_dates is not None else run_ids
        return {run: {t: s for t, s in self.states[run].items() if t in task_ids} for run in wanted if run in self.states}

    async def play(self, run: str, retrain: bool) -> None:
        """The scheduler's part once the day's wait is over: its decision, then training or the skip."""
        for state in ("scheduled", "queued", "running", "success"):
            await asyncio.sleep(0.08)
            self.states[run]["decide"] = state
        await asyncio.sleep(0.01)
        self.states[run]["retrain.train"] = "success" if retrain else "skipped"


def backfill(runs: Runs, retrain_days: set[int]) -> list[int]:
    """Every day's ordering trigger in one loop, as the triggerer runs them; the days in the order they were released."""
    ids, released = list(runs.dates), []

    async def day(d: int) -> None:
        previous = (START + timedelta(days=d - 1)).isoformat()
        trigger = triggers.PreviousRunTrigger("dag", previous, CHAIN, poke_interval=POKE, idle_interval=IDLE, backfill_chain=BACKFILL_CHAIN)
        async for _ in trigger.run():
            before = runs.states[ids[d - 1]] if d else {}
            assert d == 0 or before.get("retrain.train") in ("success", "skipped"), f"day {d} released before day {d - 1} was through"
            released.append(d)
        await runs.play(ids[d], retrain=d in retrain_days)

    async def all_days():
        await asyncio.gather(*(day(d) for d in range(len(ids))))

    asyncio.run(all_days())
    return released


def test_each_day_is_released_once_the_day_before_is_through(monkeypatch):
    runs = Runs(8)
    monkeypatch.setattr(triggers, "task_states", runs.fetch)
    assert backfill(runs, retrain_days={2, 5}) == list(range(8))


def test_the_days_waiting_their_turn_ask_for_no_looks_of_their_own(monkeypatch):
    """About one look per poll of the day in line; each waiting day alone would add one per idle interval."""
    runs = Runs(8)
    monkeypatch.setattr(triggers, "task_states", runs.fetch)
    started = time.monotonic()
    assert backfill(runs, retrain_days=set()) == list(range(8))
    elapsed = time.monotonic() - started
    # Unshared: elapsed / POKE for the day in line plus about elapsed / IDLE for each of the six or
    # seven days behind it (80 looks a second here); shared: the first polls plus one look a
    # release for the day that comes in line.
    assert runs.looks <= elapsed / POKE + 3 * len(runs.dates), (runs.looks, round(elapsed, 2))


def test_a_run_that_is_gone_is_nothing_to_wait_for(monkeypatch):
    runs = Runs(2)
    monkeypatch.setattr(triggers, "task_states", runs.fetch)
    first = next(iter(runs.dates))
    runs.states[first]["decide"] = "running"

    async def wait():
        trigger = triggers.PreviousRunTrigger("dag", runs.dates[first].isoformat(), CHAIN, poke_interval=POKE, idle_interval=IDLE)
        waiting = asyncio.ensure_future(anext(trigger.run()))
        await asyncio.sleep(5 * POKE)
        assert not waiting.done()  # the decision still runs
        del runs.states[first]  # the run was deleted
        return await asyncio.wait_for(waiting, 2)

    assert asyncio.run(wait()) is not None
