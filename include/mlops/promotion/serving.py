"""Serving check: load a registered model in a fresh process, as a server would, and time it.

Run as ``python -m mlops.promotion.serving MODEL_URI SAMPLE.parquet`` it prints one JSON
line: whether the model loaded from the registry, whether it has a signature and enforces
it (an input without one of its columns must be refused), and the prediction time per
1,000 rows (best of three).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def check_in_this_process(model_uri: str, sample_path: str) -> dict:
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
    preds = model.predict(sample)
    out["predictions"] = len(preds)
    timings = []
    for _ in range(3):
        t = time.perf_counter()
        model.predict(sample)
        timings.append(time.perf_counter() - t)
    out["ms_per_1000_rows"] = round(min(timings) * 1000 * 1000 / max(len(sample), 1), 3)
    out["enforces_signature"] = False
    if out["has_signature"]:
        first = signature.inputs.input_names()[0]
        try:
            model.predict(sample.drop(columns=[first]))
        except MlflowException:
            out["enforces_signature"] = True
    return out


def serving_check(model_uri: str, sample: pd.DataFrame, *, timeout: float = 300) -> dict:
    """Run the check in a fresh interpreter (the parent's imports and caches do not help it)."""
    with tempfile.TemporaryDirectory(prefix="serving-check-") as tmp:
        path = Path(tmp) / "sample.parquet"
        sample.to_parquet(path, index=False)
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "mlops.promotion.serving", model_uri, str(path)],
            capture_output=True, text=True, timeout=timeout, env=os.environ.copy(),
        )
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"model_uri": model_uri, "loaded": False, "error": " | ".join(tail)[-1500:], "process_seconds": round(wall, 1)}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(wall, 1)
    return result


if __name__ == "__main__":  # pragma: no cover - exercised through serving_check
    print(json.dumps(check_in_this_process(sys.argv[1], sys.argv[2])))
