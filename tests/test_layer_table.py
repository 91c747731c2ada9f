"""The layer table in the library: what `effkit profile` prints, from Python, and a Profile that prints it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from effkit import profile


def _cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "effkit", *args], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return out.stdout  # into a pipe, as `effkit profile ... | cat`


def test_the_table_of_a_profile_is_what_the_command_prints_into_a_pipe():
    code = "import effkit; print(effkit.profile('vovnet39').table())"
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONWARNINGS": "ignore"}).stdout
    assert printed.rstrip("\n") == _cli("profile", "vovnet39").rstrip("\n")


@pytest.mark.parametrize("view", [dict(depth=2), dict(tree=True, depth=2), dict(sort="mac", top=5)])
def test_each_view_is_the_commands_view(view):
    flags = {"depth": "--depth", "sort": "--sort", "top": "--top"}
    args = [w for k, v in view.items() if k != "tree" for w in (flags[k], str(v))] + ["--tree"] * ("tree" in view)
    assert str(profile("vovnet39").table(**view)) == _cli("profile", "vovnet39", *args)


def test_a_profile_prints_its_table():
    p = profile("resnet18")
    text = str(p)
    lines = text.splitlines()
    # The title, then a header, a rule and one line per layer row, in order.
    assert lines[0].startswith("resnet18  input 1x3x224x224  float32  params 11.7M")  # 11,689,512 published
    assert lines[1].split()[:2] == ["name", "type"]
    names = [n for n in p.layers["name"] if not n.startswith("(model)")]  # ResNet's own flatten costs nothing: not shown
    assert all(line.startswith(n + " ") for line, n in zip(lines[3:3 + len(names)], names))
    assert names[-1] == "fc" and lines[3 + len(names)].startswith("--")
    assert any(line.startswith("total ") for line in lines)
    assert text == str(p.table())


def test_a_notebook_shows_the_table():
    p = profile("resnet18")
    shown = p._repr_html_()
    assert shown.startswith("<table><caption>resnet18  input 1x3x224x224")
    # header, one per layer row (less ResNet's own flatten, a row of zeros), the total
    assert shown.count("<tr>") == 1 + len(p.layers) - 1 + 1
    assert "<td>layer1.0.conv1</td>" in shown


def test_bad_view_settings_name_the_setting():
    from effkit.errors import BadInputError

    p = profile("resnet18")
    with pytest.raises(BadInputError, match="unknown column 'bogus' for columns"):
        p.table("name,bogus")
    with pytest.raises(BadInputError, match="top must be a positive integer"):
        p.table(top=0)
