"""Which measurements a chart or report compares: row checks, filters, setups, the latest row per model.

Charts and reports take results as DataFrames (columns of the results store, or a results CSV). The
helpers here refuse rows they cannot use before anything is drawn, split the rows into *setups* (machine,
batch size, dtype, input size: numbers from different setups are never compared), keep one successful
measurement per model within a setup, and describe the setup those rows were taken on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from effkit.errors import BadInputError, setting

_MISSING_TEXT = {"", "nan", "none", "null", "na", "n/a"}


# ---------------------------------------------------------------------------------------------------------------
# checking rows


def require_columns(df, columns: Iterable[str], what: str) -> None:
    """Refuse anything but a non-empty DataFrame holding ``columns``; ``what`` names the chart in the message."""
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


def numeric(series):
    """``series`` as numbers; anything that is not one becomes NaN."""
    import pandas as pd

    return pd.to_numeric(series, errors="coerce")


def achieved_flops_per_s(df):
    """Achieved FLOP/s of each row as the column registry defines it, and a note naming the rows left empty.

    The stored ``flops_per_s`` where there is one (a 0 is a missing value, as 0 J is); else ``flops`` (of a
    batch) × ``fps`` / ``batch_size`` (1 when not recorded), the same sustained rate the measurement stores.
    Not ``flops`` / ``latency_ms``: the median latency of one iteration leaves out the gaps between
    iterations that ``fps`` counts, so it gives another, higher number. A row with neither stays empty.
    """
    import numpy as np
    import pandas as pd

    def column(name, default=np.nan):
        return numeric(df[name]) if name in df.columns else pd.Series(default, index=df.index, dtype=float)

    stored = column("flops_per_s")
    rate = stored.where(stored > 0)
    batch = column("batch_size", 1.0).fillna(1.0)
    rate = rate.fillna(column("flops") * column("fps") / batch.where(batch > 0))
    empty = rate.isna()
    note = None
    if empty.any():
        names = (", ".join(df.loc[empty, "model"].astype(str)) if "model" in df.columns
                 else f"{int(empty.sum())} row(s)")
        note = (f"achieved FLOP/s left empty for {names}: no flops_per_s recorded, nor flops and fps to compute "
                "it from (flops of a batch × fps / batch)")
    return rate, note


def strict_numeric(df, column: str, what: str):
    """``df[column]`` as numbers; empty cells become NaN, text that is not a number is bad input.

    A CSV cell such as ``abc`` would otherwise turn silently into a missing value and the chart would
    quietly drop or misplace the model.
    """
    raw = df[column]
    nums = numeric(raw)
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
    used (``latency_ms``, ``flops_per_s``, ``flops``, ``fps``, ``batch_size``, ``energy_j_per_img``) must hold numbers
    or be empty.

    Raises:
        BadInputError: empty results, a missing column or a cell that is not a number.
    """
    require_columns(results, ["model", "latency_ms"], what)
    if "flops_per_s" not in results.columns and "flops" not in results.columns:
        raise BadInputError(f"{what}: missing column flops_per_s (or flops and fps, to compute it from)")
    for col in ("latency_ms", "flops_per_s", "flops", "fps", "batch_size", "energy_j_per_img"):
        if col in results.columns:
            strict_numeric(results, col, what)


# ---------------------------------------------------------------------------------------------------------------
# the setup


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


def setup_title(results) -> str:
    """``"<machine>, batch size <N>, <dtype>"`` for a chart title."""
    s = describe_setup(results)
    return f"{s['machine']}, batch size {s['batch_size']}, {s['dtype']}"


# ---------------------------------------------------------------------------------------------------------------
# selecting measurements


