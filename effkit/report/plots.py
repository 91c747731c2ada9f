"""Charts of the paper's argument: Figure 3, per-layer views and the roofline.

Every chart is one function that takes a DataFrame (or a :class:`~effkit.analysis.profile.Profile`) and returns a
:class:`matplotlib.figure.Figure`. Figures are built with the object-oriented API (``Figure()``, not ``pyplot``),
so nothing here touches matplotlib's global state, picks a backend or leaves figures open. Which rows a chart
compares is chosen in :mod:`effkit.report.select`, the numbers it plots come from :mod:`effkit.report.chart_data`,
and :func:`effkit.report.figures.save_figure` writes it as PNG, SVG or PDF.

What a chart had to leave out (models without accuracy, rows without energy, layers never measured) is said on
the figure itself and listed in ``fig.effkit_notes``; Figure 3 also sets ``fig.missing_accuracy`` and
``fig.missing_energy``.
"""

from __future__ import annotations

from effkit.devices import DeviceSpec, check_peaks, device_spec, load_device_specs  # noqa: F401 (re-exported)
from effkit.report.chart_data import as_layers, figure3_data, layer_rows, layers_setup, measured_frame
from effkit.report.figures import attach_notes, new_figure
from effkit.report.select import numeric, setup_label

#: Colour and marker of each family, so a family looks the same in every chart.
FAMILY_STYLES: dict[str, tuple[str, str]] = {
    "VoVNet": ("#d62728", "o"),
    "DenseNet": ("#1f77b4", "s"),
    "ResNet": ("#2ca02c", "^"),
    "MobileNet": ("#ff7f0e", "v"),
    "ShuffleNet": ("#9467bd", "P"),
    "EfficientNet": ("#8c564b", "X"),
    "ConvNeXt": ("#17becf", "h"),
    "other": ("#7f7f7f", "D"),
}

ACCURACY_LABEL = "ImageNet top-1 accuracy [%]"
TIME_LABEL = "inference time [ms / image]"
GFLOPS_LABEL = "achieved computation [GFLOP/s]"
ENERGY_LABEL = "energy [J / image]"


# ---------------------------------------------------------------------------------------------------------------
# Figure 3


def _scatter_families(ax, data, x: str, y: str, *, label_points: bool = True) -> None:
    rows = data.dropna(subset=[x, y])
    # A top-1 from a small or non-ImageNet folder is drawn hollow: it is not comparable to the published ones.
    caveat = (rows["accuracy_caveat"] != "") if ("top1" in (x, y) and "accuracy_caveat" in rows.columns) \
        else rows["model"].map(lambda _: False)
    for fam, (colour, marker) in FAMILY_STYLES.items():
        for hollow in (False, True):
            part = rows[(rows["family"] == fam) & (caveat == hollow)]
            if part.empty:
                continue
            ax.scatter(part[x], part[y], marker=marker, s=36, zorder=3, linewidths=0.4 if not hollow else 1.2,
                       label=fam + (f" ({CAVEAT_LABEL})" if hollow else ""),
                       **({"facecolors": "none", "edgecolors": colour} if hollow
                          else {"c": colour, "edgecolors": "black"}))
            if label_points:
                for name, xv, yv in zip(part["model"], part[x], part[y]):
                    ax.annotate(name + (" *" if hollow else ""), (xv, yv), xytext=(4, 3),
                                textcoords="offset points", fontsize=7)
    ax.grid(True, alpha=0.3)
    ax.margins(x=0.15, y=0.1)  # room for the labels of the outermost points
    if rows.empty:
        ax.text(0.5, 0.5, "nothing to show\n(see the notes below)", transform=ax.transAxes,
                ha="center", va="center", fontsize=9, color="#666666")
        ax.set_xticks([])  # an empty panel's default -0.06..0.06 range would read as data
        ax.set_yticks([])


