"""Latency figures and verdicts of the serving check (pure parts, and a real model timed in-process)."""

import pytest

from mlops.promotion.serving import fit_line, measure, summarize, verdict


def test_fit_line_separates_fixed_cost_from_per_row_cost():
    fixed, per_row = fit_line({1: 5.01, 250: 7.5, 1000: 15.0})
    assert fixed == pytest.approx(5.0, abs=0.01) and per_row == pytest.approx(0.01, abs=1e-4)
    assert fit_line({100: 2.0}) == (0.0, 0.02)
    assert fit_line({1: 3.0, 10: 2.0}) == (2.5, 0.0)  # faster with more rows: noise, clamped


def test_summarize_reports_both_costs_contention_and_dispersion():
    wall = {1: [0.005] * 7, 1000: [0.015] * 6 + [0.5]}  # one outlier does not move the median
    cpu = {1: [0.005] * 7, 1000: [0.005] * 7}
    f = summarize(wall, cpu)
    assert f["ms_per_1000_rows"] == pytest.approx(15.0, abs=0.01) and f["fixed_ms"] == pytest.approx(4.99, abs=0.01)
    assert f["contention"] == 3.0 and f["cpu_ms_per_1000_rows"] == pytest.approx(5.0, abs=0.01)
    assert f["dispersion"] == 0.0 and f["median_ms_by_rows"] == {"1": 5.0, "1000": 15.0}


def test_verdict_retries_what_load_explains_and_rejects_what_it_cannot():
    quiet = {"ms_per_1000_rows": 120.0, "cpu_ms_per_1000_rows": 118.0, "contention": 1.02, "dispersion": 0.05}
    assert verdict(quiet, 200) == "pass"
    assert verdict(quiet, 100) == "over"  # steady and over: a real rejection, even by a little
    loaded = {**quiet, "ms_per_1000_rows": 872.0, "cpu_ms_per_1000_rows": 99.0, "contention": 8.8}
    assert verdict(loaded, 500) == "inconclusive"
    assert verdict({**quiet, "dispersion": 0.9}, 100) == "inconclusive"
    slow = {**loaded, "cpu_ms_per_1000_rows": 2400.0}
    assert verdict(slow, 500) == "over"  # far over in CPU time alone: load cannot explain it


def test_measure_a_real_model():
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame(np.random.default_rng(0).normal(size=(400, 5)), columns=list("abcde"))
    model = LogisticRegression().fit(X, (X["a"] > 0).astype(int))
    f = measure(model, X, repeats=5)
    assert set(f["median_ms_by_rows"]) == {"1", "100", "400"}
    assert f["ms_per_1000_rows"] >= f["fixed_ms"] >= 0 and f["per_row_ms"] >= 0 and f["contention"] > 0


def test_a_check_that_does_not_finish_is_not_a_verdict():
    import pandas as pd

    from mlops.promotion.serving import serving_check

    r = serving_check("models:/unit_serving/1", pd.DataFrame({"a": [1.0]}), 100.0, timeout=0.5)
    assert r == {"model_uri": "models:/unit_serving/1", "loaded": False, "timed_out": True, "error": "the check did not finish within 0.5 s"}
