"""The shipped public benchmarks and their features: each benchmark row joined to effkit's analysis of it.

``effkit/data/public/`` holds timm's published throughput files and ``features.csv[.gz]``: one row per
(model, input size, batch size, dtype) with effkit's totals and per-op-class numbers at that setup
(:func:`effkit.analysis.op_kinds.setup_features`). A benchmark row whose setup is not in the table is
analysed on the fly when timm can be imported here (``timm:NAME`` on the meta device); otherwise it is
left out and named.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping

from effkit.errors import BackendUnavailableError, BadInputError, EffkitError, setting

PUBLIC_DIR = Path(__file__).resolve().parent.parent / "data" / "public"
#: Short names of the shipped benchmark files (``figure3 --public rtx4090``).
PUBLIC_FILES = {
    "rtx4090": "timm-benchmark-infer-amp-nchw-pt291-cu128-4090.csv",
    "rtx3090": "timm-benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv",
    "cpu": "timm-benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv",
}
ACCURACY_FILE = "timm-results-imagenet.csv"
KEYS = ["model", "input_size", "batch_size", "dtype"]
#: The whole-model proxies of a features row.
PROXY_COLUMNS = ("params", "mult_adds", "flops", "paper_mac", "mac", "mac_bytes", "mac_fused_bytes", "activations")

RowFeatures = Callable[[str, int, int, str], Mapping[str, float]]


def public_path(name: str) -> Path:
    """The shipped benchmark file called ``name`` (``rtx4090``, ``rtx3090``, ``cpu``, or its file name).

    Raises:
        BadInputError: no such shipped file.
    """
    file = PUBLIC_FILES.get(str(name).lower().replace(" ", "").replace("-", ""), str(name))
    path = PUBLIC_DIR / file
    if not path.is_file():
        raise BadInputError(f"no shipped public benchmark {name!r}; choose one of {', '.join(PUBLIC_FILES)}",
                            field="public")
    return path


def features_path() -> Path | None:
    """The shipped features table (``features.csv.gz`` or ``features.csv``), or ``None`` when none is shipped."""
    for name in ("features.csv.gz", "features.csv"):
        if (PUBLIC_DIR / name).is_file():
            return PUBLIC_DIR / name
    return None


def load_features(path: str | os.PathLike | None = None):
    """The features table (default: the shipped one; an empty table when none is shipped).

    Raises:
        BadInputError: the file cannot be read or lacks the key columns.
    """
    import pandas as pd

    p = Path(path) if path is not None else features_path()
    if p is None:
        return pd.DataFrame(columns=KEYS)
    try:
        df = pd.read_csv(p)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise BadInputError(f"features table {p} is not a readable CSV ({e})", field="features") from e
    df = normalised(df)
    missing = [k for k in KEYS if k not in df.columns]
    if missing:
        raise BadInputError(f"features table {p} lacks column(s) {', '.join(missing)}", field="features")
    if "error" in df.columns:  # rows the generator could not analyse carry their error, no numbers
        df = df[df["error"].isna() | (df["error"].astype(str).str.strip() == "")]
    return with_totals(df.drop_duplicates(KEYS, keep="last").reset_index(drop=True)).copy()


def normalised(df):
    """A features table with the key columns named as here (``img_size`` -> ``input_size``) and plain totals."""
    alias = {"img_size": "input_size", "infer_img_size": "input_size", "batch": "batch_size"}
    return with_totals(df.rename(columns={k: v for k, v in alias.items() if k in df.columns and v not in df.columns}))


def with_totals(df):
    """``df`` with a plain column per whole-call total (``flops`` = ``flops_per_batch``...), where it has none."""
    from effkit.analysis.op_kinds import TOTALS

    add = {t: df[f"{t}_per_batch"] for t in TOTALS if t not in df.columns and f"{t}_per_batch" in df.columns}
    return df.assign(**add) if add else df


def timm_row(model: str, input_size: int, batch_size: int, dtype: str) -> dict:
    """A features row analysed here: ``timm:MODEL`` on the meta device at the given setup.

    Raises:
        EffkitError: timm is not installed, does not know the model, or the analysis failed.
    """
    from effkit.prediction.opclasses import timm_features

    row = timm_features(model, input_size, batch_size, dtype)
    return {k: v for k, v in row.items() if not isinstance(v, (dict, list))}


def attach_features(bench, table=None, *, analyse: RowFeatures | None = timm_row):
    """``bench`` rows joined to their features; rows that have none are left out.

    Args:
        bench: a benchmark table (:func:`effkit.prediction.benchmark.read_benchmark`).
        table: a features table (default: the shipped one).
        analyse: how to get a missing row's features (default: timm on the fly); ``None``: never.

    Returns:
        ``(rows, notes, left_out)``: the joined rows, what to tell the user, the models left out.

    Raises:
        BadInputError: no row has features (what to do is in the message).
    """
    import pandas as pd

    table = load_features() if table is None else table
    table = normalised(table.copy()) if isinstance(table, pd.DataFrame) else load_features(table)
    right = table.drop(columns=[c for c in ("device", "images_per_s", "time_per_img_s") if c in table.columns])
    right = right.assign(input_size=pd.to_numeric(right["input_size"]).astype(int),
                         batch_size=pd.to_numeric(right["batch_size"]).astype(int)).copy()
    rows = bench.merge(right, on=KEYS, how="left", indicator=True)
    notes: list[str] = []
    rows = _rescaled(rows, right, notes)
    missing = rows[rows["_merge"] == "left_only"]
    left_out: list[str] = []
    found = []
    why = ""
    if len(missing) and analyse is not None:
        unavailable = False
        for rec in missing[KEYS].to_dict(orient="records"):
            if unavailable:  # timm is not importable: no point trying the next rows
                left_out.append(rec["model"])
                continue
            try:
                found.append({**rec, **analyse(rec["model"], rec["input_size"], rec["batch_size"], rec["dtype"])})
            except EffkitError as e:
                unavailable = isinstance(e, BackendUnavailableError)
                why = why or str(e).splitlines()[0]
                left_out.append(rec["model"])
        if found:
            notes.append(f"analysed {len(found)} row(s) missing from the features table here (timm)")
    else:
        left_out = list(missing["model"])
    have = rows[rows["_merge"] == "both"].drop(columns="_merge")
    if found:
        extra = bench.merge(with_totals(pd.DataFrame(found)), on=KEYS, how="inner")
        have = pd.concat([have, extra], ignore_index=True)
    if left_out:
        names = sorted(set(left_out))
        shown = ", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")
        notes.append(f"left out {len(left_out)} of {len(bench)} row(s): no features for {shown}"
                     + (f" ({why})" if why else " (install timm to analyse them here)"))
    if have.empty:
        raise BadInputError(
            f"no row of the benchmark has features: none of its models is in the features table and none "
            f"could be analysed here ({why or 'timm is not installed'}); check the model names are timm's, or "
            f"give a features table with {setting('features')}", field="benchmark")
    return have.reset_index(drop=True), notes, sorted(set(left_out))


def _rescaled(rows, table, notes: list[str]):
    """``rows`` with those missing from ``table`` at their batch size filled from the same model, input size and
    dtype at another batch (2 or more): the totals exactly (``fixed + batch · per_image``), the per-kind flops
    and bytes in proportion to the batch (kernel counts do not change with it)."""
    import pandas as pd

    from effkit.analysis.op_kinds import TOTALS

    lost = rows["_merge"] == "left_only"
    if not lost.any():
        return rows
    base = table[table["batch_size"] >= 2].sort_values("batch_size").drop_duplicates(
        ["model", "input_size", "dtype"], keep="last").set_index(["model", "input_size", "dtype"])
    filled = []
    for i, rec in rows[lost].iterrows():
        key = (rec["model"], rec["input_size"], rec["dtype"])
        if key not in base.index:
            continue
        src = base.loc[key].to_dict()
        b, b0 = int(rec["batch_size"]), int(src["batch_size"])
        for col, v in src.items():
            if col.endswith(("_flops", "_bytes", "_fused_bytes")) and isinstance(v, (int, float)):
                src[col] = v * b / b0
        for t in TOTALS:
            fixed, per = src.get(f"{t}_fixed"), src.get(f"{t}_per_image")
            if fixed is not None and per is not None and pd.notna(fixed) and pd.notna(per):
                src[t] = src[f"{t}_per_batch"] = fixed + b * per
        src["batch_size"] = b
        filled.append((i, src))
    if not filled:
        return rows
    rows = rows.copy()
    for i, src in filled:
        for col, v in src.items():
            if col in rows.columns and col not in KEYS:
                rows.at[i, col] = v
        rows.at[i, "_merge"] = "both"
    notes.append(f"{len(filled)} row(s) at a batch size the features table lacks: scaled from the same model at "
                 "another batch (totals exactly, per-kind numbers in proportion to the batch)")
    return rows


#: The paper's families in timm's names: plain and eSE VoVNets, DenseNets, ResNets.
PAPER_FAMILIES = r"^(vovnet\d+a|ese_vovnet\w+|densenet\d+|resnet\d+)$"


def public_results(name: str, *, pattern: str = PAPER_FAMILIES, input_size: int = 224,
                   models: list[str] | None = None):
    """A shipped GPU benchmark as measurement rows for Figure 3: ``(rows, {model: top1}, source)``.

    One row per model matching ``pattern`` run at ``input_size``: ``latency_ms`` per batch, ``batch_size``,
    ``flops_per_s`` = 2 · effkit's multiply-adds per image · images/s (the paper's achieved GFLOP/s),
    ``gpu_name``, ``dtype``, ``input_shape``, ``fps``, effkit's static numbers per image (what one more image
    of the batch adds); ``top1`` from timm's ImageNet
    results (the best of the model's weights evaluated at that input size). ``models``: these timm names
    instead of ``pattern``.

    Raises:
        BadInputError: unknown benchmark name, or no model matches.
    """
    import pandas as pd

    from effkit.prediction.benchmark import read_benchmark

    path = public_path(name)
    bench = read_benchmark(path)
    chosen = bench["model"].isin(models) if models else bench["model"].str.match(pattern)
    rows = bench[chosen & (bench["input_size"] == input_size)]
    if models:
        absent = sorted(set(models) - set(rows["model"]))
        if absent:
            raise BadInputError(f"{path.name} has no row of {', '.join(absent)} at {input_size} px (timm's model "
                                "names, e.g. vovnet39a, ese_vovnet39b, densenet121, resnet50)", field="models")
    if rows.empty:
        raise BadInputError(f"no model of {path.name} matches {pattern} at {input_size} px", field="public")
    rows, notes, _ = attach_features(rows, analyse=None)
    out = pd.DataFrame({
        "model": rows["model"], "batch_size": rows["batch_size"], "dtype": rows["dtype"],
        "params": rows["params"],
        **{c: per_image(rows, c) for c in ("mult_adds", "flops", "paper_mac", "mac", "activations")},
        "latency_ms": rows["batch_size"] / rows["images_per_s"] * 1e3,
        "flops_per_s": 2.0 * per_image(rows, "mult_adds") * rows["images_per_s"],
        "gpu_name": rows["device"], "device": rows["device"], "status": "ok",
        "input_shape": [f"{b}x3x{s}x{s}" for b, s in zip(rows["batch_size"], rows["input_size"])]})
    acc = pd.read_csv(PUBLIC_DIR / ACCURACY_FILE)
    acc = acc.assign(base=acc["model"].astype(str).str.split(".").str[0])
    at = acc[acc["img_size"] == input_size].groupby("base")["top1"].max()
    top1 = {m: float(at[m]) for m in out["model"] if m in at.index}
    out["fps"] = rows["images_per_s"].to_numpy()
    out["top1"] = out["model"].map(top1)
    out.attrs["source"] = f"timm benchmark results, {path.name}"
    return out.reset_index(drop=True), top1, path.name


def per_image(rows, total: str):
    """What one more image adds to ``total`` (the table's ``<total>_per_image``, else the batch's share)."""
    col = f"{total}_per_image"
    if col in rows.columns and rows[col].notna().all():
        return rows[col].astype(float)
    return rows[total].astype(float) / rows["batch_size"]