#: The four panels of Figure 3: (letter, x column, y column, x label, y label, title).
FIGURE3_PANELS = (
    ("a", "time_ms_per_img", "top1", TIME_LABEL, ACCURACY_LABEL, "(a) accuracy vs inference time"),
    ("b", "gflops_per_s", "top1", GFLOPS_LABEL, ACCURACY_LABEL, "(b) accuracy vs computation efficiency"),
    ("c", "energy_j_per_img", "top1", ENERGY_LABEL, ACCURACY_LABEL, "(c) accuracy vs energy per image"),
    ("d", "gflops_per_s", "energy_j_per_img", GFLOPS_LABEL, ENERGY_LABEL,
     "(d) energy per image vs computation efficiency"),
)

CAVEAT_LABEL = "accuracy not from ImageNet val"


def figure3(results, accuracy=None, *, title: str | None = None, figsize=None, device: str | None = None,
            batch_size: int | None = None, dtype: str | None = None, input_size: int | None = None):
    """The paper's Figure 3 from measurements: accuracy, speed, computation efficiency and energy.

    Panels: (a) top-1 accuracy vs inference time per image, (b) accuracy vs achieved GFLOP/s,
    (c) accuracy vs energy per image, (d) energy per image vs GFLOP/s. A panel with no point to show is
    left out and a note says why. One colour/marker per family; every point is labelled with its model;
    a top-1 measured on a small or non-ImageNet folder is drawn hollow, its label marked ``*``.

    Args:
        results: measurements with at least ``model``, ``latency_ms`` and ``flops_per_s`` (or ``flops``);
            ``batch_size``, ``energy_j_per_img``, ``family``, ``gpu_name``/``device``, ``dtype``,
            ``input_shape``, ``status`` and ``timestamp`` are used when present. Several rows of a model:
            the latest successful one is plotted and a note says so.
        accuracy: accuracy table (``model``, ``top1``; see :func:`effkit.report.accuracy.load_accuracy`)
            or a ``{model: top1}`` mapping; default: the bundled reference table.
        title: figure title; default names the machine, batch size, dtype and input size.
        figsize: size in inches; default 11 wide, 8.5 high for four panels and 4.6 for one row.
        device, batch_size, dtype, input_size: pick one setup (see :func:`effkit.report.select.select_setup`).

    Returns:
        The Figure, with ``missing_accuracy`` (models left out of (a)-(c)), ``missing_energy`` (left out
        of (c) and (d)), ``effkit_notes``, ``data`` (the plotted numbers) and ``panels`` (``{letter: Axes}``
        of the panels drawn) attached.

    Raises:
        BadInputError: bad rows (see :func:`effkit.report.select.check_measurements`), or results that mix
            setups (machine, batch size, dtype, input size) without a filter picking one.
    """
    data, notes = figure3_data(results, accuracy, device=device, batch_size=batch_size, dtype=dtype,
                               input_size=input_size)
    shown = [p for p in FIGURE3_PANELS if not data.dropna(subset=[p[1], p[2]]).empty] or list(FIGURE3_PANELS[:1])
    empty = [p[0] for p in FIGURE3_PANELS if p not in shown]
    nrows, ncols = (2, 2) if len(shown) == 4 else (1, len(shown))
    fig, axes = new_figure(nrows, ncols, figsize or (11, 8.5 if nrows == 2 else 4.6))
    fig.panels = {}
    for ax, (letter, x, y, xlabel, ylabel, panel_title) in zip(axes.flat, shown):
        _scatter_families(ax, data, x, y)
        ax.set(xlabel=xlabel, ylabel=ylabel, title=panel_title)
        fig.panels[letter] = ax
    notes.extend(_figure3_notes(data, empty))
    handles = [legend_handle(fam) for fam in FAMILY_STYLES if (data["family"] == fam).any()]
    if any(p in fig.panels for p in "abc") and (data.dropna(subset=["top1"])["accuracy_caveat"] != "").any():
        handles.append(legend_handle("other", hollow=True))
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False, title="family",
               title_fontsize=8)
    fig.suptitle(title or f"Figure 3 — {setup_label(data.attrs['setup'])}", fontsize=11)
    attach_notes(fig, notes)
    fig.missing_accuracy = data.loc[data["top1"].isna(), "model"].tolist()
    fig.missing_energy = data.loc[data["energy_j_per_img"].isna(), "model"].tolist()
    fig.data = data
    return fig


