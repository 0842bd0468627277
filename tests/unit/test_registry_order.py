"""Aliases only move forward: re-runs of old DAG runs never take ``challenger`` back, nothing is orphaned."""

import pytest

from mlops import schema
from mlops.registry import CHALLENGER, alias_version, register_version, version_key

OLD, NEW, OLDER = "2013-03-01T00:00:00+00:00", "2014-01-10T00:00:00+00:00", "2013-02-01T00:00:00+00:00"


@pytest.fixture
def reg(logged_model, request):
    client, model_uri, run_id = logged_model
    name = f"unit_order_{request.node.name[:40]}"

    def register(run_key: str, data_end: str | None, **kw):
        tags = schema.encode_tags({schema.DATA_INTERVAL_END: data_end})
        return register_version(client, name=name, model_uri=model_uri, run_id=run_id, run_key=run_key, tags=tags, **kw)

    return client, name, register


def decisions(client, name) -> dict[str, str | None]:
    return {str(v.version): v.tags.get("mlops.decision") for v in client.search_model_versions(f"name = '{name}'")}


def test_a_rerun_of_an_old_run_leaves_the_challenger_on_the_newer_version(reg):
    client, name, register = reg
    assert register("nightly/d1", OLD)["version"] == "1"
    newer = register("nightly/d9", NEW)
    assert newer["alias"] == CHALLENGER and newer["superseded"] == ["1"]  # 1 is not left pending without the alias
    again = register("nightly/d1", OLD)  # the old DAG run cleared and run again
    assert again["version"] == "1" and not again["created"] and again["alias"] is None
    assert again["alias_note"] == (
        "version 2 (data to 2014-01-10) is newer than version 1 (data to 2013-03-01); the alias 'challenger' only moves "
        "forward and version 1 (data to 2013-03-01) was decided already (mlops.decision=superseded)"
    )
    assert str(alias_version(client, name, CHALLENGER).version) == "2"
    assert decisions(client, name) == {"1": "superseded", "2": None}


def test_a_new_version_of_older_data_is_superseded_at_once(reg):
    """A re-run whose first attempt never registered creates a version, but of older data than the challenger's."""
    client, name, register = reg
    register("nightly/d9", NEW)
    late = register("nightly/d0", OLDER)
    assert late["version"] == "2" and late["created"] and late["alias"] is None and late["superseded"] == ["2"]
    assert "version 1 (data to 2014-01-10) is newer than version 2 (data to 2013-02-01)" in late["alias_note"]
    assert str(alias_version(client, name, CHALLENGER).version) == "1"
    v2 = client.get_model_version(name, "2")
    assert v2.tags["mlops.decision"] == "superseded" and v2.tags["mlops.superseded_by"] == "1"


def test_a_killed_registration_converges_on_its_version(reg):
    """Killed after creating the version and before the alias: the retry finds it and sets the alias."""
    client, name, register = reg
    first = register("nightly/d1", OLD, alias=None)  # the state a kill between the two writes leaves
    assert first["alias"] is None and alias_version(client, name, CHALLENGER) is None
    retry = register("nightly/d1", OLD)
    assert retry["version"] == first["version"] and retry["alias"] == CHALLENGER and not retry["created"]
    assert len(client.search_model_versions(f"name = '{name}'")) == 1


def test_version_order_is_data_end_then_number(reg):
    client, name, register = reg
    register("a", NEW)
    register("b", None)  # registered by hand-like means: no data end, sorts first
    v1, v2 = (client.get_model_version(name, v) for v in ("1", "2"))
    assert version_key(v2) < version_key(v1)