def select_latest(results, *, device: str | None = None, batch_size: int | None = None,
                  dtype: str | None = None, input_size: int | None = None) -> tuple[Any, list[str]]:
    """Keep the successful measurements that match the filters, one (the latest) per model.

    This mixes setups when the results hold several; charts and reports use :func:`select_setups` or
    :func:`select_setup` instead.

    Args:
        results: measurements, one row each (columns of the results store).
        device: keep rows whose ``device``, ``gpu_name`` or ``cpu_model`` contains this text
            (case-insensitive), e.g. ``"cuda"``, ``"H100"``.
        batch_size: keep rows measured at this batch size.
        dtype: keep rows measured in this dtype (``float16``, ``fp16``, ...).
        input_size: keep rows whose input is ``input_size`` x ``input_size`` pixels.

    Returns:
        ``(rows, notes)``: the selected rows in the order models first appear, and lines saying what
        was dropped or chosen.

    Raises:
        BadInputError: empty results, no ``model`` column, or nothing left after filtering.
    """
    df, notes = _ok_rows(results, device, batch_size, dtype, input_size)
    return _latest_per_model(df, notes)


def _ok_rows(results, device, batch_size, dtype, input_size):
    """(the rows with status ok matching the filters, notes on what the status left out)."""
    require_columns(results, ["model"], "results")
    df, filters = _filtered(results.copy(), device, batch_size, dtype, input_size)
    notes: list[str] = []
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
    return df, notes


def _filtered(df, device: str | None, batch_size: int | None, dtype: str | None, input_size: int | None = None):
    """(rows matching the device / batch size / dtype / input size filters, the filters as text)."""
    import pandas as pd

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
            raise BadInputError(f"results have no batch_size column to filter {setting('batch_size')} on")
        df = df[numeric(df["batch_size"]) == batch_size]
        filters.append(f"batch size {batch_size}")
    if dtype:
        from effkit.units import dtype_name, parse_dtype

        want = dtype_name(parse_dtype(dtype))
        if "dtype" not in df.columns:
            raise BadInputError(f"results have no dtype column to filter {setting('dtype')} on")
        df = df[df["dtype"].astype(str).str.removeprefix("torch.").map(
            lambda d: _safe_dtype(d)) == want]
        filters.append(f"dtype {want}")
    if input_size is not None:
        if "input_shape" not in df.columns:
            raise BadInputError(f"results have no input_shape column to filter {setting('input_size')} on")
        sizes = [_input_size_of(rec).split("x")[-2:] for rec in df.to_dict(orient="records")]
        df = df[[dims == [str(input_size)] * 2 for dims in sizes]]
        filters.append(f"input size {input_size}")
    return df, filters


def _latest_per_model(df, notes: list[str]):
    """(the latest row of each model, in the order models first appear; ``notes`` plus a line on repeats)."""
    import pandas as pd

    order = list(dict.fromkeys(df["model"].astype(str)))
    if "timestamp" in df.columns:
        ts = pd.to_datetime(df["timestamp"], errors="coerce", utc=True)
        if ts.isna().all():
            ts = numeric(df["timestamp"])
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


# ---------------------------------------------------------------------------------------------------------------
# setups: rows that can be compared


#: What makes two measurements comparable: the same machine, batch size, dtype and input size.
SETUP_KEYS = ("machine", "batch_size", "dtype", "input_size")


