"""Drift report files: ``drift.json``, ``drift.html`` and ``drift.png``.

The JSON is :meth:`DriftResult.to_dict` plus the title; the HTML page is self-contained
(summary, a table of every feature, the figure embedded as a data URI); the PNG holds one
panel per drifted feature (reference vs current), or, when nothing drifted, each
feature's score against its threshold. Every file is written to a temporary name in the
output folder and renamed into place, so a reader never sees half a report. The content
depends only on the inputs, so re-running a task rewrites the same report.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops.drift.stats import DriftResult, FeatureDrift, _category_counts, _finite_values
from mlops.lake import atomic_write_bytes

MAX_PLOT_VALUES = 50_000  # values per feature and side drawn in a histogram
MAX_PANELS = 24  # drifted features shown in the figure (highest score first)
MAX_BARS = 15  # categories shown per categorical panel


def write_report(result: DriftResult, reference: pd.DataFrame, current: pd.DataFrame, out_dir: Path, *, title: str) -> dict[str, str]:
    """Write the drift report for ``result`` into ``out_dir``.

    Parameters
    ----------
    result : DriftResult
        Output of :func:`mlops.drift.detect_drift` on the same frames.
    reference, current : pandas.DataFrame
        The compared frames (read for the histograms; at most ``MAX_PLOT_VALUES`` values
        per feature are drawn).
    out_dir : Path
        Folder to write into (created if missing).
    title : str
        Page and figure title, e.g. ``"flights 2013-03-04 vs 2013-02-18..2013-03-03"``.

    Returns
    -------
    dict
        Paths of the written files: ``{"json": ..., "html": ..., "png": ...}``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {kind: out_dir / f"drift.{kind}" for kind in ("json", "html", "png")}
    png = _figure_png(result, reference, current, title)
    atomic_write_bytes(paths["png"], png)
    atomic_write_bytes(paths["html"], _html(result, title, png).encode("utf-8"))
    payload = {"title": title, **result.to_dict()}
    atomic_write_bytes(paths["json"], (json.dumps(payload, indent=2, allow_nan=False) + "\n").encode("utf-8"))
    return {kind: str(path) for kind, path in paths.items()}


# --------------------------------------------------------------------------- figure


def _figure_png(result: DriftResult, reference: pd.DataFrame, current: pd.DataFrame, title: str) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    drifted = sorted((f for f in result.features if f.drifted), key=lambda f: -(f.score or 0.0) if f.p_value is None else f.p_value)
    if drifted:
        shown = drifted[:MAX_PANELS]
        cols = min(4, len(shown))
        rows = math.ceil(len(shown) / cols)
        fig = Figure(figsize=(3.6 * cols, 2.8 * rows + 0.6), layout="constrained")
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        for ax, feat in zip(axes, shown, strict=False):
            if feat.kind == "numeric":
                _numeric_panel(ax, reference[feat.feature], current[feat.feature])
            else:
                _categorical_panel(ax, reference[feat.feature], current[feat.feature])
            ax.set_title(f"{feat.feature}\n{feat.method} {_verdict_value(feat)}", fontsize=9)
            ax.tick_params(labelsize=7)
        for ax in axes[len(shown):]:
            ax.set_visible(False)
        axes[0].legend(fontsize=7)
        more = f" (top {len(shown)} of {len(drifted)})" if len(drifted) > len(shown) else ""
        fig.suptitle(f"{title}: drifted features{more}", fontsize=11)
    else:
        fig = _scores_figure(Figure, result, title)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


def _sample(values: np.ndarray) -> np.ndarray:
    step = max(1, math.ceil(values.size / MAX_PLOT_VALUES))
    return values[::step]


def _numeric_panel(ax: Any, ref: pd.Series, cur: pd.Series) -> None:
    x, _ = _finite_values(ref)
    y, _ = _finite_values(cur)
    x, y = _sample(x), _sample(y)
    pooled = np.concatenate([x, y])
    lo, hi = np.quantile(pooled, [0.005, 0.995]) if pooled.size else (0.0, 1.0)
    if not hi > lo:
        lo, hi = float(pooled.min()) - 0.5, float(pooled.max()) + 0.5
    edges = np.linspace(lo, hi, 41)
    for values, label, color in ((x, "reference", "tab:blue"), (y, "current", "tab:orange")):
        density, _ = np.histogram(values, bins=edges, density=True)
        ax.stairs(density, edges, fill=True, alpha=0.5, label=label, color=color)  # one polygon, not 40 patches


def _categorical_panel(ax: Any, ref: pd.Series, cur: pd.Series) -> None:
    rc, _ = _category_counts(ref)
    cc, _ = _category_counts(cur)
    rc, cc = rc.align(cc, fill_value=0)
    rf = rc / max(int(rc.sum()), 1)
    cf = cc / max(int(cc.sum()), 1)
    top = np.maximum(rf, cf).sort_values(ascending=False).index[:MAX_BARS]
    pos = np.arange(len(top))
    ax.bar(pos - 0.2, rf[top].to_numpy(), width=0.4, label="reference", color="tab:blue")
    ax.bar(pos + 0.2, cf[top].to_numpy(), width=0.4, label="current", color="tab:orange")
    ax.set_xticks(pos, [str(t)[:12] for t in top], rotation=60, ha="right")
    ax.set_ylabel("share", fontsize=7)


