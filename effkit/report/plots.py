"""Charts of the paper's argument: Figure 3, per-layer views and the roofline.

Every chart is one function that takes a DataFrame (or a :class:`~effkit.analysis.profile.Profile`) and returns a
:class:`matplotlib.figure.Figure`. Figures are built with the object-oriented API (``Figure()``, not ``pyplot``),
so nothing here touches matplotlib's global state, picks a backend or leaves figures open; :func:`save_figure`
writes them as PNG, SVG or PDF.

What a chart had to leave out (models without accuracy, rows without energy, layers never measured) is said on
the figure itself and listed in ``fig.effkit_notes``; Figure 3 also sets ``fig.missing_accuracy`` and
``fig.missing_energy``.
"""

from __future__ import annotations

import math
import re
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Mapping

from effkit.devices import DeviceSpec, check_peaks, device_spec, load_device_specs
from effkit.errors import BadInputError

#: Colour and marker of each family, so a family looks the same in every chart.
FAMILY_STYLES: dict[str, tuple[str, str]] = {
    "VoVNet": ("#d62728", "o"),
    "DenseNet": ("#1f77b4", "s"),
    "ResNet": ("#2ca02c", "^"),
    "other": ("#7f7f7f", "D"),
}

FIGURE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

ACCURACY_LABEL = "ImageNet top-1 accuracy [%]"
TIME_LABEL = "inference time [ms / image]"
GFLOPS_LABEL = "achieved computation [GFLOP/s]"
ENERGY_LABEL = "energy [J / image]"


# ---------------------------------------------------------------------------------------------------------------
# shared helpers


def family_of(model: str, family: Any = None) -> str:
    """``"VoVNet"``, ``"DenseNet"``, ``"ResNet"`` or ``"other"`` from a family column value or the model name."""
    for text in (family, model):
        if not isinstance(text, str):
            continue
        low = text.lower()
        # "osa"/"vov" first: an OSA variant of DenseNet-40 belongs with the one-shot aggregation family.
        if "vov" in low or "osa" in low:
            return "VoVNet"
        if "densenet" in low:
            return "DenseNet"
        if "resnet" in low:
            return "ResNet"
    return "other"


def _new_figure(nrows: int, ncols: int, figsize, **kw):
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, **kw)
    return fig, axes


def _require(df, columns: Iterable[str], what: str) -> None:
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise BadInputError(f"{what}: expected a pandas DataFrame, got {type(df).__name__}")
    if df.empty:
        raise BadInputError(f"{what}: no rows to plot (the results are empty)")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise BadInputError(
            f"{what}: missing column(s) {', '.join(missing)}; the results have {', '.join(map(str, df.columns[:12]))}"
            + (" ..." if len(df.columns) > 12 else "")
        )


def _num(series):
    import pandas as pd

    return pd.to_numeric(series, errors="coerce")


_MISSING_TEXT = {"", "nan", "none", "null", "na", "n/a"}


def _strict_num(df, column: str, what: str):
    """``df[column]`` as numbers; empty cells become NaN, text that is not a number is bad input.

    A CSV cell such as ``abc`` would otherwise turn silently into a missing value and the chart would
    quietly drop or misplace the model.
    """
    raw = df[column]
    nums = _num(raw)
    text = raw.astype(str).str.strip().str.lower()
    bad = nums.isna() & raw.notna() & ~text.isin(_MISSING_TEXT)
    if bad.any():
        examples = ", ".join(repr(v) for v in dict.fromkeys(raw[bad].astype(str)))
        raise BadInputError(f"{what}: column {column} holds values that are not numbers ({examples[:80]}); "
                            "fix or empty those cells")
    return nums


def check_measurements(results, what: str = "results") -> None:
    """Refuse measurements that Figure 3 and the report cannot use, before any drawing.

    Needs rows with ``model`` and ``latency_ms`` and one of ``flops_per_s`` / ``flops``; every numeric column
    used (``latency_ms``, ``flops_per_s``, ``flops``, ``batch_size``, ``energy_j_per_img``) must hold numbers
    or be empty.

    Raises:
        BadInputError: empty results, a missing column or a cell that is not a number.
    """
    _require(results, ["model", "latency_ms"], what)
    if "flops_per_s" not in results.columns and "flops" not in results.columns:
        raise BadInputError(f"{what}: missing column flops_per_s (or flops, to compute it from latency_ms)")
    for col in ("latency_ms", "flops_per_s", "flops", "batch_size", "energy_j_per_img"):
        if col in results.columns:
            _strict_num(results, col, what)


