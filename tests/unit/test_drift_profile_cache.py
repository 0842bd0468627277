"""The drift step profiles its reference once per champion and reference content, and reuses it while both hold."""

import json
from datetime import date, timedelta
from types import SimpleNamespace

import pandas as pd

from mlops.drift import detect_drift
from mlops.lake import Lake
from mlops.monitor import PROFILES_DIR, PROFILES_KEPT, drift_for_decision, profile_key, run_drift_step
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource
from mlops.windows import read_window, trailing

FIRST = date(2024, 1, 1)


def _fill(settings, config, days: int, source: SyntheticSource) -> Lake:
    lake = Lake(settings.lake_dir, config.name, quarantine_root=settings.quarantine_dir)
    for i in range(days):
        day = Interval.days(FIRST + timedelta(days=i))
        lake.write(source.read(day), day, timestamp_column="ts", source="test")
        lake.mark_validated(day, {"success": True})
    return lake


def _no_champion(config, name: str):
    """The config with a registered model of its own that never gets a champion: the reference is
    the trailing window, whatever other tests register in the shared MLflow store."""
    return config.model_copy(update={"registered_model_name": name})


def _exact(config, settings, lake, interval):
    """Today's computation: the reference frame read whole, detect_drift on both frames."""
    ref = read_window(config, settings, trailing(interval.start, config.drift.reference_days), columns=[config.timestamp_column, *config.features]).frame
    return detect_drift(ref, lake.read(interval), numeric=config.numeric_features, categorical=config.categorical_features, config=config.drift)


def test_the_reference_is_profiled_once_and_rebuilt_when_a_partition_changes(settings, synthetic_config):
    config = synthetic_config.model_copy(update={"source": synthetic_config.source.model_copy(update={"options": {"rows_per_day": 400}})})
    config = _no_champion(config, "profile_cache_model")
    source = SyntheticSource(rows_per_day=400, seed=3, drift=[{"features": ["x0"], "start": "2024-01-09", "shift": 1.0}])
    lake = _fill(settings, config, 10, source)
    night = Interval.days(date(2024, 1, 9))
    first = run_drift_step(config, settings, night, run_key="dag/r1")
    exact = _exact(config, settings, lake, night)
    assert first["reference"]["profile"] == "built" and first["reference"]["rows"] == 7 * 400
    assert first["drifted_features"] == exact.drifted_features == ["x0"]
    assert first["missing_drifted_features"] == exact.missing_drifted_features and first["drift_share"] == exact.drift_share

    again = run_drift_step(config, settings, night, run_key="dag/r2")
    assert again["reference"]["profile"] == "stored"
    assert {k: again[k] for k in ("drifted_features", "drift_share", "method_by_feature", "warnings")} == {
        k: first[k] for k in ("drifted_features", "drift_share", "method_by_feature", "warnings")
    }

    # A reference partition rewritten with other content: another key, profiled again, verdicts of the new content.
    day = Interval.days(date(2024, 1, 4))
    shifted = source.read(day).assign(x1=lambda d: d["x1"] + 2.0)
    lake.write(shifted, day, timestamp_column="ts", source="test")
    lake.mark_validated(day, {"success": True})
    rebuilt = run_drift_step(config, settings, night, run_key="dag/r3")
    exact = _exact(config, settings, lake, night)
    assert rebuilt["reference"]["profile"] == "built"
    assert rebuilt["drifted_features"] == exact.drifted_features and rebuilt["drift_share"] == exact.drift_share
    assert pd.Series(exact.drifted_features).tolist() != first["drifted_features"]  # the change is visible in the verdicts

    # A partition of the reference not validated yet: read_window validates it first, the profile is built again.
    (lake.validation_path(day)).unlink()
    assert run_drift_step(config, settings, night, run_key="dag/r4")["reference"]["profile"] == "built"
    assert len(list((lake.dir / PROFILES_DIR).iterdir())) <= PROFILES_KEPT


