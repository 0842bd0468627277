"""Benchmark of mlops.drift.detect_drift, and a comparison with Evidently 0.7's DataDriftPreset.

Usage (from the repository root, with the project virtualenv active)::

    python bench/drift_bench.py                    # 1M rows per side, then Evidently at 100k
    python bench/drift_bench.py --rows 200000 --skip-evidently
    python bench/drift_bench.py --skip-evidently --strings object   # categoricals as object dtype

1. Scale: generates 50 features (40 numeric float64, 10 categorical strings with ~20
   categories; seeded, with drift injected in a known subset) for ``--rows`` rows per side
   inside a fresh subprocess, times ``detect_drift`` there and reads the child's peak RSS
   (``ru_maxrss`` from ``os.wait4``, process total including the data). Goals: <= 2 s and
   <= 2 GB at 1M rows. ``--strings`` picks the categorical columns' dtype: ``str`` (pandas
   3's default, as read from Parquet), ``object``, or ``category`` (converted once with
   ``mlops.drift.as_categories``, as the drift step does; the conversion is timed apart).
2. Evidently: writes the same data at ``--evidently-rows`` rows per side to parquet, runs
   ``DataDriftPreset`` in its own virtualenv (``bench/.venv-evidently``: Evidently 0.7.23
   does not import with pandas 3; created once with uv and reused), runs ``detect_drift`` on
   the same files in another subprocess, and prints both wall times, the ratio and the
   features on which the verdicts differ.

Prints figures only; it fails only when something crashes. Results also go to
``bench/results/drift.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from record import save

BENCH_DIR = Path(__file__).resolve().parent
EVIDENTLY_VENV = BENCH_DIR / ".venv-evidently"
EVIDENTLY_REQUIREMENTS = ["evidently==0.7.23", "pandas<3", "pyarrow"]
GOAL_SECONDS = 2.0
GOAL_BYTES = 2 * 1024**3

N_NUMERIC, N_CATEGORICAL, N_CATEGORIES = 40, 10, 20
NUMERIC = [f"num_{i:02d}" for i in range(N_NUMERIC)]
CATEGORICAL = [f"cat_{i}" for i in range(N_CATEGORICAL)]
# Injected drift (everything else is drawn from the same distribution on both sides):
SHIFT_03 = NUMERIC[0:4]  # mean + 0.3 sd
SCALE_15 = NUMERIC[4:6]  # sd x 1.5
SHIFT_015 = NUMERIC[6:8]  # mean + 0.15 sd
TINY_SHIFT = NUMERIC[8:12]  # mean + 0.02 sd: not drift, though KS flags it at this size
WITH_NULLS = NUMERIC[12:14] + CATEGORICAL[4:5]  # 1-2 % nulls on both sides
EXPECTED_DRIFTED = SHIFT_03 + SCALE_15 + SHIFT_015 + CATEGORICAL[0:3]


# --------------------------------------------------------------------------- data


def make_frames(rows: int, seed: int = 20131104):
    """Reference and current frames of the benchmark shape (deterministic for a seed)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frames = []
    for side in ("reference", "current"):
        columns: dict = {}
        for i, name in enumerate(NUMERIC):
            kind = i % 4
            if kind == 0:
                values, sd = rng.standard_normal(rows), 1.0
            elif kind == 1:
                values, sd = rng.lognormal(0.0, 0.5, rows), 0.6
            elif kind == 2:
                values, sd = rng.exponential(2.0, rows), 2.0
            else:
                values, sd = rng.uniform(-5.0, 5.0, rows), 2.9
            values *= 1.0 + i / 10  # different scales and levels per feature
            values += 10.0 * i
            sd *= 1.0 + i / 10
            if side == "current":
                if name in SHIFT_03:
                    values += 0.3 * sd
                elif name in SHIFT_015:
                    values += 0.15 * sd
                elif name in TINY_SHIFT:
                    values += 0.02 * sd
                elif name in SCALE_15:
                    mean = values.mean()
                    values -= mean
                    values *= 1.5
                    values += mean
            if name in WITH_NULLS:
                values[rng.random(rows) < 0.01] = np.nan
            columns[name] = values
        for j, name in enumerate(CATEGORICAL):
            labels = np.array([f"{name}_v{k:02d}" for k in range(N_CATEGORIES)] + [f"{name}_new"])
            probs = 1.0 / np.arange(1, N_CATEGORIES + 1) ** 0.8
            probs = np.r_[probs / probs.sum(), 0.0]
            if side == "current":
                if j == 0:  # shares reversed
                    probs[:N_CATEGORIES] = probs[:N_CATEGORIES][::-1]
                elif j == 1:  # a new category takes 20 % of the traffic
                    probs *= 0.8
                    probs[-1] = 0.2
                elif j == 2:  # the top category loses most of its share
                    probs[0] *= 0.35
                    probs /= probs.sum()
                elif j == 3:  # a tiny change: not drift
                    probs[0] += 0.005
                    probs /= probs.sum()
            codes = rng.choice(labels.size, size=rows, p=probs)
            col = pd.Series(labels.astype(object)[codes], dtype="str")  # pandas 3 default string dtype, as read from parquet
            if name in WITH_NULLS:
                col = col.mask(rng.random(rows) < 0.02)
            columns[name] = col
            del codes
        frames.append(pd.DataFrame(columns, copy=False))
        del columns
    return frames[0], frames[1]


