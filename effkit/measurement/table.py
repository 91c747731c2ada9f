"""The table of a measurement result: what ``effkit measure`` and ``effkit compare`` print, for Python too.

:func:`results_table` builds it from result rows (title, columns, notes, the slowest layers of rows measured
per layer); the command line prints it and :class:`Results` (what ``measure()`` and ``compare()`` return)
is a DataFrame whose ``str()`` is the same text and whose notebook view is the same table in HTML.

The cells are formatted by :mod:`effkit.report.tables` (the column registry every table of effkit uses), which
imports nothing from the measurement; it is imported only when a table is rendered.
"""

from __future__ import annotations

import io
from typing import Optional, Sequence

import pandas as pd

MEASURE_COLUMNS = ["batch_size", "status", "latency_ms", "latency_p90_ms", "latency_p99_ms", "iterations", "fps",
                   "flops_per_s", "peak_memory_bytes", "activation_bytes", "energy_j_per_img",
                   "energy_j_per_img_net", "energy_j_per_img_std", "mean_power_w",
                   "energy_estimate_j_per_img", "clock_drop", "error"]
#: Kept in the columns even when empty; the table still leaves an all-empty column out, and the reason (no
#: meter, say) is the note under the table.
ALWAYS = {"energy_j_per_img"}
COMPARE_COLUMNS = ["model", "batch_size", "status", "params", "flops", "paper_mac", "mac", "latency_ms", "fps",
                   "flops_per_s", "peak_memory_bytes", "energy_j_per_img", "energy_j_per_img_net",
                   "energy_estimate_j_per_img", "error"]
LAYER_COLUMNS = ["name", "type", "flops", "mac", "latency_ms", "flops_per_s", "time_share"]
#: On a narrow terminal, the columns kept first (the last listed are left out first): what measuring is
#: for (speed, achieved FLOP/s, energy) before how it went (status, memory) and the analysis.
IMPORTANCE = ["id", "model", "batch_size", "latency_ms", "fps", "flops_per_s", "energy_j_per_img", "status",
              "error", "peak_memory_bytes", "params", "flops", "mac", "device", "dtype", "timestamp",
              "paper_mac", "energy_j_per_img_net", "latency_p90_ms", "latency_p99_ms", "mean_power_w",
              "gpu_name", "iterations", "activation_bytes", "energy_j_per_img_std", "clock_drop"]
#: A comparison exists to show what FLOPs hide: FLOPs and MAC beside speed come before status and memory.
COMPARE_IMPORTANCE = ["model", "batch_size", "latency_ms", "fps", "flops", "paper_mac", "mac", "flops_per_s",
                      "energy_j_per_img", "status", "params", "peak_memory_bytes", "error", "energy_j_per_img_net",
                      "energy_estimate_j_per_img"]
#: ``columns`` and ``importance`` of each kind of result.
KINDS = {"measure": (MEASURE_COLUMNS, IMPORTANCE), "compare": (COMPARE_COLUMNS, COMPARE_IMPORTANCE)}


def machine(df) -> str:
    """The machine the rows ran on, in words: the GPU (and its driver) or the CPU."""
    if df.empty:
        return ""
    r = df.iloc[0]
    if str(r.get("device", "")).startswith("cuda") and r.get("gpu_name"):
        return f"{r['gpu_name']} (driver {r.get('driver_version') or '?'})"
    return str(r.get("cpu_model") or r.get("device") or "")


def result_notes(df) -> list[str]:
    """The lines under the table: the definitions of fps and achieved FLOP/s, how memory and energy were
    measured, which rows a busy or noisy machine made, and the watts of an energy estimate."""
    from effkit.measurement.energy.estimate import ESTIMATE_NOTE
    from effkit.report.columns import definition
    from effkit.trust import trust_notes

    out = [f"{c}: {definition(c)}." for c in ("fps", "flops_per_s")]
    if "memory_method" in df and df["memory_method"].notna().any():
        out.append("peak memory: " + str(df["memory_method"].dropna().iloc[0]) + ".")
    out += [f"warning: {line}" for line in trust_notes(df)]  # numbers a busy or noisy machine made
    statuses = sorted({str(s) for s in df.get("energy_status", []) if s and str(s) != "ok"})
    if statuses:
        out.append("energy: " + "; ".join(statuses))
    else:
        out.append("energy_j_per_img is gross (energy counter delta / images); energy_j_per_img_net subtracts "
                   "the idle power measured once per device for this run.")
    watts = _first(df, "tdp_estimate_w")  # the rows carry the estimate; the note names the watts
    if watts is not None:
        out.append(f"{ESTIMATE_NOTE} ({float(watts):g} W).")
    return out


def measure_title(df) -> str:
    """One model's title: model, input, dtype, machine and the analysis of its first successful row."""
    from effkit.units import human

    if df.empty:
        return ""
    ok = df[df["status"] == "ok"] if "status" in df else df
    head = (ok if len(ok) else df).iloc[0]
    where = machine(df)
    parts = [str(head.get("model", "")), f"input {head['input_shape']}" if pd.notna(head.get("input_shape")) else "",
             str(head.get("dtype", "")), f"on {where}" if where else ""]
    parts += [f"{words} {human(head[c])}" for words, c in (("params", "params"), ("FLOPs", "flops"),
                                                          ("paper MAC", "paper_mac"), ("MAC", "mac"))
              if c in head and pd.notna(head[c])]
    return "  ".join(p for p in parts if p)


