"""Data flows one way: leaves at the bottom, then models -> analysis -> measurement -> store -> report / gate and
sweep -> cli.

Read from the source (every ``import`` and ``from ... import``, at any depth in a module), so a lazy import inside a
function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "effkit"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            if node.module == "effkit":  # `from effkit import x` reads the package root
                found.add("effkit.__root__")
    return found


def _files(*parts: str) -> list[Path]:
    out = []
    for part in parts:
        p = ROOT / part
        out.extend(sorted(p.rglob("*.py")) if p.is_dir() else [p])
    return out


def _offenders(files, forbidden) -> list[str]:
    return [f"{f.name} imports {m}" for f in files for m in sorted(_imports(f))
            if any(m == b or m.startswith(b + ".") for b in forbidden)]


@pytest.mark.parametrize("below, above", [
    (("analysis", "models", "measurement", "store"), ("effkit.report", "effkit.cli", "effkit.sweep")),
    (("report",), ("effkit.measurement", "effkit.cli")),
    (("_version.py", "errors.py", "units.py", "files.py", "devices.py", "trust.py"),
     ("effkit.analysis", "effkit.models", "effkit.measurement", "effkit.report", "effkit.sweep", "effkit.cli",
      "effkit.store")),
])
def test_lower_layers_import_nothing_above_them(below, above):
    assert _offenders(_files(*below), above) == []


def test_nothing_but_the_command_line_reads_the_package_root():
    files = [f for f in _files(".") if f != ROOT / "__init__.py" and "cli" not in f.relative_to(ROOT).parts]
    assert _offenders(files, ("effkit.__root__",)) == []


def test_the_rules_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from effkit.report.tables import human\n    from effkit import profile\n")
    assert _offenders([bad], ("effkit.report",)) and _imports(bad) >= {"effkit.__root__"}


def _module_graph() -> dict[str, set[str]]:
    """effkit module -> the effkit modules it imports (``from pkg import name`` counts as ``pkg`` and ``pkg.name``)."""
    names = {}
    for f in _files("."):
        parts = ("effkit", *f.relative_to(ROOT).with_suffix("").parts)
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    graph = {}
    for name, f in names.items():
        found = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.update([node.module, *(f"{node.module}.{a.name}" for a in node.names)])
        graph[name] = {m for m in found if m in names and m not in (name, "effkit")}
    return graph


def _cycle_through(graph: dict[str, set[str]], start: str) -> list[str]:
    """An import path from ``start`` back to itself, or ``[]`` (depth-first search)."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, path = stack.pop()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return path + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return []


@pytest.mark.parametrize("module", ["effkit.gate", "effkit.report.check_render", "effkit.prediction.calibrate",
                                    "effkit.prediction.calibration", "effkit.store", "effkit.store.calibrations",
                                    "effkit.store.sources", "effkit.shipped"])
def test_no_import_cycle_through(module):
    assert _cycle_through(_module_graph(), module) == []


def test_a_cycle_is_found():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert _cycle_through(graph, "a") == ["a", "b", "c", "a"] and _cycle_through(graph, "d") == []


def _private_imports(files) -> list[str]:
    """``from effkit.x import _name``: one module reaching into another's private names."""
    return [f"{f.name} imports {node.module}.{a.name}" for f in files for node in ast.walk(ast.parse(f.read_text()))
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("effkit")
            for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]


def test_no_module_imports_another_modules_private_names(tmp_path):
    assert _private_imports(_files(".")) == []
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from effkit.store.db import _check_writable, Store\n")
    assert _private_imports([bad]) == ["bad.py imports effkit.store.db._check_writable"]
