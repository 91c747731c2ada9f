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
GFLOPS_LABEL = "achieved computation [FLOP/s]"  # plotted in GFLOP/s, the ticks in K/M/G/T FLOP/s (50G, 5T)
ENERGY_LABEL = "energy [J / image]"


# ---------------------------------------------------------------------------------------------------------------
# Figure 3


def _scatter_families(ax, data, x: str, y: str, *, label_points: bool = True) -> set[str]:
    """Draw each family's points of ``data`` (columns ``x``, ``y``); returns the families drawn.

    A top-1 from a small or non-ImageNet folder is drawn hollow (not comparable to the published ones); a row
    effkit does not trust (busy machine, noisy timing) is drawn grey with its family's colour on the edge."""
    from effkit.report.chart_marks import UNTRUSTED_FACE, add_label

    rows = data.dropna(subset=[x, y])
    caveat = (rows["accuracy_caveat"] != "") if ("top1" in (x, y) and "accuracy_caveat" in rows.columns) \
        else rows["model"].map(lambda _: False)
    doubt = rows["untrusted"].map(bool) if "untrusted" in rows.columns else rows["model"].map(lambda _: False)
    drawn: set[str] = set()
    for fam, (colour, marker) in FAMILY_STYLES.items():
        for hollow in (False, True):
            for grey in (False, True):
                part = rows[(rows["family"] == fam) & (caveat == hollow) & (doubt == grey)]
                if part.empty:
                    continue
                face = "none" if hollow else UNTRUSTED_FACE if grey else colour
                edge = colour if (hollow or grey) else "black"
                ax.scatter(part[x], part[y], marker=marker, s=36, zorder=3,
                           linewidths=1.2 if (hollow or grey) else 0.4, facecolors=face, edgecolors=edge,
                           label=fam + (f" ({CAVEAT_LABEL})" if hollow else "") + (" (not trusted)" if grey else ""))
                drawn.add(fam)
                if label_points:
                    for name, xv, yv in zip(part["model"], part[x], part[y]):
                        add_label(ax, xv, yv, name + (" *" if hollow else ""))
    ax.grid(True, alpha=0.3)
    ax.margins(x=0.15, y=0.1)  # room for the labels of the outermost points
    if rows.empty:
        ax.text(0.5, 0.5, "nothing to show\n(see the notes below)", transform=ax.transAxes,
                ha="center", va="center", fontsize=9, color="#666666")
        ax.set_xticks([])  # an empty panel's default -0.06..0.06 range would read as data
        ax.set_yticks([])
    return drawn


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
            batch_size: int | None = None, dtype: str | None = None, input_size: int | None = None,
            source: str | None = None):
    """The paper's Figure 3 from measurements: accuracy, speed, computation efficiency and energy.

    Panels: (a) top-1 accuracy vs inference time per image, (b) accuracy vs achieved GFLOP/s,
    (c) accuracy vs energy per image, (d) energy per image vs GFLOP/s. A panel with no point to show is
    left out and a note says why. One colour/marker per family; every point is labelled with its model;
    a top-1 measured on a small or non-ImageNet folder is drawn hollow, its label marked ``*``.

    Args:
        results: measurements with at least ``model``, ``latency_ms`` and ``flops_per_s`` (or ``flops`` and ``fps``);
            ``batch_size``, ``energy_j_per_img``, ``family``, ``gpu_name``/``device``, ``dtype``,
            ``input_shape``, ``status`` and ``timestamp`` are used when present. Several rows of a model:
            the latest successful one is plotted and a note says so.
        accuracy: accuracy table (``model``, ``top1``; see :func:`effkit.report.accuracy.load_accuracy`)
            or a ``{model: top1}`` mapping; default: the bundled reference table.
        title: figure title; default names the machine, batch size, dtype and input size.
        figsize: size in inches; default 11 wide, 8.5 high for four panels and 4.6 for one row.
        device, batch_size, dtype, input_size: pick one setup (see :func:`effkit.report.select.select_setup`).
        source: where the rows came from, written under the figure with the machine, batch, dtype and input
            (default: what ``results.attrs`` say; see :func:`effkit.report.chart_marks.data_source`).

    Returns:
        The Figure, with ``missing_accuracy`` (models left out of (a)-(c)), ``missing_energy`` (left out
        of (c) and (d)), ``effkit_notes``, ``data`` (the plotted numbers) and ``panels`` (``{letter: Axes}``
        of the panels drawn) attached.

    Raises:
        BadInputError: bad rows (see :func:`effkit.report.select.check_measurements`), or results that mix
            setups (machine, batch size, dtype, input size) without a filter picking one.
    """
    data, notes = figure3_data(results, accuracy, device=device, batch_size=batch_size, dtype=dtype,
                               input_size=input_size, source=source)
    shown = [p for p in FIGURE3_PANELS if not data.dropna(subset=[p[1], p[2]]).empty] or list(FIGURE3_PANELS[:1])
    empty = [p[0] for p in FIGURE3_PANELS if p not in shown]
    nrows, ncols = (2, 2) if len(shown) == 4 else (1, len(shown))
    fig, axes = new_figure(nrows, ncols, figsize or (11, 8.5 if nrows == 2 else 4.6))
    fig.panels = {}
    drawn: set[str] = set()
    for ax, (letter, x, y, xlabel, ylabel, panel_title) in zip(axes.flat, shown):
        drawn |= _scatter_families(ax, data, x, y)
        ax.set(xlabel=xlabel, ylabel=ylabel, title=panel_title)
        _gflops_ticks(ax, x == "gflops_per_s", y == "gflops_per_s")
        fig.panels[letter] = ax
    notes.extend(_figure3_notes(data, empty, list(fig.panels)))
    # The legend lists what is drawn: families with a point in a panel shown, the hollow and grey styles
    # only when a point shown has them.
    handles = [legend_handle(fam) for fam in FAMILY_STYLES if fam in drawn]
    in_panels = _points_shown(data, shown)
    if any(p in fig.panels for p in "abc") and (in_panels.dropna(subset=["top1"])["accuracy_caveat"] != "").any():
        handles.append(legend_handle("other", hollow=True))
    if in_panels["untrusted"].map(bool).any():
        from effkit.report.chart_marks import untrusted_handle

        handles.append(untrusted_handle())
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False, title="family",
               title_fontsize=8)
    fig.suptitle(title or f"Figure 3 — {setup_label(data.attrs['setup'])}", fontsize=11)
    fig.legend_labels = [h.get_label() for h in handles]
    attach_notes(fig, notes, data.attrs.get("provenance"))
    fig.missing_accuracy = data.loc[data["top1"].isna(), "model"].tolist()
    fig.missing_energy = data.loc[data["energy_j_per_img"].isna(), "model"].tolist()
    fig.data = data
    return fig


