"""The real entry points, each in its own process: the ``effkit`` console script and ``python -m effkit``.

Every other CLI test runs the commands in-process (the ``cli`` fixture); these few check what only a fresh
interpreter shows: the exit code a shell sees, the traceback ``--debug`` prints, the output written before the
quick exit, and a start without the click package.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_bad_input

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
       "PYTHONWARNINGS": "ignore"}


def _module(*args):
    return subprocess.run([sys.executable, "-m", "effkit", *args], capture_output=True, text=True, env=ENV)


def _console_script():
    """The ``effkit`` script installed beside this interpreter (pip writes it there), if effkit is installed."""
    script = shutil.which("effkit", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("effkit is not installed in this environment (no console script beside the interpreter)")
    return script


def test_console_script_profiles_and_refuses(tiny):
    script = _console_script()
    res = subprocess.run([script, "profile", f"{tiny}:build", "--input-shape", "1,3,8,8", "--format", "csv"],
                         capture_output=True, text=True, env=ENV)
    assert res.returncode == 0, res.stderr
    conv = next(r for r in csv.DictReader(io.StringIO(res.stdout)) if r["name"] == "0")
    # 8x8 same-padded 3x3 conv 3->8: 64*(3+8) + 9*24 = 920 elements read and written
    assert int(conv["mac"]) == 920
    assert_bad_input(subprocess.run([script, "profile", "vovnet40"], capture_output=True, text=True, env=ENV),
                     "vovnet39")


def test_module_exit_codes_and_debug_traceback():
    assert_bad_input(_module("profile", "vovnet40"), "vovnet39")
    res = _module("profile", "vovnet40", "--debug")
    assert res.returncode == 1 and "Traceback" in res.stderr and "UnknownModelError" in res.stderr


def test_cli_works_without_the_click_package():
    # typer >= 0.2x vendors click; a fresh install of effkit may have no click package at all.
    prog = ("import sys; sys.modules['click'] = None\n"
            "from effkit.cli import main\n"
            "for argv in (['profile', 'vovnet40'], ['profile'], ['--version']):\n"
            "    try:\n        main(argv)\n    except SystemExit as e:\n        print('exit', e.code)\n")
    res = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, env=ENV)
    assert [ln for ln in res.stdout.splitlines() if ln.startswith("exit ")] == ["exit 2", "exit 2", "exit 0"], (
        res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
