"""Which backfill run writes the retraining-policy report: the last one, even past a failed day."""

from __future__ import annotations

from mlops.airflow.operators import PolicyReportOperator, report_left_to

TASK = "policy_report"


def test_a_later_run_whose_report_can_still_run_takes_the_report():
    states = {"backfill__2013-10-27T00:00:00+00:00": {TASK: None}, "backfill__2013-10-28T00:00:00+00:00": {TASK: None}}
    assert report_left_to(states, TASK) == "backfill__2013-10-27T00:00:00+00:00"


def test_a_failed_next_day_does_not_make_this_day_write_the_whole_report():
    """A quarantined partition fails its run (its report upstream_failed); the days after it still run."""
    states = {
        "backfill__2013-10-27T00:00:00+00:00": {TASK: "upstream_failed"},
        "backfill__2013-10-28T00:00:00+00:00": {TASK: "scheduled"},
    }
    assert report_left_to(states, TASK) == "backfill__2013-10-28T00:00:00+00:00"
    assert PolicyReportOperator.LOOK_AHEAD > 1


def test_the_last_run_and_runs_before_failed_ends_write_it():
    assert report_left_to({}, TASK) is None  # the backfill's last run
    assert report_left_to({"backfill__2013-12-31T00:00:00+00:00": {TASK: "failed"}}, TASK) is None
    # Scheduled (production) runs of the next days never take a backfill's report.
    assert report_left_to({"scheduled__2013-11-01T00:00:00+00:00": {TASK: "success"}}, TASK) is None
