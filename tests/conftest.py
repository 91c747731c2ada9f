"""Helpers shared by the test files: the in-process CLI runner and a tiny model factory file."""

from __future__ import annotations

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
def cli(capsys, monkeypatch):
    """Run ``effkit ARGS`` through its real entry point (one-line errors, exit codes) in this process: fast.

    ``cli(*args, cwd=None)`` -> :class:`CliResult`; ``cwd`` runs the command from that folder.
    """
    from effkit.cli import main

    def run(*args, cwd=None) -> CliResult:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture
def tiny(tmp_path):
    """``tmp_path/tiny.py`` holding :data:`TINY_FACTORY`; returns its path."""
    path = tmp_path / "tiny.py"
    path.write_text(TINY_FACTORY)
    return path
