"""The layer table of a :class:`~effkit.analysis.profile.Profile`: what ``effkit profile`` prints, for Python too.

:func:`layer_table` picks the rows (every module call, or aggregated to a depth, the module tree, sorted,
the first N), the columns, the names a person reads, the totals under them and the notes; a
:class:`LayerTable` holds them and renders them as aligned text (``str(table)``: what the command prints
into a pipe), markdown, CSV, JSON, HTML (notebooks) or a rich table fitted to a terminal's width.

The cells are formatted by :mod:`effkit.report.tables` and :mod:`effkit.report.plain` (the column registry
every table of effkit uses); those import nothing from the analysis, and are imported here only when a
table is rendered, so ``profile(...).totals`` stays free of rich and pandas.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from effkit.analysis.columns import LAYER_COLUMNS, MAC_DEFINITION, NUMERIC_COLUMNS, OWN_OPS
from effkit.errors import BadInputError, setting

#: A terminal's default columns (the torchinfo habit: about 90 characters wide) ...
DEFAULT_COLUMNS = ["name", "type", "output_shape", "params", "flops", "mac", "mac_ratio"]
#: ... and, on a narrower terminal, the order they are kept in (the last goes first).
IMPORTANCE = ["name", "mac", "flops", "params", "type", "mac_ratio", "output_shape"]
#: The default columns of aggregated rows (depth, tree), which have no shapes.
AGGREGATE_COLUMNS = ["name", "type", "layers", "params", "flops", "mac"]
#: Columns left out unless asked for by name: bookkeeping, or constant in a plain model.
HIDDEN = ("depth", "repeat", "path", "counted", "shared_params", "own")


def check_view(*, tree: bool = False, depth: Optional[int] = None, sort: Optional[str] = None,
               top: Optional[int] = None) -> None:
    """Refuse a combination of view settings that cannot make a table (before any analysis runs)."""
    if top is not None and top <= 0:
        raise BadInputError(f"{setting('top')} must be a positive integer, got {top}", field="top")
    if tree and (sort is not None or top is not None):
        raise BadInputError(f"{setting('tree')} shows the whole module tree in its order; drop {setting('sort')} "
                            f"and {setting('top')} ({setting('depth')} N shortens the tree)", field="tree")
    if tree and depth is not None and depth < 1:
        raise BadInputError(f"{setting('depth')} with {setting('tree')} must be at least 1 (the top-level "
                            f"modules), got {depth}", field="depth")


@dataclass
class LayerTable:
    """The rows of a profile as a person reads them, with their totals, footers and notes.

    ``rows`` hold the values of ``columns`` with names in words; ``data`` the same rows with the names
    as the DataFrames have them (for CSV); ``footers`` are (label, {column: value}) rows under the table.
    """

    title: str
    columns: list
    rows: list
    data: list
    footers: list
    notes: list
    #: The rows as a DataFrame where the view made one (aggregated, sorted, cut), else None.
    frame: Any = field(default=None, repr=False)
    profile: Any = field(default=None, repr=False)
    #: All columns the view has (``--columns all``).
    available: list = field(default_factory=list, repr=False)

    def text(self) -> str:
        """Aligned text, title first and notes last, at most 200 characters wide: what ``effkit profile`` writes
        into a pipe (a constant ``call`` or ``repeat`` column left out)."""
        import effkit.report.plain as plain

        columns, rows = self._without_constant_calls()
        return plain.text_table(rows, columns, title=self.title, footers=self.footers,
                                caption="\n".join(self.notes), importance=_importance(columns))

    __str__ = text

    def markdown(self) -> str:
        import effkit.report.tables as tables

        return (f"**{self.title}**\n\n" + tables.markdown_rows(self.rows, self.columns, footers=self.footers)
                + "\n" + "\n".join(f"- {n}" for n in self.notes) + "\n")

    def csv(self) -> str:
        """Raw numbers, one line per row (no title, footers or notes)."""
        import effkit.report.plain as plain

        return plain.csv_table(self.data, self.columns)

    def json(self) -> str:
        """The profile's JSON (:meth:`~effkit.analysis.profile.Profile.to_dict`), its layers those of this view."""
        import json

        import effkit.report.tables as tables

        data = self.profile.to_dict()
        if self.frame is not None or self.columns != [c for c in self.available if c not in HIDDEN]:
            frame = self.frame if self.frame is not None else self.profile.layers
            data["layers"] = json.loads(tables.json_text(frame, self.columns))
        return json.dumps(data, indent=2)

    def rich(self, width: Optional[int] = None):
        """A rich table fitted to ``width`` columns: the least important columns (:data:`IMPORTANCE`) left
        out until the rest fit."""
        import effkit.report.tables as tables

        columns, rows = self._without_constant_calls()
        return tables.layout_table(columns, rows, title=self.title, caption="\n".join(self.notes), width=width,
                                   importance=_importance(columns), footers=self.footers)

    def _without_constant_calls(self) -> tuple[list, list]:
        """The columns and rows without a ``call`` or ``repeat`` column that is the same in every row (it says
        nothing, even in the title)."""
        keep = [j for j, c in enumerate(self.columns)
                if not (c in ("call", "repeat") and len({r[j] for r in self.rows}) <= 1)]
        return [self.columns[j] for j in keep], [tuple(r[j] for j in keep) for r in self.rows]

    def _repr_html_(self) -> str:
        """An HTML table (a notebook's view): headers and cells as the terminal's, footers bold, notes under it."""
        from effkit.report.columns import format_column

        foot = [tuple(label if i == 0 else vals.get(c) for i, c in enumerate(self.columns))
                for label, vals in self.footers]
        formatted = [format_column(c, [r[j] for r in [*self.rows, *foot]]) for j, c in enumerate(self.columns)]
        lines = [[cs[k] for _, cs in formatted] for k in range(len(self.rows) + len(foot))]

        def cells(tag: str, values) -> str:
            return "<tr>" + "".join(f"<{tag}>{html.escape(v)}</{tag}>" for v in values) + "</tr>"

        body = "".join(cells("td", line) for line in lines[:len(self.rows)])
        tail = "".join(cells("th", line) for line in lines[len(self.rows):])
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (f"<table><caption>{html.escape(self.title)}</caption><thead>{cells('th', [h for h, _ in formatted])}"
                f"</thead><tbody>{body}</tbody><tfoot>{tail}</tfoot></table>{notes}")


