"""``pip install`` of the product (not editable) into a clean virtualenv gives a working Airflow add-on.

The virtualenv gets the project from its pyproject alone, constrained to the tested set
(requirements.lock), the way a team installs it into an existing Airflow image. In it, with an
empty plugins folder: Airflow lists the provider and its extra links, loads the plugin with the
timetable from the package's entry point, the operators, sensors and triggers import, and the
product's code comes from site-packages, not from this checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH; scripts/bootstrap.sh installs it")
    where = tmp_path_factory.mktemp("install") / "venv"
    subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(where)], check=True, timeout=120)
    # A copy of the sources without the editable install's metadata, as a release would ship them.
    src = where.parent / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", ".airflow*", "*.egg-info", "__pycache__", "test-artifacts", "bench"))
    proc = subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(where / "bin" / "python"), str(src), "-c", str(ROOT / "requirements.lock")],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return where


def _airflow_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "MLOPS_", "PYTHONPATH"))}
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    env |= {
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    return env


def test_clean_install_brings_provider_plugin_and_operators(venv, tmp_path):
    env = _airflow_env(tmp_path)
    bin_ = venv / "bin"
    providers = subprocess.run([bin_ / "airflow", "providers", "list", "-o", "json"], env=env, capture_output=True, text=True, timeout=300)
    assert providers.returncode == 0, providers.stderr[-2000:]
    assert "mlops-pipeline" in {p["package_name"] for p in json.loads(providers.stdout)}
    links = subprocess.run([bin_ / "airflow", "providers", "links", "-o", "json"], env=env, capture_output=True, text=True, timeout=300)
    assert "mlops.airflow.operators.MlflowModelVersionLink" in links.stdout
    plugins = subprocess.run([bin_ / "airflow", "plugins", "-o", "json"], env=env, capture_output=True, text=True, timeout=300)
    assert plugins.returncode == 0, plugins.stderr[-2000:]
    (mlops,) = [p for p in json.loads(plugins.stdout) if p["name"] == "mlops"]
    assert mlops["timetables"] == ["mlops.airflow.timetables.PartitionIntervalTimetable"]
    assert "airflow.plugins" in mlops["source"]
    code = (
        "import mlops, pathlib\n"
        "from mlops.airflow.operators import RegisterModelOperator, PromoteModelOperator, PolicyReportOperator\n"
        "from mlops.airflow.sensors import ChallengerSensor, PreviousRunSensor\n"
        "from mlops.airflow.triggers import ChallengerTrigger, PreviousRunTrigger\n"
        "from mlops.airflow.timetables import PartitionIntervalTimetable\n"
        "print(pathlib.Path(mlops.__file__).resolve())\n"
    )
    where = subprocess.run([bin_ / "python", "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert where.returncode == 0, where.stderr[-2000:]
    assert str(venv) in where.stdout and str(ROOT) not in where.stdout
    tools = subprocess.run([bin_ / "python", "-c", "import pytest"], capture_output=True, timeout=60)
    assert tools.returncode != 0, "the runtime install must not bring test tools"
