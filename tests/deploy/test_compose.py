"""docker-compose.yaml describes what the native production profile runs (and what its test starts).

Docker does not run on every machine, so these checks hold the compose file to the natively
tested profile: the same components and command lines (scripts/run.sh commands), the same
settings keys (scripts/profile-prod.sh via scripts/env.sh), the same pinned versions
(requirements.lock through the Dockerfile), and the same start-up steps.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
SERVICES = COMPOSE["services"]
#: native component (scripts/run.sh) -> compose service
COMPONENTS = {
    "mlflow": "mlflow",
    "api-server": "airflow-apiserver",
    "scheduler": "airflow-scheduler",
    "dag-processor": "airflow-dag-processor",
    "triggerer": "airflow-triggerer",
    "worker-default": "airflow-worker-default",
    "worker-training": "airflow-worker-training",
}
#: set natively only, with the reason: paths and hosts of one machine that compose sets per container
NATIVE_ONLY = {
    "MLOPS_ROOT": "the checkout; the image has /opt/mlops as its working directory",
}


def _clean_env() -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}


def _resolve(value: str) -> str:
    """A compose ``${VAR:-default}`` / ``${VAR:?msg}`` as the default the native profile uses."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*)|:\?[^}]*)?\}", lambda m: m.group(2) if m.group(2) is not None else f"<{m.group(1)}>", value)


def _native_commands() -> dict[str, dict]:
    env = {**_clean_env(), "MLOPS_PROFILE": "prod", "MLOPS_ENV_FILE": str(ROOT / ".env.example")}
    out = subprocess.run(["bash", "scripts/run.sh", "commands"], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    return {c["name"]: c for c in map(json.loads, out.splitlines())}


def _normalise(argv: list[str]) -> list[str]:
    """Host and port values differ by design (loopback natively, all interfaces in a container; paths)."""
    out, skip = [], False
    for _i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        out.append(arg)
        if arg in {"--host", "-H", "--port", "-p", "--artifacts-destination"}:
            out.append("<value>")
            skip = True
    return out


def test_every_native_component_is_a_compose_service_with_the_same_command():
    native = _native_commands()
    assert set(native) == set(COMPONENTS)
    for name, service in COMPONENTS.items():
        compose_argv = [_resolve(a) for a in SERVICES[service]["command"]]
        assert _normalise(compose_argv) == _normalise(native[name]["argv"]), f"{name} vs compose service {service}"
        env = SERVICES[service]["environment"]
        assert [f"{k}={env[k]}" for k in ("MLOPS_WORKER_NAME",) if k in env] == native[name]["env"], service


def test_compose_sets_the_settings_the_native_profile_sets():
    script = 'before=$(compgen -e | sort); MLOPS_PROFILE=prod . scripts/env.sh; comm -13 <(echo "$before") <(compgen -e | sort)'
    env = {**_clean_env(), "MLOPS_ENV_FILE": str(ROOT / ".env.example")}
    native = set(subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout.split())
    env_file = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines() if re.match(r"^[A-Z][A-Z0-9_]*=", line)}
    compose = set(COMPOSE["x-airflow-env"]) | env_file
    assert native - compose - set(NATIVE_ONLY) == set(), "set natively but not in docker-compose.yaml or .env.example"
    assert compose - native - {"MLOPS_PROFILE"} == set(), "set in docker-compose.yaml but not by the native profile"
    # Every Airflow service reads the shared environment and the settings file.
    for service in [*COMPONENTS.values(), "airflow-init", "mlflow-init"]:
        spec = SERVICES[service]
        assert spec["env_file"] == ".env" and set(COMPOSE["x-airflow-env"]) <= set(spec["environment"]), service


def test_no_secret_has_a_value_in_the_repository():
    example = dict(line.split("=", 1) for line in (ROOT / ".env.example").read_text().splitlines() if re.match(r"^[A-Z][A-Z0-9_]*=", line))
    secrets = [k for k in example if re.search(r"PASSWORD|SECRET|FERNET", k)]
    assert secrets and all(example[k] == "" for k in secrets), {k: "<set>" for k in secrets if example[k]}
    for key, value in COMPOSE["x-airflow-env"].items():
        if re.search(r"(PASSWORD|SECRET|SECRET_KEY|FERNET_KEY)$", key):
            assert re.fullmatch(r"\$\{\w+(:\?[^}]*)?\}", str(value)), f"{key} must come from .env, with no default"


def test_versions_come_from_the_lock_the_tests_use():
    dockerfile = (ROOT / "Dockerfile").read_text()
    python = re.search(r"^FROM python:(\d+\.\d+)", dockerfile, re.M)
    assert python and python.group(1) == "3.11"
    assert "pip install -r requirements.lock" in dockerfile
    lock = (ROOT / "requirements.lock").read_text()
    for pin in ("apache-airflow", "apache-airflow-providers-celery", "mlflow", "great-expectations", "psycopg2-binary", "redis"):
        assert re.search(rf"^{re.escape(pin)}==", lock, re.M), f"{pin} is not pinned in requirements.lock"
    built = [s for s, spec in SERVICES.items() if spec.get("build")]
    assert set(built) >= set(COMPONENTS.values()) and {SERVICES[s]["image"] for s in built} == {"mlops-airflow:latest"}
    assert SERVICES["postgres"]["image"] == "postgres:15" and SERVICES["redis"]["image"] == "redis:7"


def test_start_up_steps_match_scripts_run_sh():
    run_sh = (ROOT / "scripts" / "run.sh").read_text()
    init = " ".join(SERVICES["airflow-init"]["command"])
    for step in ("python scripts/prod_setup.py check --create-databases", "airflow db migrate", "python scripts/load_settings.py"):
        assert step in init and step.split(" ", 1)[1] in run_sh, step
    assert SERVICES["mlflow-init"]["command"] == ["python", "scripts/prod_setup.py", "mlflow-user"]
    assert "prod_setup.py mlflow-user" in run_sh
    for service in COMPONENTS.values():
        if service != "mlflow":
            assert SERVICES[service]["depends_on"]["mlflow-init"]["condition"] == "service_completed_successfully"
            assert "healthcheck" in SERVICES[service], service


@pytest.mark.parametrize("service", sorted(set(SERVICES)))
def test_ports_are_published_on_loopback_only(service):
    for port in SERVICES[service].get("ports", []):
        assert str(port).startswith("127.0.0.1:"), f"{service} publishes {port}"
