"""emit(): the one place the CLI picks an output format: a terminal gets the rich parts, a pipe or a file the
text of the format asked for, a file also a `wrote` note; a DataFrame is taken as a FrameTable."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from effkit.cli._shared import emit
from effkit.report.tables import FrameTable


class Parts:
    """A table that says which of its renderings was asked for."""

    def rich(self, width=None):
        return ["RICH one", "RICH two"]

    def text(self) -> str:
        return "TEXT\n"

    def csv(self) -> str:
        return "a,b\n1,2\n"

    def json(self) -> str:
        return '{"a": 1}'

    def markdown(self) -> str:
        return "| a |\n"


@pytest.mark.parametrize("fmt, expected", [("table", "TEXT\n"), ("csv", "a,b\n1,2\n"), ("json", '{"a": 1}\n'),
                                           ("markdown", "| a |\n")])
def test_a_pipe_gets_the_text_of_the_format(capsys, fmt, expected):
    emit(Parts(), fmt=fmt)
    out, err = capsys.readouterr()
    assert (out, err) == (expected, "")  # a newline is added only where the text lacks one


def test_a_terminal_gets_the_rich_parts(capsys, monkeypatch):
    from effkit.report import tables

    monkeypatch.setattr(tables, "is_terminal", lambda: True)
    emit(Parts(), fmt="table")
    assert capsys.readouterr().out.split("\n")[:2] == ["RICH one", "RICH two"]
    emit(Parts(), fmt="csv")  # machine-readable formats never go through rich
    assert capsys.readouterr().out == "a,b\n1,2\n"


def test_a_file_gets_the_text_and_a_note(tmp_path, capsys):
    out = tmp_path / "t.md"
    emit(Parts(), fmt="markdown", output=out)
    assert out.read_text() == "| a |\n"
    assert capsys.readouterr() == ("", f"wrote {out}\n")
    emit(Parts(), fmt="csv", output=out, wrote="wrote 1 row(s)")
    assert out.read_text() == "a,b\n1,2\n" and capsys.readouterr().err == "wrote 1 row(s)\n"


def test_a_dataframe_is_a_frame_table(capsys):
    df = pd.DataFrame({"model": ["a", "b"], "mac": [3, 4], "extra": [5, 6]})
    emit(df, fmt="json", columns=["model", "mac"], title="t")
    assert json.loads(capsys.readouterr().out) == [{"model": "a", "mac": 3}, {"model": "b", "mac": 4}]
    emit(df, fmt="json", columns=["model", "mac"], title="t", export_all=True)  # csv/json: every column
    assert json.loads(capsys.readouterr().out)[0] == {"model": "a", "mac": 3, "extra": 5}
    md = FrameTable(df, title="t", columns=["model"], notes=["n1"]).markdown()
    assert md.startswith("**t**\n\n") and md.endswith("- n1\n") and "extra" not in md
