"""One column registry for every table and format; the columns kept at 80 characters; one style into pipes.

Expected values are worked out by hand beside each assertion.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from effkit.report import columns as C
from effkit.report import plain, tables

README = Path(__file__).resolve().parent.parent / "README.md"


# ---- the registry: words, units, definitions -------------------------------------------------------------------

def test_fractions_are_shown_as_percentages():
    # 0.0129 of the time is 1.29 %; 0.5 is 50 %
    assert C.format_column("time_share", [0.0129, 0.5]) == ("time share (%)", ["1.29", "50"])
    # a calibration's leave-one-model-out error of 0.083 is 8.3 %
    assert C.format_column("loo_median_abs_error", [0.083]) == ("leave-one-model-out error (%)", ["8.3"])


def test_calibrate_proxies_and_estimate_headers_are_words_with_units():
    assert C.header("gflops_per_s_conv") == "conv rate (GFLOP/s)"
    assert C.header("kernel_overhead_us") == "overhead per kernel (µs)"
    assert C.header("latency_ms_spearman") == "latency Spearman"
    assert C.header("energy_estimate_j_per_img") == "estimated energy (J/img)"
    # 2.5e-11 J per FLOP = 25 pJ
    assert C.format_column("energy_j_per_flop", [2.5e-11]) == ("energy per FLOP (pJ)", ["25"])


def test_readme_vocabulary_is_the_registry():
    assert C.vocabulary_markdown() in README.read_text()
    # fps is what timing.py computes (images / timed span), not batch / latency
    assert "images / timed span" in C.definition("fps")


def test_report_method_says_what_the_code_computed():
    from effkit.report.report import method_definitions

    method = dict(method_definitions())
    assert method["FPS"] == C.definition("fps") and "images / timed span" in method["FPS"]
    assert "batch size / latency" not in " ".join(method.values())
    assert "flops of a batch × fps / batch" in method["achieved FLOP/s (G)"]


SHIPPED_ROW = "| vovnet39 | 8 |"


def test_markdown_compare_has_words_and_one_unit_a_column(cli):
    res = cli("compare", "--shipped", "--format", "markdown")
    assert res.returncode == 0, res.stderr
    header = next(line for line in res.stdout.splitlines() if line.startswith("| model"))
    assert "latency_ms" not in header and "peak_memory_bytes" not in header
    assert "| batch |" in header and "peak memory (MiB)" in header
    row = next(line for line in res.stdout.splitlines() if line.startswith(SHIPPED_ROW))
    assert not re.search(r"\| [\d.]+K \|", row.split("|", 8)[-1])  # never "1.5K" ms
    assert "ms" in row or "s |" in row  # a column from 94 ms to 2.2 s gives each cell its unit


def test_report_and_terminal_give_peak_memory_in_the_same_unit():
    from effkit.report.report import TABLE_COLUMNS

    head, scale = next((h, s) for c, h, s, _ in TABLE_COLUMNS if c == "peak_memory_bytes")
    # 1.5e8 bytes: the terminal's column says MiB, 1.5e8 / 2**20 = 143 MiB; the report must say the same
    assert C.format_column("peak_memory_bytes", [1.5e8]) == ("peak memory (MiB)", ["143"])
    assert head == "peak memory (MiB)" and round(1.5e8 / scale) == 143


# ---- 80 columns keep what the command is for ------------------------------------------------------------------

def _terminal(monkeypatch, width: int) -> io.StringIO:
    buf = io.StringIO()
    monkeypatch.setattr(tables, "is_terminal", lambda: True)
    monkeypatch.setattr(tables, "console", lambda stderr=False: Console(width=width, file=buf, no_color=True))
    return buf


def _header_line(text: str, first: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(first))


def test_compare_at_80_columns_keeps_flops_and_mac(cli, monkeypatch):
    buf = _terminal(monkeypatch, 80)
    assert cli("compare", "--shipped").returncode == 0
    text = buf.getvalue()
    header = _header_line(text, "model")
    for words in ("FLOPs", "paper MAC", "MAC", "achieved FLOP/s", "latency", "FPS"):
        assert words in header, header
    assert max(len(line) for line in text.splitlines()) <= 80


def test_results_shipped_at_80_columns_keeps_the_file_name(cli, monkeypatch):
    from effkit import shipped_measurements

    buf = _terminal(monkeypatch, 80)
    assert cli("results", "shipped").returncode == 0
    for f in shipped_measurements():
        assert f.name in buf.getvalue()  # whole: --from-shipped takes it


def test_a_constant_column_goes_to_the_title():
    rows = [("conv", 1, 0.5), ("relu", 1, 0.5)]
    text = plain.text_table(rows, ["layer", "kernels", "time_share"], title="model")
    first, header = text.splitlines()[:2]
    # kernels 1 in every row, time share 50 % in every row: said once, in the title
    assert first == "model  kernels 1  time share 50 %"
    assert header.split() == ["layer"]


def test_predict_keeps_bound_before_kernels(cli, monkeypatch):
    buf = _terminal(monkeypatch, 80)
    assert cli("predict", "vovnet39", "--device-spec", "H100 SXM").returncode == 0
    text = buf.getvalue()
    header = _header_line(text, "layer")
    title = text[:text.index(header)]
    # bound is shown: as a column, or in the title when every op shown has the same one
    assert "time" in header and ("bound" in header or re.search(r"bound (compute|memory|launch)", title))


# ---- one style into a pipe ------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [["profile", "vovnet39"], ["compare", "--shipped"], ["results", "shipped"],
                                  ["models"], ["predict", "vovnet39", "--device-spec", "H100 SXM"]])
def test_every_command_writes_the_same_text_table_into_a_pipe(cli, argv):
    res = cli(*argv)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= tables.FILE_WIDTH  # no 417-character lines
    rule = next(i for i, line in enumerate(lines) if re.fullmatch(r"-+( +-+)*", line))
    header = lines[rule - 1]
    assert "_" not in header  # words, never raw names (mult_adds, input_shape)


def test_titles_break_between_their_parts():
    title = "effkit compare  float32  on AMD EPYC, 1 torch thread  batch 1"
    # 30 characters: "float32  on AMD EPYC, 1 torch thread" is 36, so each part on its own line
    assert tables.wrap_title(title, 30).splitlines() == [
        "effkit compare  float32", "on AMD EPYC, 1 torch thread", "batch 1"]
    assert tables.wrap_title(title, 200) == title


def test_check_output_file_is_not_also_printed(cli, tmp_path):
    base = tmp_path / "b.json"
    assert cli("baseline", "save", "vovnet27_slim", "--output", str(base)).returncode == 0
    res = cli("check", "--baseline", str(base), "--format", "markdown", "--output", str(tmp_path / "o.md"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "1 of 1 model passed"  # the verdict; the report is in the file
    assert "| metric |" in (tmp_path / "o.md").read_text()
    # into a pipe: the plain text table every command writes there, no rich rule
    res = cli("check", "--baseline", str(base))
    assert "─" not in res.stdout and re.search(r"^metric +baseline", res.stdout, flags=re.M)


def test_models_takes_a_plain_word_and_a_family(cli):
    from effkit.models.registry import get_entry, list_models

    # "vovnet" matches vovnet39/57/27_slim by name and the OSA CIFAR nets by their family
    found = list_models("vovnet")
    assert {"vovnet39", "vovnet57", "vovnet27_slim"} <= set(found)
    assert all("vovnet" in n or "vovnet" in get_entry(n).family.lower() for n in found)
    assert list_models("vovnet*") == sorted(n for n in found if n.startswith("vovnet"))  # patterns as before
    res = cli("models", "VoVNet")
    assert res.returncode == 0 and "vovnet39" in res.stdout


def test_energy_window_defaults_to_the_device_there_is():
    import torch

    from effkit.measurement.energy.meter import NullMeter
    from effkit.measurement.window import energy_window

    with energy_window(meter=NullMeter("a test")) as w:
        pass
    assert w.device == ("cuda:0" if torch.cuda.is_available() else "cpu")  # not cuda:0 on a CPU-only machine


def test_shipped_csv_reads_with_pythons_csv_module_and_keeps_its_layers():
    import csv
    import json

    from effkit import load_shipped, shipped_measurements

    for f in shipped_measurements():
        with open(f.path, newline="") as fh:
            rows = list(csv.DictReader(fh))  # the default field limit, 128 KiB: no per-layer JSON in the CSV
        assert len(rows) == f.rows and "layers_json" not in rows[0]
        df = load_shipped(f.name)
        assert df["layers_json"].notna().all()  # joined back from the side file, row by row
        layers = json.loads(df["layers_json"].iloc[0])
        assert layers and "latency_ms" in layers[0]


def test_results_show_into_a_pipe_is_the_plain_text_table(cli, tiny, tmp_path):
    db = tmp_path / "r.db"
    fast = ["--device", "cpu", "--warmup-s", "0", "--warmup-iters", "1", "--min-iters", "2", "--min-time-s", "0",
            "--no-energy"]
    assert cli("measure", f"{tiny}:build", "--input-size", "8", *fast, "--db", str(db)).returncode == 0
    res = cli("results", "show", "1", "--db", str(db))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == "result 1" and re.fullmatch(r"field +value", lines[1]) and set(lines[2]) <= {"-", " "}
    assert "─" not in res.stdout and max(map(len, lines)) <= tables.FILE_WIDTH


def test_calibrate_table_in_words_and_percent(cli, monkeypatch):
    buf = _terminal(monkeypatch, 80)
    assert cli("calibrate", "--shipped").returncode == 0
    text = buf.getvalue()
    assert "conv rate (GFLOP/s)" in text and "overhead per kernel (µs)" in text
    assert "gflops per s" not in text and "kernel overhead us" not in text
    assert "leave-one-model-out error (%)" in text and "error (%)" in _header_line(text, "model ")
    assert max(len(line) for line in text.splitlines()) <= 80


def test_a_narrow_table_keeps_its_title_and_notes_at_the_terminals_width():
    title = "4 configurations (dry run: nothing measured)  dtype float32"  # 59 characters
    caption = "estimated run time: at least 12.0 s for 4 configurations of 3.0 s each"  # 71 characters
    table = tables.layout_table(["config", "model"], [(1, "vovnet39"), (2, "resnet50")], title=title,
                                caption=caption, width=80, fold=False)
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(table)
    lines = [line.rstrip() for line in console.export_text().splitlines()]
    # the table is 16 characters wide; its title and caption still take one line each, not a column of words
    assert lines[0] == title and caption in lines


def test_measure_help_defines_its_columns_in_the_registrys_words(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "2000")  # one line: the words are compared whole
    res = cli("measure", "--help")
    assert res.returncode == 0
    text = " ".join(res.stdout.split())
    assert C.definition("fps") in text and C.definition("flops_per_s") in text


def test_profile_title_names_its_totals_in_words(cli):
    first = cli("profile", "vovnet39").stdout.splitlines()[0]
    assert "mult-adds " in first and "_" not in first.replace("vovnet39", "")  # words, not the raw mult_adds
