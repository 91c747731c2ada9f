"""Tables for people: they fit the terminal, names are cut on the left, numbers are never cut, units are words.

Every expected value is worked out by hand beside its assertion.
"""

from __future__ import annotations

import io
import re

import pandas as pd
import pytest
from rich.console import Console

from effkit.report import columns as C
from effkit.report import tables
from effkit.units import human_bytes, human_ms, sig


# ---- human units that lose nothing -------------------------------------------------------------------------

@pytest.mark.parametrize("n, text", [
    (512, "512 B"),                  # under 1 KiB: whole bytes
    (1536, "1.5 KiB"),               # 1536 / 1024 = 1.5
    (3 * 2**20, "3.0 MiB"),          # 3145728 / 1024**2 = 3
    (int(2.25 * 2**30), "2.2 GiB"),  # 2.25 GiB, one decimal (2.25 rounds half to even: 2.2)
])
def test_human_bytes(n, text):
    assert human_bytes(n) == text


@pytest.mark.parametrize("ms, text", [
    (20400, "20.4 s"),       # 20400 ms = 20.4 s, not "20.4K ms"
    (3.214, "3.21 ms"),      # three significant digits
    (0.0123, "12.3 µs"),     # 0.0123 ms = 12.3 µs
    (250, "250 ms"),
    (90_000, "90 s"),        # under ten minutes: seconds
    (1_500_000, "25 min"),   # 1500 s = 25 min
])
def test_human_ms(ms, text):
    assert human_ms(ms) == text


@pytest.mark.parametrize("value, text", [
    (20400, "20400"),        # never 2.04e+04, never 20.4K: the integer part is kept whole
    (3.14159, "3.14"), (0.000321, "0.000321"), (250.0, "250"), (0, "0"), (1.0, "1"),
])
def test_sig(value, text):
    assert sig(value) == text


# ---- one mapping of headers, one unit a column ---------------------------------------------------------------

def test_headers_are_words_with_units():
    assert C.header("latency_ms") == "latency"          # the unit comes with the column's cells ...
    assert C.format_column("latency_ms", [3.2, 41.5])[0] == "latency (ms)"   # ... largest 41.5 ms: ms
    assert C.header("energy_j_per_img") == "energy (J/img)"
    assert C.header("fps") == "FPS"                      # frames (images) per second: the unit is the name
    assert C.header("params", "M") == "params (M)"      # a report's fixed unit


def test_a_column_takes_the_unit_of_its_largest_value():
    # 85.2 ms and 203 ms: milliseconds, in the header
    assert C.format_column("latency_ms", [85.2, 203.0]) == ("latency (ms)", ["85.2", "203"])
    # 1200 ms and 20400 ms: the largest is 20.4 s, so seconds: 1.2 and 20.4
    assert C.format_column("latency_ms", [1200.0, 20400.0]) == ("latency (s)", ["1.2", "20.4"])
    # 98 MiB and 3.5 GiB = 3584 MiB: GiB; 98 / 1024 = 0.0957 would read 0.0..., so each cell has its unit
    assert C.format_column("peak_memory_bytes", [98 * 2**20, 3.5 * 2**30, None]) == (
        "peak memory", ["98.0 MiB", "3.5 GiB", ""])
    # 3.214 ms beside 20.4 s: each cell its own unit, never "20.4K" ms
    assert C.format_column("latency_ms", [3.214, 20400.0]) == ("latency", ["3.21 ms", "20.4 s"])
    # 1.5 KiB and 2 KiB: KiB; 1536 / 1024 = 1.5
    assert C.format_column("peak_memory_bytes", [1536, 2048]) == ("peak memory (KiB)", ["1.5", "2"])
    assert C.format_column("energy_j_per_img", [0.4, float("nan")]) == ("energy (J/img)", ["0.4", ""])
    assert C.format_column("params", [22_600_000]) == ("params", ["22.6M"])   # counts keep K/M/G


def test_report_headers_come_from_the_same_mapping():
    from effkit.report.report import TABLE_COLUMNS

    headers = {c: h for c, h, _, _ in TABLE_COLUMNS}
    assert headers["latency_ms"] == C.header("latency_ms", "ms") == "latency (ms)"
    assert headers["energy_j_per_img"] == "energy (J/img)"
    # the terminal's peak memory is in MiB (1024-based, as torch and the OS count it): the report's is too
    assert headers["peak_memory_bytes"] == "peak memory (MiB)"


