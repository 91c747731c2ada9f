"""A self-contained comparison report (markdown or HTML) of stored measurements.

The report holds what a reviewer needs to judge a comparison: per setup (machine, batch size, dtype, input
size; numbers of different setups are never put side by side) a Table-4-style table (FLOPs, MAC, speed,
memory, energy, computation efficiency, accuracy), Figure 3 and a roofline when the device's peaks are known;
then the machine and the method (warm-up, iterations, how energy was measured) as recorded with the
measurements.
HTML embeds the figures as base64 PNG; markdown writes the PNGs beside the report and links them.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from effkit.errors import BadInputError, setting
from effkit.report.columns import header

REPORT_FORMATS = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}

#: The figures a report may hold; a markdown report writes each beside it as ``<stem>_<name>.png``.
FIGURE_NAMES = ("figure3", "roofline")

#: (column, header, scale, digits) of the Table-4-style table; scale divides the stored value. The headers
#: are the terminal tables' (:mod:`effkit.report.columns`), with the report's fixed units.
TABLE_COLUMNS = [
    ("model", header("model"), None, None),
    ("status", header("status"), None, None),
    ("family", header("family"), None, None),
    ("batch_size", header("batch_size"), None, None),
    ("params", header("params", "M"), 1e6, 2),
    ("flops", header("flops", "G"), 1e9, 2),
    ("paper_mac", header("paper_mac", "M"), 1e6, 1),
    ("mac", header("mac", "M"), 1e6, 1),
    ("latency_ms", header("latency_ms", "ms"), 1, 2),
    ("fps", header("fps"), 1, 1),
    ("peak_memory_bytes", header("peak_memory_bytes", "MiB"), 2**20, 1),
    ("energy_j_per_img", header("energy_j_per_img"), 1, 3),
    ("gflops_per_s", header("gflops_per_s"), 1, 1),
    ("top1", header("top1"), 1, 2),
]

# Columns the measurement layer may record about the method and the machine; shown when present.
_METHOD_COLUMNS = [
    ("warmup_iters", "warm-up iterations (at least)"), ("warmup_s", "warm-up time (s, at least)"),
    ("min_iters", "timed iterations (at least)"), ("min_time_s", "timed for (s, at least)"),
    ("iterations", "timed iterations (done)"), ("timer", "timer"),
    ("cudnn_benchmark", "cuDNN benchmark"), ("channels_last", "channels last"), ("cuda_graph", "CUDA graph"),
    ("memory_method", "memory method"), ("energy_method", "energy method"),
    ("energy_trials", "energy trials"), ("energy_window_s", "energy window (s)"),
    ("idle_power_w", "idle power (W; subtracted for the net J/img only)"), ("energy_status", "energy status"),
]
_MACHINE_COLUMNS = [
    ("gpu_name", "GPU"), ("cpu_model", "CPU"), ("device", "device"), ("machine_id", "machine id"),
    ("hostname", "host"), ("torch_version", "PyTorch"), ("cuda_version", "CUDA"), ("cudnn_version", "cuDNN"),
    ("driver_version", "driver"), ("effkit_version", "effkit"), ("git_commit", "git commit"),
]


def report_table(results, accuracy=None, **filters):
    """The Table-4-style comparison of one setup, one row per model, raw numbers in vocabulary units.

    Columns (those the results allow): ``model, status`` (``ok``, or ``ok (busy, noisy)`` when effkit does not
    trust the row; see :func:`effkit.trust.shown_status`), ``family, batch_size, params, flops, paper_mac, mac,
    latency_ms, fps, peak_memory_bytes, energy_j_per_img, gflops_per_s, top1, accuracy_source``. ``gflops_per_s`` is the
    achieved computation (flops × fps / batch, see :func:`effkit.report.select.achieved_flops_per_s`; empty where
    neither it nor fps was recorded, and ``attrs["notes"]`` says so), ``top1`` the ImageNet accuracy of the
    reference or user table.
    ``filters`` (``device``, ``batch_size``, ``dtype``, ``input_size``) pick the setup when the results hold
    several (see :func:`effkit.report.select.select_setup`); mixed setups are refused.
    """
    from effkit.report.select import select_setup

    return _setup_table(select_setup(results, what="report", **filters).rows, accuracy)


def _setup_table(df, accuracy):
    """The comparison table of rows already selected (one setup, one row per model)."""
    import numpy as np
    import pandas as pd

    from effkit.report.chart_data import family_of
    from effkit.report.select import achieved_flops_per_s, setup_key

    from effkit.trust import shown_status

    out = pd.DataFrame({"model": df["model"].astype(str)})
    # "ok (busy, noisy)" for a row effkit does not trust: the report says it as the terminal tables do
    out["status"] = [shown_status(rec) or "ok" for rec in df.to_dict(orient="records")]
    fam = df["family"] if "family" in df.columns else pd.Series([None] * len(df), index=df.index)
    out["family"] = [family_of(m, f) for m, f in zip(out["model"], fam)]
    out["batch_size"] = [setup_key(rec)["batch_size"] for rec in df.to_dict(orient="records")]
    for col in ("params", "flops", "paper_mac", "mac", "latency_ms", "fps", "peak_memory_bytes",
                "energy_j_per_img"):
        out[col] = pd.to_numeric(df[col], errors="coerce") if col in df.columns else np.nan
    out["energy_j_per_img"] = out["energy_j_per_img"].where(out["energy_j_per_img"] > 0)
    rate, note = achieved_flops_per_s(df)  # the registry's definition; empty (with the note) where unknown
    out["gflops_per_s"] = rate / 1e9
    out.attrs["notes"] = [note] if note else []
    acc = _accuracy_table(accuracy)
    top = dict(zip(acc["model"].astype(str), acc["top1"]))
    src = dict(zip(acc["model"].astype(str), acc["source"].astype(str)))
    out["top1"] = [top.get(m, np.nan) for m in out["model"]]
    out["accuracy_source"] = [src.get(m, "") for m in out["model"]]
    return out.reset_index(drop=True)


def _accuracy_table(accuracy):
    import pandas as pd

    from effkit.report.accuracy import load_accuracy

    if accuracy is None:
        return load_accuracy()
    if isinstance(accuracy, (str, Path)):
        return load_accuracy(accuracy)
    if isinstance(accuracy, pd.DataFrame):
        if "source" not in accuracy.columns:
            accuracy = accuracy.assign(source="")
        return accuracy
    raise BadInputError(f"accuracy: expected a table or a CSV path, got {type(accuracy).__name__}")


#: Headers of the text (left-aligned) columns; the others hold numbers.
_TEXT_HEADERS = (header("model"), header("status"), header("family"))


def _fmt(value: Any, scale, digits) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if scale is None:
        return str(value)
    return f"{float(value) / scale:,.{digits}f}"


def _table_cells(table) -> tuple[list[str], list[list[str]]]:
    cols = [(c, h, s, d) for c, h, s, d in TABLE_COLUMNS
            if c in table.columns and (c in ("model", "status", "family", "batch_size") or table[c].notna().any())]
    headers = [h for _, h, _, _ in cols]
    rows = [[_fmt(rec[c], s, d) for c, _, s, d in cols] for rec in table.to_dict(orient="records")]
    return headers, rows


def _distinct(results, column: str) -> list[str]:
    if column not in results.columns:
        return []
    vals = []
    for v in results[column].dropna().unique():
        text = str(v).strip()
        if text and text.lower() not in ("nan", "none"):
            if isinstance(v, float) and v == int(v):
                text = str(int(v))
            vals.append(text)
    return sorted(set(vals), key=_natural)


def _natural(text: str):
    try:
        return (0, float(text), text)
    except ValueError:
        return (1, 0.0, text)


def _facts(results, columns) -> list[tuple[str, str]]:
    facts: dict[str, list[str]] = {}
    for col, label in columns:
        vals = _distinct(results, col)
        if vals:
            facts.setdefault(label, [])
            facts[label].extend(v for v in vals if v not in facts[label])
    return [(label, ", ".join(vals)) for label, vals in facts.items()]


@dataclass
class ReportSection:
    """The part of a report about one setup: its rows are comparable with each other, not with other sections.

    Attributes:
        label: the setup as one line (machine, batch size, dtype, input size).
        setup: the setup key (see :func:`effkit.report.select.setup_key`).
        table: the Table-4-style DataFrame of this setup (:func:`report_table`).
        figures: ``{name: Figure}`` (``figure3``, ``roofline``).
        notes: what was left out or chosen within this setup.
    """

    label: str
    setup: dict[str, str]
    table: Any
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    """A rendered-ready report: one section per setup, then the machine and the method.

    Attributes:
        title: report title.
        sections: one :class:`ReportSection` per setup, in the order the setups first appear.
        machine: ``(label, value)`` facts about the machine(s).
        method: ``(label, value)`` facts about how the measurements were taken.
        notes: what was left out or chosen (several measurements of a model, missing accuracy ...).
    """

    title: str
    sections: list[ReportSection]
    machine: list[tuple[str, str]]
    method: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)

    @property
    def figures(self) -> dict[str, Any]:
        """Every figure by file name: ``figure3``, ``roofline``; ``setupN_figure3`` ... with several setups."""
        if len(self.sections) == 1:
            return dict(self.sections[0].figures)
        return {f"setup{i}_{name}": fig for i, sec in enumerate(self.sections, 1) for name, fig in sec.figures.items()}


def build_report(results, *, accuracy=None, title: str | None = None, device_spec=None,
                 allow_other_device: bool = False, **filters) -> Report:
    """Assemble a :class:`Report` from measurements: one section (table, Figure 3, roofline) per setup.

    Args:
        results: measurements (one row each; see :func:`effkit.report.plots.figure3`).
        accuracy: accuracy table or CSV path (default: the bundled reference table).
        title: report title; default names the setup (or says how many setups the report holds).
        device_spec: a :class:`~effkit.report.plots.DeviceSpec` for the rooflines; default looked up from
            each setup's GPU name (no roofline, with a note, when the device is unknown).
        allow_other_device: draw ``device_spec``'s roofs over rows measured on another device.
        filters: ``device``, ``batch_size``, ``dtype``, ``input_size``: keep only matching rows
            (see :func:`effkit.report.select.select_setups`).

    Raises:
        BadInputError: empty results, missing columns (``model``, ``latency_ms``, ``flops_per_s`` or
            ``flops``) or cells that are not numbers (the same checks as Figure 3); ``device_spec`` of a
            device the rows were not measured on (unless ``allow_other_device``).
    """
    from effkit.report import select

    acc = _accuracy_table(accuracy)
    # Same checks as `plot figure3`, so a file that cannot make Figure 3 cannot make an almost empty report.
    select.check_measurements(results, "report")
    setups = select.select_setups(results, **filters)
    from effkit.report.chart_marks import data_source

    source = data_source(results)
    sections = [_section(s, acc, device_spec, allow_other_device, source) for s in setups]
    notes: list[str] = []
    if len(sections) > 1:
        notes.append(f"the results hold {len(sections)} setups that cannot be compared: each has its own "
                     "table and figures")
    for sec in sections:
        prefix = f"{sec.label}: " if len(sections) > 1 else ""
        notes.extend(prefix + n for n in sec.notes if prefix + n not in notes)
    import pandas as pd

    selected = pd.concat([s.rows for s in setups], ignore_index=True)
    machine, method = _machine_and_method(selected)
    if title is None:
        title = ("effkit comparison — " + sections[0].label if len(sections) == 1
                 else f"effkit comparison — {len(sections)} setups")
    return Report(title=title, sections=sections, machine=machine, method=method, notes=notes)


def _section(chosen, acc, device_spec, allow_other_device: bool, source: str | None = None) -> ReportSection:
    """The table, Figure 3 and (when the device's peaks are known) the roofline of one setup."""
    from effkit.report import plots
    from effkit.report import roofline as roofline_chart

    from effkit.trust import trust_notes

    rows, notes = chosen.rows, list(chosen.notes)
    notes += [f"warning: {line}: its numbers may be off" for line in trust_notes(rows)]
    table = _setup_table(rows, acc)
    notes += table.attrs["notes"]
    figures: dict[str, Any] = {}
    fig = plots.figure3(rows, acc, source=source)
    figures["figure3"] = fig
    notes.extend(n for n in fig.effkit_notes if n not in notes)
    spec = device_spec
    if spec is not None:
        roofline_chart.check_measured_on(rows, spec, allow_other_device=allow_other_device)
    elif chosen.key["machine"] in _distinct(rows, "gpu_name"):  # the setup ran on that GPU
        dtype = chosen.key["dtype"] if chosen.key["dtype"] != "?" else "float32"
        try:
            spec = plots.device_spec(gpu_name=chosen.key["machine"], dtype=dtype)
        except BadInputError as e:
            notes.append(f"no roofline: {e}")
    else:
        notes.append("no roofline: no GPU recorded with these rows")
    if spec is not None and {"flops", "mac_bytes"} <= set(rows.columns):
        figures["roofline"] = roofline_chart.roofline(rows, spec, allow_other_device=allow_other_device,
                                                      source=source)
    return ReportSection(chosen.label, dict(chosen.key), table, figures, notes)


def _machine_and_method(selected) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The machine and method facts recorded with the selected rows."""
    from effkit.report.select import describe_setup

    setup = describe_setup(selected)
    machine = _facts(selected, _MACHINE_COLUMNS)
    machine += [("batch size", setup["batch_size"]), ("dtype", setup["dtype"])]
    input_shapes = _distinct(selected, "input_shape")
    if input_shapes:
        machine.append(("input shape", ", ".join(input_shapes)))
    method = _facts(selected, _METHOD_COLUMNS)
    if not any(label.startswith(("warm-up", "timed")) for label, _ in method):
        method.insert(0, ("warm-up / iterations", "not recorded with these results"))
    method += method_definitions()
    stamps = _distinct(selected, "timestamp")
    if stamps:
        method.append(("measured", stamps[0] if len(stamps) == 1 else f"{stamps[0]} … {stamps[-1]}"))
    return machine, method


def method_definitions() -> list[tuple[str, str]]:
    """What each measured or derived column of the report's table is: the definitions the tables and the README
    use (:mod:`effkit.report.columns`), so the report says what the code computed."""
    from effkit.report.columns import definition

    return [(head, definition(col)) for col, head, _, _ in TABLE_COLUMNS if definition(col)]


_ROOFLINE_CAPTION = ("Roofline: arithmetic intensity (FLOPs / MAC bytes) against achieved FLOP/s, under the "
                     "device's peak compute and memory bandwidth.")


def figure_caption(kind: str, fig) -> str:
    """The caption of a report figure, built from what the figure draws: Figure 3's panels shown (not all
    four), the grey points when there are any, and the data it shows (machine, batch, dtype, input, source)."""
    if kind == "figure3":
        from effkit.report.plots import FIGURE3_PANELS

        drawn = getattr(fig, "panels", {})
        panels = [title for letter, *_rest, title in FIGURE3_PANELS if letter in drawn]
        text = "Figure 3 (after the VoVNet paper): " + ", ".join(panels) + "."
        left = [f"({letter})" for letter, *_ in FIGURE3_PANELS if letter not in drawn]
        if left:
            text += f" Panel{'s' if len(left) > 1 else ''} {', '.join(left)} not drawn (see the notes)."
    elif kind == "roofline":
        text = _ROOFLINE_CAPTION
    else:
        text = kind
    from effkit.report.chart_marks import UNTRUSTED_LABEL

    if any(UNTRUSTED_LABEL in n for n in getattr(fig, "effkit_notes", ())):
        text += f" {UNTRUSTED_LABEL[0].upper()}{UNTRUSTED_LABEL[1:]} (see the status column)."
    provenance = getattr(fig, "effkit_provenance", None)
    return text + (f" {provenance[0].upper()}{provenance[1:]}." if provenance else "")


def _accuracy_sources(report: Report) -> list[str]:
    seen: list[str] = []
    for sec in report.sections:
        for m, s in zip(sec.table["model"], sec.table["accuracy_source"]):
            if s and f"{m}: {s}" not in seen:
                seen.append(f"{m}: {s}")
    return seen


def _section_figures(report: Report, index: int) -> list[tuple[str, str, Any]]:
    """(file name, figure kind, Figure) of section ``index``, named as in :attr:`Report.figures`."""
    sec = report.sections[index]
    if len(report.sections) == 1:
        return [(name, name, fig) for name, fig in sec.figures.items()]
    return [(f"setup{index + 1}_{name}", name, fig) for name, fig in sec.figures.items()]


def _section_heading(report: Report, index: int) -> str:
    sec = report.sections[index]
    return "Comparison" if len(report.sections) == 1 else f"Setup {index + 1}: {sec.label}"


def render_markdown(report: Report, figure_links: dict[str, str]) -> str:
    """Markdown text of ``report``; ``figure_links`` maps figure names to the image paths to link."""
    lines = [f"# {report.title}", "",
             f"_Generated by effkit on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC._"]
    for i, sec in enumerate(report.sections):
        headers, rows = _table_cells(sec.table)
        measured_on = [f"_Measured on {sec.label}._", ""] if len(report.sections) == 1 else []
        lines += ["", f"## {_section_heading(report, i)}", "", *measured_on,
                  "| " + " | ".join(headers) + " |",
                  "| " + " | ".join("---" if h in _TEXT_HEADERS else "---:" for h in headers) + " |"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        lines += ["", "– = not measured or not known (never zero)."]
        for name, kind, _ in _section_figures(report, i):
            if name in figure_links:
                lines += ["", f"![{name}]({figure_links[name]})", "", f"_{figure_caption(kind, report.figures[name])}_"]
    lines += ["", "## Machine", ""] + [f"- **{k}**: {v}" for k, v in report.machine]
    lines += ["", "## Method", ""] + [f"- **{k}**: {v}" for k, v in report.method]
    sources = _accuracy_sources(report)
    if sources:
        lines += ["", "## Accuracy sources", ""] + [f"- {s}" for s in sources]
    if report.notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


def render_html(report: Report) -> str:
    """Self-contained HTML of ``report`` (figures embedded as base64 PNG)."""
    from effkit.report.figures import figure_png_bytes

    e = html.escape
    parts = [
        "<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">", f"<title>{e(report.title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 8px}"
        "td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f3f3f3}"
        "img{max-width:100%}figcaption{font-size:0.85em;color:#555}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
        f"<p><em>Generated by effkit on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.</em></p>",
    ]
    for i, sec in enumerate(report.sections):
        headers, rows = _table_cells(sec.table)
        measured_on = f"<p><em>Measured on {e(sec.label)}.</em></p>" if len(report.sections) == 1 else ""
        parts.append(f"<h2>{e(_section_heading(report, i))}</h2>{measured_on}"
                     "<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr></thead><tbody>")
        for row in rows:
            parts.append("<tr>" + "".join(
                f"<td>{e(c)}</td>" if h in _TEXT_HEADERS else f"<td class=\"num\">{e(c)}</td>"
                for h, c in zip(headers, row)) + "</tr>")
        parts.append("</tbody></table><p>– = not measured or not known (never zero).</p>")
        for name, kind, fig in _section_figures(report, i):
            data = base64.b64encode(figure_png_bytes(fig)).decode("ascii")
            parts.append(f"<figure><img alt=\"{e(name)}\" src=\"data:image/png;base64,{data}\">"
                         f"<figcaption>{e(figure_caption(kind, fig))}</figcaption></figure>")
    for heading, facts in (("Machine", report.machine), ("Method", report.method)):
        parts.append(f"<h2>{heading}</h2><ul>" + "".join(
            f"<li><strong>{e(k)}</strong>: {e(v)}</li>" for k, v in facts) + "</ul>")
    sources = _accuracy_sources(report)
    if sources:
        parts.append("<h2>Accuracy sources</h2><ul>" + "".join(f"<li>{e(s)}</li>" for s in sources) + "</ul>")
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report.notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def figure_paths(output: str | Path, names=FIGURE_NAMES) -> dict[str, Path]:
    """Where a markdown report at ``output`` writes its figures: ``<stem>_<figure>.png`` beside it."""
    out = Path(output)
    return {name: out.with_name(f"{out.stem}_{name}.png") for name in names}


def check_report_path(output: str | Path, *, force: bool = False) -> str:
    """The format (``markdown``/``html``) a report path asks for; refuses it before any work is done.

    Args:
        output: the report file.
        force: allow overwriting figure files that already exist beside a markdown report.

    Raises:
        BadInputError: unknown suffix, a path that cannot be written, or (without ``force``) figure files
            of a markdown report that exist already.
    """
    from effkit.files import check_output

    out = Path(output)
    fmt = REPORT_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise BadInputError(f"cannot tell the report format of {out}: use a .md or .html file name")
    check_output(out)
    if fmt == "markdown":
        _refuse_existing(figure_paths(out).values(), force=force)
    return fmt


def _refuse_existing(paths, *, force: bool) -> None:
    # The report file itself is the output the user named; the PNGs beside it are not, so an existing
    # one may be someone else's figure and is kept unless the user says otherwise.
    if force:
        return
    taken = [str(p) for p in paths if p.exists()]
    if taken:
        raise BadInputError("the report would overwrite " + ", ".join(taken)
                            + f"; pass {setting('force')} to overwrite, or choose another report name")


def write_report(results, output: str | Path, *, accuracy=None, title: str | None = None,
                 device_spec=None, force: bool = False, allow_other_device: bool = False,
                 **filters) -> list[Path]:
    """Write a markdown (``.md``) or HTML (``.html``) report of ``results`` to ``output``.

    Markdown: the figures are written beside the report as ``<stem>_<figure>.png`` and linked. HTML: one
    self-contained file. The report file itself is replaced when it exists.

    Args:
        results: measurements (see :func:`build_report`).
        output: the report file; ``.md``/``.markdown`` or ``.html``/``.htm``.
        accuracy: accuracy table or CSV path (default: the bundled reference table).
        title: report title.
        device_spec: peaks for the roofline (see :func:`build_report`).
        force: overwrite figure files that already exist beside a markdown report; without it they
            are bad input and nothing is written.
        allow_other_device, filters: as in :func:`build_report`.

    Returns:
        The files written, the report first.

    Raises:
        BadInputError: unknown suffix, unwritable path, existing figure files (without ``force``), empty
            results, missing columns or non-numeric cells.
    """
    from effkit.report.figures import save_figure
    from effkit.files import write_text

    out = Path(output)
    fmt = check_report_path(out, force=force)
    report = build_report(results, accuracy=accuracy, title=title, device_spec=device_spec,
                          allow_other_device=allow_other_device, **filters)
    written = []
    if fmt == "html":
        write_text(out, render_html(report))
        return [out]
    links = {}
    paths = figure_paths(out, report.figures)
    _refuse_existing(paths.values(), force=force)  # again: a file may have appeared while building
    for name, fig in report.figures.items():
        p = paths[name]
        save_figure(fig, p)
        links[name] = p.name
        written.append(p)
    write_text(out, render_markdown(report, links))
    return [out, *written]


__all__ = ["FIGURE_NAMES", "REPORT_FORMATS", "Report", "ReportSection", "build_report", "check_report_path", "figure_paths",
           "render_html", "render_markdown", "report_table", "write_report"]
