"""Packaging: declared dependencies cover every import, agree with the locks, and the provider is valid.

The slow counterpart, a real ``pip install`` into a clean virtualenv, is tests/e2e/test_install.py.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
#: Test and lint tools: never in the runtime lock (the production image installs only that).
DEV_TOOLS = ("pytest", "pytest-timeout", "playwright", "ruff", "aiosmtpd")


def locked(path: str) -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;]+)", (ROOT / path).read_text(), re.M)
    return {canonicalize_name(name.split("[")[0]): version for name, version in pins}


#: Modules only the production profile loads (the Celery workers): they may import its extra's packages.
PROD_ONLY = ("airflow/celery_*.py",)


def third_party_imports(paths) -> set[str]:
    """Top-level modules imported in ``paths`` that are neither stdlib nor the package itself."""
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("mlops", "__future__")}


@pytest.mark.parametrize("part", ["core", "prod"])
def test_every_third_party_import_is_a_declared_dependency(part):
    package = ROOT / "include" / "mlops"
    prod_only = {p for pattern in PROD_ONLY for p in package.glob(pattern)}
    declared = {canonicalize_name(Requirement(r).name) for r in PROJECT["dependencies"]}
    if part == "prod":
        paths = prod_only
        declared |= {canonicalize_name(Requirement(r).name) for r in PROJECT["optional-dependencies"]["prod"]}
    else:
        paths = set(package.rglob("*.py")) - prod_only
    dists = packages_distributions()
    missing = {}
    for module in sorted(third_party_imports(paths)):
        owners = {canonicalize_name(d) for d in dists.get(module, [])}
        if not owners & declared:
            missing[module] = sorted(owners) or ["not installed"]
    assert paths and not missing, f"imported but not declared in [project].dependencies{' or the prod extra' * (part == 'prod')}: {missing}"


@pytest.mark.parametrize("group", ["dependencies", "prod", "test"])
def test_declared_ranges_admit_the_locked_versions(group):
    reqs = PROJECT["dependencies"] if group == "dependencies" else PROJECT["optional-dependencies"][group]
    lock = locked("requirements-dev.lock") if group == "test" else locked("requirements.lock")
    problems = []
    for line in reqs:
        req = Requirement(line)
        version = lock.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req.name}: not in the lock")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req.name}: locked {version} is outside {req.specifier}")
    assert not problems, problems


def test_runtime_lock_carries_no_test_tools():
    runtime = locked("requirements.lock")
    assert not [t for t in DEV_TOOLS if t in runtime], "the production image installs requirements.lock: keep test tools out"
    assert all(t in locked("requirements-dev.lock") for t in DEV_TOOLS)
    assert "pip install -r requirements.lock" in (ROOT / "Dockerfile").read_text()


def test_dev_lock_pins_the_runtime_lock():
    runtime, dev = locked("requirements.lock"), locked("requirements-dev.lock")
    differ = {k: (v, dev.get(k)) for k, v in runtime.items() if dev.get(k) != v}
    assert not differ, f"requirements-dev.lock must pin the same versions as requirements.lock (make lock): {differ}"


def test_provider_info_matches_airflow_schema_and_names_real_classes():
    import importlib

    import jsonschema
    from airflow import __file__ as airflow_init

    from mlops.airflow.provider import PACKAGE, get_provider_info

    info = get_provider_info()
    schema = json.loads((Path(airflow_init).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)
    assert info["package-name"] == canonicalize_name(PROJECT["name"]) == PACKAGE
    for path in info["extra-links"] + info["notifications"]:
        module, _, name = path.rpartition(".")
        assert hasattr(importlib.import_module(module), name), path
    for kind in ("operators", "sensors", "triggers"):
        for entry in info[kind]:
            for module in entry["python-modules"]:
                importlib.import_module(module)


def test_entry_points_name_the_provider_and_the_plugin():
    eps = PROJECT["entry-points"]
    assert eps["apache_airflow_provider"] == {"provider_info": "mlops.airflow.provider:get_provider_info"}
    assert eps["airflow.plugins"] == {"mlops": "mlops.airflow.plugin:MlopsPlugin"}
    assert not list((ROOT / "plugins").glob("*.py")), "a plugin file in plugins/ would register the plugin twice"
