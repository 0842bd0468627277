"""The Models plugin and the stack under attack and failure, on the real stack.

- nothing the plugin serves loads anything from another site, and every response carries the
  security headers (GX Data Docs sandboxed);
- Data Docs are authorised per dataset (a user limited to one dataset's DAGs by the stack's
  auth manager, tests/live/authz);
- odd inputs give 4xx with a message, never a 500;
- with the MLflow server stopped the page answers at once with a 503 that says so;
- the Airflow home (logs, databases, MLflow store, lake) is private, and no log holds a password.
"""

from __future__ import annotations

import re
import stat
from urllib.parse import urljoin

import httpx
import pytest

from htmlcheck import external_urls
from live.stack import SCOPED_USER

pytestmark = pytest.mark.live


def _links(html: str) -> list[str]:
    return [h for h in re.findall(r'href="([^"#]+)"', html) if not re.match(r"^[a-z]+:|^/", h, re.I)]


def _check_page(r: httpx.Response, *, sandboxed: bool) -> None:
    assert r.status_code == 200, (r.url, r.status_code, r.text[:300])
    csp = r.headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors 'self'" in csp, (r.url, csp)
    assert csp.startswith("sandbox") == sandboxed, (r.url, csp)
    assert r.headers.get("x-content-type-options") == "nosniff" and r.headers.get("x-frame-options") == "SAMEORIGIN", r.url
    assert "<script" not in r.text.lower(), r.url
    assert external_urls(r.text) == [], (r.url, external_urls(r.text)[:5])


def test_plugin_inputs_never_give_a_500(stack):
    for path, params in (("/mlops/api/models/synthetic", {"days": "999999999"}), ("/mlops/models", {"dataset": "synthetic", "days": "999999999"})):
        r = stack.call("GET", path, params=params)
        assert r.status_code == 422 and "days" in r.text, (path, r.status_code, r.text[:300])
    for path in ("/mlops/datadocs/%00", "/mlops/datadocs/index.html%00", "/mlops/datadocs/validations/synthetic/%00x.html", "/mlops/datadocs/%1b[0m.html"):
        r = stack.call("GET", path)
        assert r.status_code == 400 and "control characters" in r.json()["detail"], (path, r.status_code, r.text[:300])
    # A line break never reaches the route (Starlette's path pattern stops at it): 404.
    assert stack.call("GET", "/mlops/datadocs/expectations/%0a/x.html").status_code == 404
    assert stack.call("GET", "/mlops/reports/synthetic/drift/%00.html").status_code in (400, 404)
    assert stack.call("GET", "/mlops/datadocs/great_expectations.yml").status_code == 404


def test_nothing_served_loads_from_elsewhere(stack, synthetic_run):
    page = stack.call("GET", "/mlops/models", params={"dataset": "synthetic"})
    _check_page(page, sandboxed=False)
    day = stack.ok("GET", "/mlops/api/models/synthetic")["drift"]["days"][-1]
    _check_page(stack.call("GET", f"/mlops/reports/synthetic/drift/{day}.html"), sandboxed=False)
    # Every Data Docs page the index links to, and the pages those link to within the site.
    base = f"{stack.api}/mlops/datadocs/"
    index = stack.call("GET", "/mlops/datadocs/index.html")
    _check_page(index, sandboxed=True)
    todo, seen = [urljoin(base, h) for h in _links(index.text)], set()
    assert any("/validations/synthetic/" in u for u in todo) and any("/expectations/synthetic/" in u for u in todo), todo
    while todo and len(seen) < 12:
        url = todo.pop(0)
        if url in seen or not url.startswith(base) or not url.endswith(".html"):
            continue
        seen.add(url)
        r = stack.call("GET", url.removeprefix(stack.api))
        _check_page(r, sandboxed=True)
        todo += [urljoin(url, h) for h in _links(r.text)]
    assert len(seen) >= 2, seen
    # GX's own assets (the logo the pages now show) need no login: a sandboxed page sends no cookies.
    logo = httpx.get(f"{base}static/images/logo-long.png", timeout=30)
    assert logo.status_code == 200 and logo.headers["content-type"] == "image/png"


