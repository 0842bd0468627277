from datetime import UTC, datetime, timedelta

import pendulum

from mlops.airflow.timetables import PartitionIntervalTimetable


def test_manual_run_for_a_day_processes_that_day():
    tt = PartitionIntervalTimetable("@daily", timezone="UTC")
    iv = tt.infer_manual_data_interval(run_after=pendulum.datetime(2013, 3, 1))
    assert (iv.start, iv.end) == (pendulum.datetime(2013, 3, 1), pendulum.datetime(2013, 3, 2))


def test_trigger_now_processes_the_last_complete_day():
    tt = PartitionIntervalTimetable("@daily", timezone="UTC")
    now = pendulum.now("UTC")
    iv = tt.infer_manual_data_interval(run_after=now)
    assert iv.end == now.start_of("day") and iv.start == iv.end - timedelta(days=1)
    assert iv.end <= datetime.now(UTC)


def test_scheduled_runs_are_unchanged_and_it_serialises():
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.timetables.base import TimeRestriction

    tt = PartitionIntervalTimetable("@daily", timezone="UTC")
    info = tt.next_dagrun_info(last_automated_data_interval=None, restriction=TimeRestriction(pendulum.datetime(2013, 1, 1), None, True))
    assert (info.data_interval.start, info.data_interval.end) == (pendulum.datetime(2013, 1, 1), pendulum.datetime(2013, 1, 2))
    assert type(PartitionIntervalTimetable.deserialize(tt.serialize())) is PartitionIntervalTimetable
    assert DagSerialization  # importable: the plugin registers the class for (de)serialisation
