"""Parse time of the DAG files: fresh interpreter to DAG objects.

Usage (from the repository root)::

    . .venv/bin/activate && . scripts/env.sh && python bench/parse_bench.py
    python bench/parse_bench.py --repeat 10 dags/mlops_nightly_training.py

For each ``dags/*.py`` (or the files given), ``--repeat`` fresh interpreters (default 5) each
measure

(a) ``import airflow.sdk`` alone (what a parsing process has paid before it reads a file),
(b) executing the DAG file after that import (``runpy.run_path``): what the DAG file itself
    costs, its own imports included. Goal: under 0.5 s per file;
(c) executing it a second time in the same process (imports cached: the cost of building the
    DAG objects alone);

and the parent records the total from starting the interpreter to having the DAG objects.
One more run under ``python -X importtime`` lists the modules the DAG file's execution
imported that took most time (top 5 by cumulative and by self time).

Parsing needs no Airflow home of its own: it reads no metadata DB and writes no
``airflow.cfg``; the only side effect of ``import airflow.sdk`` is creating
``$AIRFLOW_HOME`` and ``$AIRFLOW_HOME/logs`` when they are missing (the bench checks and
reports what it created). Without ``scripts/env.sh`` sourced, the bench sources it itself.

``--compare-bytecode-cache`` measures everything again with Python's bytecode cache on: the
virtualenv holds no ``.pyc`` files and this machine exports ``PYTHONDONTWRITEBYTECODE=1``, so
every fresh interpreter compiles every module it imports from source. The comparison writes
the cache to a throw-away ``PYTHONPYCACHEPREFIX`` and leaves ``.venv`` untouched.

Prints figures with the 1-minute load average next to each (others share this machine);
fails only when something crashes or a DAG file does not import. Results also go to
``bench/results/parse.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(BENCH_DIR))  # also when a test imports this file
from record import RESULTS, save  # noqa: E402

GOAL_SECONDS = 0.5
MARK = "MLOPS-BENCH-MARK"

# Runs in a fresh interpreter: argv[1] = DAG file. Prints one JSON line on stdout.
CHILD = r"""
import json, sys, time
t0 = time.monotonic()
import runpy
import airflow.sdk
t1 = time.monotonic()
sys.stderr.write("@MARK@\n")
sys.stderr.flush()
g = runpy.run_path(sys.argv[1])
t2 = time.monotonic()
runpy.run_path(sys.argv[1])
t3 = time.monotonic()
from airflow.sdk import DAG
dags = sorted(v.dag_id for v in g.values() if isinstance(v, DAG))
print(json.dumps({"started": t0, "import_sdk": t1 - t0, "run_path": t2 - t1, "run_path_again": t3 - t2,
                  "done": t2, "dags": dags}))
""".replace("@MARK@", MARK)


def env_sh_environment(overrides: dict[str, str] | None = None) -> dict[str, str]:
    """``os.environ`` + ``overrides``, completed by ``scripts/env.sh`` (it sets only what is unset)."""
    env = {**os.environ, **(overrides or {})}
    out = subprocess.run(
        ["bash", "-c", 'set -a; . "$1"; env -0', "bash", str(ROOT / "scripts" / "env.sh")],
        env=env,
        capture_output=True,
        check=True,
    ).stdout
    return dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def _tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()


def sample(dag_file: Path, env: dict[str, str]) -> dict:
    """One fresh interpreter: its figures and the total from spawn to DAG objects."""
    spawned = time.monotonic()  # CLOCK_MONOTONIC is system-wide on Linux: comparable with the child's
    proc = subprocess.run([sys.executable, "-c", CHILD, str(dag_file)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"parse_bench: {dag_file.name} failed in a fresh interpreter:\n{proc.stderr[-3000:]}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    got["interpreter_start"] = got.pop("started") - spawned
    got["total"] = got.pop("done") - spawned
    got["load1"] = load1()
    return got


def import_profile(dag_file: Path, env: dict[str, str], top: int = 5) -> dict:
    """Modules imported while the DAG file executed, from ``-X importtime`` (microseconds -> seconds)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", CHILD, str(dag_file)], env=env, capture_output=True, text=True)
    lines = proc.stderr.splitlines()
    after = lines[lines.index(MARK) + 1 :] if MARK in lines else []
    rows = []
    for line in after:
        if not line.startswith("import time:") or "|" not in line:
            continue
        self_us, cum_us, name = line.split(":", 1)[1].split("|", 2)
        if not self_us.strip().isdigit():
            continue  # the header line
        name = name[1:]  # one space after the bar, then two per nesting level
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append({"module": name.strip(), "depth": depth, "self": int(self_us) / 1e6, "cumulative": int(cum_us) / 1e6})
    first_level = [r for r in rows if r["depth"] == min((r["depth"] for r in rows), default=0)]
    return {
        "modules_imported": len(rows),
        "top_level_total": sum(r["cumulative"] for r in first_level),
        "by_cumulative": sorted(rows, key=lambda r: -r["cumulative"])[:top],
        "by_self": sorted(rows, key=lambda r: -r["self"])[:top],
        "load1": load1(),
    }