@dataclass
class Setup:
    """The successful measurements of one setup, one (the latest) per model.

    Attributes:
        key: ``{"machine", "batch_size", "dtype", "input_size"}`` as display strings (``"?"`` when not recorded).
        rows: the selected rows, in the order models first appear.
        notes: what was left out or chosen within this setup.
    """

    key: dict[str, str]
    rows: Any
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``"<machine>, batch size <N>, <dtype>, input <C>x<H>x<W>"``."""
        return setup_label(self.key)


def setup_label(key: dict[str, str]) -> str:
    """A setup key as one line: machine, batch size, dtype and input size (left out when not recorded)."""
    size = f", input {key['input_size']}" if key.get("input_size", "?") != "?" else ""
    return f"{key['machine']}, batch size {key['batch_size']}, {key['dtype']}{size}"


def _text(value) -> str:
    text = "" if value is None else str(value).strip()
    return "" if text.lower() in _MISSING_TEXT else text


def _machine_of(rec: dict) -> str:
    # A CPU measurement on a GPU host records the GPU too: the device says which one ran it.
    device, gpu, cpu = _text(rec.get("device")), _text(rec.get("gpu_name")), _text(rec.get("cpu_model"))
    if gpu and not device.lower().startswith("cpu"):
        return gpu
    return cpu or gpu or device or "unknown machine"


def _batch_of(rec: dict) -> str:
    b = _text(rec.get("batch_size"))
    return str(int(float(b))) if re.fullmatch(r"\d+(\.0+)?", b) else (b or "?")


def _dtype_of(rec: dict) -> str:
    d = _text(rec.get("dtype")).removeprefix("torch.")
    return _safe_dtype(d) if d else "?"


def _input_size_of(rec: dict) -> str:
    # input_shape is stored as "NxCxHxW"; the batch is its own key, so the size is what follows N.
    dims = re.findall(r"\d+", _text(rec.get("input_shape")))
    return "x".join(dims[1:]) if len(dims) > 1 else "?"


def setup_key(rec: dict) -> dict[str, str]:
    """The setup (machine, batch size, dtype, input size) one result row was measured in."""
    return {"machine": _machine_of(rec), "batch_size": _batch_of(rec), "dtype": _dtype_of(rec),
            "input_size": _input_size_of(rec)}


def select_setups(results, *, device: str | None = None, batch_size: int | None = None,
                  dtype: str | None = None, input_size: int | None = None) -> list[Setup]:
    """Split the successful measurements matching the filters into setups, one (latest) row per model each.

    Args:
        results: measurements, one row each (columns of the results store).
        device, batch_size, dtype: filters, as in :func:`select_latest`.
        input_size: keep rows whose input is ``input_size`` x ``input_size`` pixels.

    Returns:
        The setups in the order they first appear in ``results``; every setup's notes start with what
        the filters and the status left out.

    Raises:
        BadInputError: empty results, no ``model`` column, or nothing left after filtering.
    """
    df, notes = _ok_rows(results, device, batch_size, dtype, input_size)
    keys = [setup_key(rec) for rec in df.to_dict(orient="records")]
    labels = [setup_label(k) for k in keys]
    setups = []
    for label in dict.fromkeys(labels):
        part = df[[lab == label for lab in labels]]
        rows, part_notes = _latest_per_model(part, list(notes))
        setups.append(Setup(keys[labels.index(label)], rows, part_notes))
    return setups


def select_setup(results, *, device: str | None = None, batch_size: int | None = None,
                 dtype: str | None = None, input_size: int | None = None, what: str = "results") -> Setup:
    """The one setup the filtered measurements hold; several are bad input, named with how to pick one.

    Raises:
        BadInputError: as :func:`select_setups`, or the rows mix setups that cannot be compared.
    """
    setups = select_setups(results, device=device, batch_size=batch_size, dtype=dtype, input_size=input_size)
    if len(setups) == 1:
        return setups[0]
    differ = [k for k in SETUP_KEYS if len({s.key[k] for s in setups}) > 1]
    names = {"machine": "device", "batch_size": "batch_size", "dtype": "dtype", "input_size": "input_size"}
    pick = " or ".join(setting(names[k]) for k in differ)
    raise BadInputError(
        f"{what}: the measurements mix {len(setups)} setups that cannot be compared ("
        + "; ".join(f"{s.label}: {len(s.rows)} model(s)" for s in setups)[:600]
        + f"); pick one with {pick}", field=names[differ[0]])



def measured_layers(results, model: str):
    """Per-layer measurements of ``model``: the ``layers_json`` of its latest successful row, or ``None``.

    Rows measured with per-layer timing carry ``layers_json`` (columns ``name, type, call, flops, mac,
    mac_bytes, latency_ms, flops_per_s`` ...), which :func:`effkit.report.plots.layers_figure` and
    :func:`effkit.report.roofline.roofline` take; ``attrs["device"]`` names the machine they were timed on.
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
        layers = pd.read_json(io.StringIO(text), orient="records")
        # Where the layers were timed, for the chart's title.
        layers.attrs["device"] = setup_key(rows.iloc[-1].to_dict())["machine"]
        return layers
    except ValueError as e:
        raise BadInputError(f"the per-layer measurements of {model} are not readable JSON: {e}") from e


__all__ = ["SETUP_KEYS", "Setup", "check_measurements", "describe_setup", "measured_layers", "numeric",
           "require_columns", "select_latest", "select_setup", "select_setups", "setup_key", "setup_label",
           "setup_title", "strict_numeric"]
