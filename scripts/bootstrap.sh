#!/usr/bin/env bash
# Creates .venv with the locked dependencies (runtime + development tools: requirements-dev.lock)
# and the project installed in editable mode.
# Safe to run repeatedly: it does nothing when the lock and pyproject have not changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if ! command -v uv >/dev/null 2>&1; then
  "$PY" -m pip install --quiet --disable-pip-version-check uv
fi
stamp=.venv/.installed
want=$(cat requirements.lock requirements-dev.lock pyproject.toml "$0" | sha256sum | cut -c1-16)
if [[ -x .venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
  exit 0
fi
# --seed: pip inside the venv (MLflow records its version with each model).
[[ -x .venv/bin/python ]] || uv venv --quiet --seed --python "$PY" .venv
uv pip install --quiet --python .venv/bin/python -r requirements-dev.lock
[[ -x .venv/bin/pip ]] || uv pip install --quiet --python .venv/bin/python pip
uv pip install --quiet --python .venv/bin/python --no-deps -e .
# Bytecode for every installed module: each Airflow task is a fresh process, and without .pyc
# files (this machine sets PYTHONDONTWRITEBYTECODE) it recompiles what it imports every time
# (import airflow.sdk: 3.0 s uncompiled vs 1.5 s compiled).
.venv/bin/python -m compileall -q -j 0 .venv/lib/python3.*/site-packages >/dev/null 2>&1 || true
echo "$want" > "$stamp"
echo "bootstrap: .venv ready ($(.venv/bin/python --version))"
