"""docs/regression-checks.md, run in order from a project folder, as a reader following it would.

The folder holds what the guide assumes (a package ``mypkg`` with ``models.build_net`` and a file
``models/net.py`` with ``build``), and is *not* on the import path: the guide's commands run from it, the way
a reader runs them from the project's root without installing the package. Its ``bash`` blocks run through
the real entry point in order (installs and the CI YAML skipped); then its pytest example runs against the
baseline the CLI saved. ``--output`` reports go into the folder.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from effkit.cli import main

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "regression-checks.md"

NET = """\
import torch.nn as nn


def {name}():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))
"""


def guide_commands() -> list[str]:
    text = GUIDE.read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("effkit "):
                commands.append(line)
    return commands


def guide_python() -> str:
    return re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S)[0]


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    (tmp_path / "mypkg" / "models.py").write_text(NET.format(name="build_net"))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.py").write_text(NET.format(name="build"))
    monkeypatch.chdir(tmp_path)
    # the reader's folder is not importable by itself: no '' and no tmp_path on sys.path
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path), ".")])
    yield tmp_path
    for name in [m for m in sys.modules if m == "mypkg" or m.startswith("mypkg.")]:
        del sys.modules[name]


def _run(command: str) -> int:
    try:
        main(shlex.split(command)[1:])
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


def test_the_guide_runs_in_order(project, capsys):
    commands = guide_commands()
    assert commands[0].startswith("effkit baseline save mypkg.models:build_net")
    for command in commands:
        code = _run(command)
        out = capsys.readouterr()
        assert code == 0, (command, out.err)
    # the pytest example, against the baseline the CLI saved in step 1
    scope: dict = {}
    exec(compile(guide_python(), str(GUIDE), "exec"), scope)
    scope["test_net_mac_has_not_grown"]()


def test_a_package_not_found_says_where_it_looked(project, capsys):
    assert _run("effkit baseline save nopkg.models:build_net --output b.json") == 2
    err = capsys.readouterr().err.strip()
    assert "No module named 'nopkg'" in err and "current folder" in err and len(err.splitlines()) == 1


def test_the_checks_made_before_measuring_find_the_package_too(project):
    from effkit.models.registry import check_model_names

    check_model_names(["mypkg.models:build_net"])  # measure/compare refuse nothing the build would import