def _attach_notes(fig, notes: list[str]) -> None:
    fig.effkit_notes = list(notes)
    if notes:
        # Notes go in the figure itself, so a saved PNG still says what it left out; as the figure's
        # x super-label they get their own space from the constrained layout.
        width = max(60, int(fig.get_figwidth() * 15))
        lines = [textwrap.fill(n, width, subsequent_indent="    ") for n in notes]
        fig.supxlabel("\n".join(lines), fontsize=7, color="#444444", x=0.005, ha="left",
                      multialignment="left")


def _unique_text(df, column: str) -> list[str]:
    if column not in df.columns:
        return []
    vals = [str(v).strip() for v in df[column].dropna().unique() if str(v).strip() not in ("", "nan", "None")]
    return sorted(set(vals))


def describe_setup(results) -> dict[str, str]:
    """The machine, batch size and dtype the results were taken on, as display strings.

    Several distinct values are joined with " / " (the chart then mixes setups and says so).
    """
    machine = (_unique_text(results, "gpu_name") or _unique_text(results, "cpu_model")
               or _unique_text(results, "device") or ["unknown machine"])
    batch = _unique_text(results, "batch_size")
    batch = [str(int(float(b))) if re.fullmatch(r"\d+(\.0+)?", b) else b for b in batch]
    dtype = [d.removeprefix("torch.") for d in _unique_text(results, "dtype")]
    return {
        "machine": " / ".join(machine),
        "batch_size": " / ".join(sorted(set(batch), key=lambda s: (len(s), s))) or "?",
        "dtype": " / ".join(sorted(set(dtype))) or "?",
    }


def _setup_title(results) -> str:
    s = describe_setup(results)
    return f"{s['machine']}, batch size {s['batch_size']}, {s['dtype']}"


# ---------------------------------------------------------------------------------------------------------------
# selecting measurements


def select_latest(results, *, device: str | None = None, batch_size: int | None = None,
                  dtype: str | None = None) -> tuple[Any, list[str]]:
    """Keep the successful measurements that match the filters, one (the latest) per model.

    Args:
        results: measurements, one row each (columns of the results store).
        device: keep rows whose ``device``, ``gpu_name`` or ``cpu_model`` contains this text
            (case-insensitive), e.g. ``"cuda"``, ``"H100"``.
        batch_size: keep rows measured at this batch size.
        dtype: keep rows measured in this dtype (``float16``, ``fp16``, ...).

    Returns:
        ``(rows, notes)``: the selected rows in the order models first appear, and lines saying what
        was dropped or chosen.

    Raises:
        BadInputError: empty results, no ``model`` column, or nothing left after filtering.
    """
    import pandas as pd

    _require(results, ["model"], "results")
    df = results.copy()
    notes: list[str] = []
    filters = []
    if device:
        needle = device.lower()
        hit = pd.Series(False, index=df.index)
        for col in ("device", "gpu_name", "cpu_model"):
            if col in df.columns:
                hit |= df[col].astype(str).str.lower().str.contains(needle, regex=False)
        df = df[hit]
        filters.append(f"device {device!r}")
    if batch_size is not None:
        if "batch_size" not in df.columns:
            raise BadInputError("results have no batch_size column to filter --batch-size on")
        df = df[_num(df["batch_size"]) == batch_size]
        filters.append(f"batch size {batch_size}")
    if dtype:
        from effkit.units import dtype_name, parse_dtype

        want = dtype_name(parse_dtype(dtype))
        if "dtype" not in df.columns:
            raise BadInputError("results have no dtype column to filter --dtype on")
        df = df[df["dtype"].astype(str).str.removeprefix("torch.").map(
            lambda d: _safe_dtype(d)) == want]
        filters.append(f"dtype {want}")
    if "status" in df.columns:
        bad = df[df["status"].astype(str).str.lower() != "ok"]
        if len(bad):
            notes.append(f"left out {len(bad)} measurement(s) whose status is not ok: "
                         + ", ".join(sorted(set(bad["model"].astype(str))))[:200])
        df = df[df["status"].astype(str).str.lower() == "ok"]
    if df.empty:
        have = describe_setup(results)
        raise BadInputError(
            "no successful measurement matches " + (", ".join(filters) if filters else "the results")
            + f"; the results hold machine(s) {have['machine']}, batch size(s) {have['batch_size']}, "
            f"dtype(s) {have['dtype']}"
        )
    order = list(dict.fromkeys(df["model"].astype(str)))
    if "timestamp" in df.columns:
        ts = pd.to_datetime(df["timestamp"], errors="coerce", utc=True)
        if ts.isna().all():
            ts = _num(df["timestamp"])
        df = df.assign(_ts=ts).sort_values("_ts", kind="stable", na_position="first")
    counts = df["model"].astype(str).value_counts()
    dup = [m for m in order if counts[m] > 1]
    if dup:
        notes.append("several measurements for " + ", ".join(f"{m} ({counts[m]})" for m in dup)
                     + ": using the latest successful one of each")
    df = df.drop_duplicates("model", keep="last")
    df = df.set_index(df["model"].astype(str)).loc[order].reset_index(drop=True)
    return df.drop(columns=["_ts"], errors="ignore"), notes


