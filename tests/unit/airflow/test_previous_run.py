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


# --- A backfill run's chain: its train step runs the model steps after it ---

BACKFILL_CHAIN = CHAIN[:2]


@pytest.fixture
def task_states(monkeypatch):
    """The Task SDK's task-state look-up answering from a dict ``{run_id: {task_id: state}}`` set by the test."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    answer: dict = {}
    monkeypatch.setattr(RuntimeTaskInstance, "get_task_states", staticmethod(lambda **kwargs: answer))
    return answer


def test_a_backfill_run_is_over_for_the_next_day_once_its_train_step_ends(task_states):
    from mlops.airflow.triggers import unfinished_tasks

    trained = states(decide="success", retrain__train="success")  # evaluate, register, replay not run yet
    task_states.update({"backfill__2013-03-03T00:00:00+00:00": trained})
    assert unfinished_tasks("dag", "2013-03-03", CHAIN, backfill_chain=BACKFILL_CHAIN) == {}
    # Without the backfill chain (a trigger deferred before it existed), the whole chain counts.
    assert unfinished_tasks("dag", "2013-03-03", CHAIN) == {"backfill__2013-03-03T00:00:00+00:00": ("retrain.evaluate", None)}
    task_states.clear()
    task_states.update({"backfill__2013-03-03T00:00:00+00:00": states(decide="success", retrain__train="running")})
    assert unfinished_tasks("dag", "2013-03-03", CHAIN, backfill_chain=BACKFILL_CHAIN) == {"backfill__2013-03-03T00:00:00+00:00": ("retrain.train", "running")}


def test_other_runs_keep_the_whole_chain(task_states):
    from mlops.airflow.triggers import unfinished_tasks

    for run_id in ("scheduled__2013-03-03T00:00:00+00:00", "manual__2013-03-03T00:00:00+00:00"):
        task_states.clear()
        task_states.update({run_id: states(decide="success", retrain__train="success")})
        assert unfinished_tasks("dag", "2013-03-03", CHAIN, backfill_chain=BACKFILL_CHAIN) == {run_id: ("retrain.evaluate", None)}


def test_the_trigger_keeps_the_backfill_chain_through_serialisation():
    import importlib

    from mlops.airflow.triggers import PreviousRunTrigger

    trigger = PreviousRunTrigger("dag", "2013-03-03T00:00:00+00:00", list(CHAIN), backfill_chain=list(BACKFILL_CHAIN))
    path, kwargs = trigger.serialize()
    assert kwargs["backfill_chain"] == list(BACKFILL_CHAIN)
    module, _, name = path.rpartition(".")
    assert getattr(importlib.import_module(module), name)(**kwargs).serialize() == (path, kwargs)
    assert "backfill_chain" not in PreviousRunTrigger("dag", "2013-03-03T00:00:00+00:00", list(CHAIN)).serialize()[1]