# ---- the layout: width, names, numbers ---------------------------------------------------------------------

LONG = "stage4.OSA4_2.layers.4.OSA4_2_4.concat_and_a_very_long_tail/conv"  # 65 characters


def _frame():
    return pd.DataFrame({
        "name": ["stem.conv", LONG, "classifier"],
        "type": ["Conv2d", "Conv2d", "Linear"],
        "output_shape": ["1x64x112x112", "1x1024x7x7", "1x1000"],
        "call": [0, 0, 0],
        "params": [1728, 2_200_000, 1_025_000],
        "flops": [43_352_064, 215_000_000, 2_048_000],
        "mac": [955_072, 2_350_000, 1_030_000],
        "mac_ratio": [2.73, 1.0, float("nan")],
        "energy_j_per_img": [float("nan")] * 3,
    })


def _render(renderable, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text().splitlines()


NUMBERS = ["1.73K", "2.2M", "1.02M", "43.4M", "215M", "2.05M", "955K", "2.35M", "1.03M", "2.73"]


@pytest.mark.parametrize("width", [80, 200])
def test_table_fits_and_keeps_every_number(width):
    cols = ["name", "type", "output_shape", "params", "flops", "mac", "mac_ratio"]
    lines = _render(tables.rich_table(_frame(), columns=cols, width=width, title="t"), width)
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    # at 80: name 28 (cut) + type 6 + shape 12 + params 6 + FLOPs 5 + MAC 5 + ratio 9 + 6 gaps of 2 = 83 > 80,
    # so the last column, MAC ratio, is left out (and said so)
    assert ("not shown at this width: MAC ratio" in text) == (width == 80)
    for number in NUMBERS[:-1] if width == 80 else NUMBERS:
        assert re.search(rf"(?<![\w.…]){re.escape(number)}(?![\w.…])", text), number
    assert not any("…" in line[1:] for line in lines)  # no number cut short ("1…"): only the name, first
    if width == 200:
        assert LONG in text  # whole at 200 columns, not wrapped onto two lines
    else:
        # 80 columns: the name keeps its tail, cut on the left; never wrapped
        row = next(line for line in lines if "…" in line)
        assert row.startswith("…") and "very_long_tail/conv" in row
        assert sum("very_long_tail" in line for line in lines) == 1


def test_narrow_table_leaves_columns_out_rather_than_squeezing_them():
    cols = ["name", "type", "output_shape", "params", "flops", "mac", "mac_ratio"]
    importance = ["name", "mac", "flops", "params", "type", "mac_ratio", "output_shape"]
    lines = _render(tables.rich_table(_frame(), columns=cols, width=60, importance=importance), 60)
    header = lines[0]
    # name 28 + type 6 + params 6 + FLOPs 5 + MAC 5 + 4 gaps of 2 = 58 <= 60; output shape and MAC ratio go
    assert "output shape" not in header and "MAC ratio" not in header
    assert all(h in header for h in ("name", "type", "params", "FLOPs", "MAC"))
    assert "not shown at this width: output shape, MAC ratio" in " ".join(" ".join(lines).split())
    assert max(len(line) for line in lines) <= 60


def test_columns_that_say_nothing_are_left_out():
    lines = _render(tables.rich_table(_frame(), columns=["name", "mac", "energy_j_per_img"], width=200), 200)
    assert "energy" not in lines[0]  # every cell empty
    lines = _render(tables.rich_table(_frame(), columns=["name", "mac", "energy_j_per_img"], width=200,
                                      always=["energy_j_per_img"]), 200)
    assert "energy (J/img)" in lines[0]


def test_markup_in_a_name_is_shown_as_written():
    df = pd.DataFrame({"name": ["blocks[0]"], "mac": [1]})
    assert "blocks[0]" in "\n".join(_render(tables.rich_table(df, width=80), 80))


# ---- effkit profile ----------------------------------------------------------------------------------------

def _terminal(monkeypatch, width: int) -> io.StringIO:
    """Make ``effkit profile`` draw its terminal table into a recording console of ``width`` columns."""
    buf = io.StringIO()
    monkeypatch.setattr(tables, "is_terminal", lambda: True)
    monkeypatch.setattr(tables, "console", lambda stderr=False: Console(width=width, file=buf, no_color=True))
    return buf


@pytest.mark.parametrize("width", [80, 90, 200])
def test_profile_vovnet39_fits_the_terminal(cli, monkeypatch, width):
    buf = _terminal(monkeypatch, width)
    assert cli("profile", "vovnet39").returncode == 0
    lines = buf.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width
    header = next(line for line in lines if line.startswith("name "))
    for words in ("type", "params", "FLOPs", "MAC", "MAC ratio"):
        assert words in header
    assert ("output shape" in header) == (width >= 90)  # the torchinfo set fits in 90 columns, not in 80
    assert "call" not in header  # constant 0 in a model without repeated calls
    text = "\n".join(lines)
    assert "(model) (own ops)" in text
    assert not any("…" in line[1:] for line in lines)  # only a name, first on its line, is ever cut
    # 128 layers + header + rule + the totals: one line a row, nothing wrapped
    assert sum(1 for line in lines if re.search(r"  (Conv2d|BatchNorm2d|ReLU) {2,}", line)) == 117
    if width == 200:
        assert "stage2.OSA2_1.layers.0.OSA2_1_0/conv" in text


def test_profile_top_ends_with_the_rows_total_and_the_models(cli, monkeypatch, tiny):
    buf = _terminal(monkeypatch, 100)
    res = cli("profile", f"{tiny}:build", "--input-size", "8", "--sort", "mac", "--top", "3",
              "--columns", "name,params,mac")
    assert res.returncode == 0, res.stderr
    lines = buf.getvalue().splitlines()
    # conv 3->8 3x3 on 8x8 (bias off), BN(8), ReLU, avgpool, flatten, linear 8->4: the MAC of each layer
    # (tests/test_cli_profile.py): conv 920, BN 1056, ReLU 1024, pool 520, linear 48 (+ flatten 0).
    # The three largest: BN 1056, ReLU 1024, conv 920 -> 3000 = "3K"; params 16 + 0 + 216 = 232.
    shown = next(line for line in lines if line.startswith("total of the 3 shown rows"))
    assert shown.split()[-2:] == ["232", "3K"]
    # the model: params 216 + 16 + 36 = 268; MAC 920 + 1056 + 1024 + 520 + 48 = 3568 -> 3.57K
    model = next(line for line in lines if line.startswith("model total"))
    assert model.split()[-2:] == ["268", "3.57K"]


def test_profile_top_totals_in_a_pipe(cli, tiny):
    res = cli("profile", f"{tiny}:build", "--input-size", "8", "--sort", "mac", "--top", "3")
    assert res.returncode == 0, res.stderr
    assert "total of the 3 shown rows" in res.stdout and "model total" in res.stdout


def test_profile_columns(cli, monkeypatch, tiny):
    res = cli("profile", f"{tiny}:build", "--input-size", "8", "--columns", "name,nosuch", "-f", "csv")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "'nosuch'" in lines[0] and "mac_ratio" in lines[0] and "all" in lines[0]
    res = cli("profile", f"{tiny}:build", "--input-size", "8", "--columns", "name,mac", "-f", "csv")
    # csv keeps the raw names; the conv (module "0") reads 3*8*8 + 216 weights and writes 8*8*8: MAC 920
    assert res.stdout.splitlines()[:2] == ["name,mac", "0,920"]
    res = cli("profile", f"{tiny}:build", "--input-size", "8", "--columns", "all", "-f", "csv")
    assert res.stdout.splitlines()[0].startswith("name,type,call,ops,input_shape,output_shape,params,")


def test_profile_tree_is_indented_and_adds_up(cli, monkeypatch):
    buf = _terminal(monkeypatch, 100)
    assert cli("profile", "vovnet39", "--tree", "--depth", "3").returncode == 0
    lines = buf.getvalue().splitlines()
    header = next(line for line in lines if line.startswith("name "))
    width = header.index("type")  # the name column ends where the type column starts
    names = [line[:width].rstrip() for line in lines]
    assert "stage2" in names and "  OSA2_1" in names and "    layers" in names and "    concat" in names
    # OSA2_1 runs a torch.cat of its own: it is shown under the block, as its own ops
    assert "    (own ops)" in names
    assert "(model) (own ops)" in names


def test_profile_tree_refuses_sort(cli):
    res = cli("profile", "vovnet39", "--tree", "--sort", "mac")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