def _safe_dtype(text: str) -> str:
    from effkit.units import dtype_name, parse_dtype

    try:
        return dtype_name(parse_dtype(text))
    except BadInputError:
        return text


def measured_layers(results, model: str):
    """Per-layer measurements of ``model``: the ``layers_json`` of its latest successful row, or ``None``.

    Rows measured with per-layer timing carry ``layers_json`` (columns ``name, type, call, flops, mac,
    mac_bytes, latency_ms, flops_per_s`` ...), which :func:`layers_figure` and :func:`roofline` take.
    """
    import io

    import pandas as pd

    if results is None or "model" not in getattr(results, "columns", ()) or "layers_json" not in results.columns:
        return None
    rows = results[(results["model"].astype(str) == model) & results["layers_json"].notna()]
    if rows.empty:
        return None
    rows, _ = select_latest(rows)
    text = rows["layers_json"].iloc[-1]
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return pd.read_json(io.StringIO(text), orient="records")
    except ValueError as e:
        raise BadInputError(f"the per-layer measurements of {model} are not readable JSON: {e}") from e


# ---------------------------------------------------------------------------------------------------------------
# Figure 3


def _accuracy_map(accuracy) -> dict[str, float]:
    import pandas as pd

    if accuracy is None:
        from effkit.report.accuracy import load_accuracy

        accuracy = load_accuracy()
    if isinstance(accuracy, Mapping):
        return {str(k): float(v) for k, v in accuracy.items() if v is not None and not pd.isna(v)}
    _require(accuracy, ["model", "top1"], "accuracy table")
    acc = accuracy.dropna(subset=["top1"]).drop_duplicates("model", keep="last")
    return dict(zip(acc["model"].astype(str), _num(acc["top1"]).astype(float)))


