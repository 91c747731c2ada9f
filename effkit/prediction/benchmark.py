"""Reading throughput benchmark files: timm's published results, a generic table, effkit's own export.

Each reader returns the same table, one row per (model, input size, batch size, dtype): ``model``,
``input_size`` (square side), ``batch_size``, ``dtype``, ``images_per_s``, ``time_per_img_s``, ``device``.
A file that cannot be read that way (a column missing, a throughput that is not a positive number, the same
setup twice, no row at all) is bad input: the message says which rows and what to do.

Formats, told apart by their columns:

* **timm** (``results/benchmark-infer-*.csv`` of the PyTorch Image Models project): ``model``,
  ``infer_img_size``, ``infer_samples_per_sec``, ``infer_batch_size``. The dtype and device are not columns:
  they are read from the file name (``amp`` means float16 autocast, ``fp32`` float32; the device is the
  name's last part, ``4090``, ``rtx3090``, ``cpu-i7_12700h``), or given by the caller.
* **generic**: ``model``, ``input_size``, ``batch_size``, ``dtype``, ``images_per_s`` or ``latency_ms``
  (milliseconds per batch), ``device``.
* **effkit** (``effkit results export``): ``model``, ``input_shape``, ``batch_size``, ``dtype``,
  ``latency_ms``; the device from ``gpu_name``, else ``cpu_model``; failed rows are left out.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

from effkit.errors import BadInputError

#: The columns every reader returns.
BENCHMARK_COLUMNS = ["model", "input_size", "batch_size", "dtype", "images_per_s", "time_per_img_s", "device"]
TIMM_COLUMNS = ("model", "infer_img_size", "infer_samples_per_sec", "infer_batch_size")
GENERIC_COLUMNS = ("model", "input_size", "batch_size", "dtype", "device")
EFFKIT_COLUMNS = ("model", "input_shape", "batch_size", "dtype", "latency_ms")
#: timm file-name parts naming a device, to the device table's names.
_TIMM_DEVICES = (("rtx3090", "RTX 3090"), ("3090", "RTX 3090"), ("rtx4090", "RTX 4090"), ("4090", "RTX 4090"))


def read_benchmark(path: str | os.PathLike, *, dtype: str | None = None, device: str | None = None):
    """The benchmark file at ``path`` as one table (:data:`BENCHMARK_COLUMNS`); ``attrs`` holds ``format``,
    ``source`` (the file name) and ``device``.

    Args:
        dtype, device: what a timm file ran (default: read from its name); override the file's own elsewhere.

    Raises:
        BadInputError: unreadable file, unknown format, missing columns, non-positive or missing
            throughput, duplicate setups, no rows.
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise BadInputError(f"benchmark file {p} does not exist; give a CSV of measured throughput, or a shipped "
                            "one by name (rtx4090, rtx3090, cpu)", field="benchmark")
    try:
        raw = pd.read_json(p) if p.suffix.lower() == ".json" else pd.read_csv(p)
    except (ValueError, OSError, UnicodeDecodeError) as e:
        raise BadInputError(f"benchmark file {p} is not a readable CSV or JSON table ({_first_line(e)})",
                            field="benchmark") from e
    cols = set(raw.columns)
    if set(TIMM_COLUMNS) <= cols:
        df, fmt = _from_timm(raw, p, dtype, device), "timm"
    elif set(EFFKIT_COLUMNS) <= cols:
        df, fmt = _from_effkit(raw, device), "effkit"
    elif "input_size" in cols or "images_per_s" in cols:
        df, fmt = _from_generic(raw, p, device), "generic"
    else:
        raise BadInputError(
            f"benchmark file {p} is in no known format: it needs timm's columns ({', '.join(TIMM_COLUMNS)}), "
            f"the generic ones ({', '.join(GENERIC_COLUMNS)}, images_per_s or latency_ms) or effkit's export "
            f"({', '.join(EFFKIT_COLUMNS)})", field="benchmark")
    if dtype is not None and fmt != "timm":
        df["dtype"] = _dtype(dtype, p)
    df = _checked(df, p)
    devices = sorted(set(df["device"]))
    df.attrs.update(format=fmt, source=p.name, device=devices[0] if len(devices) == 1 else ", ".join(devices))
    return df


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _dtype(text: str, p: Path) -> str:
    from effkit.units import dtype_name, parse_dtype

    try:
        return dtype_name(parse_dtype(str(text)))
    except BadInputError as e:
        raise BadInputError(f"benchmark file {p}: {e}", field="benchmark") from e


def timm_setup(name: str) -> dict[str, Any]:
    """What a timm benchmark file's name says: ``dtype`` (amp: float16, fp32, bf16...) and ``device``."""
    stem = Path(name).name.lower()
    stem = re.sub(r"\.(csv|json)$", "", stem)
    out: dict[str, Any] = {}
    if "-amp-" in stem or "amp" in stem.split("-"):
        out["dtype"] = "float16"  # timm's AMP mode is float16 autocast
    for token, dt in (("bf16", "bfloat16"), ("fp16", "float16"), ("fp32", "float32")):
        if token in stem.split("-"):
            out["dtype"] = dt
    parts = stem.split("-")
    tail = parts[parts.index("dynamo") - 1] if "dynamo" in parts else parts[-1]
    if "cpu" in parts:
        i = parts.index("cpu")
        tail = "cpu " + parts[i + 1] if i + 1 < len(parts) and parts[i + 1] != "dynamo" else "cpu"
    out["device"] = next((name for token, name in _TIMM_DEVICES if tail == token), tail.replace("_", "-"))
    return out


