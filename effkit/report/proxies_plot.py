"""The proxy scoreboard as a chart: one scatter panel per proxy against the measured latency (or J/img)."""

from __future__ import annotations

import math

from effkit.errors import BadInputError

#: Axis labels of the proxies and targets.
LABELS = {
    "params": "parameters", "mult_adds": "multiply-adds", "flops": "FLOPs", "paper_mac": "paper MAC [elements]",
    "mac": "MAC, all ops [elements]", "mac_fused": "fused MAC [elements]", "activations": "activations [elements]",
    "roofline_latency_ms": "roofline-predicted latency [ms]",
    "calibrated_latency_ms": "calibrated-predicted latency [ms]",
    "latency_ms": "measured latency [ms / batch]", "energy_j_per_img": "measured energy [J / image]",
}


def proxies_figure(rows, *, target: str = "latency_ms", proxies=None, title: str | None = None,
                   panel_size=(3.4, 2.9), source: str | None = None, notes=()):
    """One panel per proxy: proxy (x) against the measured ``target`` (y), points labelled by model.

    Points take their family's colour and marker (as in Figure 3); each panel's title gives the Spearman
    and Pearson correlation over the models shown.

    Args:
        rows: one group of comparable measurements, one row per model (see
            :func:`effkit.prediction.proxies.proxy_groups`), with the proxy columns.
        target: ``latency_ms`` or ``energy_j_per_img``.
        proxies: the proxies to draw (default: every one of :data:`~effkit.prediction.proxies.PROXIES`
            with at least two values).
        source: where the rows came from, written under the figure with the machine, batch, dtype and input
            (default: what ``rows.attrs`` say; see :func:`effkit.report.chart_marks.data_source`).
        notes: more notes to write under the figure (what the selection of ``rows`` left out, say).

    Rows effkit does not trust (see :mod:`effkit.trust`) are drawn grey and named in a note.

    Raises:
        BadInputError: no rows, no target values, or no proxy with two values.
    """
    import pandas as pd

    from effkit.prediction.proxies import MIN_MODELS, PROXIES, correlations
    from effkit.report.chart_data import family_of
    from effkit.report.figures import attach_notes, new_figure
    from effkit.report.plots import FAMILY_STYLES, legend_handle

    if not isinstance(rows, pd.DataFrame) or rows.empty or "model" not in rows.columns:
        raise BadInputError("no measurements to draw the proxies of")
    if target not in rows.columns or pd.to_numeric(rows[target], errors="coerce").notna().sum() < 2:
        raise BadInputError(f"fewer than two models have a measured {target}: nothing to correlate")
    y = pd.to_numeric(rows[target], errors="coerce")
    wanted = list(proxies or PROXIES)
    shown = [p for p in wanted if p in rows.columns and pd.to_numeric(rows[p], errors="coerce").notna().sum() >= 2]
    if not shown:
        raise BadInputError(f"none of the proxies {', '.join(wanted)} has values for two models")
    ncols = min(3, len(shown))
    nrows = math.ceil(len(shown) / ncols)
    fig, axes = new_figure(nrows, ncols, (panel_size[0] * ncols, panel_size[1] * nrows))
    fams = rows["family"] if "family" in rows.columns else pd.Series([None] * len(rows), index=rows.index)
    family = [family_of(str(m), f) for m, f in zip(rows["model"], fams)]
    from effkit.report.chart_marks import (
        UNTRUSTED_FACE, add_label, data_source, eng_axes, provenance_line, untrusted_handle, untrusted_note,
    )
    from effkit.trust import trust_tags

    doubt = [trust_tags(rec) for rec in rows.to_dict(orient="records")]
    for ax, proxy in zip(axes.flat, shown):
        x = pd.to_numeric(rows[proxy], errors="coerce")
        rho, r, n = correlations(x, y)
        for fam, (colour, marker) in FAMILY_STYLES.items():
            for grey in (False, True):
                sel = [i for i, f in enumerate(family) if f == fam and bool(doubt[i]) == grey
                       and x.iloc[i] == x.iloc[i] and y.iloc[i] == y.iloc[i]]
                if sel:
                    ax.scatter(x.iloc[sel], y.iloc[sel], marker=marker, s=28, zorder=3,
                               facecolors=UNTRUSTED_FACE if grey else colour,
                               edgecolors=colour if grey else "black", linewidths=1.0 if grey else 0.4)
        for xi, yi, m in zip(x, y, rows["model"].astype(str)):
            if xi == xi and yi == yi:
                add_label(ax, xi, yi, m, fontsize=6)
        ax.set_title(f"{proxy}\nSpearman {rho:.2f}, Pearson {r:.2f} (n={n})", fontsize=8)
        ax.set_xlabel(LABELS.get(proxy, proxy), fontsize=8)
        ax.set_ylabel(LABELS.get(target, target), fontsize=8)
        eng_axes(ax)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    handles = [legend_handle(f) for f in FAMILY_STYLES if f in family]
    if any(doubt):
        handles.append(untrusted_handle())
    if handles:
        fig.legend(handles=handles, loc="outside right upper", fontsize=7, frameon=False, title="family",
                   title_fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    n_models = int(y.notna().sum())
    notes = list(notes) + ([f"only {n_models} models: the correlations mean little"] if n_models < MIN_MODELS
                           else [])
    notes += untrusted_note(rows["model"].astype(str), doubt)
    attach_notes(fig, notes, provenance_line(rows, data_source(rows, source)))
    fig.effkit_panels = shown
    return fig
