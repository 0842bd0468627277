"""One declaration of every environment variable: the code, the scripts, .env.example and the docs agree with it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from mlops.errors import ConfigError
from mlops.settings import AIRFLOW_PASSWORD_PREFIX, Settings, reference_markdown

ROOT = Path(__file__).resolve().parents[2]
DECLARED = Settings.variables()
#: Files outside the Python package that name the product's variables.
OUTSIDE = [
    *sorted((ROOT / "scripts").glob("*.sh")),
    *sorted((ROOT / "scripts").glob("*.py")),
    ROOT / ".env.example",
    ROOT / "docker-compose.yaml",
    ROOT / "Dockerfile",
    ROOT / "Makefile",
    ROOT / ".ci" / "run",
]
OURS = re.compile(r"\b((?:MLOPS|POSTGRES|REDIS)_[A-Z0-9_]+)\b")
#: Variables of other programs that happen to share a prefix (the postgres image's own database).
NOT_OURS = {"POSTGRES_DB"}


def declared(name: str) -> bool:
    return name in DECLARED or name.startswith(AIRFLOW_PASSWORD_PREFIX)


def _env_reads(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, name)`` of every os.environ.get / os.getenv / os.environ[...] read of a literal name."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            f = ast.unparse(node.func)
            if f in ("os.environ.get", "os.getenv", "environ.get", "env.get"):
                found.append((node.lineno, node.args[0].value))
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Load)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.slice, ast.Constant)
        ):
            found.append((node.lineno, node.slice.value))
    return found


def test_the_product_reads_variables_only_through_settings():
    offenders = []
    for folder in ("include/mlops", "dags", "plugins"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.name == "settings.py":
                continue
            for line, name in _env_reads(ast.parse(path.read_text())):
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {name}")
    assert not offenders, "read these through mlops.settings.Settings (declare the variable there):\n" + "\n".join(offenders)


def test_every_variable_the_scripts_and_compose_name_is_declared():
    undeclared = {}
    for path in OUTSIDE:
        for name in set(OURS.findall(path.read_text())):
            if not declared(name) and name not in NOT_OURS:
                undeclared.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert not undeclared, f"declare these in include/mlops/settings.py (with a default and a description): {undeclared}"


def test_every_declared_variable_is_used_somewhere():
    text = "\n".join(p.read_text() for p in OUTSIDE) + "\n".join(
        p.read_text() for folder in ("include/mlops", "dags") for p in (ROOT / folder).rglob("*.py") if p.name != "settings.py"
    )
    unused = [env for env, (name, _) in DECLARED.items() if env not in text and f'"{name}"' not in text and not env.endswith("<USER>")]
    assert not unused, f"declared but read nowhere: {unused}"


def test_production_settings_are_all_in_env_example():
    example = (ROOT / ".env.example").read_text()
    keys = set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
    derived = {"MLOPS_MLFLOW_AUTH_DB_URI"}  # scripts/profile-prod.sh builds it from the others
    missing = [env for env, (_, extra) in DECLARED.items() if extra["scope"] == "profile" and env not in keys | derived and not env.endswith("<USER>")]
    assert not missing, f".env.example lacks {missing}"
    assert any(k.startswith(AIRFLOW_PASSWORD_PREFIX) for k in keys)


def _script_defaults() -> dict[str, set[str]]:
    """Literal defaults the scripts give: `_mlops_default NAME value`, `_mlops_prod NAME value`, `${NAME:-value}`."""
    out: dict[str, set[str]] = {}
    env_sh = (ROOT / "scripts" / "env.sh").read_text()
    prod_sh = (ROOT / "scripts" / "profile-prod.sh").read_text()
    for text, word in ((env_sh, "_mlops_default"), (prod_sh, "_mlops_prod")):
        for name, value in re.findall(rf"^{word} ([A-Z0-9_]+) ([^$\s\"']+)$", text, re.M):
            if word == "_mlops_default" or DECLARED.get(name, ("", {"scope": ""}))[1]["scope"] == "profile":
                out.setdefault(name, set()).add(value)
    for path in ROOT.glob("scripts/*.sh"):
        if path.name == "test.sh":  # the test harness sets its own values on purpose
            continue
        for name, value in re.findall(r"\$\{([A-Z0-9_]+):-([^$}]+)\}", path.read_text()):
            if DECLARED.get(name, ("", {"scope": ""}))[1]["scope"] in ("stack", "runtime"):
                out.setdefault(name, set()).add(value)
    return out


def test_scripts_give_the_declared_defaults():
    wrong = {}
    for env, values in _script_defaults().items():
        if env not in DECLARED:
            continue
        field = Settings.model_fields[DECLARED[env][0]]
        expected = "" if field.default is None else str(field.default)
        if values != {expected} and not (env == "MLOPS_MLFLOW_WORKERS" and values == {"1", "2"}):  # 2 in the production profile
            wrong[env] = (sorted(values), expected)
    assert not wrong, f"the scripts' defaults differ from include/mlops/settings.py: {wrong}"


def test_docs_settings_page_is_current():
    assert (ROOT / "docs" / "settings.md").read_text() == reference_markdown(), (
        "regenerate: python -c 'from mlops.settings import reference_markdown; print(reference_markdown(), end=\"\")' > docs/settings.md"
    )


def test_values_are_typed_and_bad_values_say_which_variable():
    env = {"MLOPS_HOME": "/tmp/h", "MLFLOW_TRACKING_URI": "sqlite:///x.db", "MLOPS_REQUIRE_APPROVAL": "yes", "MLOPS_UI_MLFLOW_TIMEOUT": "2.5"}
    s = Settings.from_env(env)
    assert s.require_approval is True and s.ui_mlflow_timeout == 2.5 and s.training_queue == "" and s.home == Path("/tmp/h")
    assert Settings.value("deadline_alerts", {"MLOPS_DEADLINE_ALERTS": "false"}) is False
    assert Settings.value("deadline_alerts", {}) is None
    with pytest.raises(ConfigError, match=r"environment variable MLOPS_UI_MLFLOW_TIMEOUT='soon' is not valid"):
        Settings.value("ui_mlflow_timeout", {"MLOPS_UI_MLFLOW_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match=r"environment variables \['MLFLOW_TRACKING_URI'\] are not set"):
        Settings.from_env({"MLOPS_HOME": "/tmp/h"})
    assert Settings.value("tracking_uri", {}, default=None) is None


def test_secrets_never_print():
    env = {"MLOPS_HOME": "/tmp/h", "MLFLOW_TRACKING_URI": "sqlite:///x.db", "MLOPS_FERNET_KEY": "fernet-secret-value-123"}
    s = Settings.from_env(env)
    assert "fernet-secret-value-123" not in repr(s) and "fernet-secret-value-123" not in str(s.model_dump())
    assert s.fernet_key.get_secret_value() == "fernet-secret-value-123"