def _importance(columns: list) -> list:
    return [c for c in IMPORTANCE if c in columns] + [c for c in columns if c not in IMPORTANCE]


def layer_table(prof, columns: Optional[Sequence[str] | str] = None, *, depth: Optional[int] = None,
                tree: bool = False, sort: Optional[str] = None, top: Optional[int] = None,
                compact: bool = False) -> LayerTable:
    """The table of ``prof`` (see :meth:`effkit.analysis.profile.Profile.table`)."""
    check_view(tree=tree, depth=depth, sort=sort, top=top)
    view = _View.of(prof, depth=depth, tree=tree, sort=sort, top=top)
    cols = _pick_columns(columns, view, compact=compact)
    data = view.rows(prof, cols)
    return LayerTable(title=title(prof), columns=cols, rows=_display_rows(prof, view, cols, data), data=data,
                      footers=_footers(prof, view, cols, data), notes=notes(prof), frame=view.df, profile=prof,
                      available=view.available)


@dataclass
class _View:
    """The rows a table shows: a frame (``df``) or, for the plain layer table, the profile's own rows."""

    available: list
    default: list
    df: Any = None  # None: the profile's rows, no pandas
    depth: Optional[int] = None
    tree: bool = False
    top: Optional[int] = None
    sort: Optional[str] = None

    def rows(self, prof, columns) -> list:
        if self.df is None:
            return [tuple(r[c] for c in columns) for r in prof._layer_rows if not _zero_root(r)]
        return list(self.df[columns].itertuples(index=False, name=None))

    @classmethod
    def of(cls, prof, *, depth, tree: bool, sort, top) -> "_View":

        if tree:
            return cls(["name", "type", "depth", "layers", *NUMERIC_COLUMNS], AGGREGATE_COLUMNS, prof.tree(depth),
                       depth=depth, tree=True)
        if depth is None and not sort and top is None:
            return cls(list(LAYER_COLUMNS), DEFAULT_COLUMNS)
        df = prof.by_depth(depth) if depth is not None else prof.layers
        if depth != 0:  # at depth 0 the model's row is the whole model
            df = df[[not _zero_root(r) for r in df[["path", *NUMERIC_COLUMNS]].to_dict(orient="records")]]
        if sort:
            if sort not in df.columns or sort in HIDDEN:
                raise BadInputError(f"unknown column {sort!r} for {setting('sort')}; choose from "
                                    + ", ".join(c for c in df.columns if c not in HIDDEN), field="sort")
            df = df.sort_values(sort, ascending=False, kind="stable")
        if top is not None:
            df = df.head(top)
        available = [c for c in df.columns if c not in ("path", "counted", "shared_params")]
        return cls(available, AGGREGATE_COLUMNS if depth is not None else DEFAULT_COLUMNS, df, depth=depth,
                   top=top, sort=sort)


