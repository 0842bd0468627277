"""The documentation names only what exists: every repository path and link in README.md and docs/."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]
TOP_FOLDERS = ("dags", "include", "plugins", "tests", "bench", "scripts", "docs", ".ci")
TOP_FILES = {
    "Makefile",
    "Dockerfile",
    "docker-compose.yaml",
    "pyproject.toml",
    "airflow_settings.yaml",
    ".env.example",
    "requirements.txt",
    "requirements.lock",
    "requirements-dev.txt",
    "requirements-dev.lock",
    "README.md",
}
PLACEHOLDER = re.compile(r"[<>{}*$…\[\]]|\.\.\.")


def named_paths(page: Path) -> list[tuple[str, Path]]:
    """``(as written, resolved path)`` for every repository path a page names."""
    text = page.read_text()
    found = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if not re.match(r"^[a-z]+:|^#", target):
            found.append((target, (page.parent / target.split("#")[0]).resolve()))
    for token in re.findall(r"`([^`\n]+)`", text):
        token = token.strip()
        if " " in token or PLACEHOLDER.search(token):
            continue
        token = re.split(r"::|:(?=\d)", token)[0].rstrip("/.,")
        if token in TOP_FILES or (token.split("/")[0] in TOP_FOLDERS and "/" in token):
            found.append((token, ROOT / token))
    return found


def generated(path: Path) -> bool:
    """A git-ignored location (benchmark results, virtualenvs): written by a command the page names."""
    probe = path / "_"  # a folder pattern such as "results/" matches only what lies inside the folder
    return subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", str(probe)], timeout=30).returncode == 0


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_the_page_names_exists(page):
    missing = [written for written, path in named_paths(page) if not path.exists() and not generated(path)]
    assert not missing, f"{page.relative_to(ROOT)} names paths that do not exist: {missing}"


def test_readme_stays_short_and_links_every_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.encode()) <= 12 * 1024, f"README.md is {len(readme.encode())} bytes; move detail into docs/"
    unlinked = [p.name for p in PAGES if p.parent.name == "docs" and f"docs/{p.name}" not in readme]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"
