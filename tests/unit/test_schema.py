"""The MLflow tag schema: one encoding per tag, every value round-trips and stays within the limit."""

from __future__ import annotations

import ast
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops import schema

ROOT = Path(__file__).resolve().parents[2]

SAMPLES = {
    "text": "flights/scheduled__2013-03-01T00:00:00+00:00",
    "bool": True,
    "json": {"roc_auc": 0.81, "reasons": ["drift: 40 % of features"], "window": ["2013-02-01", "2013-03-01"]},
    "datetime": datetime(2013, 3, 1, tzinfo=UTC),
}


@pytest.mark.parametrize("tag", schema.all_tags(), ids=lambda t: t.name)
def test_every_tag_round_trips(tag):
    value = SAMPLES[tag.encoding]
    stored = tag.encode(value)
    assert isinstance(stored, str) and len(stored) <= schema.MAX_TAG_CHARS
    assert tag.get({tag.name: stored}) == value
    assert tag.get({}) is None and tag.get({}, "x") == "x"


def test_tag_names_are_unique_and_prefixed():
    names = [t.name for t in schema.all_tags()]
    assert len(names) == len(set(names))
    assert all(n.startswith(schema.PREFIX) for n in names)


def test_long_json_is_cut_but_stays_valid_json():
    value = {"detail": "x" * 20_000, "reasons": [f"reason {i}" for i in range(5_000)], "passed": False}
    stored = schema.GATE.tag("serving").encode(value)
    assert len(stored) <= schema.MAX_TAG_CHARS
    decoded = json.loads(stored)
    assert decoded["passed"] is False
    assert decoded["detail"].endswith(schema.TRUNCATION_MARKER)
    assert decoded["reasons"][-1].startswith(schema.TRUNCATION_MARKER)


def test_json_with_very_many_keys_falls_back_to_a_readable_head():
    value = {f"k{i}": i for i in range(5_000)}
    decoded = json.loads(schema.METRICS.encode(value))
    assert decoded["truncated"] is True and decoded["head"].startswith('{"k0": 0')


def test_long_text_is_cut_with_the_marker():
    stored = schema.NOTE.encode("n" * 6_000)
    assert len(stored) == schema.MAX_TAG_CHARS and stored.endswith(schema.TRUNCATION_MARKER)


def test_bool_accepts_strings_and_decodes_strictly():
    assert schema.GATES_PASSED.encode("True") == "true"
    assert schema.GATES_PASSED.encode(False) == "false"
    assert schema.GATES_PASSED.get({"mlops.gates_passed": "false"}) is False


def test_json_written_by_hand_is_shown_as_text():
    assert schema.RETRAIN_REASONS.get({"mlops.retrain_reasons": "drift; age"}) == "drift; age"


def test_families_collect_their_members():
    tags = dict([schema.GATE.tag("floors").item({"passed": True}), schema.HISTORY.tag(3).item({"seq": 3}), ("other", "x")])
    assert schema.GATE.collect(tags) == {"floors": {"passed": True}}
    assert schema.HISTORY.collect(tags) == {"000003": {"seq": 3}}


def _is_module(dotted: str) -> bool:
    """``mlops.promotion.serving`` names a module of the package, not a tag."""
    path = ROOT / "include" / dotted.replace(".", "/")
    return path.with_suffix(".py").exists() or path.is_dir()


def test_no_tag_name_literals_outside_the_schema_module():
    """Tag names live in mlops/schema.py only; other modules use its constants."""
    pattern = re.compile(r"^mlops\.[a-z_]+(\.[a-z_]*)?$")
    offenders = []
    for folder in ("include/mlops", "dags", "plugins"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "schema.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and pattern.match(node.value) and not _is_module(node.value):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert not offenders, "tag names written as literals (use mlops.schema):\n" + "\n".join(offenders)