def figure3_data(results, accuracy=None):
    """The numbers Figure 3 plots, one row per model (the latest successful measurement of each).

    Columns: ``model, family, time_ms_per_img, gflops_per_s, energy_j_per_img, top1``; missing values are
    NaN (never 0). Also returns the selection notes.
    """
    import numpy as np
    import pandas as pd

    check_measurements(results, "Figure 3")
    df, notes = select_latest(results)
    latency_ms = _num(df["latency_ms"])
    # A zero or negative latency is a broken measurement, not a fast one, and the FLOP/s and FPS beside it
    # came from it: leave the whole row out (as a row without latency) and say so.
    unusable = ~(latency_ms > 0)
    if unusable.any():
        names = ", ".join(df.loc[unusable, "model"].astype(str))
        if unusable.all():
            raise BadInputError(f"Figure 3: no measurement has a positive latency_ms ({names})")
        notes.append(f"left out {names}: latency_ms is missing, zero or negative")
        df, latency_ms = df[~unusable], latency_ms[~unusable]
    batch = _num(df["batch_size"]) if "batch_size" in df.columns else pd.Series(1.0, index=df.index)
    batch = batch.fillna(1.0)
    if "flops_per_s" in df.columns:
        flops_per_s = _num(df["flops_per_s"])
        flops_per_s = flops_per_s.where(flops_per_s > 0)  # 0 FLOP/s is a missing value, as 0 J is
    else:
        flops_per_s = pd.Series(np.nan, index=df.index)
    if "flops" in df.columns:
        # flops_per_s = flops of the whole batch / batch latency (the paper's FLOPs / inference time)
        flops_per_s = flops_per_s.fillna(_num(df["flops"]) / (latency_ms / 1e3))
    energy = _num(df["energy_j_per_img"]) if "energy_j_per_img" in df.columns else pd.Series(np.nan, index=df.index)
    energy = energy.where(energy > 0)  # 0 J is a missing reading, never a real one
    acc = _accuracy_map(accuracy)
    fams = df["family"] if "family" in df.columns else pd.Series([None] * len(df), index=df.index)
    data = pd.DataFrame({
        "model": df["model"].astype(str),
        "family": [family_of(m, f) for m, f in zip(df["model"].astype(str), fams)],
        "time_ms_per_img": latency_ms / batch,
        "gflops_per_s": flops_per_s / 1e9,
        "energy_j_per_img": energy,
        "top1": [acc.get(m, np.nan) for m in df["model"].astype(str)],
    })
    if "energy_status" in df.columns:
        data["energy_status"] = df["energy_status"].astype(str).where(df["energy_status"].notna(), "")
    return data.reset_index(drop=True), notes


def _scatter_families(ax, data, x: str, y: str, *, label_points: bool = True) -> None:
    rows = data.dropna(subset=[x, y])
    for fam, (colour, marker) in FAMILY_STYLES.items():
        part = rows[rows["family"] == fam]
        if part.empty:
            continue
        ax.scatter(part[x], part[y], c=colour, marker=marker, s=36, label=fam, zorder=3,
                   edgecolors="black", linewidths=0.4)
        if label_points:
            for name, xv, yv in zip(part["model"], part[x], part[y]):
                ax.annotate(name, (xv, yv), xytext=(4, 3), textcoords="offset points", fontsize=7)
    ax.grid(True, alpha=0.3)
    ax.margins(x=0.15, y=0.1)  # room for the labels of the outermost points
    if rows.empty:
        ax.text(0.5, 0.5, "nothing to show\n(see the notes below)", transform=ax.transAxes,
                ha="center", va="center", fontsize=9, color="#666666")
        ax.set_xticks([])  # an empty panel's default -0.06..0.06 range would read as data
        ax.set_yticks([])