def _zero_root(row) -> bool:
    """The row of the model's own ops when they cost nothing (a ``flatten`` view): a row of zeros, not shown
    (it would take a ``top`` slot and say nothing)."""

    return not row["path"] and not any(row[c] for c in NUMERIC_COLUMNS) and row.get("counted", True)


def _pick_columns(spec, view: _View, *, compact: bool) -> list:
    """The columns asked for, else the compact set (a terminal's), else every column."""
    if spec is None and compact:  # the compact set, with the column the rows are sorted by
        return list(view.default) + [view.sort] * (view.sort is not None and view.sort not in view.default)
    if spec is None:
        return [c for c in view.available if c not in HIDDEN]
    names = [c.strip() for c in spec.split(",") if c.strip()] if isinstance(spec, str) else list(spec)
    if names == ["all"]:
        return [c for c in view.available if c not in HIDDEN or (c == "depth" and view.depth is not None)]
    bad = [c for c in names if c not in view.available]
    if bad or not names:
        raise BadInputError(f"unknown column {(bad or [spec])[0]!r} for {setting('columns')}; choose from "
                            f"{', '.join(view.available)}, or all", field="columns")
    return names


def _display_rows(prof, view: _View, columns: list, rows: list) -> list:
    """The rows for a person: a tree's names indented."""
    if "name" not in columns:
        return rows
    i = columns.index("name")
    if not view.tree:
        return rows
    names = [_tree_name(r) for r in view.df.to_dict(orient="records")]
    return [(*r[:i], n, *r[i + 1:]) for r, n in zip(rows, names)]


def _tree_name(rec) -> str:
    """A tree row's name: its own part of the path, indented two spaces a level."""

    if rec["own"]:  # a module's own ops (its torch.cat, say), under it; the model's have their one name
        return "  " * (rec["depth"] - 1) + (rec["name"] if not rec["path"] else f"({OWN_OPS.strip(' ()')})")
    return "  " * (rec["depth"] - 1) + rec["path"][-1]


def _footers(prof, view: _View, columns: list, rows: list) -> list:
    """The totals under the table: with ``top``, the rows shown and, apart, the whole model."""

    totals = prof.totals.as_dict()
    if view.top is None:
        return [("total", totals)]
    shown = {c: sum(r[j] for r in rows) for j, c in enumerate(columns) if c in NUMERIC_COLUMNS}
    return [(f"total of the {len(rows)} shown rows", shown), ("model total", totals)]


def title(prof) -> str:
    """The line above the table: model, inputs, dtype and the totals."""
    from effkit.units import human

    totals = prof.totals.as_dict()
    shown = ", ".join(prof.inputs) if prof.inputs_given else "x".join(map(str, prof.input_shape))
    mode = ("  channels-last" if prof.channels_last else "") + ("  executed on cpu" if prof.execute == "cpu" else "")
    return (f"{prof.model_name}  input {shown}  {prof.dtype}{mode}  "
            f"params {human(totals['params'])}  mult-adds {human(totals['mult_adds'])}  "
            f"FLOPs {human(totals['flops'])}  paper MAC {human(totals['paper_mac'])}  "
            f"MAC {human(totals['mac'])}  fused MAC {human(totals['mac_fused'])}")


def notes(prof) -> list:
    """The lines under the table: ops without a formula, modules never called, what MAC means."""

    out = []
    if prof.uncounted:
        out.append("uncounted ops (no formula; their cost is missing from the totals): "
                   + ", ".join(f"{k} x{v}" for k, v in sorted(prof.uncounted.items())))
    if prof.uncalled:
        out.append(f"modules never called: {', '.join(prof.uncalled[:10])}"
                   + (" ..." if len(prof.uncalled) > 10 else ""))
    return [*out, MAC_DEFINITION]