def _gflops_ticks(ax, x: bool, y: bool) -> None:
    """Ticks of a GFLOP/s axis as FLOP/s with a prefix: 5000 GFLOP/s reads 5T, 50 reads 50G."""
    from matplotlib.ticker import EngFormatter, FuncFormatter

    eng = EngFormatter(sep="")
    for on, axis in ((x, ax.xaxis), (y, ax.yaxis)):
        if on:
            axis.set_major_formatter(FuncFormatter(lambda v, _: eng(v * 1e9)))


def _points_shown(data, shown):
    """The rows of ``data`` with a point in at least one of the ``shown`` panels."""
    keep = data["model"].map(lambda _: False)
    for _, x, y, *_rest in shown:
        keep |= data[x].notna() & data[y].notna()
    return data[keep]


def _figure3_notes(data, empty: list[str], drawn: list[str] = ("a", "b", "c", "d")) -> list[str]:
    """What Figure 3 left out or marks: models without accuracy or energy, caveated accuracy, rows effkit
    does not trust, empty panels; each in terms of the panels ``drawn``."""
    from effkit.report.chart_marks import untrusted_note

    def panels(letters: str) -> str:
        got = [p for p in letters if p in drawn]
        if len(got) > 2 and got == list("abc"):
            return "(a)-(c)"
        return " and ".join(f"({p})" for p in got)

    notes = []
    missing_acc = data.loc[data["top1"].isna(), "model"].tolist()
    missing_energy = data.loc[data["energy_j_per_img"].isna(), "model"].tolist()
    if missing_acc:
        where = panels("abc")
        notes.append("no accuracy for " + ", ".join(missing_acc)
                     + (f": left out of {where}" if where else ": not drawn")
                     + " (give it with an accuracy CSV)" + ("; still in (d)" if "d" in drawn else ""))
        from effkit.report.accuracy import why_no_accuracy

        notes += [f"{m}: {why_no_accuracy(m)}" for m in missing_acc if why_no_accuracy(m)]
    if missing_energy:
        why = ""
        if "energy_status" in data.columns:
            reasons = sorted({s for s in data.loc[data["energy_j_per_img"].isna(), "energy_status"] if s
                              and s.lower() not in ("nan", "none", "ok")})
            why = f" ({'; '.join(reasons)[:120]})" if reasons else ""
        where = panels("cd")
        if where or len(missing_energy) < len(data):
            notes.append("no energy measurement for " + ", ".join(missing_energy) + why
                         + (f": left out of {where}" if where else ""))
        else:
            notes.append(f"no energy measured{why}: panel(s) (c), (d) left out (they plot energy per image)")
    for model, caveat in zip(data["model"], data["accuracy_caveat"]):
        if caveat:
            notes.append(f"accuracy of {model} * from {caveat}: drawn hollow, not comparable to published top-1")
    notes += untrusted_note(data["model"], data["untrusted"])
    empty_rest = [p for p in empty if not (p in "cd" and missing_energy and len(missing_energy) == len(data))]
    if empty_rest:
        notes.append("panel(s) " + ", ".join(f"({p})" for p in empty_rest) + " left out: no model has the numbers "
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
                  figsize=None, source: str | None = None):
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
        source: where the per-layer measurements came from (a store path, a CSV), written under the figure.

    Returns:
        The Figure, with ``effkit_notes`` and ``legend_labels`` (one entry per colour) attached.
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
    legend: list = []  # (model, its chart rows) for the colour legend
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
        legend.append((name, r))
    handles = _group_legend(legend)
    fig.legend(handles=handles, loc="outside right upper", fontsize=6, frameon=False, title="stage / block",
               title_fontsize=7)
    fig.legend_labels = [h.get_label() for h in handles]
    fig.suptitle("Per-layer memory access cost (MAC) and FLOPs along the depth"
                 + (" — " + " vs ".join(n for _, n in models) if ncols > 1 else ""), fontsize=11)
    attach_notes(fig, notes, _layers_provenance(models, setups, meas, source))
    return fig


