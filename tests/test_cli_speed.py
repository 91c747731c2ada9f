"""The quick CLI paths: complete output after the quick exit, and the same text without pandas or rich."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from effkit import create_model, list_models, profile
from effkit.analysis.profile import LAYER_COLUMNS
from effkit.models import get_entry
from effkit.report import plain, tables

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}
COLUMNS = [c for c in LAYER_COLUMNS if c not in ("depth", "repeat")]


def _effkit(*args):
    return subprocess.run([sys.executable, "-m", "effkit", *args], capture_output=True, text=True, env=ENV)


def test_quick_exit_writes_all_of_a_long_output_to_a_pipe():
    res = _effkit("profile", "densenet201", "-f", "csv")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 1 + len(profile("densenet201").layers)  # header + every layer
    assert lines[-1].startswith("classifier,Linear,")


def test_quick_exit_keeps_exit_codes():
    assert _effkit("profile", "vovnet40").returncode == 2
    assert _effkit("models", "nothing-like-this*").returncode == 2
    res = _effkit("--help")
    assert res.returncode == 0 and "profile" in res.stdout


@pytest.mark.parametrize("name", ["vovnet27_slim", "densenet40_cifar"])
def test_csv_without_pandas_is_what_pandas_writes(name):
    p = profile(name)
    assert plain.csv_table(p.rows(COLUMNS), COLUMNS) == tables.csv_text(p.layers, COLUMNS)
    df = p.by_depth(1)
    cols = [c for c in df.columns if c != "path"]
    assert plain.csv_table(df[cols].itertuples(index=False, name=None), cols) == tables.csv_text(df, cols)


def test_text_table_aligns_and_totals():
    text = plain.text_table([("a", 1500, 0.5), ("bb", 2, float("nan"))], ["name", "mac", "ratio"],
                            title="T", totals={"mac": 1502}, caption="c")
    # 1500 -> 1.5K, 1502 -> 1.5K (a count: K/M/G); NaN is an empty cell; numbers right-aligned; mac is "MAC".
    # Widths: name 5 ("total"), mac 4 ("1.5K"), ratio 5; two spaces between columns.
    assert text.splitlines() == ["T", "name    MAC  ratio", "-----  ----  -----", "a      1.5K    0.5",
                                 "bb        2", "-----  ----  -----", "total  1.5K", "c"]


def test_profile_csv_path_imports_no_pandas():
    code = ("import sys; sys.argv = ['effkit', 'profile', 'vovnet39', '-f', 'csv']\n"
            "from effkit.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('pandas' in sys.modules, file=sys.stderr)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert res.stderr.strip().splitlines()[-1] == "False"


@pytest.mark.parametrize("name", list_models())
def test_declared_parameter_counts_equal_the_models(name):
    with torch.device("meta"):
        model = create_model(name)
    assert get_entry(name).params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("args", [("profile", "vovnet39", "-f", "csv"), ("models",), ("--help",)],
                         ids=lambda a: " ".join(a))
def test_quick_commands_import_neither_pandas_nor_pydantic(args):
    # -X importtime lists every module imported, to the end (the quick exit included): "import time: ... | name".
    res = subprocess.run([sys.executable, "-X", "importtime", "-m", "effkit", *args], capture_output=True, text=True,
                         env=ENV)
    assert res.returncode == 0, res.stderr[-2000:]
    imported = {ln.rsplit("|", 1)[-1].strip() for ln in res.stderr.splitlines() if ln.startswith("import time:")}
    assert "typer" in imported  # the listing is complete enough to trust its absences
    assert not {m for m in imported if m.split(".")[0] in ("pandas", "pydantic", "pydantic_core")}
    if args == ("--help",):
        assert "torch" not in imported  # the help needs none of the commands' work
