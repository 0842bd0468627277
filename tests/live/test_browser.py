"""The Airflow UI as a person uses it, in a real headless Chromium (Debian's, driven by Playwright):
log in, trigger a retrain from the trigger form, watch the run succeed in the grid, read the
Models page, approve the promotion in the UI and see the champion change.

Screenshots of each step go to ``test-artifacts/browser/`` (kept by CI as test artefacts).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from live.browser import CHROMIUM, launch, log_in

pytestmark = pytest.mark.live

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
NIGHTLY, PROMOTION, MODEL = "live_browser", "live_browser_promotion", "livebrowser_model"


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: .ci/run installs Debian's chromium package (or set MLOPS_TEST_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = launch(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def page(browser, stack):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    log_in(pg, stack)
    yield pg
    context.close()


def shot(pg, name: str) -> None:
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def models_frame(pg, stack, dataset: str, model: str):
    """Open *Models* from the navigation and pick the dataset inside the embedded page."""
    from playwright.sync_api import expect

    pg.get_by_role("link", name="Models").click()
    pg.wait_for_url(re.compile(r"/plugin/models"))
    frame = pg.frame_locator("iframe")
    frame.get_by_role("link", name=dataset, exact=True).click()
    # The page first shows the first dataset; wait until the chosen one has replaced it.
    expect(frame.locator("#model-name")).to_have_text(model)
    return frame


def test_retrain_from_the_form_then_approve_in_the_ui(page, stack):
    pg = page
    shot(pg, "01-home")
    # The promotion DAG of this dataset waits for challengers (unpaused like an operator would).
    stack.unpause(PROMOTION)

    # Trigger the nightly DAG from its trigger form, with "Force retraining" on and a note.
    stack.wait_for(f"{NIGHTLY} to be parsed", lambda: stack.call("GET", f"/api/v2/dags/{NIGHTLY}").status_code == 200, timeout=180)
    pg.goto(f"{stack.api}/dags/{NIGHTLY}")
    pg.get_by_role("button", name="Trigger").first.click()
    dialog = pg.get_by_role("dialog")
    dialog.get_by_text("Force retraining").wait_for()
    # The switch is a label around a hidden checkbox (Chakra UI): click the label, as a person does.
    dialog.locator("label").filter(has=pg.locator("input[name=element_force_retrain]")).first.click()
    dialog.locator("[name=element_note]").fill("retrain requested in the browser test")
    shot(pg, "02-trigger-form")
    assert pg.locator("input[name=element_force_retrain]").is_checked()
    dialog.get_by_role("button", name="Trigger").click()

    # The run shows up in the grid and succeeds.
    runs = stack.wait_for("the triggered run", lambda: stack.ok("GET", f"/api/v2/dags/{NIGHTLY}/dagRuns", params={"limit": 5})["dag_runs"], timeout=60)
    run_id = runs[0]["dag_run_id"]
    assert runs[0]["conf"] == {"force_retrain": True, "note": "retrain requested in the browser test"} or runs[0]["conf"]["force_retrain"] is True
    # The run's state comes from the API: the page also shows "success" on each finished task
    # while the run itself is still running.
    state = stack.wait_run(NIGHTLY, run_id, timeout=900)
    pg.goto(f"{stack.api}/dags/{NIGHTLY}/runs/{run_id}")
    if state != "success":
        shot(pg, "03-run-failed")
        pytest.fail(f"run {run_id} ended {state}: {stack.task_states(NIGHTLY, run_id)}")
    pg.get_by_text(re.compile(r"^success$", re.I)).first.wait_for()
    shot(pg, "03-run-succeeded")

    # The Models page shows the new version as challenger, and the drift chart.
    frame = models_frame(pg, stack, "livebrowser", MODEL)
    frame.locator('[data-alias="challenger"] .version').wait_for()
    assert frame.locator('[data-alias="challenger"] .version').inner_text() == "1"
    assert frame.locator('[data-alias="champion"]').inner_text().endswith("no version")
    assert frame.locator("#drift-charts svg").count() >= 3
    shot(pg, "04-models-challenger")

    # The promotion run asks for approval; approve it in the UI like a reviewer.
    def awaiting() -> str | None:
        runs = stack.ok("GET", f"/api/v2/dags/{PROMOTION}/dagRuns", params={"order_by": "-run_after", "limit": 1})["dag_runs"]
        if runs and stack.ok("GET", f"/api/v2/dags/{PROMOTION}/dagRuns/{runs[0]['dag_run_id']}/taskInstances/approve")["state"] == "awaiting_input":
            return runs[0]["dag_run_id"]
        return None

    promotion_run = stack.wait_for("the approval request", awaiting, timeout=600)
    time.sleep(15)  # people take seconds; see tests/live/test_promotion_approval.py
    pg.goto(f"{stack.api}/dags/{PROMOTION}/runs/{promotion_run}/tasks/approve/required_actions")
    pg.wait_for_load_state("networkidle")
    shot(pg, "05-approval-request")
    pg.get_by_role("button", name="Approve").click()
    assert stack.wait_run(PROMOTION, promotion_run) == "success", stack.task_states(PROMOTION, promotion_run)

    # The Models page now shows version 1 as champion, with the approver in the history.
    frame = models_frame(pg, stack, "livebrowser", MODEL)
    frame.locator('[data-alias="champion"] .version').wait_for()
    assert frame.locator('[data-alias="champion"] .version').inner_text() == "1"
    assert "admin" in frame.locator("#history").inner_text()
    shot(pg, "06-models-champion")
