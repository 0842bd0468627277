"""HTML of the Models page: one self-contained document (inline CSS and SVG charts, no scripts,
nothing fetched from elsewhere), rendered from ``mlops.ui.overview.model_overview``.

Links inside the page are relative to the page (``reports/…``, ``datadocs/…``), so it works
under any URL prefix and behind a reverse proxy. They open in place: Airflow's UI shows the
page in a sandboxed frame without ``allow-popups``, where a ``target="_blank"`` link does
nothing when clicked.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

from mlops.ui.datadocs import page_link

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px 24px;color:#1a202c;background:#fff}
h1{font-size:1.4rem;margin:0 0 4px} h2{font-size:1.1rem;margin:28px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
.muted{color:#718096;font-size:.85rem} nav a{margin-right:12px}
.cards{display:flex;gap:12px;flex-wrap:wrap} .card{border:1px solid #e2e8f0;border-radius:8px;padding:10px 14px;min-width:260px;flex:1}
.card h3{margin:0 0 6px;font-size:1rem} .empty{color:#a0aec0}
table{border-collapse:collapse;font-size:.85rem} td,th{padding:3px 8px;border-bottom:1px solid #edf2f7;text-align:left;vertical-align:top}
.ok{color:#2f855a;font-weight:600} .bad{color:#c53030;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(330px,1fr));gap:10px}
.chart{border:1px solid #edf2f7;border-radius:6px;padding:6px} .chart h4{margin:0;font-size:.85rem;font-weight:600}
"""


SHOWN_HISTORY = 8


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return escape(str(value)) if value is not None else "–"


def _when(ms: Any) -> str:
    if ms in (None, ""):
        return "–"
    if isinstance(ms, (int, float)):
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
    return escape(str(ms)[:19].replace("T", " "))


def _link(url: str | None, text: str) -> str:
    return f'<a href="{escape(url)}" target="_blank" rel="noopener">{escape(text)}</a>' if url else ""


def _gate_state(result: dict) -> tuple[str, str]:
    """CSS class and word of a gate's result; a shadow soak that still waits for labelled days is "running"."""
    if result.get("decision") == "continue":
        return "muted", "running"
    return ("ok", "passed") if result.get("passed") else ("bad", "failed")


def _card(alias: str, card: dict | None) -> str:
    if card is None:
        return f'<div class="card" data-alias="{alias}"><h3>{alias}</h3><p class="empty">no version</p></div>'
    key = card["primary"]["name"]
    rows = [f'<tr><th>{escape(key)}</th><td class="primary">{_fmt(card["primary"]["value"])}</td></tr>']
    rows += [f"<tr><th>{escape(k)}</th><td>{_fmt(v)}</td></tr>" for k, v in sorted(card["metrics"].items()) if k != key and not k.startswith("fit_")][:6]
    gates = "".join(f'<tr><th>gate {escape(g)}</th><td class="{_gate_state(r)[0]}">{_gate_state(r)[1]}</td></tr>' for g, r in sorted(card["gates"].items()))
    links = " · ".join(x for x in (_link(card["links"].get("model_version"), "MLflow model version"), _link(card["links"].get("run"), "MLflow run")) if x)
    window = ""
    if card.get("training_window"):
        try:
            start, end = json.loads(card["training_window"])
            window = f"<tr><th>trained on</th><td>{escape(start[:10])} .. {escape(end[:10])}</td></tr>"
        except ValueError:
            pass
    return (
        f'<div class="card" data-alias="{alias}"><h3>{alias}: version <span class="version">{escape(card["version"])}</span></h3>'
        f'<div class="muted">registered {_when(card["created"])}</div><table>{"".join(rows)}{window}{gates}</table>'
        f'<div class="muted">{links}</div></div>'
    )


def _history(entries: list[dict]) -> str:
    if not entries:
        return '<p class="empty">No promotion yet.</p>'
    rows = []
    for e in entries:  # newest first
        who = e.get("approved_by") or e.get("by") or "policy"
        why = e.get("comment") or e.get("reason") or "; ".join(e.get("reasons") or [])
        rows.append(
            f"<tr><td>{_when(e.get('time'))}</td><td>{escape(str(e.get('kind', '')))}</td>"
            f"<td>{escape(str(e.get('from_version') or '–'))} → <b>{escape(str(e.get('version')))}</b></td>"
            f"<td>{escape(str(who))}</td><td>{escape(str(why))[:300]}</td></tr>"
        )
    head = "<tr><th>when</th><th>kind</th><th>versions</th><th>who</th><th>why</th></tr>"
    recent, older = rows[:SHOWN_HISTORY], rows[SHOWN_HISTORY:]
    more = f"<details><summary>{len(older)} earlier</summary><table>{head}{''.join(older)}</table></details>" if older else ""
    return f'<table id="history">{head}{"".join(recent)}</table>{more}'


