"""Debian's Chromium driven by Playwright, logged in to a LiveStack: shared by the browser test and
bench/models_page_bench.py. Playwright's own browser download is never used."""

from __future__ import annotations

import os
import re

CHROMIUM = os.environ.get("MLOPS_TEST_CHROMIUM", "/usr/bin/chromium")
#: Headless, and nothing that reaches for the network on its own (this machine has none).
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"]


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


def log_in(page, stack) -> None:
    """Sign in on Airflow's login page as the stack's admin and wait for the home page."""
    page.goto(f"{stack.api}/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(stack.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(stack.api) + r"/?$"))
