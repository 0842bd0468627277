"""Late labels end to end (``dag.test``): the synthetic dataset as shipped, ``labels.delay_days: 3``.

Nights 2024-03-01 … 03-04, each followed by the scoring DAG for its partition (the asset
schedule needs the real scheduler; here the scoring runs are triggered with the partition's
date). The labels of 03-01 arrive with the run of 03-04 and join the predictions of 03-01.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from e2e.helpers import run_dag, states, variable, xcom

pytestmark = pytest.mark.e2e

NIGHTLY, SCORING, MODEL = "mlops_nightly_training_synthetic", "mlops_batch_scoring_synthetic", "synthetic_model"
OVERRIDE = {
    "source": {"options": {"rows_per_day": 400, "seed": 31, "drift": []}},
    "training": {"window_days": 6, "holdout_days": 1, "min_train_rows": 800},
    "drift": {"reference_days": 3},
}
DAYS = ["2024-03-01", "2024-03-02", "2024-03-03", "2024-03-04"]


@pytest.fixture(scope="module")
def nights(stack):
    """Run the four nights (and their scoring) once; the tests read what they left."""
    from mlops import tracking

    out = {}
    with variable("mlops_dataset__synthetic", OVERRIDE):
        for i, day in enumerate(DAYS):
            nightly = run_dag(NIGHTLY, day)
            assert nightly.state == "success", (day, states(nightly))
            if i == 0:  # the promotion DAG's job, by hand: the first challenger serves
                tracking.client(stack).set_registered_model_alias(MODEL, "champion", "1")
            scoring = run_dag(SCORING, day, {"partition_date": day})
            assert scoring.state == "success", (day, states(scoring))
            out[day] = (nightly, scoring)
    return stack, out


def _config():
    from mlops.config import load_dataset

    return load_dataset("synthetic", override=OVERRIDE)


def _store(settings):
    from mlops.predictions.store import PredictionStore, embedded_url

    return PredictionStore(embedded_url(settings.home))


def test_partitions_arrive_without_the_target_and_labels_three_days_later(nights):
    from mlops.lake import Lake
    from mlops.sources.base import Interval

    settings, runs = nights
    partition = Lake(settings.lake_dir, "synthetic").read(Interval.days(date(2024, 3, 1)))
    assert "y" not in partition.columns and len(partition) == 400
    # The first night's labels are those of 02-27, a day this deployment never ingested.
    assert xcom(runs["2024-03-01"][0], "collect_labels") == {"day": "2024-02-27", "status": "skipped", "reason": "its partition is not in the lake"}
    arrived = xcom(runs["2024-03-04"][0], "collect_labels")
    assert arrived["day"] == "2024-03-01" and arrived["status"] == "stored" and arrived["labelled"] == 400
    store = _store(settings)
    assert store.label_count("synthetic", date(2024, 3, 1)) == 400
    assert store.label_count("synthetic", date(2024, 3, 2)) == 0  # arrives with the run of 03-05
    joined = store.labelled_predictions("synthetic", date(2024, 3, 1))
    assert len(joined) == 400 and set(joined["version"]) == {1} and set(joined["role"]) == {"champion"}


def test_no_training_row_is_unlabelled_or_after_the_interval(nights):
    from mlops.lake import Lake
    from mlops.predictions.labels import stored_labels
    from mlops.sources.base import Interval

    settings, runs = nights
    trained = [(day, xcom(nightly, "retrain.train")) for day, (nightly, _) in runs.items() if states(nightly)["retrain.train"] == "success"]
    assert trained, "the first night trains (no champion)"
    for day, result in trained:
        interval_end = datetime.fromisoformat(day).replace(tzinfo=UTC) + timedelta(days=1)
        assert datetime.fromisoformat(result["holdout_window"][1]) <= interval_end - timedelta(days=3), day
        partitions = sorted(k for k in result["data_hashes"] if not k.endswith(".labels"))
        assert partitions and all(f"{k}.labels" in result["data_hashes"] for k in partitions), result["data_hashes"]
        labelled = 0
        for key in partitions:
            d = date.fromisoformat(key[3:])
            labels, meta = stored_labels(settings, "synthetic", d)
            assert meta["labels_hash"] == result["data_hashes"][f"{key}.labels"]
            keys = set(Lake(settings.lake_dir, "synthetic").read(Interval.days(d))["row_id"].astype(str))
            labelled += len(keys & set(labels["row_key"]))
        assert result["train_rows"] + result["holdout_rows"] == labelled


def test_the_estimate_on_day_d_and_the_realised_metric_on_day_d_plus_3_equal_to_the_table(nights):
    import sqlite3

    from mlops import schema, tracking
    from mlops.monitor import monitoring_experiment
    from mlops.predictions.live import epoch_day
    from mlops.predictions.store import embedded_url
    from mlops.training.metrics import compute_metrics

    settings, runs = nights
    store = _store(settings)
    first = date(2024, 3, 1)
    # Day D: scored by v1, estimated at once; no label yet, so nothing realised.
    scored = xcom(runs["2024-03-01"][1], "score")
    (unit,) = scored["results"][0]["units"]
    assert (unit["version"], unit["role"]) == (1, "champion") and scored["results"][0]["realised"] == []
    estimated = unit["monitoring"]["estimated"]
    assert set(estimated) >= {"roc_auc", "accuracy"}
    live = store.live_metrics("synthetic", MODEL, version=1, role="champion")
    assert live[(live["partition_date"] == first) & (live["kind"] == "estimated") & (live["metric"] == "roc_auc")]["value"].item() == estimated["roc_auc"]
    # Nights D + 1 and D + 2 bring no label of D; night D + 3 does, and the realised metric with them.
    for day in ("2024-03-02", "2024-03-03"):
        assert xcom(runs[day][0], "collect_labels")["day"] != "2024-03-01"
    (realised,) = xcom(runs["2024-03-04"][0], "collect_labels")["realised"]
    assert (realised["version"], realised["role"], realised["rows"]) == (1, "champion", 400)
    # ... equal to the metric computed by hand from the table.
    path = embedded_url(settings.home).removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "select p.score, l.label from predictions p join labels l on l.dataset = p.dataset and l.partition_date = p.partition_date "
            "and l.row_key = p.row_key where p.dataset = 'synthetic' and p.partition_date = '2024-03-01' and p.version = 1 and p.role = 'champion'"
        ).fetchall()
    by_hand = compute_metrics("classification", [r[1] for r in rows], [r[0] for r in rows])
    assert len(rows) == 400 and realised["metrics"] == by_hand
    stored = live[(live["partition_date"] == first) & (live["kind"] == "realised")]
    assert dict(zip(stored["metric"], stored["value"], strict=True)) == pytest.approx(by_hand, abs=1e-9)
    # MLflow: the version's monitoring run, with the day as step.
    client = tracking.client(settings)
    run = tracking.find_run(settings, monitoring_experiment(_config()), schema.encode_tags({schema.MODEL_NAME: MODEL, schema.LIVE_MODEL_VERSION: 1}))
    history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "realised_roc_auc")}
    assert history == {epoch_day(first): pytest.approx(by_hand["roc_auc"])}
    estimated_steps = {m.step for m in client.get_metric_history(run.info.run_id, "estimated_roc_auc")}
    assert estimated_steps == {epoch_day(date(2024, 3, d)) for d in (1, 2, 3, 4)}