def _polylines(values: list[float | None], x, y, attrs: str) -> str:
    """SVG polylines through the values that are known (a gap where a value is None)."""
    path, parts = [], []
    for i, v in enumerate(values):
        if v is None:
            if path:
                parts.append(path)
            path = []
            continue
        path.append(f"{x(i):.1f},{y(v):.1f}")
    if path:
        parts.append(path)
    return "".join(f'<polyline fill="none" {attrs} points="{" ".join(p)}"/>' for p in parts)


def _sparkline(name: str, feature: dict, days: list[str]) -> str:
    """One feature's daily scores as an SVG line with its threshold (dashed) and drifted days (red)."""
    w, h, pad = 320, 90, 6
    scores = feature["scores"]
    values = [v for v in scores if v is not None]
    threshold = feature.get("threshold")
    top = max(values + ([threshold] if threshold is not None else []) + [1e-9]) * 1.1
    n = max(len(days) - 1, 1)

    def x(i: int) -> float:
        return pad + (w - 2 * pad) * i / n

    def y(v: float) -> float:
        return h - pad - (h - 2 * pad) * (v / top)

    lines = _polylines(scores, x, y, 'stroke="#3182ce" stroke-width="1.3"')
    # Every day gets a dot while they are few enough to tell apart; drifted days always, in red.
    few = len(days) <= 60
    dots = "".join(
        f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="{2.4 if d else 1.8}" fill="{"#e53e3e" if d else "#3182ce"}"><title>{escape(days[i])}: {v:.4f}</title></circle>'
        for i, (v, d) in enumerate(zip(scores, feature["drifted"], strict=False))
        if v is not None and (d or few)
    )
    thr = (
        f'<line x1="{pad}" x2="{w - pad}" y1="{y(threshold):.1f}" y2="{y(threshold):.1f}" stroke="#e53e3e" stroke-dasharray="4 3" stroke-width="1"/>'
        if threshold is not None
        else ""
    )
    drifted_days = sum(feature["drifted"])
    label = f"{feature.get('method') or ''}, threshold {_fmt(threshold)}; drifted on {drifted_days} of {len(days)} days"
    return (
        f'<div class="chart" data-feature="{escape(name)}"><h4>{escape(name)}</h4><div class="muted">{escape(label)}</div>'
        f'<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{escape(name)} drift scores">'
        f'<rect width="{w}" height="{h}" fill="#f7fafc"/>{thr}{lines}{dots}</svg></div>'
    )


def _drift(drift: dict, dataset: str) -> str:
    days = drift["days"]
    if not days:
        return '<p class="empty">No drift report yet: the nightly DAG writes one per run.</p>'
    last = days[-1]
    report = f"reports/{quote(dataset)}/drift/{last}.html"
    head = (
        f'<p class="muted">{len(days)} day{"s" if len(days) != 1 else ""}, {escape(days[0])} .. {escape(last)}; dashed line: threshold; red: drifted. '
        f'Latest report: <a href="{report}">ds={escape(last)}</a></p>'
    )
    charts = "".join(_sparkline(name, f, days) for name, f in sorted(drift["features"].items()))
    return head + f'<div class="charts" id="drift-charts">{charts}</div>'


#: Line styles of the "In production" chart: (series, role, kind) -> (colour, dash, label).
PRODUCTION_LINES = (
    ("champion", "realised", "#2b6cb0", "", "champion, realised (labels arrived)"),
    ("champion", "estimated", "#2b6cb0", ' stroke-dasharray="5 4"', "champion, estimated (labels pending)"),
    ("shadow", "realised", "#dd6b20", "", "shadow challenger, realised"),
    ("shadow", "estimated", "#dd6b20", ' stroke-dasharray="5 4"', "shadow challenger, estimated"),
)