def figure3(results, accuracy=None, *, title: str | None = None, figsize=(11, 8.5)):
    """The paper's Figure 3 from measurements: accuracy, speed, computation efficiency and energy.

    Panels: (a) top-1 accuracy vs inference time per image, (b) accuracy vs achieved GFLOP/s,
    (c) accuracy vs energy per image, (d) energy per image vs GFLOP/s. One colour/marker per family
    (VoVNet, DenseNet, ResNet, other); every point is labelled with its model.

    Args:
        results: measurements with at least ``model``, ``latency_ms`` and ``flops_per_s`` (or ``flops``);
            ``batch_size``, ``energy_j_per_img``, ``family``, ``gpu_name``/``device``, ``dtype``,
            ``status`` and ``timestamp`` are used when present. Several rows of a model: the latest
            successful one is plotted and a note says so.
        accuracy: accuracy table (``model``, ``top1``; see :func:`effkit.report.accuracy.load_accuracy`)
            or a ``{model: top1}`` mapping; default: the bundled reference table.
        title: figure title; default names the machine, batch size and dtype.
        figsize: size in inches.

    Returns:
        The Figure, with ``missing_accuracy`` (models left out of (a)-(c)), ``missing_energy`` (left out
        of (c) and (d)), ``effkit_notes`` and ``data`` (the plotted numbers) attached.
    """
    data, notes = figure3_data(results, accuracy)
    fig, axes = _new_figure(2, 2, figsize)
    (a, b), (c, d) = axes
    _scatter_families(a, data, "time_ms_per_img", "top1")
    a.set(xlabel=TIME_LABEL, ylabel=ACCURACY_LABEL, title="(a) accuracy vs inference time")
    _scatter_families(b, data, "gflops_per_s", "top1")
    b.set(xlabel=GFLOPS_LABEL, ylabel=ACCURACY_LABEL, title="(b) accuracy vs computation efficiency")
    _scatter_families(c, data, "energy_j_per_img", "top1")
    c.set(xlabel=ENERGY_LABEL, ylabel=ACCURACY_LABEL, title="(c) accuracy vs energy per image")
    _scatter_families(d, data, "gflops_per_s", "energy_j_per_img")
    d.set(xlabel=GFLOPS_LABEL, ylabel=ENERGY_LABEL, title="(d) energy per image vs computation efficiency")

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
    handles = [h for h in (
        _legend_handle(fam) for fam in FAMILY_STYLES if (data["family"] == fam).any())]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False, title="family",
               title_fontsize=8)
    fig.suptitle(title or f"Figure 3 — {_setup_title(results if len(data) == 0 else _rows_of(results, data))}",
                 fontsize=11)
    _attach_notes(fig, notes)
    fig.missing_accuracy = missing_acc
    fig.missing_energy = missing_energy
    fig.data = data
    return fig


def _rows_of(results, data):
    return results[results["model"].astype(str).isin(data["model"])]


def _legend_handle(family: str):
    from matplotlib.lines import Line2D

    colour, marker = FAMILY_STYLES[family]
    return Line2D([], [], color=colour, marker=marker, linestyle="", markeredgecolor="black",
                  markeredgewidth=0.4, label=family)


# ---------------------------------------------------------------------------------------------------------------
# per-layer views


def _as_layers(obj, default_name: str):
    """(layers DataFrame, model name) from a Profile or a layers DataFrame."""
    import pandas as pd

    if hasattr(obj, "layers") and hasattr(obj, "model_name"):
        return obj.layers, obj.model_name
    if isinstance(obj, pd.DataFrame):
        return obj, str(obj.attrs.get("model", default_name))
    raise BadInputError(f"expected a Profile or a per-layer DataFrame, got {type(obj).__name__}")


def _path_of(row) -> tuple:
    p = row.get("path") if hasattr(row, "get") else None
    if isinstance(p, (tuple, list)):
        return tuple(p)
    name = str(row["name"])
    return () if name == "(model)" else tuple(name.split("."))


def layer_rows(layers, *, group_depth: int | None = None):
    """The layers a per-layer chart shows, in execution order, with their group (stage / block).

    Rows that move no memory and do no work (containers, ``Flatten``) are dropped. ``group_depth`` is the
    module depth that names a group (1 = VoVNet/ResNet stages); by default the shallowest depth giving at
    least three groups, none holding more than half of the layers (DenseNet's ``features.denseblockN``).
    """
    import pandas as pd

    _require(layers, ["name", "mac", "flops"], "per-layer chart")
    df = layers[(_num(layers["mac"]).fillna(0) > 0) | (_num(layers["flops"]).fillna(0) > 0)].copy()
    if df.empty:
        raise BadInputError("per-layer chart: no layer moves memory or does work")
    paths = [_path_of(r) for r in df.to_dict(orient="records")]
    if group_depth is None:
        # The shallowest depth that splits the layers into real groups: at least three, none holding more
        # than half of the layers (torchvision's DenseNet keeps everything under "features" at depth 1).
        group_depth = 1
        for d in (1, 2, 3, 4):
            group_depth = d
            sizes = Counter(p[:d] for p in paths)
            if len(sizes) >= 3 and max(sizes.values()) <= len(paths) / 2:
                break
    df["group"] = [".".join(p[:group_depth]) or "(model)" for p in paths]
    df["x"] = range(len(df))
    return df.reset_index(drop=True)