def _figure3_notes(data, empty: list[str]) -> list[str]:
    """What Figure 3 left out or marks: models without accuracy or energy, caveated accuracy, empty panels."""
    notes = []
    missing_acc = data.loc[data["top1"].isna(), "model"].tolist()
    missing_energy = data.loc[data["energy_j_per_img"].isna(), "model"].tolist()
    if missing_acc:
        notes.append("no accuracy for " + ", ".join(missing_acc)
                     + ": left out of (a)-(c) (give it with an accuracy CSV); still in (d)")
    if missing_energy:
        why = ""
        if "energy_status" in data.columns:
            reasons = sorted({s for s in data.loc[data["energy_j_per_img"].isna(), "energy_status"] if s
                              and s.lower() not in ("nan", "none", "ok")})
            why = f" ({'; '.join(reasons)[:120]})" if reasons else ""
        notes.append("no energy measurement for " + ", ".join(missing_energy) + why + ": left out of (c) and (d)")
    for model, caveat in zip(data["model"], data["accuracy_caveat"]):
        if caveat:
            notes.append(f"accuracy of {model} * from {caveat}: drawn hollow, not comparable to published top-1")
    if empty:
        notes.append("panel(s) " + ", ".join(f"({p})" for p in empty) + " left out: no model has the numbers "
                     "they plot (see above)")
    return notes


def legend_handle(family: str, *, hollow: bool = False):
    """The legend entry of a family (its colour and marker), or of the hollow points drawn with a caveat."""
    from matplotlib.lines import Line2D

    colour, marker = FAMILY_STYLES[family]
    if hollow:
        return Line2D([], [], color="#444444", marker="o", linestyle="", markerfacecolor="none",
                      markeredgewidth=1.2, label=f"hollow, *: {CAVEAT_LABEL}")
    return Line2D([], [], color=colour, marker=marker, linestyle="", markeredgecolor="black",
                  markeredgewidth=0.4, label=family)


# ---------------------------------------------------------------------------------------------------------------
# per-layer views


#: Font size of the group names under a per-layer panel, and the least space between two of them: rotated
#: by 60 degrees, neighbouring labels keep a gap of spacing * sin(60) ~ 1.7 x the font size.
GROUP_LABEL_PT = 6
GROUP_LABEL_SPACING_PT = 2.0 * GROUP_LABEL_PT


def _group_axis(ax, rows) -> None:
    bounds = rows.groupby("group", sort=False)["x"].agg(["min", "max"])
    for i, (_, (lo, hi)) in enumerate(bounds.iterrows()):
        if i % 2:
            ax.axvspan(lo - 0.5, hi + 0.5, color="#000000", alpha=0.05, lw=0)
    centres = [(lo + hi) / 2 for lo, hi in bounds.itertuples(index=False)]
    widths = [hi - lo + 1 for lo, hi in bounds.itertuples(index=False)]
    n = rows["x"].max() + 1
    shown = _readable_labels(centres, widths, n, _axes_width_pt(ax))
    labels = [g if i in shown else "" for i, g in enumerate(bounds.index)]
    ax.set_xticks(centres, labels=labels, rotation=60, ha="right", fontsize=GROUP_LABEL_PT)
    ax.set_xlim(-0.5, rows["x"].max() + 0.5)


def _axes_width_pt(ax) -> float:
    # The width the layout gives the axes, less what a legend or labels beside it may take later.
    return ax.get_position().width * ax.figure.get_figwidth() * 72 * 0.8