def test_data_docs_are_authorised_per_dataset(stack, synthetic_run):
    # The scoped user may read the backfill dataset's DAGs only.
    visible = [d["dataset"] for d in stack.ok("GET", "/mlops/api/datasets", user=SCOPED_USER)["datasets"]]
    assert visible == ["livebf"], visible
    index = stack.call("GET", "/mlops/datadocs/index.html", user=SCOPED_USER)
    assert index.status_code == 200 and "livebf" in index.text
    assert "synthetic" not in index.text, "the index lists a dataset the user may not read"
    admin_index = stack.call("GET", "/mlops/datadocs/index.html").text
    pages = [h for h in _links(admin_index) if "/synthetic/" in h]
    assert pages, admin_index[:500]
    for href in [*pages[:3], "expectations/synthetic/partition.html"]:
        assert stack.call("GET", f"/mlops/datadocs/{href}").status_code == 200, href
        r = stack.call("GET", f"/mlops/datadocs/{href}", user=SCOPED_USER)
        assert r.status_code == 403 and "mlops_nightly_training_synthetic" in r.json()["detail"], (href, r.status_code)
    for href in [h for h in _links(index.text) if "/livebf/" in h][:2]:  # present once the backfill test ran
        assert stack.call("GET", f"/mlops/datadocs/{href}", user=SCOPED_USER).status_code == 200, href


def test_models_page_says_at_once_that_mlflow_is_down(stack, synthetic_run):
    stack.stop_component("mlflow")
    try:
        # Bounded well below MLflow's own retry schedule (~4 minutes): a hang fails the test.
        page = stack.call("GET", "/mlops/models", params={"dataset": "synthetic"}, timeout=20)
        assert page.status_code == 503 and page.headers["content-type"].startswith("text/html"), (page.status_code, page.text[:300])
        assert f"MLflow tracking server at {stack.mlflow} is not reachable (connection refused" in page.text, page.text[:600]
        assert "make status" in page.text and "reload this page" in page.text
        data = stack.call("GET", "/mlops/api/models/synthetic", timeout=20)
        assert data.status_code == 503 and data.json()["detail"].startswith(f"MLflow tracking server at {stack.mlflow} is not reachable")
    finally:
        stack.start()  # run.sh starts what is not running: MLflow alone
    assert stack.call("GET", "/mlops/api/models/synthetic").status_code == 200


def test_home_logs_and_databases_are_private(stack, synthetic_run):
    root = stack.home / "airflow"
    assert any(root.joinpath("logs").rglob("dag_id=*")), "expected task logs under the home"
    loose = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            loose.append(f"{stat.filemode(mode)} {path.relative_to(root)}")
    assert loose == [], f"{len(loose)} paths readable by others, e.g. {loose[:10]}"
    passwords = {user: stack.password_of(user) for user in ("admin", SCOPED_USER)}
    for log in root.joinpath("logs").rglob("*"):
        if log.is_file():
            text = log.read_text(errors="replace")
            leaked = [user for user, pw in passwords.items() if pw in text]
            assert not leaked, f"{log.relative_to(root)} holds the password of {leaked}"


def test_a_browser_on_these_pages_asks_nothing_of_other_hosts(stack, synthetic_run):
    """Headless Chromium signed in to Airflow opens the Models page, a drift report and Data Docs:
    every request stays on the api-server, and the sandboxed Data Docs still show GX's logo."""
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from live.browser import CHROMIUM, launch, log_in

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: .ci/run installs Debian's chromium package (or set MLOPS_TEST_CHROMIUM)")
    index = stack.call("GET", "/mlops/datadocs/index.html").text
    validation = next(h for h in _links(index) if h.startswith("validations/synthetic/"))
    day = stack.ok("GET", "/mlops/api/models/synthetic")["drift"]["days"][-1]
    paths = [
        "/mlops/models?dataset=synthetic",
        f"/mlops/reports/synthetic/drift/{day}.html",
        "/mlops/datadocs/index.html",
        f"/mlops/datadocs/{validation}",
        "/mlops/datadocs/expectations/synthetic/partition.html",
    ]
    requests, responses = [], {}
    with sync_playwright() as p:
        browser = launch(p)
        try:
            context = browser.new_context(viewport={"width": 1300, "height": 900})
            page = context.new_page()
            page.set_default_timeout(60_000)
            log_in(page, stack)
            context.on("request", lambda r: requests.append(r.url))
            context.on("response", lambda r: responses.__setitem__(r.url, r.status))
            for path in paths:
                response = page.goto(f"{stack.api}{path}")
                page.wait_for_load_state("networkidle")
                assert response.status == 200, (path, response.status)
            assert "Expectation Suite" in page.content()
            shots = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
            shots.mkdir(parents=True, exist_ok=True)
            page.goto(f"{stack.api}/mlops/datadocs/{validation}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(shots / "datadocs-validation.png"), full_page=True)
        finally:
            browser.close()
    elsewhere = sorted({u for u in requests if not u.startswith((f"{stack.api}/", "data:"))})
    assert elsewhere == [], elsewhere
    logos = {u: s for u, s in responses.items() if u.endswith("/static/images/logo-long.png")}
    assert logos and set(logos.values()) == {200}, logos
