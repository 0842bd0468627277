"""Drift report files: ``drift.json``, ``drift.html`` and ``drift.png``.

The JSON is :meth:`DriftResult.to_dict` plus the title; the HTML page is self-contained
(summary, warnings, a table of every feature, the figure embedded as a data URI); the PNG
holds one panel per drifted feature (reference vs current: values, or null shares for a
feature whose null rate drifted), or, when nothing drifted, each feature's score against
its threshold. Every file is written to a temporary name in the
output folder and renamed into place, so a reader never sees half a report. The content
depends only on the inputs, so re-running a task rewrites the same report.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlops.drift.columns import aligned_counts, category_counts, finite_values
from mlops.drift.profile import ReferenceProfile, reference_counts, reference_values
from mlops.drift.stats import DriftResult, FeatureDrift
from mlops.lake import atomic_write_bytes

MAX_PLOT_VALUES = 50_000  # values per feature and side drawn in a histogram
MAX_PANELS = 24  # drifted features shown in the figure (highest score first)
MAX_BARS = 15  # categories shown per categorical panel


def write_report(result: DriftResult, reference: pd.DataFrame | ReferenceProfile, current: pd.DataFrame, out_dir: Path, *, title: str) -> dict[str, str]:
    """Write the drift report for ``result`` into ``out_dir``.

    Parameters
    ----------
    result : DriftResult
        Output of :func:`mlops.drift.detect_drift` on the same frames.
    reference, current : pandas.DataFrame
        The compared frames (read for the histograms; at most ``MAX_PLOT_VALUES`` values
        per feature are drawn). ``reference`` may be the reference's profile
        (:func:`mlops.drift.profile.build_profile`).
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

    drifted = sorted((f for f in result.features if f.drifted or f.missing_drifted), key=lambda f: (not f.drifted, -(f.score or f.missing_score or 0.0)))
    if drifted:
        shown = drifted[:MAX_PANELS]
        cols = min(4, len(shown))
        rows = math.ceil(len(shown) / cols)
        width, height = 3.6 * cols, 2.8 * rows + 0.6
        fig = Figure(figsize=(width, height))
        # Fixed margins in inches (room for two-line titles and rotated category labels):
        # matplotlib's constrained layout gave the same picture but was half of the drift
        # step's time, paid every night.
        axes = np.atleast_1d(
            fig.subplots(
                rows,
                cols,
                squeeze=False,
                gridspec_kw={
                    "left": 0.55 / width,
                    "right": 1 - 0.15 / width,
                    "top": 1 - 0.85 / height,
                    "bottom": 0.85 / height,
                    "hspace": 1.15 / ((height - 1.7) / rows - 1.15) if rows > 1 else 0.0,
                    "wspace": 0.6 / (width / cols - 0.6),
                },
            )
        ).ravel()
        for ax, feat in zip(axes, shown, strict=False):
            cur = current[feat.feature]
            if not feat.drifted:
                _null_panel(ax, feat)
                ax.set_title(f"{feat.feature}\nnull rate {_missing_value(feat)}", fontsize=8)
            else:
                (_numeric_panel if feat.method == "wasserstein_ks" else _categorical_panel)(ax, reference, feat.feature, cur)
                ax.set_title(f"{feat.feature}\n{feat.method} {_verdict_value(feat)}", fontsize=8)
            ax.tick_params(labelsize=7)
        for ax in axes[len(shown) :]:
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


def _numeric_panel(ax: Any, reference: Any, name: str, cur: pd.Series) -> None:
    x = reference_values(reference, name)
    y, _ = finite_values(cur)
    x, y = _sample(x), _sample(y)
    pooled = np.concatenate([x, y])
    lo, hi = np.quantile(pooled, [0.005, 0.995]) if pooled.size else (0.0, 1.0)
    if not hi > lo:
        lo, hi = float(pooled.min()) - 0.5, float(pooled.max()) + 0.5
    edges = np.linspace(lo, hi, 41)
    for values, label, color in ((x, "reference", "tab:blue"), (y, "current", "tab:orange")):
        density, _ = np.histogram(values, bins=edges, density=True)
        ax.stairs(density, edges, fill=True, alpha=0.5, label=label, color=color)  # one polygon, not 40 patches