def compare_title(df) -> str:
    """A comparison's title: its dtype and machine."""
    dtype = _first(df, "dtype")
    where = machine(df)
    return "  ".join(p for p in ("effkit compare", dtype and str(dtype), where and f"on {where}") if p)


def layer_tables(df, top: int = 15) -> list:
    """(title, layers) of each row measured per layer: its ``top`` slowest layers."""
    out = []
    if "layers_json" not in df.columns:
        return out
    for _, r in df.iterrows():
        if not isinstance(r.get("layers_json"), str):
            continue
        layers = pd.read_json(io.StringIO(r["layers_json"]), orient="records")
        layers = layers.sort_values("latency_ms", ascending=False, kind="stable").head(top)
        out.append((f"{r['model']} bs={r['batch_size']}: slowest {len(layers)} layers (separate hooked pass)", layers))
    return out


def results_table(df, *, kind: str = "measure", title: Optional[str] = None, notes: Optional[Sequence[str]] = None,
                  fmt: str = "table", columns: Optional[Sequence[str]] = None, chosen=None, layers: bool = True,
                  importance: Optional[Sequence[str]] = None):
    """The table of result rows, as ``effkit measure`` (``kind="measure"``) or ``compare`` prints it.

    Empty columns (and an all-ok status) are left out of the table, csv/json keep every column; in the table and
    markdown formats a row effkit does not trust says so in its status (``ok (busy, noisy)``), csv/json keep the
    stored status. ``title``/``notes``/``columns``/``importance``: default the kind's; ``chosen``: the columns
    asked for by name (or ``"all"``), in every format; ``layers``: add the slowest layers of rows measured per
    layer.

    Returns:
        A :class:`effkit.report.tables.FrameTable`: ``text()`` (what a pipe gets), ``html()``, ``markdown()``,
        ``csv()``, ``json()`` and ``rich(width)``.
    """
    from effkit.report.tables import FrameTable

    kind_columns, kind_importance = KINDS[kind]
    columns = kind_columns if columns is None else columns
    importance = kind_importance if importance is None else importance
    title = (measure_title(df) if kind == "measure" else compare_title(df)) if title is None else title
    notes = result_notes(df) if notes is None else notes
    extra = layer_tables(df) if layers else []
    if fmt in ("table", "markdown") and "status" in df:
        from effkit.trust import shown_status

        df = df.assign(status=[shown_status(r) for r in df.to_dict(orient="records")])
    if chosen is None:
        cols = [c for c in columns if c in df.columns and (c in ALWAYS or df[c].notna().any())
                and not (c == "status" and (df[c] == "ok").all())]
    else:
        cols = list(df.columns) if chosen == "all" else [c for c in chosen if c in df.columns]
    return FrameTable(pd.DataFrame(df), title=title, columns=cols, notes=notes, export_all=chosen is None,
                      extra=[(t, sub, LAYER_COLUMNS) for t, sub in extra],
                      importance=importance if chosen is None else None)


def _first(df, column: str):
    if column not in df.columns:
        return None
    values = df[column].dropna()
    return values.iloc[0] if len(values) else None


class Results(pd.DataFrame):
    """What ``effkit.measure()`` and ``effkit.compare()`` return: the result rows, a pandas DataFrame in every way,
    that prints as the table the command line prints into a pipe.

    ``str(result)`` (so ``print(result)``) is :meth:`table`'s text; a notebook shows the same table in HTML.
    ``repr(result)`` stays pandas' (the raw numbers and every column, for debugging); ``result.table()`` gives
    the other forms. Frames derived from it are results too (pandas' ``_constructor``): while they hold result
    rows (a ``model`` and a ``batch_size`` column, at least one row) they print the same way; any other shape
    (a transpose, an aggregate, no rows) prints as pandas prints it. ``pd.DataFrame(result)`` is a plain
    DataFrame again.
    """

    _metadata = ["result_kind"]
    result_kind = "measure"

    @property
    def _constructor(self):
        return Results

    def table(self):
        """The table ``effkit measure`` (``effkit compare`` for a comparison) prints (see :func:`results_table`)."""
        return results_table(self, kind=self.result_kind)

    def _holds_rows(self) -> bool:
        """Result rows, as opposed to a frame derived from them that is no longer rows (see the class)."""
        names = [c for c in self.columns if isinstance(c, str)]
        return len(self) > 0 and len(names) == len(self.columns) and {"model", "batch_size"} <= set(names)

    def __str__(self) -> str:
        return self.table().text() if self._holds_rows() else super().__str__()

    def _repr_html_(self) -> str:
        return self.table().html() if self._holds_rows() else super()._repr_html_()


def as_results(df, kind: str = "measure") -> Results:
    """``df`` as :class:`Results` of ``kind`` (``"measure"`` or ``"compare"``)."""
    out = Results(df)
    out.result_kind = kind
    return out


__all__ = ["COMPARE_COLUMNS", "LAYER_COLUMNS", "MEASURE_COLUMNS", "Results", "as_results", "compare_title",
           "layer_tables", "machine", "measure_title", "result_notes", "results_table"]