def _readable_labels(centres, widths, n_layers: int, width_pt: float) -> set[int]:
    """The groups to name: the widest first, each at least GROUP_LABEL_SPACING_PT from every one named."""
    gap = GROUP_LABEL_SPACING_PT * n_layers / max(width_pt, 1.0)  # that spacing in layers (data units)
    chosen: list[int] = []
    for i in sorted(range(len(centres)), key=lambda k: (-widths[k], k)):
        if all(abs(centres[i] - centres[j]) >= gap for j in chosen):
            chosen.append(i)
    return set(chosen)


def _group_colours(rows) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    idx = {g: i for i, g in enumerate(dict.fromkeys(rows["group"]))}
    return [cmap(idx[g] % 10) for g in rows["group"]]


def layers_figure(profile_or_layers, compare=None, measured=None, *, group_depth: int | None = None,
                  figsize=None):
    """MAC, FLOPs and (when measured) latency / achieved FLOP/s per layer along the depth.

    One column per model (``compare`` adds a second, side by side, on shared y axes so DenseNet's MAC growing
    inside each dense block and OSA's flat profile compare directly). Bars are coloured and the x axis is
    labelled by group (stage / block). The last row plots each conv's MAC against its lower bound
    ``mac_min`` (reached when ci = co).

    Args:
        profile_or_layers: a :class:`~effkit.analysis.profile.Profile` or its ``layers`` DataFrame
            (columns ``name``, ``mac``, ``flops``; ``path``, ``mac_min`` and ``call`` used when present).
        compare: a second Profile / layers DataFrame, or None.
        measured: per-layer measurements (``name``, ``latency_ms``, optional ``flops_per_s``) of the first
            model, or a pair ``(first, second)``; adds the latency and achieved FLOP/s rows.
        group_depth: module depth that names a group; default chosen per model (see :func:`layer_rows`).
        figsize: size in inches; default grows with the number of rows and columns.

    Returns:
        The Figure, with ``effkit_notes`` attached.
    """
    models = [as_layers(profile_or_layers, "model")]
    if compare is not None:
        models.append(as_layers(compare, "compare"))
    if isinstance(measured, (list, tuple)):
        meas = list(measured) + [None] * (len(models) - len(measured))
    else:
        meas = [measured] + [None] * (len(models) - 1)
    rows = [layer_rows(df, group_depth=group_depth) for df, _ in models]
    meas = [measured_frame(m, r) for m, r in zip(meas, rows)]
    any_meas = any(m is not None for m in meas)
    kinds = ["mac", "flops", *(["latency_ms", "flops_per_s"] if any_meas else []), "mac_min"]
    ncols = len(models)
    fig, axes = new_figure(len(kinds), ncols, figsize or (6.5 * ncols, 2.3 * len(kinds)), sharey="row")
    notes: list[str] = []
    setups = [layers_setup(obj) for obj in ([profile_or_layers] + ([compare] if compare is not None else []))]
    legend: list = []
    for j, ((_, name), r, m) in enumerate(zip(models, rows, meas)):
        colours = _group_colours(r)
        for i, kind in enumerate(kinds):
            ax = axes[i][j]
            if kind in ("mac", "flops"):
                ax.bar(r["x"], numeric(r[kind]), width=0.9, color=colours, label=kind)
            elif kind in ("latency_ms", "flops_per_s"):
                _measured_panel(ax, kind, m, colours, name, notes)
            else:
                _mac_min_panel(ax, r, legend=j == 0)
            _layer_axes(ax, kind, r, ylabel=j == 0, last_row=i == len(kinds) - 1)
        where = (f"timed on {m.attrs['device']}" if m is not None and m.attrs.get("device")
                 else "timed, device not recorded" if m is not None else "static analysis on the meta device")
        axes[0][j].set_title(f"{name}: input {setups[j]['input_shape']}, {setups[j]['dtype']}, {where}",
                             fontsize=9)
        axes[-1][j].set_xlabel("layers in execution order, grouped by stage / block", fontsize=8)
        legend += _group_legend(r, name if ncols > 1 else None)
    fig.legend(handles=legend, loc="outside right upper", fontsize=6, frameon=False, title="stage / block",
               title_fontsize=7, ncols=1 if len(legend) <= 24 else 2)
    fig.suptitle("Per-layer memory access cost (MAC) and FLOPs along the depth"
                 + (" — " + " vs ".join(n for _, n in models) if ncols > 1 else ""), fontsize=11)
    attach_notes(fig, notes)
    return fig


