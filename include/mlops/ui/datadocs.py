"""GX Data Docs as the Models page serves them: per dataset, and with nothing loaded from elsewhere.

GX 1.24 writes pages that load jQuery, Bootstrap, Vega and Font Awesome from public CDNs
(floating versions, no integrity hashes), a logo from S3 whose URL carries the data
context's id, and links to GX's site. Inside Airflow's origin such a page could read the
UI's session. So the app never serves GX's HTML as it is:

- :func:`rewrite` drops every script, frame, object and external stylesheet, every
  ``on…`` handler and every external URL in attributes and CSS (the logo comes from the
  site's own ``static/images``), and adds a small style sheet so that tables, status icons
  and hidden panels read well without Bootstrap;
- :func:`index_page` replaces GX's index (a table drawn by scripts, listing every dataset)
  with a plain page that lists only the datasets the user may read;
- :func:`locate` maps a site path to the dataset it belongs to, so each page is authorised
  against that dataset: GX stores suite ``<dataset>.partition`` under
  ``expectations/<dataset>/`` and its validation results under ``validations/<dataset>/``.

The app adds ``Content-Security-Policy: sandbox; default-src 'none'; …`` to every Data Docs
page, so even a script that slipped through would run in an opaque origin with no network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from mlops.settings import DATA_DOCS_SITE

#: Site folders whose pages belong to one dataset (the second path component).
DATASET_SECTIONS = ("expectations", "validations")
#: GX's own assets (logo, fonts, style sheets) copied from its package: no data in them.
STATIC = "static"
INDEX = "index.html"

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DATASET = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class BadPath(ValueError):
    """A Data Docs path the app refuses outright (control characters)."""


@dataclass(frozen=True)
class Target:
    """What a Data Docs path names: ``kind`` is ``index``, ``static`` or ``page``."""

    kind: str
    relative: PurePosixPath
    dataset: str | None = None


def locate(path: str) -> Target | None:
    """The target of a site path, or None when the app serves nothing there.

    Raises ``BadPath`` for a path with control characters (NUL included).
    """
    if _CONTROL.search(path):
        raise BadPath(f"Data Docs path {path!r} contains control characters; expected a page path such as 'validations/<dataset>/…'")
    rel = PurePosixPath(path.strip("/") or INDEX)
    parts = rel.parts
    if any(p in ("..", ".") for p in parts) or "\\" in path:
        return None
    if parts == (INDEX,):
        return Target("index", rel)
    if parts[0] == STATIC and len(parts) > 1:
        return Target("static", rel)
    if parts[0] in DATASET_SECTIONS and len(parts) > 2 and _DATASET.match(parts[1]) and rel.suffix == ".html":
        return Target("page", rel, parts[1])
    return None


#: Where GX's file context writes its site (``Settings.data_docs_dir``); a validation's ``docs_uri`` points below it.
SITE_DIR = f"/data_docs/{DATA_DOCS_SITE}/"


def page_link(docs_uri: str | None) -> str:
    """The Models page's link to a validation's Data Docs page (``docs_uri``, a file URI), or to the index."""
    from urllib.parse import unquote, urlsplit

    path = unquote(urlsplit(docs_uri).path) if docs_uri else ""
    _, found, rel = path.partition(SITE_DIR)
    target = locate(rel) if found and not _CONTROL.search(rel) else None
    return "datadocs/" + quote(str(target.relative)) if target and target.kind == "page" else "datadocs/index.html"


def resolve(root: Path, target: Target) -> Path | None:
    """The file of ``target`` under the site ``root``, or None when missing or outside it."""
    root = root.resolve()
    file = (root / target.relative).resolve()
    return file if root in file.parents and file.is_file() else None


# --------------------------------------------------------------------------- rewriting GX's HTML

#: Elements dropped with everything inside them.
_DROP = {"script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "portal"}
#: Attributes that hold a URL.
_URL_ATTRS = {"href", "src", "srcset", "action", "formaction", "poster", "background", "data", "cite", "longdesc", "ping", "xlink:href", "manifest"}
_SCHEME = re.compile(r"^\s*(?:[a-z][a-z0-9+.\-]*:|[/\\]{2})", re.I)
_CSS_URL = re.compile(r"url\(\s*(['\"]?)\s*(?:[a-z][a-z0-9+.\-]*:|//)[^)]*\1\s*\)", re.I)
_CSS_IMPORT = re.compile(r"@import[^;]*;?", re.I)

#: Read well without Bootstrap and Font Awesome (inline: the page's policy allows inline styles only).
SHIM_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 16px 24px;color:#1a202c}
table{border-collapse:collapse;margin:6px 0} td,th{padding:3px 8px;border-bottom:1px solid #e2e8f0;text-align:left;vertical-align:top}
.d-none,.invisible,.modal,.ge-walkthrough-modal,#ge-cta-footer,footer,.cooltip .top,.btn,[data-toggle=collapse]{display:none!important}
.collapse,.d-md-block{display:block!important} .card:has(.btn-group-toggle){display:none!important}
.text-danger{color:#c53030} .text-success{color:#2f855a} .alert-secondary{background:#edf2f7;padding:6px 10px}
.fas.fa-check-circle::before{content:"\\2714";color:#2f855a} .fas.fa-times::before{content:"\\2718";color:#c53030}
.fas.fa-exclamation-triangle::before{content:"\\26A0";color:#b7791f} .fas.fa-question-circle::before{content:"?"}
.fas.fa-comment::before{content:"\\2709"} .mlops-note{color:#718096;font-size:.85rem;margin:8px 0}
"""
NOTE = "Served by the Models page without scripts or anything from other sites; interactive filters and charts of GX are off."