def _scores_figure(figure_cls: Any, result: DriftResult, title: str) -> Any:
    tested = [f for f in result.features if f.method != "empty"]
    fig = figure_cls(figsize=(7.5, 0.28 * max(len(tested), 1) + 1.4), layout="constrained")
    ax = fig.subplots()
    if tested:
        pos = np.arange(len(tested))
        values = [f.p_value if f.p_value is not None else f.score for f in tested]
        ax.barh(pos, values, color="tab:green", alpha=0.7, label="score or p-value")
        ax.scatter([f.threshold for f in tested], pos, marker="|", s=160, color="black", label="threshold")
        ax.set_yticks(pos, [f"{f.feature} ({f.method})" for f in tested], fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("distance (drift at >= threshold) or p-value (drift at <= threshold)", fontsize=8)
        fig.legend(fontsize=7, loc="outside lower center", ncols=2)
    else:
        ax.text(0.5, 0.5, "no feature could be tested", ha="center", va="center")
        ax.set_axis_off()
    ax.set_title(f"{title}: no drift detected", fontsize=11)
    return fig


# --------------------------------------------------------------------------- HTML


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.3g}" if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4) else f"{value:.4f}"


def _verdict_value(f: FeatureDrift) -> str:
    if f.p_value is not None:
        return f"p={_fmt(f.p_value)} (<= {_fmt(f.threshold)})"
    return f"{_fmt(f.score)} (>= {_fmt(f.threshold)})"


_METHODS = {
    "ks": "two-sample Kolmogorov-Smirnov test; drift when p-value <= threshold",
    "chi2": "two-sample chi-square test on the reference/current count table; drift when p-value <= threshold",
    "wasserstein_norm": "Wasserstein distance divided by the reference standard deviation; drift when score >= threshold",
    "jensen_shannon": "Jensen-Shannon distance (base 2) of category shares; drift when score >= threshold",
    "empty": "no non-null values on one side; not tested",
}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.drift{background:#fde8e8}
.badge{display:inline-block;padding:.15rem .5rem;border-radius:.3rem;color:#fff;font-weight:600}
.yes{background:#c0392b}.no{background:#27ae60}img{max-width:100%;margin-top:1rem}dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dt{font-weight:600}.note{color:#666;font-size:.8rem}
"""


def _html(result: DriftResult, title: str, png: bytes) -> str:
    e = html.escape
    verdict = '<span class="badge yes">dataset drift</span>' if result.dataset_drift else '<span class="badge no">no dataset drift</span>'
    drifted = ", ".join(e(name) for name in result.drifted_features) or "none"
    rows = []
    for f in result.features:
        rows.append(
            f'<tr class="{"drift" if f.drifted else ""}"><td>{e(f.feature)}</td><td>{f.kind}</td>'
            f'<td title="{e(_METHODS[f.method])}">{f.method}</td><td class="num">{_fmt(f.score)}</td>'
            f'<td class="num">{_fmt(f.p_value)}</td><td class="num">{_fmt(f.threshold)}</td>'
            f'<td>{"<b>drift</b>" if f.drifted else ("not tested" if f.method == "empty" else "ok")}</td>'
            f'<td class="num">{f.n_reference:,}</td><td class="num">{f.n_current:,}</td>'
            f'<td class="num">{f.nulls_reference:,}</td><td class="num">{f.nulls_current:,}</td><td class="note">{e(f.note)}</td></tr>'
        )
    used = sorted({f.method for f in result.features})
    legend = "".join(f"<li><b>{m}</b>: {e(_METHODS[m])}</li>" for m in used)
    image = base64.b64encode(png).decode("ascii")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}: data drift</title><style>{_CSS}</style></head>
<body>
<h1>{e(title)}: data drift</h1>
<p>{verdict}</p>
<dl>
<dt>Drifted features</dt><dd>{len(result.drifted_features)} of {result.tested} tested: {drifted}</dd>
<dt>Drift share</dt><dd>{result.drift_share:.1%} (dataset drift at &ge; {result.dataset_drift_share:.0%})</dd>
<dt>Rows</dt><dd>reference {result.n_reference:,}, current {result.n_current:,}</dd>
</dl>
<h2>Features</h2>
<table>
<thead><tr><th>feature</th><th>kind</th><th>method</th><th>score</th><th>p-value</th><th>threshold</th><th>verdict</th>
<th>n ref</th><th>n cur</th><th>nulls ref</th><th>nulls cur</th><th>note</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<ul class="note">{legend}</ul>
<h2>Plots</h2>
<img alt="drift plots" src="data:image/png;base64,{image}">
</body></html>
"""