def measure(dag_file: Path, env: dict[str, str], repeat: int, top: int) -> dict:
    runs = [sample(dag_file, env) for _ in range(repeat)]
    b = [r["run_path"] for r in runs]
    return {
        "dags": runs[0]["dags"],
        "runs": runs,
        "import_sdk_median": statistics.median(r["import_sdk"] for r in runs),
        "run_path_median": statistics.median(b),
        "run_path_max": max(b),
        "run_path_again_median": statistics.median(r["run_path_again"] for r in runs),
        "interpreter_start_median": statistics.median(r["interpreter_start"] for r in runs),
        "total_median": statistics.median(r["total"] for r in runs),
        "total_max": max(r["total"] for r in runs),
        "goal_met": max(b) < GOAL_SECONDS,
        "load1": [r["load1"] for r in runs],
        "imports": import_profile(dag_file, env, top),
    }


def report(name: str, entry: dict) -> None:
    b = [r["run_path"] for r in entry["runs"]]
    loads = f"load {min(entry['load1']):.2f}-{max(entry['load1']):.2f}"
    print(f"{name}: DAGs {', '.join(entry['dags']) or '(none)'}")
    print(
        f"  (b) DAG file after import airflow.sdk: median {entry['run_path_median']:.3f} s, max {entry['run_path_max']:.3f} s "
        f"(goal < {GOAL_SECONDS} s: {'met' if entry['goal_met'] else 'NOT met'}); runs "
        f"{', '.join(f'{x:.3f}' for x in b)} s  [{loads}]"
    )
    print(f"  (a) import airflow.sdk alone:         median {entry['import_sdk_median']:.3f} s  [{loads}]")
    print(f"  (c) DAG file again, same process:     median {entry['run_path_again_median']:.3f} s (DAG construction, imports cached)")
    print(
        f"  fresh interpreter to DAG objects:     median {entry['total_median']:.3f} s, max {entry['total_max']:.3f} s "
        f"(interpreter start {entry['interpreter_start_median']:.3f} s)  [{loads}]"
    )
    imp = entry["imports"]
    print(f"  imports during (b), -X importtime: {imp['modules_imported']} modules, top level sum {imp['top_level_total']:.3f} s [load {imp['load1']:.2f}]")
    print("    by cumulative:  " + "; ".join(f"{r['module']} {r['cumulative'] * 1000:.0f} ms" for r in imp["by_cumulative"]))
    print("    by self:        " + "; ".join(f"{r['module']} {r['self'] * 1000:.0f} ms" for r in imp["by_self"]))
    print()