def _layers_provenance(models, setups, meas, source: str | None) -> str:
    """Which data a per-layer chart shows: the static analysis (input, dtype), and where layers were timed."""
    shapes = " / ".join(dict.fromkeys(s["input_shape"] for s in setups))
    dtypes = " / ".join(dict.fromkeys(s["dtype"] for s in setups))
    batch = " / ".join(dict.fromkeys(s["input_shape"].split("x")[0] for s in setups))
    names = " and ".join(n for _, n in models)
    timed = [m.attrs["device"] for m in meas if m is not None and m.attrs.get("device")]
    where = (f"layers timed on {', '.join(dict.fromkeys(timed))} — {source or 'source not recorded'}" if timed
             else "not timed: MAC and FLOPs need no machine")
    return (f"data: effkit static analysis of {names} on the meta device, batch {batch}, {dtypes}, input "
            f"{shapes}; {where}")


#: Colours a per-layer chart cycles through (matplotlib's tab10); the legend has one entry per colour.
GROUP_COLOURS = 10


def _group_legend(models) -> list:
    """Legend handles, one per colour drawn (never more entries than colours): each names the groups that
    colour marks, per model when two are compared (``vovnet39: stage2 | densenet121: features.denseblock1``)."""
    import textwrap

    from matplotlib.patches import Patch

    by_colour: dict[int, dict[str, list[str]]] = {}
    for name, rows in models:
        for i, g in enumerate(dict.fromkeys(rows["group"])):
            by_colour.setdefault(i % GROUP_COLOURS, {}).setdefault(name, []).append(g)
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    handles = []
    for idx in sorted(by_colour):
        parts = by_colour[idx]
        text = " | ".join((f"{m}: " if len(models) > 1 else "") + ", ".join(gs) for m, gs in parts.items())
        # wrapped, not widened: a wide legend would take the width the layer bars need
        label = textwrap.fill(textwrap.shorten(text, 66, placeholder=" ..."), 22)
        handles.append(Patch(facecolor=cmap(idx), label=label))
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

    if kind in ("mac", "flops", "flops_per_s", "mac_min"):
        # K/M/G on the log axis too (400K, 1M, 3M), never 4 x 10^5
        ax.yaxis.set_major_formatter(EngFormatter(sep=""))
        ax.yaxis.set_minor_formatter(EngFormatter(sep=""))
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
