"""Live metrics: realised (joined with labels), estimated, prediction drift; stored, logged to MLflow, read by decide."""

from datetime import date, timedelta

import pytest

from mlops import schema
from mlops.config import LabelsConfig
from mlops.monitor import champion_state, monitoring_experiment
from mlops.predictions.labels import accept_labels, collect_labels, read_label_batch
from mlops.predictions.live import epoch_day, holdout_scores_path
from mlops.predictions.scoring import run_scoring
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource
from mlops.training.decide import decide_retrain
from mlops.training.metrics import compute_metrics

DAY = date(2024, 1, 12)  # the day of the fixture's validated partition (conftest.py)
SOURCE = SyntheticSource(rows_per_day=300, seed=9)  # the fixture's source: the labels of DAY come from it


def _by_hand(store, dataset, day, version, role):
    joined = store.labelled_predictions(dataset, day)
    rows = joined[(joined["version"] == version) & (joined["role"] == role)]
    return compute_metrics("classification", rows["label"], rows["score"]), len(rows)


def _values(store, config, kind, role="champion", version=1):
    frame = store.live_metrics(config.name, config.model_name, kind=kind, role=role, version=version)
    return dict(zip(frame["metric"], frame["value"], strict=True))


def test_labels_in_the_partition_give_the_realised_metrics_at_scoring(settings, env):
    from mlops import tracking

    config, client, store, *_ = env
    out = run_scoring(config, settings, [{"partition": DAY.isoformat()}], store=store, client=client)
    (result,) = out["results"]
    assert [(r["version"], r["role"], r["rows"]) for r in result["realised"]] == [(1, "champion", 300), (2, "shadow", 300)]
    expected, rows = _by_hand(store, config.name, DAY, 1, "champion")
    assert rows == 300 and _values(store, config, "realised") == pytest.approx(expected, abs=1e-6)
    estimated = _values(store, config, "estimated")
    assert set(estimated) >= {"roc_auc", "accuracy"} and abs(estimated["roc_auc"] - expected["roc_auc"]) < 0.1
    drift = _values(store, config, "drift")
    assert set(drift) == {"drift_score", "drift_threshold", "drift_p_value", "drifted"} and drift["drifted"] in (0.0, 1.0)
    assert holdout_scores_path(settings, config.name, 1).is_file()
    # MLflow: the version's monitoring run, the day as step.
    run = tracking.find_run(settings, monitoring_experiment(config), schema.encode_tags({schema.MODEL_NAME: config.model_name, schema.LIVE_MODEL_VERSION: 1}))
    history = client.get_metric_history(run.info.run_id, "realised_roc_auc")
    assert [(m.step, round(m.value, 6)) for m in history] == [(epoch_day(DAY), expected["roc_auc"])]
    assert {"estimated_roc_auc", "prediction_drift_score", "prediction_drifted"} <= set(client.get_run(run.info.run_id).data.metrics)


def test_late_labels_bring_the_realised_metric_and_decide_reads_it(settings, env, trained):
    config, client, store, *_ = env
    late = config.model_copy(update={"labels": LabelsConfig(delay_days=3)})
    holdout_day = Interval.parse(*trained["holdout_window"]).start.date()  # its labels arrived long ago
    accept_labels(late, settings, holdout_day, read_label_batch(late, holdout_day, SOURCE))
    run_scoring(late, settings, [{"partition": DAY.isoformat()}], store=store, client=client)
    assert _values(store, late, "realised") == {} and "roc_auc" in _values(store, late, "estimated")
    # Pending labels: decide knows nothing, unless it may use the estimate.
    run_of_day = Interval.days(DAY)
    assert champion_state(late, settings, run_of_day, store=store).current_metric is None
    eager = late.model_copy(update={"scoring": late.scoring.model_copy(update={"decay_on_estimate": True})})
    state = champion_state(eager, settings, run_of_day, store=store)
    assert state.current_metric == _values(store, late, "estimated")["roc_auc"]
    assert state.evidence == "estimated from its predicted probabilities on ds=2024-01-12 (labels pending)"

    arrived = collect_labels(late, settings, Interval.days(DAY + timedelta(days=3)), source=SOURCE, store=store)
    assert arrived["day"] == "2024-01-12" and [(r["version"], r["role"]) for r in arrived["realised"]] == [(1, "champion"), (2, "shadow")]
    expected, _ = _by_hand(store, late.name, DAY, 1, "champion")
    assert _values(store, late, "realised") == pytest.approx(expected, abs=1e-6)
    state = champion_state(late, settings, Interval.days(DAY + timedelta(days=3)), store=store)
    assert state.current_metric == pytest.approx(expected["roc_auc"]) and state.evidence == "realised live on ds=2024-01-12 (300 labelled rows)"
    decayed = decide_retrain(
        policy=late.retrain,
        primary_metric="roc_auc",
        interval_end=run_of_day.end,
        drift_share=0.0,
        champion=state.__class__(**{**state.__dict__, "reference_metric": state.current_metric + 0.2}),
    )
    assert decayed["reasons"][0].startswith(f"performance decay: champion v1 roc_auc={state.current_metric:.4f} realised live on ds=2024-01-12")


def test_a_version_without_its_holdout_is_still_scored_and_says_why_it_has_no_estimate(settings, env):
    config, client, store, *_ = env
    client.delete_model_version_tag(config.model_name, "1", schema.HOLDOUT_WINDOW.name)
    (result,) = run_scoring(config, settings, [{"partition": DAY.isoformat()}], store=store, client=client)["results"]
    champion = result["units"][0]
    assert champion["rows"] == 300 and champion["monitoring"] == {
        "skipped": f"{config.model_name} v1 (champion) has no tag mlops.holdout_window: its holdout scores cannot be computed"
    }
    assert _values(store, config, "estimated") == {} and "roc_auc" in _values(store, config, "realised")