def _categorical_panel(ax: Any, reference: Any, name: str, cur: pd.Series) -> None:
    ref_labels, ref_counts = reference_counts(reference, name)
    cur_labels, cur_counts, _ = category_counts(cur)
    labels, rc, cc = aligned_counts((ref_labels, ref_counts), (cur_labels, cur_counts))
    rf = rc / max(int(rc.sum()), 1)
    cf = cc / max(int(cc.sum()), 1)
    top = np.argsort(-np.maximum(rf, cf), kind="stable")[:MAX_BARS]
    pos = np.arange(top.size)
    ax.bar(pos - 0.2, rf[top], width=0.4, label="reference", color="tab:blue")
    ax.bar(pos + 0.2, cf[top], width=0.4, label="current", color="tab:orange")
    ax.set_xticks(pos, [str(t)[:12] for t in labels[top]], rotation=60, ha="right")
    ax.set_ylabel("share", fontsize=7)


def _null_panel(ax: Any, feat: FeatureDrift) -> None:
    shares = [_null_share(feat.nulls_reference, feat.n_reference), _null_share(feat.nulls_current, feat.n_current)]
    ax.bar([0, 1], shares, color=["tab:blue", "tab:orange"], label=None)
    ax.bar([], [], color="tab:blue", label="reference")
    ax.bar([], [], color="tab:orange", label="current")
    ax.set_xticks([0, 1], ["reference", "current"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("null share", fontsize=7)


def _null_share(nulls: int, values: int) -> float:
    return nulls / (nulls + values) if nulls + values else 0.0


def _scores_figure(figure_cls: Any, result: DriftResult, title: str) -> Any:
    tested = [f for f in result.features if f.tested]
    labels = [f"{f.feature} ({f.method})" for f in tested]
    width, height = 7.5, 0.28 * max(len(tested), 1) + 1.6
    # Fixed margins in inches, as in the drifted-features figure: room on the left for the
    # labels (about 0.055 in a 7-point character), above for the title, below for the axis
    # label and the legend. Constrained layout drew the same picture at twice the cost, on
    # most nights (this is the figure of a night without drift).
    heading = textwrap.wrap(f"{title}: no drift detected", 90)
    height += 0.2 * len(heading)
    left = min(0.25 + 0.055 * max(map(len, labels), default=0), width / 2)
    fig = figure_cls(figsize=(width, height))
    ax = fig.subplots(gridspec_kw={"left": left / width, "right": 1 - 0.25 / width, "top": 1 - (0.25 + 0.2 * len(heading)) / height, "bottom": 0.95 / height})
    if tested:
        pos = np.arange(len(tested))
        ax.barh(pos, [f.score for f in tested], color="tab:green", alpha=0.7, label="effect size")
        ax.scatter([f.threshold for f in tested], pos, marker="|", s=160, color="black", label="threshold")
        ax.set_yticks(pos, labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("effect size; drift needs it >= threshold and the test's p-value <= alpha", fontsize=8)
        fig.legend(fontsize=7, loc="lower center", ncols=2, frameon=False)
    else:
        ax.text(0.5, 0.5, "no feature could be tested", ha="center", va="center")
        ax.set_axis_off()
    fig.suptitle("\n".join(heading), fontsize=10)
    return fig


# --------------------------------------------------------------------------- HTML


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.3g}" if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e4) else f"{value:.4f}"


def _short(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2g}"


def _verdict_value(f: FeatureDrift) -> str:
    return f"{_short(f.score)} (>= {f.threshold:g}), p={_short(f.p_value)}"


def _missing_value(f: FeatureDrift) -> str:
    shares = f"{_null_share(f.nulls_reference, f.n_reference):.0%} -> {_null_share(f.nulls_current, f.n_current):.0%}"
    return f"{shares}, h={_short(f.missing_score)}, p={_short(f.missing_p_value)}"


_METHODS = {
    "wasserstein_ks": "effect: Wasserstein distance / robust scale of the reference, less sampling noise; test: two-sample Kolmogorov-Smirnov",
    "shares_chi2": "effect: Fisher-Rao distance of the category shares (Cohen's h for two), less sampling noise; test: chi-square on the "
    "reference/current count table (rare values pooled)",
    "shares_fisher": "effect: Cohen's h of the two category shares, less sampling noise; test: Fisher's exact test (sparse 2x2 table)",
    "empty": "no non-null values on one side; not tested",
    "skipped": "not tested: too few values, or a suspect column kind listed in drift.exclude (see the warnings)",
}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{font-size:1.4rem}table{border-collapse:collapse;width:100%;font-size:.85rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}tr.drift{background:#fde8e8}
.badge{display:inline-block;padding:.15rem .5rem;border-radius:.3rem;color:#fff;font-weight:600}
.yes{background:#c0392b}.no{background:#27ae60}img{max-width:100%;margin-top:1rem}dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dt{font-weight:600}.note{color:#666;font-size:.8rem}.warnings{color:#8a4b00}
"""


def _verdict_cell(drifted: bool, tested: bool) -> str:
    return "<b>drift</b>" if drifted else ("ok" if tested else "not tested")


def _html(result: DriftResult, title: str, png: bytes) -> str:
    e = html.escape
    verdict = '<span class="badge yes">dataset drift</span>' if result.dataset_drift else '<span class="badge no">no dataset drift</span>'
    drifted = ", ".join(e(name) for name in result.drifted_features) or "none"
    missing = ", ".join(e(name) for name in result.missing_drifted_features) or "none"
    rows = []
    for f in result.features:
        null_ref, null_cur = _null_share(f.nulls_reference, f.n_reference), _null_share(f.nulls_current, f.n_current)
        rows.append(
            f'<tr class="{"drift" if f.drifted or f.missing_drifted else ""}"><td>{e(f.feature)}</td><td>{f.kind}</td>'
            f'<td title="{e(_METHODS.get(f.method, f.method))}">{e(f.method)}</td><td class="num">{_fmt(f.score)}</td>'
            f'<td class="num">{_fmt(f.threshold)}</td><td class="num">{_fmt(f.p_value)}</td>'
            f"<td>{_verdict_cell(f.drifted, f.tested)}</td>"
            f'<td class="num">{f.n_reference:,}</td><td class="num">{f.n_current:,}</td>'
            f'<td class="num">{null_ref:.1%}</td><td class="num">{null_cur:.1%}</td><td class="num">{_fmt(f.missing_score)}</td>'
            f'<td class="num">{_fmt(f.missing_p_value)}</td><td>{_verdict_cell(f.missing_drifted, f.missing_p_value is not None)}</td>'
            f'<td class="note">{e(f.note)}</td></tr>'
        )
    used = sorted({f.method for f in result.features})
    legend = "".join(f"<li><b>{e(m)}</b>: {e(_METHODS.get(m, m))}</li>" for m in used)
    alphas = sorted({f.alpha for f in result.features if f.alpha is not None})
    rule = (
        f"A feature drifts when its effect size reaches its threshold and its test's p-value is at most {', '.join(map(_fmt, alphas))}. "
        "The effect size is the distance less the part sampling noise explains at these sizes."
        if alphas
        else ""
    )
    warnings = "".join(f"<li>{e(w['message'])}</li>" for w in result.warnings)
    warnings_block = f'<h2>Warnings</h2><ul class="warnings">{warnings}</ul>' if warnings else ""
    image = base64.b64encode(png).decode("ascii")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{e(title)}: data drift</title><style>{_CSS}</style></head>
<body>
<h1>{e(title)}: data drift</h1>
<p>{verdict}</p>
<dl>
<dt>Drifted features</dt><dd>{len(result.drifted_features)} of {result.tested} tested: {drifted}</dd>
<dt>Drift share</dt><dd>{result.drift_share:.1%} (dataset drift at &ge; {result.dataset_drift_share:.0%})</dd>
<dt>Null rate drifted</dt><dd>{len(result.missing_drifted_features)}: {missing}</dd>
<dt>Rows</dt><dd>reference {result.n_reference:,}, current {result.n_current:,}</dd>
</dl>
<p class="note">{e(rule)}</p>
{warnings_block}
<h2>Features</h2>
<table>
<thead><tr><th>feature</th><th>kind</th><th>method</th><th>score</th><th>threshold</th><th>p-value</th><th>verdict</th>
<th>n ref</th><th>n cur</th><th>null share ref</th><th>null share cur</th><th>null-rate h</th><th>null-rate p</th><th>null rate</th><th>note</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
<ul class="note">{legend}</ul>
<h2>Plots</h2>
<img alt="drift plots" src="data:image/png;base64,{image}">
</body></html>
"""
