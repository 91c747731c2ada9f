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
from effkit.report.select import numeric, require_columns


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

    fig, axes = new_figure(1, 1, figsize)
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
    attach_notes(fig, notes)
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


__all__ = ["check_measured_on", "roofline"]
