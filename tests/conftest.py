"""Helpers shared by the test files: the in-process CLI runner, the one-line-error check and a tiny model factory
file."""

from __future__ import annotations

import sys
from typing import NamedTuple

import pytest

#: A small model file for ``path/tiny.py:build`` specs; ``broken`` raises, ``not_a_model``
#: returns an int and ``wide_kernel`` takes only inputs of 16x16 or more.
TINY_FACTORY = '''
import torch
from torch import nn

def build():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))

def broken():
    raise RuntimeError("factory exploded")

def not_a_model():
    return 42

def wide_kernel():
    # A 16x16 kernel without padding: analysable (and measurable) only at inputs of at least 16x16.
    return nn.Sequential(nn.Conv2d(3, 4, 16, bias=False), nn.ReLU(), nn.Flatten())
'''


class CliResult(NamedTuple):
    """What one command did: unpacks as ``code, out, err`` or reads as ``.returncode``/``.stdout``/``.stderr``."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch):
    """Run ``effkit ARGS`` through :func:`effkit.cli.main` (one-line errors, exit codes) in this process, its
    stdout and stderr captured apart by typer's test runner: no interpreter start per command.

    ``cli(*args, cwd=None, env=None)`` -> :class:`CliResult`; ``cwd`` runs the command from that folder, ``env``
    sets (or, with ``None`` values, unsets) environment variables for the command only. An exception that
    :func:`main` lets through (an internal error) propagates to the test.
    """
    from typer.testing import CliRunner

    from effkit.cli import main

    runner = CliRunner()

    def run(*args, cwd=None, env=None) -> CliResult:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        with runner.isolation(env=env) as (stdout, stderr, _):
            try:
                main([str(a) for a in args])
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
            return CliResult(code, stdout.getvalue().decode(), stderr.getvalue().decode())

    return run


def assert_bad_input(res, *needles, code: int = 2) -> None:
    """``res`` (a :class:`CliResult`, an ``(code, out, err)`` tuple or a finished subprocess) is a refusal: exit
    ``code``, no traceback, and one line on stderr, ``effkit: error: ...``, that holds every one of ``needles``."""
    returncode, out, err = (res.returncode, res.stdout, res.stderr) if hasattr(res, "returncode") else res
    assert returncode == code, (returncode, out, err)
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("effkit: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def tiny(tmp_path):
    """``tmp_path/tiny.py`` holding :data:`TINY_FACTORY`; returns its path."""
    path = tmp_path / "tiny.py"
    path.write_text(TINY_FACTORY)
    return path
