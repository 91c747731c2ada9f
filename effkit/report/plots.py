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

import math
import re
import textwrap
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from effkit.errors import BadInputError, setting
from effkit.report.chart_data import as_layers, family_of, figure3_data, layer_rows, layers_setup, measured_frame
from effkit.report.select import numeric, require_columns, setup_label

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
# shared drawing helpers


def _new_figure(nrows: int, ncols: int, figsize, **kw):
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _attach_notes(fig, notes: list[str]) -> None:
    fig.effkit_notes = list(notes)
    if notes:
        # Notes go in the figure itself, so a saved PNG still says what it left out; as the figure's
        # x super-label they get their own space from the constrained layout.
        width = max(60, int(fig.get_figwidth() * 15))
        lines = [textwrap.fill(n, width, subsequent_indent="    ") for n in notes]
        fig.supxlabel("\n".join(lines), fontsize=7, color="#444444", x=0.005, ha="left",
                      multialignment="left")


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
    fig, axes = _new_figure(nrows, ncols, figsize or (11, 8.5 if nrows == 2 else 4.6))
    fig.panels = {}
    for ax, (letter, x, y, xlabel, ylabel, panel_title) in zip(axes.flat, shown):
        _scatter_families(ax, data, x, y)
        ax.set(xlabel=xlabel, ylabel=ylabel, title=panel_title)
        fig.panels[letter] = ax
    notes.extend(_figure3_notes(data, empty))
    handles = [_legend_handle(fam) for fam in FAMILY_STYLES if (data["family"] == fam).any()]
    if any(p in fig.panels for p in "abc") and (data.dropna(subset=["top1"])["accuracy_caveat"] != "").any():
        handles.append(_legend_handle("other", hollow=True))
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False, title="family",
               title_fontsize=8)
    fig.suptitle(title or f"Figure 3 — {setup_label(data.attrs['setup'])}", fontsize=11)
    _attach_notes(fig, notes)
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


def _legend_handle(family: str, *, hollow: bool = False):
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
    fig, axes = _new_figure(len(kinds), ncols, figsize or (6.5 * ncols, 2.3 * len(kinds)), sharey="row")
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
    _attach_notes(fig, notes)
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


def check_peaks(peak_tflops: float | None = None, bandwidth_gbs: float | None = None) -> None:
    """Refuse a peak compute / bandwidth that is not a positive finite number (``None`` passes)."""
    # Beside the device table, whose user overrides it checks (device_spec calls it).
    for name, v in (("peak_tflops", peak_tflops), ("bandwidth_gbs", bandwidth_gbs)):
        if v is not None and not (v > 0 and math.isfinite(v)):
            raise BadInputError(f"{setting(name)} must be a positive number, got {v}", field=name)


@dataclass(frozen=True)
class DeviceSpec:
    """Peak compute and memory bandwidth of a device, the two roofs of a roofline.

    Attributes:
        name: display name (``"H100 SXM"``).
        peak_tflops: peak compute for the dtype plotted, TFLOP/s (dense).
        bandwidth_gbs: peak memory bandwidth, GB/s (10^9 bytes per second).
        dtype: dtype the peak refers to.
        source: where the numbers come from (vendor datasheet, or "user values").
        tdp_w: board power, W (NaN when unknown).
        other_peaks: further compute ceilings drawn dashed, as ``(label, tflops)`` pairs (TF32 tensor cores
            for float32: cuDNN convolutions use them by default).
    """

    name: str
    peak_tflops: float
    bandwidth_gbs: float
    dtype: str = "float32"
    source: str = ""
    tdp_w: float = math.nan
    other_peaks: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    @property
    def ridge_flop_per_byte(self) -> float:
        """Arithmetic intensity where the bandwidth roof meets the compute roof."""
        return self.peak_tflops * 1e12 / (self.bandwidth_gbs * 1e9)