def generate_configs(folder: Path, n: int) -> None:
    """``n`` valid variants of the synthetic config, scheduled daily, each with its own name and DAG ids (3 DAGs each)."""
    import yaml

    base = yaml.safe_load((ROOT / "include" / "datasets" / "synthetic.yaml").read_text())
    base.pop("scoring", None)  # nightly, promotion and rollback DAGs only
    if base.get("promotion", {}).get("shadow"):  # the shadow soak needs the scoring section just dropped
        base["promotion"]["shadow"] = {**base["promotion"]["shadow"], "enabled": False}
    for i in range(n):
        name = f"variant_{i:03d}"
        raw = {
            **base,
            "name": name,
            "dag": {
                "dag_id": f"mlops_nightly_training_{name}",
                "promotion_dag_id": f"mlops_model_promotion_{name}",
                "rollback_dag_id": f"mlops_model_rollback_{name}",
                "schedule": "@daily",
            },
        }
        raw["source"] = {**base["source"], "options": {**base["source"]["options"], "seed": i}}
        (folder / f"{name}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def many_configs(args: argparse.Namespace, env: dict[str, str]) -> int:
    """Every DAG file parsed with ``--configs`` generated configs: cold (no cached scan) and warm, fresh interpreters."""
    import shutil

    files = [f.resolve() for f in args.files] or sorted((ROOT / "dags").glob("*.py"))
    with tempfile.TemporaryDirectory(prefix="parse-bench-configs.") as tmp:
        folder, home = Path(tmp) / "datasets", Path(tmp) / "home"
        folder.mkdir()
        generate_configs(folder, args.configs)
        env = {**env, "MLOPS_DATASETS_DIR": str(folder), "MLOPS_HOME": str(home)}
        print(
            f"parse_bench: {args.configs} generated dataset configs in {folder}; {len(files)} DAG files, {args.repeat} fresh "
            f"interpreters each; load average {os.getloadavg()[0]:.2f}\n"
        )
        results: dict = {"configs": args.configs, "files": {}}
        for state in ("cold", "warm"):
            total = 0.0
            for dag_file in files:
                runs = []
                for _ in range(args.repeat):
                    if state == "cold":
                        shutil.rmtree(home / "cache" / "dagspec", ignore_errors=True)
                    runs.append(sample(dag_file, env))
                b = statistics.median(r["run_path"] for r in runs)
                total += b
                results["files"].setdefault(dag_file.name, {})[state] = {
                    "run_path_median": b,
                    "dags": len(runs[0]["dags"]),
                    "runs": [r["run_path"] for r in runs],
                    "load1": [r["load1"] for r in runs],
                }
                shown = ", ".join(f"{r['run_path']:.2f}" for r in runs)
                loads = [r["load1"] for r in runs]
                print(
                    f"  {state:4} {dag_file.name:32} {len(runs[0]['dags']):4d} DAGs  (b) median {b:.3f} s  runs {shown}  "
                    f"[load {min(loads):.1f}-{max(loads):.1f}]"
                )
            results[f"sum_{state}"] = total
            print(f"  {state:4} sum over the DAG files of (b): {total:.2f} s\n")
    out = args.out if args.out != RESULTS / "parse.json" else RESULTS / f"parse-{args.configs}-configs.json"
    save(out, results)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", type=Path, help="DAG files (default: dags/*.py)")
    ap.add_argument("--repeat", "-n", type=int, default=5, help="fresh interpreters per file (default 5)")
    ap.add_argument("--top", type=int, default=5, help="modules listed from -X importtime (default 5)")
    ap.add_argument(
        "--compare-bytecode-cache",
        action="store_true",
        help="measure again with Python's bytecode cache on, in a throw-away PYTHONPYCACHEPREFIX (warmed by one run); the virtualenv is not touched",
    )
    ap.add_argument(
        "--configs",
        type=int,
        default=0,
        help="parse with this many generated dataset configs (variants of synthetic.yaml, 3 DAGs each) instead of the shipped "
        "ones; prints the sum over the DAG files with the scan cache cold and warm",
    )
    ap.add_argument("--out", type=Path, default=RESULTS / "parse.json")
    args = ap.parse_args(argv)

    env = dict(os.environ) if os.environ.get("MLOPS_ROOT") else env_sh_environment()
    if args.configs:
        return many_configs(args, env)
    files = [f.resolve() for f in args.files] or sorted((ROOT / "dags").glob("*.py"))
    home = Path(env["AIRFLOW_HOME"])
    before = _tree(home)
    print(f"parse_bench: {len(files)} DAG file(s), {args.repeat} fresh interpreters each; {sys.executable}")
    print(
        f"parse_bench: AIRFLOW_HOME={home} (exists: {home.exists()}); "
        f"PYTHONDONTWRITEBYTECODE={env.get('PYTHONDONTWRITEBYTECODE', '')!r}; load average {os.getloadavg()[0]:.2f}\n"
    )

    results = {"goal_seconds": GOAL_SECONDS, "repeat": args.repeat, "python": sys.version.split()[0], "files": {}}
    for dag_file in files:
        entry = results["files"][dag_file.name] = measure(dag_file, env, args.repeat, args.top)
        report(dag_file.name, entry)

    if args.compare_bytecode_cache:
        with tempfile.TemporaryDirectory(prefix="parse-bench-pycache.") as prefix:
            cached_env = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"} | {"PYTHONPYCACHEPREFIX": prefix}
            results["with_bytecode_cache"] = {}
            print("--- again with the bytecode cache on (throw-away PYTHONPYCACHEPREFIX, warmed by one run per file) ---\n")
            for dag_file in files:
                sample(dag_file, cached_env)  # writes the .pyc files
                entry = results["with_bytecode_cache"][dag_file.name] = measure(dag_file, cached_env, args.repeat, args.top)
                report(f"{dag_file.name} (bytecode cache)", entry)

    created = sorted(_tree(home) - before)
    results["airflow_home"] = {"path": str(home), "created_by_parsing": created}
    print(f"parse_bench: files created under AIRFLOW_HOME by parsing: {created or 'none'}")
    save(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