def _measured_frame(measured, layers):
    """Merge per-layer measurements (``name``, ``latency_ms``[, ``flops_per_s``]) onto chart rows."""
    import pandas as pd

    if measured is None:
        return None
    _require(measured, ["name", "latency_ms"], "per-layer measurements")
    m = measured.copy()
    keys = ["name", "call"] if "call" in m.columns and "call" in layers.columns else ["name"]
    m = m.drop_duplicates(keys, keep="last")
    cols = [*keys, "latency_ms"] + (["flops_per_s"] if "flops_per_s" in m.columns else [])
    out = layers[[*keys, "x", "flops"]].merge(m[cols], on=keys, how="left")
    if "flops_per_s" not in out.columns:
        out["flops_per_s"] = math.nan
    # achieved FLOP/s of a layer = its FLOPs / its measured time
    lat = _num(out["latency_ms"])
    out["flops_per_s"] = _num(out["flops_per_s"]).fillna(_num(out["flops"]) / (lat / 1e3)).where(lat > 0)
    return out


def _group_axis(ax, rows) -> None:
    bounds = rows.groupby("group", sort=False)["x"].agg(["min", "max"])
    for i, (_, (lo, hi)) in enumerate(bounds.iterrows()):
        if i % 2:
            ax.axvspan(lo - 0.5, hi + 0.5, color="#000000", alpha=0.05, lw=0)
    centres = [(lo + hi) / 2 for lo, hi in bounds.itertuples(index=False)]
    n = rows["x"].max() + 1
    # Name only groups wide enough to hold a label; single-layer groups (DenseNet's conv0, norm0, ...)
    # would otherwise print on top of each other.
    labels = [g if len(bounds) <= 12 or (hi - lo + 1) >= n / 40 else ""
              for g, (lo, hi) in zip(bounds.index, bounds.itertuples(index=False))]
    ax.set_xticks(centres, labels=labels, rotation=60, ha="right", fontsize=6)
    ax.set_xlim(-0.5, rows["x"].max() + 0.5)


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
    from matplotlib.ticker import EngFormatter

    models = [_as_layers(profile_or_layers, "model")]
    if compare is not None:
        models.append(_as_layers(compare, "compare"))
    if isinstance(measured, (list, tuple)):
        meas = list(measured) + [None] * (len(models) - len(measured))
    else:
        meas = [measured] + [None] * (len(models) - 1)
    rows = [layer_rows(df, group_depth=group_depth) for df, _ in models]
    meas = [_measured_frame(m, r) for m, r in zip(meas, rows)]
    any_meas = any(m is not None for m in meas)
    kinds = ["mac", "flops", *(["latency_ms", "flops_per_s"] if any_meas else []), "mac_min"]
    ncols = len(models)
    fig, axes = _new_figure(len(kinds), ncols, figsize or (6.5 * ncols, 2.3 * len(kinds)), sharey="row")
    notes: list[str] = []
    ylabels = {"mac": "MAC [elements]", "flops": "FLOPs", "latency_ms": "latency [ms]",
               "flops_per_s": "achieved FLOP/s", "mac_min": "conv MAC [elements] (log)"}
    for j, ((_, name), r, m) in enumerate(zip(models, rows, meas)):
        colours = _group_colours(r)
        for i, kind in enumerate(kinds):
            ax = axes[i][j]
            if kind in ("mac", "flops"):
                ax.bar(r["x"], _num(r[kind]), width=0.9, color=colours, label=kind)
            elif kind in ("latency_ms", "flops_per_s"):
                if m is None:
                    ax.text(0.5, 0.5, "not measured", transform=ax.transAxes, ha="center", va="center",
                            color="#666666")
                else:
                    ok = m.dropna(subset=[kind])
                    ax.bar(ok["x"], ok[kind], width=0.9, color=[colours[int(x)] for x in ok["x"]], label=kind)
                    lost = int(m[kind].isna().sum())
                    if lost:
                        notes.append(f"{name}: {lost} layer(s) without a measurement left out of the {kind} row")
            else:
                convs = r[_num(r["mac_min"]).notna()] if "mac_min" in r.columns else r.iloc[0:0]
                if convs.empty:
                    ax.text(0.5, 0.5, "no plain conv layers", transform=ax.transAxes, ha="center",
                            va="center", color="#666666")
                else:
                    ax.plot(convs["x"], _num(convs["mac"]), "o", ms=3, color="#d62728", label="MAC")
                    ax.plot(convs["x"], _num(convs["mac_min"]), "_", ms=7, mew=1.5, color="black",
                            label="mac_min (lower bound at the same FLOPs, ci = co)")
                    ax.set_yscale("log")
                    ratio = (_num(convs["mac"]) / _num(convs["mac_min"])).mean()
                    ax.set_title(f"MAC vs its lower bound per conv (mean MAC/mac_min {ratio:.2f})", fontsize=8)
                    if j == 0:
                        ax.legend(fontsize=7, loc="upper left")
            if kind in ("mac", "flops", "flops_per_s"):
                ax.yaxis.set_major_formatter(EngFormatter(sep=""))
            if j == 0:
                ax.set_ylabel(ylabels[kind], fontsize=8)
            ax.grid(True, axis="y", alpha=0.3)
            _group_axis(ax, r)
            if i < len(kinds) - 1:
                ax.tick_params(labelbottom=False)
            ax.tick_params(axis="y", labelsize=7)
        axes[0][j].set_title(f"{name}: per-layer MAC along the depth", fontsize=9)
        axes[-1][j].set_xlabel("layers in execution order, grouped by stage / block", fontsize=8)
    fig.suptitle("Per-layer memory access cost (MAC) and FLOPs" + (" — " + " vs ".join(n for _, n in models)
                                                                    if ncols > 1 else ""), fontsize=11)
    _attach_notes(fig, notes)
    return fig