def test_the_key_follows_the_champion_the_window_and_the_content(synthetic_config):
    window = trailing(pd.Timestamp("2024-01-09", tz="UTC").to_pydatetime(), 7)
    hashes = {"ds=2024-01-02": "a" * 64, "ds=2024-01-03": "b" * 64}
    base = profile_key(synthetic_config, SimpleNamespace(version="3"), window, hashes)
    assert base == profile_key(synthetic_config, SimpleNamespace(version="3"), window, dict(reversed(hashes.items())))
    assert base != profile_key(synthetic_config, SimpleNamespace(version="4"), window, hashes)
    assert base != profile_key(synthetic_config, None, window, hashes)
    assert base != profile_key(synthetic_config, SimpleNamespace(version="3"), window, {**hashes, "ds=2024-01-03": "c" * 64})
    other = synthetic_config.model_copy(update={"drift": synthetic_config.drift.model_copy(update={"discrete_max_values": 5})})
    assert base != profile_key(other, SimpleNamespace(version="3"), window, hashes)


def test_old_profiles_are_pruned(settings, synthetic_config):
    config = _no_champion(synthetic_config, "profile_pruning_model")
    _fill(settings, config, 7 + PROFILES_KEPT + 2, SyntheticSource(rows_per_day=200, seed=1))
    for i in range(PROFILES_KEPT + 2):
        run_drift_step(config, settings, Interval.days(date(2024, 1, 8) + timedelta(days=i)), run_key=f"dag/p{i}")
    root = settings.lake_dir / config.name / PROFILES_DIR
    assert len([p for p in root.iterdir() if p.is_dir()]) == PROFILES_KEPT


def _version(client, name: str, window: tuple[str, str]) -> str:
    run = client.create_run(client.create_experiment(f"drift-champion-{window[0]}"))
    client.set_terminated(run.info.run_id)
    if not client.search_registered_models(f"name = '{name}'"):
        client.create_registered_model(name)
    version = client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id).version
    client.set_model_version_tag(name, version, "mlops.training_window", json.dumps([f"{window[0]}T00:00:00+00:00", f"{window[1]}T00:00:00+00:00"]))
    return str(version)


def test_a_decision_measures_drift_again_when_the_champion_moved_after_the_drift_step(settings, synthetic_config):
    """A backfill runs day D's drift while day D-1 still decides; D-1 can make a new champion meanwhile."""
    from mlops import tracking

    config = synthetic_config.model_copy(
        update={
            "source": synthetic_config.source.model_copy(update={"options": {"rows_per_day": 300}}),
            "registered_model_name": "drift_decision_model",  # its own registered model in the shared MLflow store
        }
    )
    # x0 shifts from 5 January on: a champion trained before it sees x0 drift on the 9th, one trained after does not.
    source = SyntheticSource(rows_per_day=300, seed=5, drift=[{"features": ["x0"], "start": "2024-01-05", "shift": 1.5}])
    _fill(settings, config, 10, source)
    client = tracking.client(settings)
    old = _version(client, config.model_name, ("2024-01-01", "2024-01-05"))
    new = _version(client, config.model_name, ("2024-01-05", "2024-01-09"))
    client.set_registered_model_alias(config.model_name, "champion", old)
    night = Interval.days(date(2024, 1, 9))

    early = run_drift_step(config, settings, night, run_key="dag/backfill__2024-01-10")
    assert early["champion_version"] == old and "x0" in early["drifted_features"]
    assert drift_for_decision(config, settings, night, early, old, run_key="dag/backfill__2024-01-10") == (early, None)

    client.set_registered_model_alias(config.model_name, "champion", new)  # the day before promoted its challenger
    used, why = drift_for_decision(config, settings, night, early, new, run_key="dag/backfill__2024-01-10")
    assert why and f"v{old}" in why and f"v{new}" in why
    assert used["champion_version"] == new and used["revision"] == 1 and "x0" not in used["drifted_features"]
    assert used["reference"]["window"][0].startswith("2024-01-05")
    # The same monitoring run and report, now the new champion's: latest metrics, reference tag, report file.
    assert used["monitoring_run_id"] == early["monitoring_run_id"]
    run = client.get_run(used["monitoring_run_id"])
    assert run.data.metrics["drift_share"] == used["drift_share"] != early["drift_share"]
    assert f"v{new}" in run.data.tags["mlops.reference"]
    report = json.loads((settings.reports_dir / config.name / "drift" / night.key / "drift.json").read_text())
    assert report["drifted_features"] == used["drifted_features"] and f"v{new}" in report["title"]
    # A result from before drift named its champion stands as it is.
    legacy = {k: v for k, v in early.items() if k != "champion_version"}
    assert drift_for_decision(config, settings, night, legacy, new, run_key="dag/backfill__2024-01-10") == (legacy, None)
