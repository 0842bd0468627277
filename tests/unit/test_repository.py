"""The repository itself: no binaries or large files tracked, nothing written into the tree by tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_BYTES = 1024 * 1024
#: Screenshots the docs show; each must be referenced from README.md or docs/.
SCREENSHOT_DIR = "docs/"
BUILD_ARTEFACTS = (".whl", ".tar.gz", ".zip", ".egg", ".so", ".pyc", ".db", ".sqlite")


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True, timeout=30).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [p for p in out.decode().split("\0") if p and (ROOT / p).is_file()]


def documented_text() -> str:
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(p.read_text() for p in docs if p.is_file())


def test_no_tracked_file_is_larger_than_1_mb_except_documented_screenshots():
    text = documented_text()
    too_big = []
    for path in tracked_files():
        size = (ROOT / path).stat().st_size
        if size <= MAX_BYTES:
            continue
        if path.startswith(SCREENSHOT_DIR) and path.endswith(".png") and Path(path).name in text:
            continue
        too_big.append(f"{path} ({size / 1e6:.1f} MB)")
    assert not too_big, f"tracked files over 1 MB (install tools from the registry through the lock instead): {too_big}"


def test_no_build_artefacts_or_databases_are_tracked():
    found = [p for p in tracked_files() if p.endswith(BUILD_ARTEFACTS)]
    assert not found, f"tracked build artefacts or databases: {found}"


def test_screenshots_in_docs_are_referenced():
    text = documented_text()
    unreferenced = [p for p in tracked_files() if p.startswith(SCREENSHOT_DIR) and p.endswith(".png") and Path(p).name not in text]
    assert not unreferenced, f"screenshots no page shows: {unreferenced}"
