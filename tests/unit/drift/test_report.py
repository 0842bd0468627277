"""Unit tests of mlops.drift.report: files, JSON round trip, HTML content, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlops.drift.report as report_module
from mlops.config import DriftConfig
from mlops.drift import DriftResult, detect_drift, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _frames(drift: bool, n: int = 3000):
    rng = np.random.default_rng(0)
    cats = list("abcdef")
    ref = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 1, n),
            "city": rng.choice(cats, n),
            "<b>odd name</b>": rng.choice(cats, n),
        }
    )
    cur = pd.DataFrame(
        {
            "age": rng.normal(48 if drift else 40, 10, n),
            "income": rng.lognormal(10, 1, n),
            "city": rng.choice(cats, n, p=[0.5, 0.1, 0.1, 0.1, 0.1, 0.1] if drift else None),
            "<b>odd name</b>": rng.choice(cats, n),
        }
    )
    result = detect_drift(ref, cur, numeric=["age", "income"], categorical=["city", "<b>odd name</b>"], config=DriftConfig())
    return result, ref, cur


def test_report_files_exist_and_json_round_trips(tmp_path):
    result, ref, cur = _frames(drift=True)
    assert result.drifted_features == ["age", "city"]
    paths = write_report(result, ref, cur, tmp_path / "reports" / "2013-03-04", title="flights 2013-03-04")
    assert set(paths) == {"json", "html", "png"}
    for kind, path in paths.items():
        assert isinstance(path, str) and path.endswith(f"drift.{kind}") and os.path.getsize(path) > 0
    data = json.loads(Path(paths["json"]).read_text())
    assert data["title"] == "flights 2013-03-04"
    assert DriftResult.from_dict(data) == result
    assert data["drifted_features"] == ["age", "city"]
    with open(paths["png"], "rb") as fh:
        assert fh.read(8) == PNG_SIGNATURE
    assert sorted(os.listdir(tmp_path / "reports" / "2013-03-04")) == ["drift.html", "drift.json", "drift.png"]


def test_html_is_self_contained_and_names_the_drifted_features(tmp_path):
    result, ref, cur = _frames(drift=True)
    page = Path(write_report(result, ref, cur, tmp_path, title="flights <daily>")["html"]).read_text()
    assert "dataset drift" in page and "flights &lt;daily&gt;" in page
    assert "2 of 4 tested: age, city" in page
    for feature in ("age", "income", "city"):
        assert f"<td>{feature}</td>" in page
    assert "&lt;b&gt;odd name&lt;/b&gt;" in page and "<b>odd name</b>" not in page
    assert page.count("<b>drift</b>") == 2
    assert "wasserstein_ks" in page and "shares_chi2" in page
    assert "its test&#x27;s p-value is at most 0.0100" in page
    assert 'src="data:image/png;base64,' in page
    assert "http://" not in page and "https://" not in page


def test_report_without_drift_and_with_an_empty_feature(tmp_path):
    result, ref, cur = _frames(drift=False)
    cur = cur.assign(income=np.nan)
    result = detect_drift(ref, cur, numeric=["age", "income"], categorical=["city"], config=DriftConfig())
    assert result.drifted_features == [] and result.feature("income").method == "empty"
    paths = write_report(result, ref, cur, tmp_path, title="quiet day")
    page = Path(paths["html"]).read_text()
    assert "no dataset drift" in page and "not tested" in page and "0 of 2 tested: none" in page
    with open(paths["png"], "rb") as fh:
        assert fh.read(8) == PNG_SIGNATURE


def test_report_shows_null_rate_drift_and_warnings(tmp_path):
    result, ref, cur = _frames(drift=False)
    cur = cur.assign(income=np.where(np.arange(len(cur)) % 2 == 0, np.nan, cur["income"]))  # 0 % -> 50 % null
    ref = ref.assign(day=pd.Series(pd.date_range("2013-01-01", periods=len(ref), freq="h")).dt.strftime("%Y-%m-%d"))
    cur = cur.assign(day="2013-06-01")
    result = detect_drift(ref, cur, numeric=["age", "income"], categorical=["city", "day"], config=DriftConfig())
    assert result.drifted_features == [] and result.missing_drifted_features == ["income"]
    paths = write_report(result, ref, cur, tmp_path, title="nulls")
    page = Path(paths["html"]).read_text()
    assert "<dt>Null rate drifted</dt><dd>1: income</dd>" in page
    assert "<h2>Warnings</h2>" in page and "feature &#x27;day&#x27; holds dates or times" in page
    data = json.loads(Path(paths["json"]).read_text())
    assert data["missing_drifted_features"] == ["income"]
    assert [(w["feature"], w["kind"]) for w in data["warnings"]] == [("day", "datetime")]
    assert Path(paths["png"]).read_bytes()[:8] == PNG_SIGNATURE


def test_rewriting_gives_the_same_report(tmp_path):
    result, ref, cur = _frames(drift=True)
    first = write_report(result, ref, cur, tmp_path, title="t")
    before = {k: Path(p).read_bytes() for k, p in first.items()}
    second = write_report(result, ref, cur, tmp_path, title="t")
    assert {k: Path(p).read_bytes() for k, p in second.items()} == before


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    result, ref, cur = _frames(drift=True)
    paths = write_report(result, ref, cur, tmp_path, title="old")
    old_json = Path(paths["json"]).read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_report(result, ref, cur, tmp_path, title="new")
    assert Path(paths["json"]).read_text() == old_json
    assert sorted(os.listdir(tmp_path)) == ["drift.html", "drift.json", "drift.png"]


def test_figure_caps_panels_and_samples_values(tmp_path, monkeypatch):
    monkeypatch.setattr(report_module, "MAX_PANELS", 1)
    monkeypatch.setattr(report_module, "MAX_PLOT_VALUES", 500)
    result, ref, cur = _frames(drift=True)
    paths = write_report(result, ref, cur, tmp_path, title="capped")
    with open(paths["png"], "rb") as fh:
        assert fh.read(8) == PNG_SIGNATURE
