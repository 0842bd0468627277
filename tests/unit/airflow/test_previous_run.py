"""When a run's model steps are over for the next interval's decision (``chain_pending``)."""

from __future__ import annotations

import pytest

from mlops.airflow.triggers import chain_pending, not_started

CHAIN = ("decide", "retrain.train", "retrain.evaluate", "retrain.register", "retrain.replay_promotion")


def states(**by_step):
    """The chain's states, ``None`` (not scheduled yet) unless given; keys use ``_`` for ``.``."""
    given = {k.replace("__", "."): v for k, v in by_step.items()}
    return {step: given.get(step) for step in CHAIN}


def test_a_day_that_decided_not_to_retrain_releases_the_next_as_its_decision_ends():
    # The branch skips retrain.train as it ends; evaluate, register and replay_promotion are
    # still unscheduled until the scheduler propagates the skip, one loop per level.
    assert chain_pending(states(decide="success", retrain__train="skipped"), CHAIN) is None


@pytest.mark.parametrize("state", [None, "scheduled", "queued", "running", "up_for_retry", "deferred", "up_for_reschedule"])
def test_a_decision_not_over_holds_the_next_day(state):
    assert chain_pending(states(decide=state), CHAIN) == ("decide", state)


def test_a_retraining_day_holds_the_next_until_its_last_model_step_ends():
    running = states(decide="success", retrain__train="success", retrain__evaluate="success", retrain__register="running")
    assert chain_pending(running, CHAIN) == ("retrain.register", "running")
    waiting = dict(running, **{"retrain.register": "success"})  # replay_promotion not scheduled yet
    assert chain_pending(waiting, CHAIN) == ("retrain.replay_promotion", None)
    done = dict(waiting, **{"retrain.replay_promotion": "success"})
    assert chain_pending(done, CHAIN) is None
    # Outside backfills replay_promotion skips itself: over as well.
    assert chain_pending(dict(waiting, **{"retrain.replay_promotion": "skipped"}), CHAIN) is None


@pytest.mark.parametrize("failed", ["decide", "retrain.train", "retrain.evaluate", "retrain.register"])
@pytest.mark.parametrize("state", ["failed", "upstream_failed", "removed"])
def test_a_failed_step_ends_the_chain_as_nothing_after_it_runs(failed, state):
    before = CHAIN[: CHAIN.index(failed)]
    assert chain_pending({**{s: "success" for s in before}, failed: state}, CHAIN) is None


def test_a_retrying_step_is_not_over():
    assert chain_pending(states(decide="success", retrain__train="up_for_retry"), CHAIN) == ("retrain.train", "up_for_retry")


def test_states_may_be_enum_members():
    from airflow.utils.state import TaskInstanceState

    assert chain_pending({"decide": TaskInstanceState.SUCCESS, "retrain.train": TaskInstanceState.SKIPPED}, CHAIN) is None
    assert chain_pending({"decide": TaskInstanceState.RUNNING}, CHAIN) == ("decide", "running")


def test_a_run_that_has_not_scheduled_its_decision_is_polled_at_the_idle_interval():
    # The day before waits on its own day before: its decision has no state yet.
    assert not_started({"backfill__2013-03-03": ("decide", None)}, CHAIN)
    # Once its decision is scheduled, running or a retrain step is under way: poll fast.
    for step in [("decide", "scheduled"), ("decide", "running"), ("retrain.train", None), ("retrain.register", "queued")]:
        assert not not_started({"backfill__2013-03-03": step}, CHAIN), step
    # Two runs at that date (rare): fast while either moves.
    assert not not_started({"a": ("decide", None), "b": ("decide", "running")}, CHAIN)