def _production(prod: dict | None) -> str:
    """The champion's live metric per day (realised solid, estimated dashed), the shadow beside it, champion changes, prediction drift."""
    if not prod or not prod.get("enabled"):
        return '<p class="empty">This dataset has no <code>scoring</code> section: nothing is scored in production.</p>'
    days = prod["days"]
    if not days:
        return '<p class="empty">No live metrics yet: the scoring DAG records them for each validated partition once a champion serves.</p>'
    w, h, pad, left = 700, 220, 14, 46
    series = [(role, kind, colour, dash, label, prod[role][kind]) for role, kind, colour, dash, label in PRODUCTION_LINES]
    values = [v for *_, vals in series for v in vals if v is not None]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    span = max(hi - lo, 0.02)
    lo, hi = lo - span * 0.15, hi + span * 0.15
    n = max(len(days) - 1, 1)

    def x(i: int) -> float:
        return left + (w - left - pad) * i / n

    def y(v: float) -> float:
        return h - pad - (h - 2 * pad) * (v - lo) / (hi - lo)

    lines, dots = [], []
    for role, kind, colour, dash, _label, vals in series:
        lines.append(_polylines(vals, x, y, f'stroke="{colour}" stroke-width="1.8"{dash}'))
        versions = prod[role]["version"]
        dots += [
            f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.4" fill="{colour}" fill-opacity="{1 if kind == "realised" else 0.45}">'
            f"<title>{escape(days[i])}: {role} v{versions[i]} {kind} {v:.4f}</title></circle>"
            for i, v in enumerate(vals)
            if v is not None and len(days) <= 120
        ]
    index = {d: i for i, d in enumerate(days)}
    marks = "".join(
        f'<line x1="{x(index[c["day"]]):.1f}" x2="{x(index[c["day"]]):.1f}" y1="{pad}" y2="{h - pad}" stroke="#718096" stroke-dasharray="2 3"/>'
        f'<text x="{x(index[c["day"]]) + 3:.1f}" y="{pad + 9}" font-size="10" fill="#4a5568">v{escape(str(c["from"]))}→v{escape(str(c["to"]))}</text>'
        for c in prod["changes"]
    )
    axis = (
        f'<text x="4" y="{y(hi - span * 0.15) + 4:.1f}" font-size="10" fill="#718096">{hi - span * 0.15:.3f}</text>'
        f'<text x="4" y="{y(lo + span * 0.15) + 4:.1f}" font-size="10" fill="#718096">{lo + span * 0.15:.3f}</text>'
    )
    legend = " · ".join(
        f'<span style="color:{colour}">{"- -" if dash else "—"} {escape(label)}</span>'
        for _r, _k, colour, dash, label, vals in series
        if any(v is not None for v in vals)
    )
    champion = prod["champion"]
    last = next((i for i in range(len(days) - 1, -1, -1) if champion["realised"][i] is not None), None)
    latest = (
        f"Latest realised: <b>{champion['realised'][last]:.4f}</b> on {escape(days[last])} (v{champion['version'][last]}, "
        f"{champion['labelled_rows'][last]} labelled rows)."
        if last is not None
        else "No labels have arrived yet."
    )
    chart = (
        f'<svg id="production-chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="{escape(prod["metric"])} in production">'
        f'<rect width="{w}" height="{h}" fill="#f7fafc"/>{axis}{marks}{"".join(lines)}{"".join(dots)}</svg>'
    )
    drift = prod["drift"]
    drift_chart = (
        _sparkline(
            "prediction drift", {"scores": drift["scores"], "drifted": drift["drifted"], "threshold": drift["threshold"], "method": drift["method"]}, days
        )
        if any(v is not None for v in drift["scores"])
        else ""
    )
    return (
        f'<p class="muted">{escape(prod["metric"])} per day, {escape(days[0])} .. {escape(days[-1])}; dotted lines: champion changes. {latest}</p>'
        f'<div id="production" class="chart">{chart}<div class="muted">{legend}</div></div><div class="charts">{drift_chart}</div>'
    )


SOAK_WORDS = {"promote": ("ok", "promote"), "reject": ("bad", "reject"), "superseded": ("muted", "superseded"), "continue": ("muted", "running")}