_PEAK_COLUMNS = {"float32": "fp32_tflops", "float16": "fp16_tflops", "bfloat16": "bf16_tflops"}
DEVICE_COLUMNS = ["name", "aliases", "gpu_name_regex", "fp32_tflops", "tf32_tflops", "fp16_tflops",
                  "bf16_tflops", "bandwidth_gbs", "tdp_w", "source"]


def load_device_specs(path: str | Path | None = None):
    """The device table (bundled ``effkit/data/device_specs.csv``, or ``path``) as a DataFrame."""
    import pandas as pd

    p = Path(path) if path else Path(str(resources.files("effkit") / "data" / "device_specs.csv"))
    try:
        df = pd.read_csv(p)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise BadInputError(f"cannot read device specs {p}: {e}") from e
    missing = [c for c in ("name", "fp32_tflops", "bandwidth_gbs", "source") if c not in df.columns]
    if missing:
        raise BadInputError(f"device specs {p} lack column(s) {', '.join(missing)}")
    for c in DEVICE_COLUMNS:
        if c not in df.columns:
            df[c] = math.nan if c.endswith(("_tflops", "_gbs", "_w")) else ""
    return df


def device_spec(name: str | None = None, *, dtype: str = "float32", gpu_name: str | None = None,
                peak_tflops: float | None = None, bandwidth_gbs: float | None = None,
                path: str | Path | None = None) -> DeviceSpec:
    """Look up a device's peaks by name/alias or by the GPU name a measurement recorded; user values win.

    Args:
        name: a name or alias in the device table (``"H100 SXM"``, ``"h200"``, ``"titan x pascal"``).
        dtype: float32, float16 or bfloat16: picks the compute peak.
        gpu_name: the GPU name a measurement recorded (``"NVIDIA H100 80GB HBM3"``), matched against the
            table's ``gpu_name_regex`` when ``name`` is not given.
        peak_tflops: overrides the peak compute (TFLOP/s).
        bandwidth_gbs: overrides the bandwidth (GB/s).
        path: another device table with the same columns.

    Raises:
        BadInputError: unknown device, no peak for that dtype, or neither a device nor both user values.
    """
    from effkit.analysis.profile import dtype_name, parse_dtype

    dt = dtype_name(parse_dtype(dtype))
    check_peaks(peak_tflops, bandwidth_gbs)
    if name is None and gpu_name is None:
        if peak_tflops is None or bandwidth_gbs is None:
            raise BadInputError("no device to draw the roofs of: name one (--device-spec H100 SXM, H200, "
                                "'TITAN X (Pascal)') or give both --peak-tflops and --bandwidth-gbs")
        return DeviceSpec("user values", float(peak_tflops), float(bandwidth_gbs), dt, "user values")
    table = load_device_specs(path)
    row = None
    if name is not None:
        key = _norm(name)
        for rec in table.to_dict(orient="records"):
            aliases = [_norm(a) for a in str(rec.get("aliases") or "").split(";") if a.strip()]
            if key == _norm(rec["name"]) or key in aliases:
                row = rec
                break
        if row is None:
            raise BadInputError(f"unknown device {name!r}; known: {', '.join(map(str, table['name']))} "
                                "(or give --peak-tflops and --bandwidth-gbs)")
    else:
        for rec in table.to_dict(orient="records"):
            rx = rec.get("gpu_name_regex")
            if isinstance(rx, str) and rx and re.search(rx, gpu_name, flags=re.I):
                row = rec
                break
        if row is None:
            if peak_tflops is not None and bandwidth_gbs is not None:
                return DeviceSpec(gpu_name, float(peak_tflops), float(bandwidth_gbs), dt, "user values")
            raise BadInputError(f"no peaks known for {gpu_name!r}; name a device with --device-spec "
                                f"({', '.join(map(str, table['name']))}) or give --peak-tflops and --bandwidth-gbs")
    col = _PEAK_COLUMNS.get(dt)
    peak = row.get(col) if col else None
    if peak_tflops is not None:
        peak = peak_tflops
    if peak is None or (isinstance(peak, float) and math.isnan(peak)):
        raise BadInputError(f"the device table has no {dt} peak for {row['name']}; pass --peak-tflops")
    bw = bandwidth_gbs if bandwidth_gbs is not None else row.get("bandwidth_gbs")
    if bw is None or (isinstance(bw, float) and math.isnan(bw)):
        raise BadInputError(f"the device table has no bandwidth for {row['name']}; pass --bandwidth-gbs")
    others = []
    tf32 = row.get("tf32_tflops")
    if dt == "float32" and peak_tflops is None and isinstance(tf32, float) and not math.isnan(tf32):
        others.append(("TF32 tensor cores (cuDNN conv default)", float(tf32)))
    source = str(row.get("source") or "")
    if peak_tflops is not None or bandwidth_gbs is not None:
        source = "user values" + (f"; otherwise {source}" if source else "")
    tdp = row.get("tdp_w")
    return DeviceSpec(str(row["name"]), float(peak), float(bw), dt, source,
                      float(tdp) if tdp is not None else math.nan, tuple(others))


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-()]+", " ", str(text).lower()).strip()