def _external(url: str) -> bool:
    """A URL with a scheme (``https:``, ``javascript:``, ``data:`` …) or protocol-relative."""
    return bool(_SCHEME.match(url or ""))


def _clean_css(css: str) -> str:
    return _CSS_IMPORT.sub("", _CSS_URL.sub("none", css))


class _Rewriter(HTMLParser):
    def __init__(self, logo: str):
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self.skip = 0  # depth inside a dropped element
        self.logo = logo
        self.in_style = False
        self.head_done = False

    # Tags ------------------------------------------------------------------------------------
    def _attrs(self, tag: str, attrs: list[tuple[str, str | None]]) -> str | None:
        kept = []
        for name, value in attrs:
            name = name.lower()
            if name.startswith("on"):
                continue
            if name in _URL_ATTRS and value is not None and _external(value):
                if tag == "img" and name == "src" and not value.lower().startswith("data:image/"):
                    value = self.logo if "logo" in value.lower() else None
                elif tag == "img" and name == "src":
                    pass  # an inline image
                else:
                    value = None
                if value is None:
                    continue
            if name == "style" and value:
                value = _clean_css(value)
            kept.append(name if value is None else f'{name}="{escape(value, quote=True)}"')
        return " ".join(kept)

    def _start(self, tag: str, attrs, closing: str) -> None:
        tag = tag.lower()
        if self.skip:
            if tag in _DROP and not closing:
                self.skip += 1
            return
        if tag in _DROP:
            if not closing:
                self.skip = 1
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "link" and _external(values.get("href", "")):
            return
        if tag == "meta" and values.get("http-equiv", "").lower() in ("refresh", "set-cookie", "content-security-policy"):
            return
        rendered = self._attrs(tag, attrs)
        self.out.append(f"<{tag}{' ' + rendered if rendered else ''}{closing}>")
        if tag == "style":
            self.in_style = True

    def handle_starttag(self, tag, attrs):
        self._start(tag, attrs, "")

    def handle_startendtag(self, tag, attrs):
        self._start(tag, attrs, " /")

    def handle_endtag(self, tag):
        tag = tag.lower()
        if self.skip:
            if tag in _DROP:
                self.skip -= 1
            return
        if tag in _DROP:
            return
        if tag == "style":
            self.in_style = False
        if tag == "head" and not self.head_done:
            self.out.append(f"<style>{SHIM_CSS}</style>")
            self.head_done = True
        self.out.append(f"</{tag}>")

    # Content ---------------------------------------------------------------------------------
    def handle_data(self, data):
        if not self.skip:
            self.out.append(_clean_css(data) if self.in_style else data)

    def handle_entityref(self, name):
        if not self.skip:
            self.out.append(f"&{name};")

    def handle_charref(self, name):
        if not self.skip:
            self.out.append(f"&#{name};")

    def handle_decl(self, decl):
        self.out.append(f"<!{decl}>")

    def handle_comment(self, data):  # comments are dropped (conditional comments included)
        pass

    def unknown_decl(self, data):
        pass

    def handle_pi(self, data):
        pass