#: Groups listed per model in a per-layer chart's colour legend; the rest are counted.
LEGEND_GROUPS = 20


def _group_legend(rows, model: str | None) -> list:
    """Legend handles: each group's colour and name (``model: group`` when models are compared)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    groups = list(dict.fromkeys(rows["group"]))
    colours = dict(zip(rows["group"], _group_colours(rows)))
    handles = [Patch(facecolor=colours[g], label=f"{model}: {g}" if model else g) for g in groups[:LEGEND_GROUPS]]
    if len(groups) > LEGEND_GROUPS:
        handles.append(Line2D([], [], linestyle="", label=f"... {len(groups) - LEGEND_GROUPS} more groups"))
    return handles


_LAYER_YLABELS = {"mac": "MAC [elements]", "flops": "FLOPs", "latency_ms": "latency [ms]",
                  "flops_per_s": "achieved FLOP/s", "mac_min": "conv MAC [elements] (log)"}


def _measured_panel(ax, kind: str, measured, colours, name: str, notes: list[str]) -> None:
    """The latency or achieved FLOP/s bars of the measured layers; a note counts the layers left out."""
    if measured is None:
        ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center", color="#666666")
        return
    ok = measured.dropna(subset=[kind])
    ax.bar(ok["x"], ok[kind], width=0.9, color=[colours[int(x)] for x in ok["x"]], label=kind)
    lost = int(measured[kind].isna().sum())
    if lost:
        notes.append(f"{name}: {lost} layer(s) without a measurement left out of the {kind} row")


def _mac_min_panel(ax, rows, *, legend: bool) -> None:
    """Each plain conv's MAC against its lower bound ``mac_min`` (log scale)."""
    convs = rows[numeric(rows["mac_min"]).notna()] if "mac_min" in rows.columns else rows.iloc[0:0]
    if convs.empty:
        ax.text(0.5, 0.5, "no plain conv layers", transform=ax.transAxes, ha="center", va="center",
                color="#666666")
        return
    ax.plot(convs["x"], numeric(convs["mac"]), "o", ms=3, color="#d62728", label="MAC")
    ax.plot(convs["x"], numeric(convs["mac_min"]), "_", ms=7, mew=1.5, color="black",
            label="mac_min (lower bound at the same FLOPs, ci = co)")
    ax.set_yscale("log")
    ratio = (numeric(convs["mac"]) / numeric(convs["mac_min"])).mean()
    ax.set_title(f"MAC vs its lower bound per conv (mean MAC/mac_min {ratio:.2f})", fontsize=8)
    if legend:
        ax.legend(fontsize=7, loc="upper left")


def _layer_axes(ax, kind: str, rows, *, ylabel: bool, last_row: bool) -> None:
    """Units, grid and the stage / block x axis of one per-layer panel."""
    from matplotlib.ticker import EngFormatter

    if kind in ("mac", "flops", "flops_per_s"):
        ax.yaxis.set_major_formatter(EngFormatter(sep=""))
    if ylabel:
        ax.set_ylabel(_LAYER_YLABELS[kind], fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    _group_axis(ax, rows)
    if not last_row:
        ax.tick_params(labelbottom=False)
    ax.tick_params(axis="y", labelsize=7)


# ---------------------------------------------------------------------------------------------------------------
# roofline


__all__ = [
    "FAMILY_STYLES", "FIGURE3_PANELS", "DeviceSpec", "check_peaks", "device_spec", "figure3", "layers_figure",
    "load_device_specs",
]
