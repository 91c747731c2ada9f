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
            if any(a.name == "effkit" for a in node.names):  # `import effkit` then `effkit.x`: the root's lazy table
                found.add("effkit.__root__")
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
    assert [f for f in _offenders(_files(*below), above) if f not in _CELL_FORMATTING] == []


#: The one exception: the tables of the lower layers (the layer table, analysis/table.py, and a measurement
#: result's, measurement/table.py) render their cells with the column registry every table of effkit uses.
#: Those modules import no part of effkit above the leaves (checked below).
_FORMATTERS = ("effkit.report.columns", "effkit.report.layout", "effkit.report.plain", "effkit.report.tables")
_CELL_FORMATTING = {f"table.py imports {m}" for m in _FORMATTERS}


def test_the_cell_formatting_the_analysis_reads_imports_only_leaves():
    files = [ROOT / "report" / f"{m.rsplit('.', 1)[1]}.py" for m in _FORMATTERS]
    above = ("effkit.analysis", "effkit.models", "effkit.measurement", "effkit.store", "effkit.sweep", "effkit.cli",
             "effkit.gate", "effkit.prediction")
    assert _offenders(files, above) == []
    # `from effkit.report import plain` reads the package (whose __init__ imports nothing) and plain
    assert {m for f in files for m in _imports(f) if m.startswith("effkit.report")} <= {*_FORMATTERS, "effkit.report"}
    assert not [m for m in _imports(ROOT / "report" / "__init__.py") if m.startswith("effkit")]


def test_nothing_reads_the_package_root():
    # The root's names are a lazy table for users; inside effkit (the command line included) each name is
    # imported from the module that defines it, so that "go to definition" lands there.
    files = [f for f in _files(".") if f != ROOT / "__init__.py"]
    assert _offenders(files, ("effkit.__root__",)) == []


def test_the_rules_can_fail(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from effkit.report.tables import human\n    from effkit import profile\n")
    assert _offenders([bad], ("effkit.report",)) and _imports(bad) >= {"effkit.__root__"}
    bare = tmp_path / "bare.py"
    bare.write_text("def f():\n    import effkit\n    return effkit.profile\n")
    assert _imports(bare) >= {"effkit.__root__"}
    submodule = tmp_path / "submodule.py"
    submodule.write_text("import effkit.files as files\n")
    assert "effkit.__root__" not in _imports(submodule)


def _module_graph() -> dict[str, set[str]]:
    """effkit module -> the effkit modules it imports (``from pkg import name`` counts as ``pkg.name`` where that is a
    module, else as ``pkg``)."""
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
                found.update(f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in names else node.module
                             for a in node.names)
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


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative): each one is a
    set of modules that import each other, directly or round a loop."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            nxt = next(successors, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_outside_the_model_zoo():
    # The zoo's registry and its model files know each other by design (each file registers its models).
    zoo = [c for c in _cycles(_module_graph()) if all((m + ".").startswith("effkit.models.") for m in c)]
    outside = [c for c in _cycles(_module_graph()) if c not in zoo]
    assert outside == []


def test_cycles_are_found():
    # a -> b -> c -> a is one cycle; d <-> e another; f hangs off the first and sits on none
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "f"}, "d": {"e"}, "e": {"d"}, "f": set()}
    assert sorted(_cycles(graph)) == [["a", "b", "c"], ["d", "e"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


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


def _rewrites(files) -> list[str]:
    """Lines that swap an object's class or rewrite a function's signature."""
    return [f"{f.name}: {line.strip()}" for f in files for line in f.read_text().splitlines()
            if ".__class__ = " in line or ".__signature__ = " in line]


def test_the_command_line_swaps_no_class_and_rewrites_no_signature(tmp_path):
    # Options are listed where each command is defined; typer gets effkit's command classes through cls=.
    assert _rewrites(_files("cli")) == []
    bad = tmp_path / "bad.py"
    bad.write_text("def f(p, func, sig):\n    p.__class__ = int\n    func.__signature__ = sig\n")
    assert len(_rewrites([bad])) == 2