def check_measured_on(rows, spec: DeviceSpec, *, allow_other_device: bool = False) -> None:
    """Refuse drawing the roofs of one device over points measured on another.

    A row's machine is its ``gpu_name`` when it ran on a GPU, else its CPU; rows that record neither, or
    that were never timed, are not checked, nor are peaks outside the device table (the user's own values).

    Raises:
        BadInputError: ``spec`` is a device of the table whose GPU names do not match where the rows ran,
            unless ``allow_other_device``.
    """
    from effkit.report.select import setup_key

    if allow_other_device or rows is None or not hasattr(rows, "columns"):
        return
    entry = [r for r in load_device_specs().to_dict(orient="records") if str(r["name"]) == spec.name]
    pattern = entry[0].get("gpu_name_regex") if entry else None
    if not isinstance(pattern, str) or not pattern:
        return
    timed = rows
    for col in ("latency_ms", "flops_per_s"):
        if col in rows.columns:
            timed = rows[numeric(rows[col]) > 0]
            break
    others = set()
    for rec in timed.to_dict(orient="records"):
        machine = setup_key(rec)["machine"]
        on_gpu = machine == str(rec.get("gpu_name") or "").strip()
        if machine != "unknown machine" and not (on_gpu and re.search(pattern, machine, flags=re.I)):
            others.add(machine)
    if others:
        raise BadInputError(
            f"roofline: the peaks of {spec.name} are not those of the device the rows were measured on ("
            + ", ".join(sorted(others))[:200] + f"); choose that device's peaks ({setting('device_spec')}, "
            f"{setting('peak_tflops')} and {setting('bandwidth_gbs')}) or pass {setting('allow_other_device')} "
            "to draw these roofs anyway", field="allow_other_device")