def _shadow(soak: dict | None) -> str:
    """The shadow soak: the running estimate (champion − challenger mean loss) per look, its confidence sequence as a band, the decision."""
    if not soak:
        return '<p class="empty">No shadow soak yet: with <code>promotion.shadow.enabled</code>, a challenger that passes the offline gates soaks here.</p>'
    looks = soak["looks"]
    w, h, pad, left = 700, 200, 14, 60
    known = [v for x in looks for v in (x.get("estimate"), x.get("lower"), x.get("upper")) if v is not None]
    estimates = [x["estimate"] for x in looks if x.get("estimate") is not None]
    # Early intervals are wide: the scale follows the estimates (and 0), and the band is clipped to it.
    core = [*estimates, 0.0]
    span = max(max(core) - min(core), max((abs(v) for v in known), default=0.01) * 0.05, 1e-4)
    lo, hi = min(core) - span * 0.8, max(core) + span * 0.8
    n = max(len(looks) - 1, 1)

    def x(i: int) -> float:
        return left + (w - left - pad) * i / n

    def y(v: float) -> float:
        v = min(max(v, lo), hi)
        return h - pad - (h - 2 * pad) * (v - lo) / (hi - lo)

    band_top = [(x(i), y(look["upper"] if look.get("upper") is not None else hi)) for i, look in enumerate(looks)]
    band_bottom = [(x(i), y(look["lower"] if look.get("lower") is not None else lo)) for i, look in enumerate(looks)]
    band = " ".join(f"{a:.1f},{b:.1f}" for a, b in band_top + band_bottom[::-1])
    line = _polylines([look.get("estimate") for look in looks], x, y, 'stroke="#2b6cb0" stroke-width="2"')
    dots = "".join(
        f'<circle cx="{x(i):.1f}" cy="{y(look["estimate"]):.1f}" r="3" fill="#2b6cb0"><title>{escape(str(look["day"]))}: '
        f"estimate {look['estimate']:+.5f}, interval [{_signed(look.get('lower'))}, {_signed(look.get('upper'))}], {look.get('rows')} rows, "
        f"p = {_fmt(look.get('p_value'))}</title></circle>"
        for i, look in enumerate(looks)
        if look.get("estimate") is not None
    )
    zero = f'<line x1="{left}" x2="{w - pad}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#4a5568" stroke-dasharray="4 3"/>'
    axis = (
        f'<text x="4" y="{y(hi) + 10:.1f}" font-size="10" fill="#718096">{hi:+.4f}</text>'
        f'<text x="4" y="{y(0) + 4:.1f}" font-size="10" fill="#4a5568">0 (equal)</text>'
        f'<text x="4" y="{y(lo) - 2:.1f}" font-size="10" fill="#718096">{lo:+.4f}</text>'
    )
    chart = (
        f'<svg id="shadow-chart" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="shadow soak estimate and interval per day">'
        f'<rect width="{w}" height="{h}" fill="#f7fafc"/><polygon points="{band}" fill="#bee3f8" fill-opacity="0.7"/>{zero}{axis}{line}{dots}</svg>'
    )
    css, word = SOAK_WORDS.get(soak.get("decision") or "continue", ("muted", str(soak.get("decision"))))
    restarts = "".join(
        f" Restarted after {r['after_days']} days: the champion changed from v{r['from_champion']} to v{r['to_champion']}." for r in soak.get("restarts") or []
    )
    rows = "".join(
        f"<tr><td>{escape(str(look['day']))}</td><td>{look.get('rows')}</td><td>{_signed(look.get('estimate'))}</td>"
        f"<td>[{_signed(look.get('lower'))}, {_signed(look.get('upper'))}]</td><td>{_fmt(look.get('p_value'))}</td><td>{escape(str(look.get('verdict')))}</td></tr>"
        for look in looks
    )
    table = f'<details><summary>{len(looks)} looks</summary><table id="shadow-looks"><tr><th>day</th><th>rows</th><th>estimate</th><th>interval</th><th>p</th><th>verdict</th></tr>{rows}</table></details>'
    return (
        f'<p class="muted">Version {escape(str(soak.get("version")))} in shadow against champion v{escape(str(soak.get("champion_version")))}: '
        f"mean per-row loss of the champion minus the challenger on the same labelled rows (above 0: the challenger is better), "
        f"with its confidence sequence (valid at every look).{restarts}</p>"
        f'<div id="shadow" class="chart">{chart}<div>Decision: <span id="shadow-decision" class="{css}">{escape(word)}</span> · '
        f"{escape(str(soak.get('detail') or ''))}</div></div>{table}"
    )


