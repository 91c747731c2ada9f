"""Help screens at 80 columns: ``MODEL`` (not ``{model}``) in usage lines, no ``<bool>`` on flags, and
paragraphs that the terminal wraps (no line broken where the source text happened to break).
"""

from __future__ import annotations

import re

import pytest
import typer.main

from effkit.cli import app, main


def _command_paths(command, prefix=()):
    subs = getattr(command, "commands", {})
    if not subs:
        yield prefix
    for name, sub in sorted(subs.items()):
        if not sub.hidden:
            yield from _command_paths(sub, (*prefix, name))


PATHS = list(_command_paths(typer.main.get_command(app)))


@pytest.fixture
def help_of(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)

    def call(*path: str) -> str:
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            main([*path, "--help"])
        assert e.value.code == 0
        return capsys.readouterr().out

    return call


def test_every_command_is_covered():
    assert {"measure", "compare", "profile", "sweep"} <= {p[0] for p in PATHS}
    assert ("results", "show") in PATHS and ("plot", "figure3") in PATHS


@pytest.mark.parametrize("path", PATHS + [()], ids=lambda p: " ".join(p) or "effkit")
def test_help_at_80_columns(help_of, path):
    text = help_of(*path)
    lines = text.splitlines()
    assert max(len(ln.rstrip()) for ln in lines) <= 80
    assert "<bool>" not in text  # a flag takes no value
    assert "<list[" not in text  # MODELS... or a repeatable option: the item type is what to type
    usage = next(ln for ln in lines if "Usage:" in ln)
    assert "{" not in usage and not re.search(r"\[?\b[a-z_]+\b\]?(\.\.\.)?\s*$", usage.split("[OPTIONS]")[-1]), usage
    # The description (between the usage line and the first panel): inside a paragraph, every line but the
    # last is filled close to the width, i.e. the terminal wrapped it, not a newline of the source.
    start = lines.index(usage) + 1
    end = next((i for i, ln in enumerate(lines) if ln.startswith("╭")), len(lines))
    paragraphs = re.split(r"\n\s*\n", "\n".join(lines[start:end]).strip("\n "))
    for para in paragraphs:
        body = [ln.rstrip() for ln in para.splitlines()]
        for ln in body[:-1]:
            assert len(ln) >= 60, f"line broken early in the help of {' '.join(path)}: {ln!r}"


def test_measure_usage_names_the_model_argument(help_of):
    text = help_of("measure")
    assert "Usage: effkit measure [OPTIONS] MODEL" in text
    assert re.search(r"--per-layer\s+Also", text)  # no type column for a flag
    assert re.search(r"--energy\s+--no-energy\s+Measure", text)
    assert re.search(r"--min-iters\s+<int>", text)  # options that take values keep theirs
