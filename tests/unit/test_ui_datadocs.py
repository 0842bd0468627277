"""Data Docs as the Models page serves them, on a site GX really built: paths map to datasets,
pages keep their content but lose every script and external URL, the index lists only what a
user may read."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import pytest

from htmlcheck import external_urls
from mlops.config import Settings, load_dataset
from mlops.sources.base import Interval
from mlops.sources.synthetic import SyntheticSource
from mlops.ui.datadocs import BadPath, index_page, locate, page_link, resolve, rewrite
from mlops.validation.run import validate_frame


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Settings:
    """Two datasets validated by GX into one file context; the second has a failing day."""
    settings = Settings(home=tmp_path_factory.mktemp("docs"), tracking_uri="sqlite:///unused.db")
    for name in ("synthetic", "other"):
        config = load_dataset("synthetic", override={"name": name, "labels": {"delay_days": 0}, "source": {"options": {"rows_per_day": 200, "drift": []}}})
        for day in (10, 11):
            iv = Interval.days(date(2024, 1, day))
            df = SyntheticSource(rows_per_day=200, seed=day).read(iv)
            if name == "other" and day == 11:
                df = df.drop(columns=["x0"])
            validate_frame(df, config, iv, gx_dir=settings.gx_dir)
    return settings


def _pages(settings: Settings) -> list[Path]:
    """GX's pages the app serves rewritten (its index it replaces with its own)."""
    return sorted(p for section in ("expectations", "validations") for p in (settings.data_docs_dir / section).rglob("*.html"))


def test_gx_pages_as_built_load_scripts_from_other_sites(site):
    """What the rewrite is for: GX's own pages reach for CDNs and S3."""
    page = next(p for p in _pages(site) if "validations" in p.parts).read_text()
    assert '<script src="https://' in page and "dataContextId=" in page and external_urls(page)


def test_every_rewritten_page_keeps_its_content_and_loses_scripts_and_external_urls(site):
    for file in _pages(site):
        rel = PurePosixPath(file.relative_to(site.data_docs_dir).as_posix())
        original, html = file.read_text(), rewrite(file.read_text(), rel)
        assert external_urls(html) == [], (rel, external_urls(html)[:3])
        assert "<script" not in html.lower() and not re.search(r"\son[a-z]+\s*=", html, re.I), rel
        assert "dataContextId" not in html and "<style>" in html
        if rel.parts[0] == "validations":
            # The results are still there: expectation names, the suite, the status icons.
            assert "Evaluated Expectations" in html and "values must not be null" in html and "fa-check-circle" in html, rel
            up = "../" * (len(rel.parts) - 1)
            assert f'src="{up}static/images/logo-long.png"' in html and (site.data_docs_dir / "static/images/logo-long.png").is_file()
        assert len(html) > len(original) * 0.5, rel


def test_the_models_page_links_a_validation_to_its_own_page(tmp_path):
    settings = Settings(home=tmp_path, tracking_uri="sqlite:///unused.db")
    config = load_dataset("synthetic", override={"labels": {"delay_days": 0}, "source": {"options": {"rows_per_day": 200, "drift": []}}})
    iv = Interval.days(date(2024, 1, 10))
    result = validate_frame(SyntheticSource(rows_per_day=200, seed=1).read(iv), config, iv, gx_dir=settings.gx_dir)
    link = page_link(result["docs_uri"])  # quoted as the index quotes its links
    assert link.startswith("datadocs/validations/synthetic/") and "ds=2024-01-10" in unquote(link)
    target = locate(unquote(link.removeprefix("datadocs/")))
    assert target.kind == "page" and resolve(settings.data_docs_dir, target) is not None
    # Anything else goes to the index: no page, GX's index, a path that leaves the site.
    for other in (None, "", "file:///home/gx/uncommitted/data_docs/local_site/index.html", "file:///x/data_docs/local_site/../../etc/passwd.html"):
        assert page_link(other) == "datadocs/index.html", other


def test_paths_map_to_their_dataset():
    assert locate("").kind == locate("index.html").kind == "index"
    assert locate("static/images/logo-long.png").kind == "static"
    page = locate("validations/other/partition/other.ds=2024-01-11/20240111T000000.000000Z/mlops_lake-other.html")
    assert (page.kind, page.dataset) == ("page", "other")
    assert locate("expectations/synthetic/partition.html").dataset == "synthetic"
    for refused in (
        "../gx/great_expectations.yml",
        "validations/../../x.html",
        "great_expectations.yml",
        "validations/x.html",
        "expectations/Bad-Name/partition.html",
        "expectations/synthetic/partition.json",
        "static",
    ):
        assert locate(refused) is None, refused
    for bad in ("index.html\x00", "validations/\x00/x.html", "a\nb", "x\x7f"):
        with pytest.raises(BadPath, match="contains control characters"):
            locate(bad)


def test_the_index_lists_only_the_given_datasets_with_each_run_and_outcome(site):
    results = site.gx_dir / "uncommitted" / "validations"
    only_other = index_page(site.data_docs_dir, results, ["other"])
    assert "synthetic" not in only_other and external_urls(only_other) == [] and "<script" not in only_other
    runs = re.findall(r'<tr><td><a href="([^"]+)">([^<]+)</a></td><td>[^<]+</td><td><span class="(ok|bad)">', only_other)
    assert [(name, state) for _, name, state in runs] == [("other.ds=2024-01-11", "bad"), ("other.ds=2024-01-10", "ok")]
    for href, _, _ in runs:  # links resolve to the pages, relative to the index
        assert locate(href.replace("%3D", "=")).dataset == "other"
        assert (site.data_docs_dir / href.replace("%3D", "=")).is_file()
    assert 'Expectation suite: <a href="expectations/other/partition.html">other.partition</a>' in only_other
    both = index_page(site.data_docs_dir, results, ["other", "synthetic"])
    assert 'data-dataset="synthetic"' in both and 'data-dataset="other"' in both
    assert "No Data Docs yet" in index_page(site.data_docs_dir, results, ["nothing_here"])