def _signed(value: Any) -> str:
    return f"{value:+.5f}" if isinstance(value, (int, float)) else "–"


def _validation(v: dict | None) -> str:
    if v is None:
        return '<p class="empty">No partition validated yet.</p>'
    state = '<span class="ok">passed</span>' if v["success"] else '<span class="bad">failed</span>'
    failed = "".join(f"<li>{escape(json.dumps(f, default=str))[:300]}</li>" for f in v["failed"][:10])
    docs = f'<a href="{escape(page_link(v["docs_uri"]))}">Data Docs</a>' if v.get("docs_uri") else ""
    where = " (quarantined)" if v["where"] == "quarantine" else ""
    return (
        f'<p id="validation">Partition <b>{escape(v["partition"])}</b>{where}: {state}, '
        f"{_fmt(v['evaluated'])} expectations of suite {_fmt(v['suite'])}. {docs}</p>" + (f"<ul>{failed}</ul>" if failed else "")
    )


STATUS_CLASS = {"sent": "ok", "failed": "bad"}


def _alerts(alerts: dict | None) -> str:
    """The Alerts panel: the last 30 days' events, when, summary, and where each went (or why not)."""
    if alerts is None:
        return ""
    if alerts.get("error"):
        return f'<p class="bad" id="alerts">{escape(alerts["error"])}</p>'
    if not alerts["alerts"]:
        return f'<p class="empty" id="alerts">No alert in the last {alerts["days"]} days.</p>'
    rows = []
    for a in alerts["alerts"]:
        delivered = "<br>".join(
            f'<span class="{STATUS_CLASS.get(d["status"], "muted")}">{escape(d["channel"] if d["channel"] != "-" else "not sent")}: '
            f'{escape(d["status"])}</span> <span class="muted">{escape(d["detail"])[:200]}</span>'
            for d in a["deliveries"]
        )
        links = " · ".join(_link(url, label) for label, url in list(a.get("links", {}).items())[:4])
        rows.append(
            f'<tr data-alert="{escape(a["type"])}"><td>{_when(a["created_at"])}</td><td class="{"bad" if a["severity"] == "critical" else ""}">'
            f"{escape(a['severity'])}</td><td>{escape(a['type'])}</td><td>{escape(a['summary'])[:300]}"
            f"{'<div class=muted>' + links + '</div>' if links else ''}</td><td>{delivered}</td></tr>"
        )
    head = "<tr><th>when</th><th>severity</th><th>type</th><th>summary</th><th>delivered</th></tr>"
    return f'<p class="muted">The last {alerts["days"]} days, newest first.</p><table id="alerts">{head}{"".join(rows)}</table>'


def render(overview: dict, datasets: list[str], *, user: str | None = None, alerts: dict | None = None) -> str:
    ds, model = overview["dataset"], overview["model"]
    nav = " ".join(f'<a href="?dataset={quote(d)}"{" aria-current=page" if d == ds else ""}>{escape(d)}</a>' for d in datasets)
    cards = "".join(_card(a, overview["aliases"][a]) for a in ("champion", "challenger", "previous"))
    registered = "" if overview["registered"] else f'<p class="empty">Model {escape(model)} is not registered yet: the first nightly run registers it.</p>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Models · {escape(ds)}</title><style>{CSS}</style></head>
<body>
<h1>Models: <span id="model-name">{escape(model)}</span></h1>
<div class="muted">dataset {escape(ds)} · primary metric {escape(overview["primary_metric"])}{" · signed in as " + escape(user) if user else ""}</div>
<nav class="muted">datasets: {nav}</nav>
{registered}
<h2>Versions</h2><div class="cards">{cards}</div>
<h2>In production</h2>{_production(overview.get("production"))}
<h2>Shadow soak</h2>{_shadow(overview.get("shadow"))}
<h2>Promotion history</h2>{_history(overview["history"])}
<h2>Drift over time</h2>{_drift(overview["drift"], ds)}
<h2>Latest validation</h2>{_validation(overview["validation"])}
{"<h2>Alerts</h2>" + _alerts(alerts) if alerts is not None else ""}
</body></html>"""
