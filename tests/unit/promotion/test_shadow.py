"""The shadow soak's looks on a real SQLite prediction store and a real MLflow registry (no Airflow).

Each day's rows are scored by a champion and a challenger whose log-loss differs by a known
amount; the labels arrive separately (late), as in production.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest

from mlops.config import load_dataset
from mlops.predictions.store import PredictionStore, Unit, embedded_url
from mlops.promotion.shadow import series, soak_look, summary
from mlops.registry import register_version
from unit.promotion.soak_data import NOW, label, scored_day

START = date(2024, 3, 1)


def config_for(name: str, **shadow):
    soak = {"enabled": True, "min_days": 2, "max_days": 6, "min_rows": 200, "alpha": 0.05, "margin": 0.01, "on_inconclusive": "reject", **shadow}
    return load_dataset("synthetic", override={"registered_model_name": name, "promotion": {"shadow": soak}})


@pytest.fixture
def store(tmp_path):
    return PredictionStore(embedded_url(tmp_path))


@pytest.fixture
def registry(logged_model, request):
    """``(client, name)``: versions 1..3 of a real logged model; champion 1, challenger 2 (3 is registered by the tests that need it)."""
    client, model_uri, run_id = logged_model
    name = f"unit_shadow_{request.node.name[:40]}"

    def register(key: str) -> str:
        return str(register_version(client, name=name, model_uri=model_uri, run_id=run_id, run_key=key, tags={})["version"])

    register("dag/r1")
    register("dag/r2")
    client.set_registered_model_alias(name, "champion", "1")
    for tag in ("mlops.decision", "mlops.decision_at", "mlops.decision_by", "mlops.superseded_by"):
        client.delete_model_version_tag(name, "1", tag)
    return client, name, register


def test_a_better_challenger_is_promoted_at_the_first_conclusive_look_and_each_look_is_recorded(store, registry):
    client, name, _ = registry
    config = config_for(name)
    days = [START + timedelta(days=i) for i in range(6)]
    pending = {d: scored_day(store, name, d, champion=1, challenger=2, challenger_noise=0.2) for d in days}
    first = soak_look(config, client, store, "2", now=NOW)
    assert first["decision"] == "continue" and first["days"] == 0 and "waiting for the first labelled shadow day of v2" in first["detail"]
    results = []
    for d in days:
        label(store, d, pending[d])
        results.append(soak_look(config, client, store, "2", now=NOW))
        if results[-1]["decision"] != "continue":
            break
    final = results[-1]
    assert final["decision"] == "promote" and final["passed"] is True
    assert final["days"] >= 2, "no verdict before min_days"
    assert all(r["decision"] == "continue" for r in results[:-1])
    assert final["lower"] > 0 and final["estimate"] > 0 and final["champion_version"] == "1"
    assert final["detail"].startswith("challenger significantly better: mean loss difference (champion − challenger) +")
    # One stored look per labelled day, in order, with the test's state.
    looks = store.shadow_looks("synthetic", name, 2)
    assert list(looks["partition_date"]) == days[: final["days"]] and list(looks["seq"]) == list(range(1, final["days"] + 1))
    assert set(looks["epoch"]) == {0} and set(looks["champion_version"]) == {1}
    assert looks["rows"].tolist() == [400 * k for k in range(1, final["days"] + 1)]
    # The gate tag: summary and every look (day, rows, estimate, interval, p-value, e-value).
    tag = json.loads(client.get_model_version(name, "2").tags["mlops.gate.shadow"])
    assert tag["decision"] == "promote" and tag["look_columns"] == ["day", "rows", "estimate", "lower", "upper", "p_value", "e_value", "verdict"]
    assert [row[0] for row in tag["looks"]] == [d.isoformat() for d in days[: final["days"]]]
    assert tag["looks"][-1][3] > 0 and tag["looks"][-1][6] >= 20  # lower bound above 0; e-value ≥ 1/α
    drawn = series(tag)
    assert [x["day"] for x in drawn["looks"]] == [d.isoformat() for d in days[: final["days"]]] and drawn["decision"] == "promote"
    assert summary(final)["p_value"] == final["p_value"] <= 0.05
    # The soak never moved an alias.
    assert {k: str(v) for k, v in client.get_registered_model(name).aliases.items()} == {"champion": "1", "challenger": "2"}


def test_looks_resume_from_the_store_and_days_labelled_meanwhile_are_looked_at_in_order(store, registry, tmp_path):
    client, name, _ = registry
    config = config_for(name, max_days=10, min_days=10)  # never decides early: every day is a look
    days = [START + timedelta(days=i) for i in range(5)]
    for d in days:
        label(store, d, scored_day(store, name, d, champion=1, challenger=2, challenger_noise=1.0))
    one_by_one = store
    # A second store holds the same days; the first looks after each day, the second only once at the end
    # (a triggerer that was down while the labels came): the looks must be the same.
    other = PredictionStore(embedded_url(tmp_path / "other"))
    for d in days:
        label(other, d, scored_day(other, name, d, champion=1, challenger=2, challenger_noise=1.0))
    soak_look(config, client, other, "2", now=NOW)
    # ... and a look that is repeated (a restart right after it) adds nothing.
    again = soak_look(config, client, other, "2", now=NOW)
    assert again["days"] == 5
    batched = other.shadow_looks("synthetic", name, 2)
    looked = soak_look(config, client, one_by_one, "2", now=NOW)
    assert looked["days"] == 5
    stepwise = one_by_one.shadow_looks("synthetic", name, 2)
    cols = ["partition_date", "seq", "rows", "estimate", "lower", "upper", "p_value", "verdict"]
    pd.testing.assert_frame_equal(batched[cols], stepwise[cols])
    assert len(batched) == 5


def test_a_worse_challenger_is_rejected_early_with_the_numbers(store, registry):
    client, name, _ = registry
    config = config_for(name, max_days=20, min_days=2)
    result = None
    for i in range(20):
        d = START + timedelta(days=i)
        label(store, d, scored_day(store, name, d, champion=1, challenger=2, challenger_noise=2.5))
        result = soak_look(config, client, store, "2", now=NOW)
        if result["decision"] != "continue":
            break
    assert result["decision"] == "reject" and result["days"] < 20, result
    assert result["upper"] < 0 and result["detail"].startswith("challenger significantly worse: mean loss difference")
    tags = client.get_model_version(name, "2").tags
    assert tags["mlops.gates_passed"] == "false" and json.loads(tags["mlops.gate.shadow"])["passed"] is False


@pytest.mark.parametrize(("on_inconclusive", "margin", "decision"), [("reject", 0.01, "reject"), ("promote_if_non_inferior", 0.5, "promote")])
def test_an_equal_challenger_at_max_days_follows_on_inconclusive(store, registry, on_inconclusive, margin, decision):
    client, name, _ = registry
    config = config_for(name, max_days=3, min_days=1, on_inconclusive=on_inconclusive, margin=margin)
    for i in range(3):
        d = START + timedelta(days=i)
        label(store, d, scored_day(store, name, d, champion=1, challenger=2, challenger_noise=1.0, rows=150, seed=5))
    result = soak_look(config, client, store, "2", now=NOW)
    assert result["days"] == 3 and result["lower"] < 0 < result["upper"], result
    assert result["decision"] == decision
    assert result["detail"].startswith("inconclusive after 3 days")


def test_a_newer_challenger_ends_the_soak_as_superseded(store, registry):
    client, name, register = registry
    config = config_for(name)
    d = START
    label(store, d, scored_day(store, name, d, champion=1, challenger=2, challenger_noise=1.0))
    assert soak_look(config, client, store, "2", now=NOW)["decision"] == "continue"
    assert register("dag/r3") == "3"
    result = soak_look(config, client, store, "2", now=NOW)
    assert result["decision"] == "superseded" and result["detail"] == "soak ended: version 3 was registered during the soak and is the challenger now"
    tags = client.get_model_version(name, "2").tags
    assert tags["mlops.decision"] == "superseded" and tags["mlops.superseded_by"] == "3"


def test_a_champion_change_restarts_the_soak_against_the_new_champion(store, registry):
    client, name, register = registry
    config = config_for(name, min_days=2, max_days=10)
    # Champion 2 (previous 1), challenger 3 soaks two days; then a rollback makes 1 the champion again.
    assert register("dag/r3") == "3"
    client.set_registered_model_alias(name, "champion", "2")
    for i in range(2):
        d = START + timedelta(days=i)
        label(store, d, scored_day(store, name, d, champion=2, challenger=3, challenger_noise=1.0))
    assert soak_look(config, client, store, "3", now=NOW)["days"] == 2
    client.set_registered_model_alias(name, "champion", "1")
    restarted = soak_look(config, client, store, "3", now=NOW)
    assert restarted["decision"] == "continue" and restarted["epoch"] == 1 and restarted["days"] == 0
    assert restarted["champion_version"] == "1"
    assert restarted["restarts"] == [{"epoch": 1, "from_champion": 2, "to_champion": 1, "after_days": 2}]
    d = START + timedelta(days=2)
    label(store, d, scored_day(store, name, d, champion=1, challenger=3, challenger_noise=1.0))
    after = soak_look(config, client, store, "3", now=NOW)
    assert after["epoch"] == 1 and after["days"] == 1 and after["looks"][0][0] == d.isoformat()
    assert after["restarts"] == restarted["restarts"]
    looks = store.shadow_looks("synthetic", name, 3)
    assert looks[["epoch", "champion_version"]].values.tolist() == [[0, 2], [0, 2], [1, 1]]


def test_no_champion_means_the_offline_gates_decide(store, registry):
    client, name, _ = registry
    client.delete_registered_model_alias(name, "champion")
    result = soak_look(config_for(name), client, store, "2", now=NOW)
    assert result["decision"] == "promote" and result["detail"] == "no champion to compare with in shadow: the offline gates decide"


def test_the_store_pairs_rows_of_both_versions_with_labels_only(store):
    day = START
    keys = [str(i) for i in range(6)]
    frame = pd.DataFrame({"row_key": keys, "prediction": [0.0] * 6, "score": [0.2] * 6})
    store.replace_predictions(Unit("synthetic", day, "m", 1, "champion"), frame, scored_at=NOW)
    store.replace_predictions(Unit("synthetic", day, "m", 2, "shadow"), frame.iloc[1:].assign(score=0.7), scored_at=NOW)
    store.replace_predictions(Unit("synthetic", day + timedelta(days=1), "m", 2, "shadow"), frame, scored_at=NOW)
    assert store.shadow_days("synthetic", "m", challenger=2, champion=1) == []  # no labels yet
    store.replace_labels("synthetic", day, pd.DataFrame({"row_key": keys[:5], "label": [1.0] * 5}), arrived_at=NOW)
    assert store.shadow_days("synthetic", "m", challenger=2, champion=1) == [day]
    pairs = store.paired_labelled("synthetic", day, "m", challenger=2, champion=1)
    assert pairs["row_key"].tolist() == ["1", "2", "3", "4"]  # key 0 has no shadow score, key 5 no label
    assert pairs["champion_score"].tolist() == [0.2] * 4 and pairs["challenger_score"].tolist() == [0.7] * 4


def test_a_look_is_never_written_twice(store):
    values = {
        "dataset": "synthetic",
        "model_name": "m",
        "version": 2,
        "epoch": 0,
        "champion_version": 1,
        "partition_date": START,
        "seq": 1,
        "rows": 10,
        "day_rows": 10,
        "estimate": 0.1,
        "lower": None,
        "upper": None,
        "p_value": 1.0,
        "e_value": 1.0,
        "champion_loss": 0.5,
        "challenger_loss": 0.4,
        "verdict": "continue",
        "state": "{}",
        "looked_at": NOW,
    }
    assert store.add_shadow_look(values) is True
    assert store.add_shadow_look(values) is False
    assert store.add_shadow_look({**values, "partition_date": START + timedelta(days=1)}) is False  # seq 1 is taken
    assert len(store.shadow_looks("synthetic", "m", 2)) == 1


def test_the_models_page_draws_the_soak_per_day_with_its_decision(store, registry, settings):
    from mlops.ui.overview import model_overview
    from mlops.ui.page import render

    client, name, _ = registry
    config = config_for(name, min_days=2, max_days=20)
    assert model_overview(config, settings, client)["shadow"] is None
    assert "No shadow soak yet" in render(model_overview(config, settings, client), ["synthetic"])
    result = None
    for i in range(20):
        d = START + timedelta(days=i)
        label(store, d, scored_day(store, name, d, champion=1, challenger=2, challenger_noise=2.5))
        result = soak_look(config, client, store, "2", now=NOW)
        if result["decision"] != "continue":
            break
    assert result["decision"] == "reject"
    client.delete_registered_model_alias(name, "challenger")  # a rejected version loses the alias: the page still finds its soak
    data = model_overview(config, settings, client)
    soak = data["shadow"]
    assert soak["version"] == "2" and soak["decision"] == "reject" and len(soak["looks"]) == result["days"]
    assert soak["looks"][-1]["upper"] < 0 and soak["looks"][-1]["rows"] == 400 * result["days"]
    json.dumps(data)
    html = render(data, ["synthetic"])
    assert 'id="shadow-chart"' in html and "<polygon" in html
    assert '<span id="shadow-decision" class="bad">reject</span>' in html
    assert html.count("<tr><td>2024-03-") == result["days"] and "challenger significantly worse" in html


def test_a_running_soak_shows_as_running_on_the_challenger_card(store, registry, settings):
    from mlops.ui.overview import model_overview
    from mlops.ui.page import render

    client, name, _ = registry
    config = config_for(name)
    label(store, START, scored_day(store, name, START, champion=1, challenger=2, challenger_noise=1.0))
    assert soak_look(config, client, store, "2", now=NOW)["decision"] == "continue"
    html = render(model_overview(config, settings, client), ["synthetic"])
    assert '<tr><th>gate shadow</th><td class="muted">running</td></tr>' in html
    assert '<span id="shadow-decision" class="muted">running</span>' in html