# ---------------------------------------------------------------------------------------------------------------
# roofline


def roofline(points, device_spec: DeviceSpec | Mapping[str, Any], *, label_column: str | None = None,
             group_column: str | None = None, label_points: bool | None = None, title: str | None = None,
             figsize=(7.5, 5.5)):
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

    Returns:
        The Figure, with ``effkit_notes`` and ``data`` (intensity and GFLOP/s per point) attached.
    """
    import numpy as np
    import pandas as pd

    spec = device_spec if isinstance(device_spec, DeviceSpec) else DeviceSpec(
        str(device_spec.get("name", "device")), float(device_spec["peak_tflops"]),
        float(device_spec["bandwidth_gbs"]), str(device_spec.get("dtype", "float32")),
        str(device_spec.get("source", "")))
    if not (spec.peak_tflops > 0 and spec.bandwidth_gbs > 0):
        raise BadInputError("roofline: peak TFLOP/s and bandwidth GB/s must be positive")
    _require(points, ["flops", "mac_bytes"], "roofline")
    label_column = label_column or ("model" if "model" in points.columns else "name")
    if label_column not in points.columns:
        raise BadInputError(f"roofline: missing column {label_column} to label the points")
    df = points.copy()
    flops = _num(df["flops"])
    mac_bytes = _num(df["mac_bytes"])
    keep = (flops > 0) & (mac_bytes > 0)
    notes: list[str] = []
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} point(s) without FLOPs or bytes moved left out")
    df, flops, mac_bytes = df[keep], flops[keep], mac_bytes[keep]
    if df.empty:
        raise BadInputError("roofline: no point has both flops and mac_bytes above zero")
    ai = flops / mac_bytes  # FLOP per byte moved
    roof = np.minimum(spec.peak_tflops * 1e12, spec.bandwidth_gbs * 1e9 * ai)
    achieved = _num(df["flops_per_s"]) if "flops_per_s" in df.columns else pd.Series(np.nan, index=df.index)
    achieved = achieved.where(achieved > 0)
    data = pd.DataFrame({"label": df[label_column].astype(str).values, "intensity_flop_per_byte": ai.values,
                         "gflops_per_s": (achieved / 1e9).values, "bound_gflops_per_s": (roof / 1e9).values,
                         "measured": achieved.notna().values})
    if group_column is None:
        group_column = "type" if (label_column == "name" and "type" in df.columns) else "family"
    if group_column == "family":
        fam = df["family"] if "family" in df.columns else pd.Series([None] * len(df), index=df.index)
        data["group"] = [family_of(m, f) for m, f in zip(data["label"], fam)]
        styles = dict(FAMILY_STYLES)
    else:
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

    fig, axes = _new_figure(1, 1, figsize)
    ax = axes[0][0]
    lo = min(ai.min(), spec.ridge_flop_per_byte) / 4
    hi = max(ai.max(), spec.ridge_flop_per_byte) * 4
    xs = np.geomspace(lo, hi, 200)
    ax.plot(xs, np.minimum(spec.peak_tflops * 1e3, spec.bandwidth_gbs * xs), color="black", lw=1.5,
            label=f"roofline: {spec.peak_tflops:g} TFLOP/s {spec.dtype}, {spec.bandwidth_gbs:g} GB/s")
    for label, tflops in spec.other_peaks:
        ax.plot(xs, np.minimum(tflops * 1e3, spec.bandwidth_gbs * xs), color="black", lw=0.8, ls="--",
                label=f"{label}: {tflops:g} TFLOP/s")
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
    if label_points is None:
        label_points = len(data) <= 25
    if label_points:
        for rec in data.itertuples(index=False):
            y = rec.gflops_per_s if rec.measured else rec.bound_gflops_per_s
            ax.annotate(rec.label, (rec.intensity_flop_per_byte, y), xytext=(4, 3), textcoords="offset points",
                        fontsize=7)
    if len(bound):
        notes.append(f"{len(bound)} point(s) not measured: drawn hollow at the roofline bound "
                     "min(peak, bandwidth x intensity)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity = FLOPs / MAC bytes [FLOP / byte]")
    ax.set_ylabel("achieved computation [GFLOP/s]")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title or f"Roofline — {spec.name} ({spec.dtype}); ridge at "
                 f"{spec.ridge_flop_per_byte:.0f} FLOP/byte", fontsize=10)
    if spec.source:
        notes.append(f"peaks of {spec.name}: {spec.source}")
    _attach_notes(fig, notes)
    fig.data = data
    return fig


# ---------------------------------------------------------------------------------------------------------------
# saving


def check_figure_path(path: str | Path) -> str:
    """The format (``png``/``svg``/``pdf``) a figure path asks for.

    Lets a command refuse a bad ``--output`` before doing the work.

    Raises:
        BadInputError: an unknown suffix, or a path that cannot be written (see
            :func:`effkit.report.tables.check_writable`).
    """
    from effkit.report.tables import check_writable

    p = Path(path)
    fmt = FIGURE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise BadInputError(f"cannot tell the figure format of {p}: use a .png, .svg or .pdf file name")
    check_writable(p)
    return fmt


def save_figure(fig, path: str | Path, *, dpi: int = 150) -> Path:
    """Write ``fig`` as PNG, SVG or PDF, chosen by the file suffix.

    Raises:
        BadInputError: an unknown suffix, a missing folder or a path that cannot be written.
    """
    p = Path(path)
    fmt = check_figure_path(p)
    try:
        fig.savefig(p, format=fmt, dpi=dpi, metadata=_metadata(fmt))
    except OSError as e:
        raise BadInputError(f"cannot write {p}: {e.strerror or e}") from e
    return p


def _metadata(fmt: str) -> dict | None:
    # Fixed metadata keeps SVG/PDF output byte-stable between runs (no creation dates in committed figures).
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return None


def figure_png_bytes(fig, *, dpi: int = 120) -> bytes:
    """PNG bytes of ``fig`` (for embedding in HTML reports)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


__all__ = [
    "FAMILY_STYLES", "DeviceSpec", "check_figure_path", "check_measurements", "check_peaks", "describe_setup",
    "device_spec", "family_of", "figure3", "figure3_data",
    "figure_png_bytes", "layer_rows", "layers_figure", "load_device_specs", "measured_layers", "roofline",
    "save_figure",
    "select_latest",
]
