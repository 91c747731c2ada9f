"""A reader that stops early (`effkit ... | head -1`) is not an error: no message, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("args", [["profile", "--help"], ["measure", "--help"], ["models"]])
def test_closed_pipe_prints_nothing_on_stderr(args):
    # The reader takes one line and closes the pipe; the help and the zoo list are longer than a pipe's
    # first write only when written in pieces, so read one line and close, as `head -1` does.
    proc = subprocess.Popen([sys.executable, "-m", "effkit", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={"COLUMNS": "80", "PATH": "/usr/bin:/bin",
                                                         "PYTHONPATH": ":".join(sys.path)})
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "error" not in err and "Traceback" not in err, err
