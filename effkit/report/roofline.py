"""The roofline chart: arithmetic intensity (FLOPs / bytes moved) against achieved FLOP/s under a device's roofs.

One function per chart, as in :mod:`effkit.report.plots` (whose family styles and note helpers it shares);
:func:`check_measured_on` refuses drawing one device's roofs over points measured on another.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from effkit.devices import DeviceSpec, load_device_specs
from effkit.errors import BadInputError, setting
from effkit.report.figures import attach_notes, new_figure
from effkit.report.plots import FAMILY_STYLES
from effkit.report.chart_data import family_of
from effkit.report.chart_marks import add_label, data_source, provenance_line, untrusted_handle, untrusted_note
from effkit.report.select import numeric, require_columns

#: The name and source :func:`effkit.devices.device_spec` gives peaks typed in by the user.
USER_VALUES = "user values"


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


def spec_for_rows(rows=None, name: str | None = None, *, dtype: str | None = None,
                  peak_tflops: float | None = None, bandwidth_gbs: float | None = None) -> DeviceSpec:
    """The device peaks to draw over ``rows``: the device ``name``d, or the GPU the rows were measured on, in
    ``dtype`` (default: the rows' one dtype, else float32), with ``peak_tflops``/``bandwidth_gbs`` replacing or
    completing its entry — the one rule of ``plot roofline`` and ``report``.

    Raises:
        BadInputError: the rows mix GPUs and not both peaks are given; no device is named, recorded or given.
    """
    from effkit.devices import device_spec
    from effkit.report.select import describe_setup

    if dtype is None and rows is not None:
        dts = describe_setup(rows)["dtype"].split(" / ")
        dtype = dts[0] if len(dts) == 1 and dts[0] != "?" else None
    gpu_name = None
    if name is None and rows is not None and "gpu_name" in rows.columns:
        gpus = sorted({str(g) for g in rows["gpu_name"].dropna() if str(g).strip()})
        if len(gpus) > 1 and (peak_tflops is None or bandwidth_gbs is None):
            raise BadInputError("the measurements mix GPUs (" + ", ".join(gpus) + f"); pick one with "
                                f"{setting('device')}", field="device")
        gpu_name = gpus[0] if gpus else None
    return device_spec(name, dtype=dtype or "float32", gpu_name=gpu_name, peak_tflops=peak_tflops,
                       bandwidth_gbs=bandwidth_gbs)


def roofline(points, device_spec: DeviceSpec | Mapping[str, Any], *, label_column: str | None = None,
             group_column: str | None = None, label_points: bool | None = None, title: str | None = None,
             figsize=(7.5, 5.5), allow_other_device: bool = False, source: str | None = None, setup=None):
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
        source: where the points came from, written under the figure with the machine, batch, dtype and input
            (default: what ``points.attrs`` say; see :func:`effkit.report.chart_marks.data_source`).
        setup: the measurement row(s) the points come from when they are layers (machine, batch size, dtype,
            input shape); default: the points themselves.

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

    fig, axes = new_figure(1, 1, figsize)
    ax = axes[0][0]
    _draw_roofs(ax, spec, data["intensity_flop_per_byte"])
    _draw_points(ax, data, styles, len(data) <= 25 if label_points is None else label_points)
    bound = int((~data["measured"]).sum())
    if bound:
        notes.append(f"{bound} point(s) not measured: drawn hollow at the roofline bound "
                     "min(peak, bandwidth x intensity)")
    above = data[data["measured"] & (data["gflops_per_s"] > data["bound_gflops_per_s"] * 1.0001)]
    if len(above):
        notes.append(f"{len(above)} point(s) above the roofs ({', '.join(above['label'][:6])}): this device "
                     "reached more than the roofs drawn allow (peaks too low, or data served from caches faster "
                     "than the bandwidth given)")
    notes += untrusted_note(data["label"], data["untrusted"])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity = FLOPs / MAC bytes [FLOP / byte]")
    ax.set_ylabel("achieved computation [FLOP/s]")  # points in GFLOP/s, ticks say 10G, 100G, 1T
    _flops_axis(ax)
    ax.grid(True, which="both", alpha=0.25)
    # Outside the axes, so it never covers a roof or a point; the constrained layout makes room for it.
    handles, _ = ax.get_legend_handles_labels()
    if data["measured"].any():  # families drawn only hollow still need their colour named
        named = {h.get_label() for h in handles}
        handles += [_style_handle(styles[g], g) for g in dict.fromkeys(data.loc[~data["measured"], "group"])
                    if g not in named]
    if data["untrusted"].map(bool).any():
        handles.append(untrusted_handle())
    if data["measured"].any() and (~data["measured"]).any():
        handles.append(_style_handle(("#444444", "o"), "hollow: not measured, at its bound", hollow=True))
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    import textwrap

    # wrapped to the figure's width: a long default title would run off its left edge
    ax.set_title(title or "\n".join(textwrap.wrap(f"Roofline — {roofs_title(spec)}", int(figsize[0] * 9))),
                 fontsize=10)
    notes.append(_peaks_note(spec, df if setup is None else setup))
    attach_notes(fig, notes, provenance_line(df if setup is None else setup, data_source(points, source)))
    fig.data = data
    return fig


def _style_handle(style, label: str, *, hollow: bool = False):
    from matplotlib.lines import Line2D

    colour, marker = style
    return Line2D([], [], color=colour, marker=marker, linestyle="", markerfacecolor="none" if hollow else colour,
                  markeredgecolor=colour if hollow else "black", markeredgewidth=0.8, label=label)


def roofs_title(spec: DeviceSpec) -> str:
    """Whose roofs: the device's name, or the two numbers when the user gave them (no device name to show)."""
    ridge = f"ridge at {spec.ridge_flop_per_byte:.3g} FLOP/byte"
    if spec.name == USER_VALUES:
        return f"roofs given by hand ({spec.peak_tflops:g} TFLOP/s {spec.dtype}, {spec.bandwidth_gbs:g} GB/s); {ridge}"
    return f"{spec.name} ({spec.dtype}); {ridge}"


def _peaks_note(spec: DeviceSpec, rows) -> str:
    """Where the roofs come from, in words a reader of the PNG understands."""
    if spec.source == USER_VALUES or spec.name == USER_VALUES:
        text = (f"roofs: {spec.peak_tflops:g} TFLOP/s and {spec.bandwidth_gbs:g} GB/s as given by the user, not "
                "from a datasheet")
        if _runs_on_cpu(rows):
            text += ("; a CPU's compute roof is threads x clock x FLOP per cycle per core (32 float32 FLOP per "
                     "cycle for two 256-bit FMA units), for the threads that ran")
        return text
    if spec.source.startswith(USER_VALUES):
        return f"roofs of {spec.name}: {spec.source.replace(USER_VALUES, 'given by the user', 1)}"
    return f"roofs of {spec.name}: {spec.source}" if spec.source else f"roofs of {spec.name}"


def _runs_on_cpu(rows) -> bool:
    """Whether the rows were timed on a CPU (a ``cpu`` device, or a CPU model recorded and no GPU)."""
    if rows is None or not hasattr(rows, "to_dict") or not len(rows):
        return False
    for rec in rows.to_dict(orient="records"):
        device, gpu, cpu = (str(rec.get(k) or "").strip().lower() for k in ("device", "gpu_name", "cpu_model"))
        gpu, cpu = ("" if v in ("nan", "none") else v for v in (gpu, cpu))
        if device.startswith("cpu") or (cpu and not gpu):
            return True
    return False


def _flops_axis(ax) -> None:
    """Ticks in K/M/G/T on both log axes: FLOP/s as 10G, 1T (the points are in GFLOP/s), intensity as 1, 10, 100;
    an axis spanning less than two decades also labels its 2x and 5x minor ticks, so it shows more than one value."""
    import math

    from matplotlib.ticker import EngFormatter, FuncFormatter

    eng = EngFormatter(sep="")

    def minor(axis_limits, scale):
        def fmt(v, _):
            lo, hi = sorted(axis_limits())
            if v <= 0 or lo <= 0 or math.log10(hi / lo) >= 2:
                return ""
            mantissa = round(v / 10 ** math.floor(math.log10(v)), 6)
            return eng(v * scale) if mantissa in (2.0, 5.0) else ""
        return FuncFormatter(fmt)

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: eng(v * 1e9)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: eng(v)))
    ax.yaxis.set_minor_formatter(minor(ax.get_ylim, 1e9))
    ax.xaxis.set_minor_formatter(minor(ax.get_xlim, 1.0))


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
    from effkit.trust import trust_tags

    data["untrusted"] = [trust_tags(rec) for rec in df.to_dict(orient="records")]
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
    """Measured points filled (grey with their colour on the edge when effkit does not trust them), the others
    hollow at their bound; labels beside them, placed not to overprint, when asked."""
    from effkit.report.chart_marks import UNTRUSTED_FACE

    doubt = data["untrusted"].map(bool)
    measured = data[data["measured"]]
    bound = data[~data["measured"]]
    for group, (colour, marker) in styles.items():
        for grey in (False, True):
            part = measured[(measured["group"] == group) & (doubt[measured.index] == grey)]
            if len(part):
                ax.scatter(part["intensity_flop_per_byte"], part["gflops_per_s"], marker=marker, s=30, zorder=3,
                           facecolors=UNTRUSTED_FACE if grey else [colour], edgecolors=[colour] if grey else "black",
                           linewidths=1.0 if grey else 0.4,
                           # one legend entry per colour: the grey and hollow styles get one entry each
                           label=f"{group}" if not grey else f"_{group} (not trusted)")
        part = bound[bound["group"] == group]
        if len(part):
            ax.scatter(part["intensity_flop_per_byte"], part["bound_gflops_per_s"], facecolors="none",
                       edgecolors=[colour], marker=marker, s=30, zorder=3,
                       label=f"_{group} (bound)" if len(measured) else group)
    if label_points:
        for rec in data.itertuples(index=False):
            y = rec.gflops_per_s if rec.measured else rec.bound_gflops_per_s
            add_label(ax, rec.intensity_flop_per_byte, y, rec.label)


__all__ = ["check_measured_on", "roofline", "roofs_title"]
