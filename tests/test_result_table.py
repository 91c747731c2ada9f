"""A measurement result prints the table the command line prints: ``str(effkit.measure(...))`` is what
``effkit measure ... | cat`` writes for the same rows, a notebook shows the same headers in HTML, and the result
stays a DataFrame (``repr`` is pandas', for debugging)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import effkit.measurement.api as api

TINY = '''
from torch import nn

def build():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU())
'''
FAST = dict(device="cpu", warmup_s=0, warmup_iters=1, min_iters=3, min_time_s=0, energy=False)
FAST_FLAGS = ["--device", "cpu", "--warmup", "0", "--warmup-iters", "1", "--min-iters", "3", "--min-time", "0",
              "--no-energy", "--no-store"]


@pytest.fixture
def caught(monkeypatch):
    """The results the command line got from the API, kept for the test (the command imports the API's
    functions when it runs, so it finds these)."""
    got = []
    for name in ("measure", "compare"):
        real = getattr(api, name)

        def keep(*args, _real=real, **kwargs):
            got.append(_real(*args, **kwargs))
            return got[-1]

        monkeypatch.setattr(api, name, keep)
    return got


@pytest.mark.parametrize("command, args", [("measure", ["tiny.py:build", "--batch-size", "1,2"]),
                                           ("compare", ["tiny.py:build", "--batch-size", "1"])])
def test_str_of_a_result_is_the_commands_table(tmp_path, cli, caught, command, args):
    (tmp_path / "tiny.py").write_text(TINY)
    res = cli(command, *args, "--input-size", "32", *FAST_FLAGS, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    (result,) = caught
    text = str(result)
    assert res.stdout.rstrip("\n") == text.rstrip("\n")
    # words with units, as the README's tables, not the raw column names a DataFrame prints
    assert "achieved FLOP/s" in text and "FPS" in text and "flops_per_s " not in text.splitlines()[1]
    assert text.splitlines()[0].startswith("tiny.py:build" if command == "measure" else "effkit compare")


def test_a_result_stays_a_dataframe_and_shows_its_table_in_a_notebook(tmp_path, monkeypatch):
    (tmp_path / "tiny.py").write_text(TINY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = api.measure("tiny.py:build", input_size=32, batch_sizes=[1, 2], **FAST)
    assert isinstance(result, pd.DataFrame) and list(result["batch_size"]) == [1, 2]
    assert repr(result) == repr(pd.DataFrame(result)) != str(result)  # repr: pandas' raw view
    assert "[2 rows x" in repr(result) and "uncounted_ops" not in str(result)
    text_headers = re.split(r"\s{2,}", str(result).splitlines()[1].strip())
    html_headers = re.findall(r"<th>(.*?)</th>", result._repr_html_().split("</thead>")[0])
    assert html_headers == text_headers
    assert str(result.table().text()) == str(result)
    ok = result[result["status"] == "ok"]  # a selection of rows prints as a table too
    assert str(ok).splitlines()[1] == str(result).splitlines()[1]
    assert str(pd.DataFrame(result)) != str(result)  # a plain DataFrame again
    # derived frames that are no longer result rows print as pandas prints them, never raise
    for other in (result.T, result.head(0), result.groupby("model")[["fps"]].mean()):
        text, page = str(other), other._repr_html_()
        assert "achieved FLOP/s" not in text + page  # not the table: pandas prints it