def roofline(points, device_spec: DeviceSpec | Mapping[str, Any], *, label_column: str | None = None,
             group_column: str | None = None, label_points: bool | None = None, title: str | None = None,
             figsize=(7.5, 5.5), allow_other_device: bool = False):
    """Arithmetic intensity (flops / mac_bytes) against achieved FLOP/s, under the device's two roofs.

    Measured points are filled; points without a measured ``flops_per_s`` (static per-layer analysis, say)
    are drawn hollow at the roofline bound ``min(peak, bandwidth × intensity)`` — the most they could reach —
    and a note says so.

    Args:
        points: one row per model or per layer: ``flops``, ``mac_bytes`` and optionally ``flops_per_s``
            (FLOP/s), ``family`` and a label column.
        device_spec: a :class:`DeviceSpec` (see :func:`device_spec`) or a mapping with ``peak_tflops``,
            ``bandwidth_gbs`` and optionally ``name``.
        label_column: column naming each point; default ``model`` or else ``name``.
        group_column: column giving each point its colour and marker: ``"family"`` (VoVNet / DenseNet /
            ResNet / other, from the column or the model name) or any other column (per-layer points:
            ``"type"``, the most common seven kept, the rest "other"). Default: ``type`` for per-layer
            points (labelled by ``name``) that have it, else ``family``.
        label_points: write labels beside points; default when there are at most 25 points.
        title: figure title.
        figsize: size in inches.
        allow_other_device: draw the roofs even when ``points`` record another device (see
            :func:`check_measured_on`).

    Returns:
        The Figure, with ``effkit_notes`` and ``data`` (intensity and GFLOP/s per point) attached.

    Raises:
        BadInputError: missing columns, no usable point, roofs that are not positive, or the peaks of a
            device the points were not measured on.
    """
    spec = _as_device_spec(device_spec)
    require_columns(points, ["flops", "mac_bytes"], "roofline")
    check_measured_on(points, spec, allow_other_device=allow_other_device)
    label_column = label_column or ("model" if "model" in points.columns else "name")
    if label_column not in points.columns:
        raise BadInputError(f"roofline: missing column {label_column} to label the points")
    data, df, notes = _roofline_points(points, spec, label_column)
    if group_column is None:
        group_column = "type" if (label_column == "name" and "type" in df.columns) else "family"
    styles = _group_points(data, df, group_column)

    fig, axes = _new_figure(1, 1, figsize)
    ax = axes[0][0]
    _draw_roofs(ax, spec, data["intensity_flop_per_byte"])
    _draw_points(ax, data, styles, len(data) <= 25 if label_points is None else label_points)
    bound = int((~data["measured"]).sum())
    if bound:
        notes.append(f"{bound} point(s) not measured: drawn hollow at the roofline bound "
                     "min(peak, bandwidth x intensity)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity = FLOPs / MAC bytes [FLOP / byte]")
    ax.set_ylabel("achieved computation [GFLOP/s]")
    ax.grid(True, which="both", alpha=0.25)
    # Outside the axes, so it never covers a roof or a point; the constrained layout makes room for it.
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    ax.set_title(title or f"Roofline — {spec.name} ({spec.dtype}); ridge at "
                 f"{spec.ridge_flop_per_byte:.0f} FLOP/byte", fontsize=10)
    if spec.source:
        notes.append(f"peaks of {spec.name}: {spec.source}")
    _attach_notes(fig, notes)
    fig.data = data
    return fig


def _as_device_spec(spec: DeviceSpec | Mapping[str, Any]) -> DeviceSpec:
    """A :class:`DeviceSpec` from itself or from a mapping; roofs that are not positive are bad input."""
    if not isinstance(spec, DeviceSpec):
        spec = DeviceSpec(str(spec.get("name", "device")), float(spec["peak_tflops"]), float(spec["bandwidth_gbs"]),
                          str(spec.get("dtype", "float32")), str(spec.get("source", "")))
    if not (spec.peak_tflops > 0 and spec.bandwidth_gbs > 0):
        raise BadInputError("roofline: peak TFLOP/s and bandwidth GB/s must be positive")
    return spec


def _roofline_points(points, spec: DeviceSpec, label_column: str):
    """(plotted numbers per point, the rows kept, notes): intensity, achieved and bound GFLOP/s."""
    import numpy as np
    import pandas as pd

    df = points.copy()
    flops = numeric(df["flops"])
    mac_bytes = numeric(df["mac_bytes"])
    keep = (flops > 0) & (mac_bytes > 0)
    notes: list[str] = []
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} point(s) without FLOPs or bytes moved left out")
    df, flops, mac_bytes = df[keep], flops[keep], mac_bytes[keep]
    if df.empty:
        raise BadInputError("roofline: no point has both flops and mac_bytes above zero")
    ai = flops / mac_bytes  # FLOP per byte moved
    roof = np.minimum(spec.peak_tflops * 1e12, spec.bandwidth_gbs * 1e9 * ai)
    achieved = numeric(df["flops_per_s"]) if "flops_per_s" in df.columns else pd.Series(np.nan, index=df.index)
    achieved = achieved.where(achieved > 0)
    data = pd.DataFrame({"label": df[label_column].astype(str).values, "intensity_flop_per_byte": ai.values,
                         "gflops_per_s": (achieved / 1e9).values, "bound_gflops_per_s": (roof / 1e9).values,
                         "measured": achieved.notna().values})
    return data, df, notes


