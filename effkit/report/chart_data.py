"""The numbers each chart plots, as DataFrames: no drawing, so they can be checked without a figure.

:func:`figure3_data` is what Figure 3 plots per model, :func:`layer_rows` the layers a per-layer chart
shows with their stage / block, :func:`family_of` the family a model is coloured by.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Mapping

from effkit.errors import BadInputError
from effkit.report.select import (achieved_flops_per_s, check_measurements, numeric, require_columns,
                                   select_setup)

#: (text in a family or model name, family shown), first match wins.
_FAMILIES = (
    # "osa"/"vov" first: an OSA variant of DenseNet-40 belongs with the one-shot aggregation family.
    ("vov", "VoVNet"), ("osa", "VoVNet"), ("densenet", "DenseNet"), ("resnet", "ResNet"),
    ("mobilenet", "MobileNet"), ("shufflenet", "ShuffleNet"), ("efficientnet", "EfficientNet"),
    ("convnext", "ConvNeXt"),
)


def family_of(model: str, family: Any = None) -> str:
    """The family a model is coloured by (VoVNet, DenseNet, ResNet, MobileNet, ShuffleNet, EfficientNet,
    ConvNeXt or ``"other"``), from a family column value or else the model name."""
    for text in (family, model):
        if not isinstance(text, str):
            continue
        low = text.lower()
        for needle, name in _FAMILIES:
            if needle in low:
                return name
    return "other"


# ---------------------------------------------------------------------------------------------------------------
# Figure 3


def _accuracy_map(accuracy) -> tuple[dict[str, float], dict[str, str]]:
    """(top-1 per model, why a model's top-1 is not an ImageNet val number where it is not one)."""
    import pandas as pd

    from effkit.report.accuracy import accuracy_caveat

    if accuracy is None:
        from effkit.report.accuracy import load_accuracy

        accuracy = load_accuracy()
    if isinstance(accuracy, Mapping):
        return {str(k): float(v) for k, v in accuracy.items() if v is not None and not pd.isna(v)}, {}
    require_columns(accuracy, ["model", "top1"], "accuracy table")
    acc = accuracy.dropna(subset=["top1"]).drop_duplicates("model", keep="last")
    models = acc["model"].astype(str)
    caveats = {}
    if "dataset" in acc.columns:
        caveats = {m: c for m, c in zip(models, acc["dataset"].map(accuracy_caveat)) if c}
    return dict(zip(models, numeric(acc["top1"]).astype(float))), caveats


def figure3_data(results, accuracy=None, *, source: str | None = None, **filters):
    """The numbers Figure 3 plots, one row per model (the latest successful measurement of each).

    Columns: ``model, family, time_ms_per_img, gflops_per_s, energy_j_per_img, top1, accuracy_caveat``
    (``""`` or why the top-1 is not an ImageNet val number), ``untrusted`` (the :func:`effkit.trust.trust_tags`
    of the row: ``[]`` or ``["busy", "noisy"]``); missing values are NaN (never 0). Also returns
    the selection notes. ``filters`` (``device``, ``batch_size``, ``dtype``, ``input_size``) pick one setup
    when the results hold several (see :func:`effkit.report.select.select_setup`). ``attrs["provenance"]``
    says in one line which machine, batch, dtype, input and ``source`` (see
    :func:`effkit.report.chart_marks.data_source`) the rows are.
    """
    import numpy as np

    from effkit.report.chart_marks import data_source, provenance_line
    import pandas as pd

    check_measurements(results, "Figure 3")
    chosen = select_setup(results, what="Figure 3", **filters)
    df, notes = chosen.rows, chosen.notes
    latency_ms = numeric(df["latency_ms"])
    # A zero or negative latency is a broken measurement, not a fast one, and the FLOP/s and FPS beside it
    # came from it: leave the whole row out (as a row without latency) and say so.
    unusable = ~(latency_ms > 0)
    if unusable.any():
        names = ", ".join(df.loc[unusable, "model"].astype(str))
        if unusable.all():
            raise BadInputError(f"Figure 3: no measurement has a positive latency_ms ({names})")
        notes.append(f"left out {names}: latency_ms is missing, zero or negative")
        df, latency_ms = df[~unusable], latency_ms[~unusable]
    batch = numeric(df["batch_size"]) if "batch_size" in df.columns else pd.Series(1.0, index=df.index)
    batch = batch.fillna(1.0)
    flops_per_s, empty_note = achieved_flops_per_s(df)  # the registry's definition, as the report's table
    if empty_note:
        notes.append(empty_note)
    energy = numeric(df["energy_j_per_img"]) if "energy_j_per_img" in df.columns else pd.Series(np.nan, index=df.index)
    energy = energy.where(energy > 0)  # 0 J is a missing reading, never a real one
    acc, caveats = _accuracy_map(accuracy)
    fams = df["family"] if "family" in df.columns else pd.Series([None] * len(df), index=df.index)
    data = pd.DataFrame({
        "model": df["model"].astype(str),
        "family": [family_of(m, f) for m, f in zip(df["model"].astype(str), fams)],
        "time_ms_per_img": latency_ms / batch,
        "gflops_per_s": flops_per_s / 1e9,
        "energy_j_per_img": energy,
        "top1": [acc.get(m, np.nan) for m in df["model"].astype(str)],
        "accuracy_caveat": [caveats.get(m, "") if m in acc else "" for m in df["model"].astype(str)],
    })
    from effkit.trust import trust_tags

    # Why effkit doubts each row's timing ([] when it does not): such points are drawn grey and named.
    data["untrusted"] = [trust_tags(rec) for rec in df.to_dict(orient="records")]
    data.attrs["setup"] = chosen.key
    data.attrs["provenance"] = provenance_line(df, data_source(results, source))
    if "energy_status" in df.columns:
        data["energy_status"] = df["energy_status"].astype(str).where(df["energy_status"].notna(), "")
    return data.reset_index(drop=True), notes


# ---------------------------------------------------------------------------------------------------------------
# per-layer views


def as_layers(obj, default_name: str):
    """(layers DataFrame, model name) from a Profile or a layers DataFrame."""
    import pandas as pd

    if hasattr(obj, "layers") and hasattr(obj, "model_name"):
        return obj.layers, obj.model_name
    if isinstance(obj, pd.DataFrame):
        return obj, str(obj.attrs.get("model", default_name))
    raise BadInputError(f"expected a Profile or a per-layer DataFrame, got {type(obj).__name__}")


def layers_setup(obj) -> dict[str, str]:
    """``{"input_shape", "dtype"}`` of a Profile (or a layers DataFrame's ``attrs``), ``"?"`` when unknown."""
    shape = getattr(obj, "input_shape", None)
    dtype = getattr(obj, "dtype", None)
    attrs = getattr(obj, "attrs", {}) if not hasattr(obj, "model_name") else {}
    shape = shape if shape is not None else attrs.get("input_shape")
    dtype = dtype if isinstance(dtype, str) else attrs.get("dtype")
    if isinstance(shape, (tuple, list)):
        shape = "x".join(str(int(d)) for d in shape)
    return {"input_shape": str(shape) if shape else "?", "dtype": str(dtype).removeprefix("torch.") if dtype else "?"}


def _path_of(row) -> tuple:
    p = row.get("path") if hasattr(row, "get") else None
    if isinstance(p, (tuple, list)):
        return tuple(p)
    name = str(row["name"]).removesuffix(" (own ops)")  # a module's own ops sit at its path
    return () if name == "(model)" else tuple(name.split("."))


def layer_rows(layers, *, group_depth: int | None = None):
    """The layers a per-layer chart shows, in execution order, with their group (stage / block).

    Rows that move no memory and do no work (containers, ``Flatten``) are dropped. ``group_depth`` is the
    module depth that names a group (1 = VoVNet/ResNet stages); by default the shallowest depth giving at
    least three groups, none holding more than half of the layers (DenseNet's ``features.denseblockN``).
    """
    require_columns(layers, ["name", "mac", "flops"], "per-layer chart")
    df = layers[(numeric(layers["mac"]).fillna(0) > 0) | (numeric(layers["flops"]).fillna(0) > 0)].copy()
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


def measured_frame(measured, layers):
    """Merge per-layer measurements (``name``, ``latency_ms``[, ``flops_per_s``]) onto chart rows."""
    if measured is None:
        return None
    require_columns(measured, ["name", "latency_ms"], "per-layer measurements")
    m = measured.copy()
    keys = ["name", "call"] if "call" in m.columns and "call" in layers.columns else ["name"]
    m = m.drop_duplicates(keys, keep="last")
    cols = [*keys, "latency_ms"] + (["flops_per_s"] if "flops_per_s" in m.columns else [])
    out = layers[[*keys, "x", "flops"]].merge(m[cols], on=keys, how="left")
    if "flops_per_s" not in out.columns:
        out["flops_per_s"] = math.nan
    # achieved FLOP/s of a layer = its FLOPs / its measured time
    lat = numeric(out["latency_ms"])
    out["flops_per_s"] = numeric(out["flops_per_s"]).fillna(numeric(out["flops"]) / (lat / 1e3)).where(lat > 0)
    out.attrs["device"] = measured.attrs.get("device")
    return out


__all__ = ["as_layers", "family_of", "figure3_data", "layer_rows", "layers_setup", "measured_frame"]