# --------------------------------------------------------------------------- child: our detector


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _hwm_bytes() -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def child(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    import pandas as pd

    from mlops.config import DriftConfig
    from mlops.drift import detect_drift

    t_import = time.perf_counter() - t0
    t1 = time.perf_counter()
    if args.parquet_dir:
        ref = pd.read_parquet(Path(args.parquet_dir) / "reference.parquet")
        cur = pd.read_parquet(Path(args.parquet_dir) / "current.parquet")
    else:
        ref, cur = make_frames(args.rows, args.seed)
    t_data = time.perf_counter() - t1
    t_convert = 0.0
    if args.strings == "object":
        for frame in (ref, cur):
            for name in CATEGORICAL:
                frame[name] = frame[name].astype(object)
    elif args.strings == "category":
        from mlops.drift import as_categories

        t3 = time.perf_counter()
        ref, cur = as_categories(ref, CATEGORICAL), as_categories(cur, CATEGORICAL)
        t_convert = time.perf_counter() - t3
    data_bytes = int(ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum())
    rss_data = _rss_bytes()
    reset = _reset_hwm()
    t2, c2 = time.perf_counter(), time.process_time()
    result = detect_drift(ref, cur, numeric=NUMERIC, categorical=CATEGORICAL, config=DriftConfig())
    t_detect, c_detect = time.perf_counter() - t2, time.process_time() - c2
    profiled = {}
    if args.profiled:
        from mlops.drift.profile import build_profile, compare_with_profile, load_profile, save_profile

        t4 = time.perf_counter()
        profile = build_profile(ref, numeric=NUMERIC, categorical=CATEGORICAL, config=DriftConfig())
        folder = Path(args.out).with_suffix(".profile")
        save_profile(profile, folder)
        t_build = time.perf_counter() - t4
        del profile
        times, cpus = [], []
        for _ in range(3):  # the nightly step: load the stored profile, compare the current partition with it
            t5, c5 = time.perf_counter(), time.process_time()
            stored = load_profile(folder)
            again = compare_with_profile(stored, cur, numeric=NUMERIC, categorical=CATEGORICAL, config=DriftConfig())
            times.append(time.perf_counter() - t5)
            cpus.append(time.process_time() - c5)
        same = again.drifted_features == result.drifted_features and again.missing_drifted_features == result.missing_drifted_features
        profiled = {
            "profile_build_s": t_build,
            "profiled_s": times,
            "profiled_cpu_s": cpus,
            "profiled_same_flags": same,
            "profile_bytes": sum(f.stat().st_size for f in folder.iterdir()),
        }
    out = {
        **profiled,
        "rows": len(ref),
        "import_s": t_import,
        "data_s": t_data,
        "detect_s": t_detect,
        "convert_s": t_convert,
        "strings": args.strings,
        "detect_cpu_s": c_detect,
        "load_average": os.getloadavg()[0],
        "data_bytes": data_bytes,
        "rss_after_data_bytes": rss_data,
        "peak_during_detect_bytes": _hwm_bytes() if reset else None,
        "result": result.to_dict(),
    }
    Path(args.out).write_text(json.dumps(out))


def _run_measured(cmd: list[str], out: Path, env: dict | None = None) -> tuple[dict, float, int]:
    """Run a child, return (its JSON output, wall seconds, peak RSS bytes from wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed with exit code {proc.returncode}: {' '.join(cmd)}")
    return json.loads(out.read_text()), wall, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux


def _ours(rows: int, seed: int, workdir: Path, parquet_dir: Path | None = None, strings: str = "str", profiled: bool = False) -> tuple[dict, float, int]:
    out = workdir / f"ours-{rows}.json"
    cmd = [sys.executable, __file__, "--child", "--rows", str(rows), "--seed", str(seed), "--out", str(out), "--strings", strings]
    if profiled:
        cmd.append("--profiled")
    if parquet_dir:
        cmd += ["--parquet-dir", str(parquet_dir)]
    return _run_measured(cmd, out)


# --------------------------------------------------------------------------- Evidently


EVIDENTLY_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
import evidently
t_import = time.perf_counter() - t0
folder, out = sys.argv[1], sys.argv[2]
numeric, categorical = json.loads(sys.argv[3]), json.loads(sys.argv[4])
t1 = time.perf_counter()
ref = pd.read_parquet(f"{folder}/reference.parquet")
cur = pd.read_parquet(f"{folder}/current.parquet")
t_data = time.perf_counter() - t1
definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
t2 = time.perf_counter()
snapshot = Report([DataDriftPreset()], include_tests=True).run(
    Dataset.from_pandas(cur, data_definition=definition), Dataset.from_pandas(ref, data_definition=definition)
)
t_run = time.perf_counter() - t2
data = snapshot.dict()
scores, methods, drifted = {}, {}, []
for metric in data["metrics"]:
    cfg = metric["config"]
    if cfg.get("type", "").endswith("ValueDrift"):
        scores[cfg["column"]] = float(metric["value"])
        methods[cfg["column"]] = cfg.get("method")
for test in data["tests"]:
    params = test["metric_config"]["params"]
    if params.get("type", "").endswith("ValueDrift") and test["status"] == "FAIL":
        drifted.append(params["column"])
json.dump({"version": evidently.__version__, "pandas": pd.__version__, "import_s": t_import, "data_s": t_data,
           "run_s": t_run, "scores": scores, "methods": methods, "drifted": sorted(drifted)}, open(out, "w"))
"""


def ensure_evidently_venv() -> Path:
    """Create bench/.venv-evidently once (uv venv + uv pip install); reuse it afterwards."""
    python = EVIDENTLY_VENV / "bin" / "python"
    marker = EVIDENTLY_VENV / ".mlops-bench-ready"
    wanted = " ".join(EVIDENTLY_REQUIREMENTS)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    uv = shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is not on PATH; install it (pip install uv) to let the benchmark build bench/.venv-evidently, or pass --skip-evidently.")
    print(f"preparing {EVIDENTLY_VENV} with {wanted} (once) ...", flush=True)
    if not python.exists():
        subprocess.run([uv, "venv", "--quiet", "--python", f"{sys.version_info.major}.{sys.version_info.minor}", str(EVIDENTLY_VENV)], check=True)
    subprocess.run([uv, "pip", "install", "--quiet", "--python", str(python), *EVIDENTLY_REQUIREMENTS], check=True)
    if not (EVIDENTLY_VENV / ".gitignore").exists():  # uv writes one; keep the venv out of git either way
        (EVIDENTLY_VENV / ".gitignore").write_text("*\n")
    marker.write_text(wanted)
    return python


def compare_with_evidently(rows: int, seed: int, workdir: Path) -> dict:
    python = ensure_evidently_venv()
    ref, cur = make_frames(rows, seed)
    data_dir = workdir / "parquet"
    data_dir.mkdir()
    ref.to_parquet(data_dir / "reference.parquet")
    cur.to_parquet(data_dir / "current.parquet")
    del ref, cur
    script = workdir / "run_evidently.py"
    script.write_text(EVIDENTLY_SCRIPT)
    out = workdir / "evidently.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["DO_NOT_TRACK"] = "1"  # Evidently telemetry off
    print(f"running Evidently DataDriftPreset on {rows:,} rows per side ...", flush=True)
    evid, evid_wall, evid_rss = _run_measured([str(python), str(script), str(data_dir), str(out), json.dumps(NUMERIC), json.dumps(CATEGORICAL)], out, env)
    ours, ours_wall, ours_rss = _ours(rows, seed, workdir, parquet_dir=data_dir)
    our_features = {f["feature"]: f for f in ours["result"]["features"]}
    ours_drifted = set(ours["result"]["drifted_features"])
    evid_drifted = set(evid["drifted"])
    differences = [
        {
            "feature": name,
            "ours": {"drifted": name in ours_drifted, "method": our_features[name]["method"], "score": our_features[name]["score"]},
            "evidently": {"drifted": name in evid_drifted, "method": evid["methods"].get(name), "score": evid["scores"].get(name)},
        }
        for name in sorted(ours_drifted ^ evid_drifted)
    ]
    # The scores differ by definition (Evidently: Wasserstein/std and Jensen-Shannon past 1,000
    # reference rows; ours: see docs/drift.md); the verdicts and the times are compared.
    return {
        "rows": rows,
        "evidently": {**evid, "wall_s": evid_wall, "peak_rss_bytes": evid_rss},
        "ours": {
            "detect_s": ours["detect_s"],
            "detect_cpu_s": ours["detect_cpu_s"],
            "wall_s": ours_wall,
            "peak_rss_bytes": ours_rss,
            "drifted": sorted(ours_drifted),
        },
        "ratio_run": evid["run_s"] / ours["detect_s"],
        "same_verdicts": not differences,
        "differences": differences,
    }


# --------------------------------------------------------------------------- main


def _gb(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1024**3:.2f} GB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per side for the scale run (default 1,000,000)")
    parser.add_argument("--evidently-rows", type=int, default=100_000, help="rows per side for the Evidently comparison (default 100,000)")
    parser.add_argument("--skip-evidently", action="store_true", help="only run the scale benchmark")
    parser.add_argument("--seed", type=int, default=20131104)
    parser.add_argument(
        "--strings",
        choices=["str", "object", "category"],
        default="str",
        help="dtype of the categorical columns in the scale run (default: str, as read from Parquet)",
    )
    parser.add_argument(
        "--profiled",
        action="store_true",
        help="also profile the reference once (mlops.drift.profile), store it, and time the nightly comparison from the stored profile",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--parquet-dir", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0

    results: dict = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as tmp:
        workdir = Path(tmp)
        print(
            f"scale: {args.rows:,} rows per side, {N_NUMERIC} numeric + {N_CATEGORICAL} categorical features ({args.strings} dtype), fresh subprocess",
            flush=True,
        )
        run, wall, peak = _ours(args.rows, args.seed, workdir, strings=args.strings, profiled=args.profiled)
        res = run["result"]
        missed = sorted(set(EXPECTED_DRIFTED) - set(res["drifted_features"]))
        extra = sorted(set(res["drifted_features"]) - set(EXPECTED_DRIFTED))
        print(
            f"  detect_drift wall time      {run['detect_s']:.2f} s   (goal <= {GOAL_SECONDS:.0f} s: {'met' if run['detect_s'] <= GOAL_SECONDS else 'NOT met'}; "
            f"CPU {run['detect_cpu_s']:.2f} s, 1-min load average {run['load_average']:.1f} on {os.cpu_count()} CPUs)"
        )
        print(f"  child peak RSS (ru_maxrss)  {_gb(peak)}   (goal <= 2 GB: {'met' if peak <= GOAL_BYTES else 'NOT met'}; whole process incl. data generation)")
        print(
            f"  peak RSS during detect      {_gb(run['peak_during_detect_bytes'])}   (RSS with data loaded {_gb(run['rss_after_data_bytes'])}, frames {_gb(run['data_bytes'])})"
        )
        if args.strings == "category":
            print(f"  conversion to category dtype {run['convert_s']:.2f} s (both frames, once; not in the detect_drift time)")
        print(f"  data generation {run['data_s']:.1f} s, imports {run['import_s']:.1f} s, child total {wall:.1f} s")
        print(
            f"  verdicts: {len(res['drifted_features'])}/50 drifted, drift_share {res['drift_share']:.2f}; "
            f"expected {len(EXPECTED_DRIFTED)}: missed {missed or 'none'}, unexpected {extra or 'none'}"
        )
        if args.profiled:
            print(
                f"  profiled reference: built and stored once in {run['profile_build_s']:.2f} s ({_gb(run['profile_bytes'])} on disk); "
                f"nightly load + compare {', '.join(f'{t:.2f}' for t in run['profiled_s'])} s (CPU {', '.join(f'{t:.2f}' for t in run['profiled_cpu_s'])} s); "
                f"flags {'the same as' if run['profiled_same_flags'] else 'DIFFERENT from'} detect_drift's"
            )
        results["scale"] = {k: v for k, v in run.items() if k != "result"} | {
            "child_wall_s": wall,
            "child_peak_rss_bytes": peak,
            "drifted": res["drifted_features"],
            "missed": missed,
            "unexpected": extra,
            "goal_time_met": run["detect_s"] <= GOAL_SECONDS,
            "goal_memory_met": peak <= GOAL_BYTES,
        }
        if not args.skip_evidently:
            cmp = compare_with_evidently(args.evidently_rows, args.seed, workdir)
            ev, ours = cmp["evidently"], cmp["ours"]
            print(f"Evidently {ev['version']} (pandas {ev['pandas']}) DataDriftPreset vs detect_drift, {cmp['rows']:,} rows per side:")
            print(f"  Evidently report.run        {ev['run_s']:.2f} s   (process total {ev['wall_s']:.1f} s, peak RSS {_gb(ev['peak_rss_bytes'])})")
            print(f"  detect_drift                {ours['detect_s']:.3f} s   (process total {ours['wall_s']:.1f} s, peak RSS {_gb(ours['peak_rss_bytes'])})")
            print(f"  ratio                       {cmp['ratio_run']:.0f}x")
            print(f"  Evidently flags {len(ev['drifted'])}: {ev['drifted']}")
            print(f"  we flag        {len(ours['drifted'])}: {ours['drifted']}")
            if cmp["same_verdicts"]:
                print("  same verdicts on all 50 features")
            for d in cmp["differences"]:
                print(f"  DIFFERENT {d['feature']}: ours {d['ours']}, Evidently {d['evidently']}")
            results["evidently"] = cmp
    save("drift", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