def _from_timm(raw, p: Path, dtype: str | None, device: str | None):
    import pandas as pd

    setup = timm_setup(p.name)
    dt = dtype or setup.get("dtype")
    if dt is None:
        raise BadInputError(f"benchmark file {p}: its name does not say the dtype (amp or fp32); name it",
                            field="dtype")
    df = pd.DataFrame({
        "model": raw["model"], "input_size": raw["infer_img_size"], "batch_size": raw["infer_batch_size"],
        "dtype": _dtype(dt, p), "images_per_s": raw["infer_samples_per_sec"],
        "device": device or setup.get("device") or "?"})
    return df


def _from_generic(raw, p: Path, device: str | None):
    import pandas as pd

    need = [c for c in GENERIC_COLUMNS if c not in raw.columns and not (c == "device" and device)]
    if "images_per_s" not in raw.columns and "latency_ms" not in raw.columns:
        need.append("images_per_s or latency_ms")
    if need:
        raise BadInputError(f"benchmark file {p} lacks column(s) {', '.join(need)}; a generic benchmark needs "
                            f"{', '.join(GENERIC_COLUMNS)} and images_per_s or latency_ms (per batch)",
                            field="benchmark")
    df = pd.DataFrame({"model": raw["model"], "input_size": raw["input_size"], "batch_size": raw["batch_size"],
                       "dtype": [_dtype(d, p) for d in raw["dtype"]],
                       "device": device if device else raw["device"]})
    df["images_per_s"] = (raw["images_per_s"] if "images_per_s" in raw.columns
                          else pd.to_numeric(raw["batch_size"], errors="coerce")
                          / (pd.to_numeric(raw["latency_ms"], errors="coerce") / 1e3))
    return df


def _from_effkit(raw, device: str | None):
    import pandas as pd

    from effkit.units import parse_shape

    rows = raw
    if "status" in rows.columns:
        rows = rows[rows["status"].astype(str).str.lower() == "ok"]
    sizes = []
    for text in rows["input_shape"].astype(str):
        try:
            shape = parse_shape(text)
        except BadInputError:
            shape = ()
        sizes.append(shape[-1] if len(shape) == 4 and shape[-1] == shape[-2] else math.nan)
    where = pd.Series("?", index=rows.index, dtype=object)
    for col in ("cpu_model", "gpu_name"):  # a GPU name wins where there is one
        if col in rows.columns:
            named = rows[col].astype(str).str.strip().replace({"nan": "", "None": ""})
            where = where.where(named == "", named)
    batch = pd.to_numeric(rows["batch_size"], errors="coerce")
    return pd.DataFrame({"model": rows["model"], "input_size": sizes, "batch_size": batch,
                         "dtype": [_dtype(d, Path("export")) for d in rows["dtype"]],
                         "images_per_s": batch / (pd.to_numeric(rows["latency_ms"], errors="coerce") / 1e3),
                         "device": device or where}).reset_index(drop=True)


def check_table(df, name: str = "benchmark table"):
    """A benchmark already in memory (``model``, ``input_size``, ``batch_size``, ``dtype``, ``images_per_s``,
    ``device``) checked as a file is."""
    missing = [c for c in ("model", "input_size", "batch_size", "dtype", "images_per_s", "device") if c not in df]
    if missing:
        raise BadInputError(f"the {name} lacks column(s) {', '.join(missing)}", field="benchmark")
    out = _checked(df, Path(name))
    out.attrs.update(df.attrs)
    out.attrs.setdefault("source", name)
    return out


def _checked(df, p: Path):
    """``df`` with numeric columns, each row a positive throughput, no setup twice; else bad input."""
    import pandas as pd

    if df.empty:
        raise BadInputError(f"benchmark file {p} holds no (successful) row", field="benchmark")
    df = df.copy()
    df["model"] = df["model"].astype(str).str.strip()
    for col in ("input_size", "batch_size", "images_per_s"):
        df[col] = pd.to_numeric(df[col], errors="coerce")
    bad = df[~(df["images_per_s"] > 0) | ~(df["images_per_s"] < math.inf)]
    if len(bad):
        raise BadInputError(f"benchmark file {p}: {len(bad)} row(s) without a positive throughput (first: "
                            f"{_row_text(bad.iloc[0])}); remove them or fix the values", field="benchmark")
    bad = df[~(df["input_size"] > 0) | ~(df["batch_size"] > 0) | (df["model"] == "")]
    if len(bad):
        raise BadInputError(f"benchmark file {p}: {len(bad)} row(s) without a model, a positive input size and "
                            f"batch size (first: {_row_text(bad.iloc[0])})", field="benchmark")
    df["input_size"] = df["input_size"].astype(int)
    df["batch_size"] = df["batch_size"].astype(int)
    df["device"] = df["device"].astype(str)
    keys = ["model", "input_size", "batch_size", "dtype", "device"]
    dup = df[df.duplicated(keys, keep=False)]
    if len(dup):
        raise BadInputError(f"benchmark file {p}: {len(dup)} rows repeat a setup (first: {_row_text(dup.iloc[0])}); "
                            "keep one row per model, input size, batch size, dtype and device", field="benchmark")
    df["time_per_img_s"] = 1.0 / df["images_per_s"]
    return df[BENCHMARK_COLUMNS].reset_index(drop=True)


def _row_text(row) -> str:
    return f"{row['model']} at {row['input_size']} px, batch {row['batch_size']}, {row['images_per_s']} img/s"


def family(model: str) -> str:
    """A timm model's family: the letters its name starts with, up to the first digit or underscore
    (``resnet50d`` -> ``resnet``, ``vit_base_patch16_224`` -> ``vit``, ``ese_vovnet39b`` -> ``ese``)."""
    m = re.match(r"[a-z]+", model.lower())
    return m.group(0) if m else model
