"""Serving check: load a registered model in a fresh process, as a server would, and time it.

Run as ``python -m mlops.promotion.serving MODEL_URI SAMPLE.parquet BUDGET_MS`` it prints one
JSON line: whether the model loaded from the registry, whether it has a signature and enforces
it (an input without one of its columns must be refused), and its latency with a verdict.

How latency is measured (``measure``): one warm-up call, then batches of 1 row, a quarter of
the sample and the whole sample, interleaved and repeated ``REPEATS`` times (so a burst of load
hits every size alike), each timed in wall-clock and in CPU time of this process. The median
per size gives a straight line ``time = fixed + rows * per_row`` (least squares): ``fixed_ms``
is the cost of a call (input conversion, signature enforcement), ``per_row_ms`` the cost of a
row. The figure compared with the budget is the time of one call that scores 1,000 rows,
``ms_per_1000_rows = fixed_ms + 1000 * per_row_ms`` (the fixed cost amortised over a
1,000-row request). Math libraries are held to one thread, as in a serving worker per core.

A figure measured under CPU load says little: the process waited for a core. ``contention``
(median wall time over median CPU time of the largest batch; about 1 on an idle machine) and
``dispersion`` (the largest interquartile range over median of the sizes) tell. The verdict:

``pass``
    ``ms_per_1000_rows`` within the budget.
``over``
    over the budget on a quiet, steady measurement, or so far over that load cannot explain
    it (even its CPU time, which waiting does not inflate, is over ``CLEAR_FACTOR`` × budget).
``inconclusive``
    over the budget while the machine was contended or the timings scattered. The check
    measures again (up to ``ROUNDS`` rounds, ``PAUSE_SECONDS`` apart); if it stays
    inconclusive the gate raises ``InconclusiveMeasurement`` so Airflow retries the task
    later, instead of rejecting a good model for ever.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

REPEATS = 7
ROUNDS = 3
PAUSE_SECONDS = 2.0
#: Wall over CPU time above this: the process waited for a core (the machine is loaded).
MAX_CONTENTION = 1.3
#: Interquartile range over median above this: the timings scatter too much to decide on.
MAX_DISPERSION = 0.35
#: Over budget by this factor in CPU time alone: too slow whatever the load.
CLEAR_FACTOR = 1.5


def fit_line(points: dict[int, float]) -> tuple[float, float]:
    """``(fixed, per_row)`` of the least-squares line through ``{rows: time}``, both clamped at 0 (pure)."""
    xs, ys = list(points), list(points.values())
    if len(xs) == 1:
        return 0.0, ys[0] / max(xs[0], 1)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    per_row = max(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx, 0.0)
    return max(my - per_row * mx, 0.0), per_row


def spread(values: list[float]) -> float:
    """Interquartile range over median (0 for fewer than 4 values or a zero median; pure)."""
    if len(values) < 4 or statistics.median(values) <= 0:
        return 0.0
    q1, _, q3 = statistics.quantiles(values, n=4)
    return (q3 - q1) / statistics.median(values)


def summarize(wall: dict[int, list[float]], cpu: dict[int, list[float]]) -> dict:
    """Latency figures from per-size timings in seconds (pure; see the module docstring)."""
    wall_med = {n: statistics.median(v) * 1000 for n, v in wall.items()}
    cpu_med = {n: statistics.median(v) * 1000 for n, v in cpu.items()}
    fixed, per_row = fit_line(wall_med)
    cpu_fixed, cpu_per_row = fit_line(cpu_med)
    largest = max(wall)
    return {
        "ms_per_1000_rows": round(fixed + 1000 * per_row, 3),
        "fixed_ms": round(fixed, 3),
        "per_row_ms": round(per_row, 5),
        "cpu_ms_per_1000_rows": round(cpu_fixed + 1000 * cpu_per_row, 3),
        "contention": round(wall_med[largest] / cpu_med[largest], 2) if cpu_med[largest] > 0 else 1.0,
        "dispersion": round(max(spread(v) for v in wall.values()), 3),
        "median_ms_by_rows": {str(n): round(v, 3) for n, v in wall_med.items()},
    }


def verdict(figures: dict, budget_ms: float) -> str:
    """``pass``, ``over`` or ``inconclusive`` (see the module docstring; pure)."""
    if figures["ms_per_1000_rows"] <= budget_ms:
        return "pass"
    noisy = figures["contention"] > MAX_CONTENTION or figures["dispersion"] > MAX_DISPERSION
    if not noisy or figures["cpu_ms_per_1000_rows"] > CLEAR_FACTOR * budget_ms:
        return "over"
    return "inconclusive"


def measure(model, sample, *, repeats: int = REPEATS) -> dict:
    """Time ``model.predict`` on batches of the sample (see the module docstring)."""
    from threadpoolctl import threadpool_limits

    sizes = sorted({1, max(len(sample) // 4, 1), max(len(sample), 1)})
    batches = {n: sample.head(n) for n in sizes}
    wall: dict[int, list[float]] = {n: [] for n in sizes}
    cpu: dict[int, list[float]] = {n: [] for n in sizes}
    with threadpool_limits(limits=1):
        model.predict(batches[sizes[-1]])  # warm-up: first-call caches, lazy imports
        model.predict(batches[1])
        for _ in range(repeats):
            for n in sizes:
                w, c = time.perf_counter(), time.process_time()
                model.predict(batches[n])
                cpu[n].append(time.process_time() - c)
                wall[n].append(time.perf_counter() - w)
    return summarize(wall, cpu)


def check_in_this_process(model_uri: str, sample_path: str, budget_ms: float, *, rounds: int = ROUNDS) -> dict:
    import mlflow
    import pandas as pd
    from mlflow.exceptions import MlflowException

    started = time.perf_counter()
    model = mlflow.pyfunc.load_model(model_uri)
    load_seconds = time.perf_counter() - started
    sample = pd.read_parquet(sample_path)
    signature = model.metadata.signature
    out: dict = {"model_uri": model_uri, "loaded": True, "load_seconds": round(load_seconds, 3), "rows": len(sample)}
    out["has_signature"] = signature is not None and signature.inputs is not None
    out["predictions"] = len(model.predict(sample))
    out["rounds"] = []
    for k in range(rounds):
        figures = measure(model, sample)
        figures["verdict"] = verdict(figures, budget_ms)
        out["rounds"].append({key: figures[key] for key in ("ms_per_1000_rows", "cpu_ms_per_1000_rows", "contention", "dispersion", "verdict")})
        if figures["verdict"] != "inconclusive" or k == rounds - 1:
            break
        time.sleep(PAUSE_SECONDS)
    out.update(figures)
    out["budget_ms"] = budget_ms
    out["enforces_signature"] = False
    if out["has_signature"]:
        first = signature.inputs.input_names()[0]
        try:
            model.predict(sample.drop(columns=[first]))
        except MlflowException:
            out["enforces_signature"] = True
    return out


def serving_check(model_uri: str, sample: pd.DataFrame, budget_ms: float, *, timeout: float = 300) -> dict:
    """Run the check in a fresh interpreter (the parent's imports and caches do not help it).

    A check that does not finish within ``timeout`` seconds returns ``timed_out: True``: on a
    starved worker that says nothing about the model, so the gate treats it as inconclusive.
    """
    with tempfile.TemporaryDirectory(prefix="serving-check-") as tmp:
        path = Path(tmp) / "sample.parquet"
        sample.to_parquet(path, index=False)
        started = time.perf_counter()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "mlops.promotion.serving", model_uri, str(path), str(budget_ms)],
                capture_output=True,
                text=True,
                timeout=timeout,
                env=os.environ.copy(),
            )
        except subprocess.TimeoutExpired:
            return {"model_uri": model_uri, "loaded": False, "timed_out": True, "error": f"the check did not finish within {timeout:g} s"}
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"model_uri": model_uri, "loaded": False, "error": " | ".join(tail)[-1500:], "process_seconds": round(wall, 1)}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(wall, 1)
    return result


if __name__ == "__main__":  # pragma: no cover - exercised through serving_check
    print(json.dumps(check_in_this_process(sys.argv[1], sys.argv[2], float(sys.argv[3]))))