def _group_points(data, df, group_column: str) -> dict:
    """Set ``data["group"]`` and return ``{group: (colour, marker)}``: families, or the seven commonest values."""
    import pandas as pd

    if group_column == "family":
        fam = df["family"] if "family" in df.columns else pd.Series([None] * len(df), index=df.index)
        data["group"] = [family_of(m, f) for m, f in zip(data["label"], fam)]
        return dict(FAMILY_STYLES)
    if group_column not in df.columns:
        raise BadInputError(f"roofline: missing column {group_column} to colour the points by")
    from matplotlib import colormaps

    kinds = df[group_column].astype(str).values
    common = list(pd.Series(kinds).value_counts().index[:7])
    data["group"] = [k if k in common else "other" for k in kinds]
    markers = "os^Dv<>p"
    cmap = colormaps["tab10"]
    styles = {k: (cmap(i), markers[i]) for i, k in enumerate(common)}
    styles["other"] = ("#7f7f7f", "x")
    return styles


def _draw_roofs(ax, spec: DeviceSpec, ai) -> None:
    """The compute and bandwidth roofs (and further compute ceilings, dashed) over the points' range."""
    import numpy as np

    lo = min(ai.min(), spec.ridge_flop_per_byte) / 4
    hi = max(ai.max(), spec.ridge_flop_per_byte) * 4
    xs = np.geomspace(lo, hi, 200)
    ax.plot(xs, np.minimum(spec.peak_tflops * 1e3, spec.bandwidth_gbs * xs), color="black", lw=1.5,
            label=f"roofline: {spec.peak_tflops:g} TFLOP/s {spec.dtype}, {spec.bandwidth_gbs:g} GB/s")
    for label, tflops in spec.other_peaks:
        ax.plot(xs, np.minimum(tflops * 1e3, spec.bandwidth_gbs * xs), color="black", lw=0.8, ls="--",
                label=f"{label}: {tflops:g} TFLOP/s")


def _draw_points(ax, data, styles: dict, label_points: bool) -> None:
    """Measured points filled, the others hollow at their bound; labels beside them when asked."""
    measured = data[data["measured"]]
    bound = data[~data["measured"]]
    for group, (colour, marker) in styles.items():
        part = measured[measured["group"] == group]
        if len(part):
            ax.scatter(part["intensity_flop_per_byte"], part["gflops_per_s"], color=colour, marker=marker, s=30,
                       edgecolors="black", linewidths=0.4, zorder=3, label=f"{group} (measured)")
        part = bound[bound["group"] == group]
        if len(part):
            ax.scatter(part["intensity_flop_per_byte"], part["bound_gflops_per_s"], facecolors="none",
                       edgecolors=[colour], marker=marker, s=30, zorder=3, label=f"{group} (bound, not measured)")
    if label_points:
        for rec in data.itertuples(index=False):
            y = rec.gflops_per_s if rec.measured else rec.bound_gflops_per_s
            ax.annotate(rec.label, (rec.intensity_flop_per_byte, y), xytext=(4, 3), textcoords="offset points",
                        fontsize=7)


__all__ = [
    "FAMILY_STYLES", "FIGURE3_PANELS", "DeviceSpec", "check_measured_on", "check_peaks", "device_spec", "figure3",
    "layers_figure", "load_device_specs", "roofline",
]