def rewrite(html: str, relative: PurePosixPath) -> str:
    """GX's page ``html`` (at ``relative`` in the site) with nothing that loads or links elsewhere."""
    up = "../" * (len(relative.parts) - 1)
    parser = _Rewriter(logo=f"{up}{STATIC}/images/logo-long.png")
    parser.feed(html)
    parser.close()
    text = "".join(parser.out)
    if not parser.head_done:
        text = f"<style>{SHIM_CSS}</style>" + text
    return text.replace("<body>", f'<body><p class="mlops-note">{escape(NOTE)}</p>', 1)


# --------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class ValidationPage:
    dataset: str
    link: str  # relative to the site root, URL-quoted
    run_name: str
    run_time: str
    success: bool | None
    statistics: dict


def _run_time(stamp: str) -> str:
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return stamp


def validation_pages(site: Path, results: Path, dataset: str) -> list[ValidationPage]:
    """The dataset's validation result pages, newest run first, with their outcome from GX's result store."""
    from mlops.ui.overview import _cached_json

    base = site / "validations" / dataset
    if not base.is_dir():
        return []
    pages = []
    for page in base.rglob("*.html"):
        rel = page.relative_to(site)
        parts = rel.parts  # validations/<dataset>/<suite rest…>/<run name>/<run time>/<batch>.html
        if len(parts) < 5:
            continue
        stored = _cached_json(results / rel.relative_to("validations").with_suffix(".json")) or {}
        pages.append(
            ValidationPage(
                dataset=dataset,
                link=quote(rel.as_posix(), safe="/"),
                run_name=parts[-3],
                run_time=parts[-2],
                success=stored.get("success"),
                statistics=stored.get("statistics") or {},
            )
        )
    return sorted(pages, key=lambda p: (p.run_time, p.run_name), reverse=True)


def suite_pages(site: Path, dataset: str) -> list[str]:
    base = site / "expectations" / dataset
    return sorted(quote(p.relative_to(site).as_posix(), safe="/") for p in base.rglob("*.html")) if base.is_dir() else []


SHOWN_RUNS = 30


def index_page(site: Path, results: Path, datasets: list[str]) -> str:
    """The site's index for a user who may read ``datasets``: suites and validation results, newest first."""
    sections = []
    for ds in datasets:
        suites = suite_pages(site, ds)
        runs = validation_pages(site, results, ds)
        if not suites and not runs:
            sections.append(f'<h2 id="{escape(ds)}">{escape(ds)}</h2><p class="empty">No Data Docs yet: the nightly run\'s validate step writes them.</p>')
            continue
        # expectations/<dataset>/partition.html holds suite <dataset>.partition
        suite_links = " · ".join(f'<a href="{s}">{escape(".".join(PurePosixPath(s).with_suffix("").parts[1:]))}</a>' for s in suites)
        rows = []
        for r in runs:
            state = "–" if r.success is None else ('<span class="ok">passed</span>' if r.success else '<span class="bad">failed</span>')
            stats = r.statistics
            counts = f"{stats.get('successful_expectations', '–')} of {stats.get('evaluated_expectations', '–')}" if stats else "–"
            rows.append(
                f'<tr><td><a href="{r.link}">{escape(r.run_name)}</a></td><td>{escape(_run_time(r.run_time))}</td><td>{state}</td><td>{counts}</td></tr>'
            )
        head = "<tr><th>run (partition)</th><th>validated</th><th>result</th><th>expectations met</th></tr>"
        recent, older = rows[:SHOWN_RUNS], rows[SHOWN_RUNS:]
        more = f"<details><summary>{len(older)} earlier runs</summary><table>{head}{''.join(older)}</table></details>" if older else ""
        sections.append(
            f'<h2 id="{escape(ds)}">{escape(ds)}</h2><p>Expectation suite: {suite_links or "–"}</p>'
            f'<table class="runs" data-dataset="{escape(ds)}">{head}{"".join(recent)}</table>{more}'
        )
    body = "".join(sections) or '<p class="empty">No dataset whose nightly DAG you may read.</p>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Data Docs</title><style>{SHIM_CSS}
h1{{font-size:1.4rem}} h2{{font-size:1.1rem;margin-top:24px;border-bottom:1px solid #e2e8f0}}
.ok{{color:#2f855a;font-weight:600}} .bad{{color:#c53030;font-weight:600}} .empty{{color:#a0aec0}}</style></head>
<body><h1>Data Docs</h1><p class="mlops-note">Great Expectations' validation results and suites of the datasets whose nightly DAG you may read. {escape(NOTE)}</p>
{body}</body></html>"""
