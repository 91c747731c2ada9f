"""``effkit results list|show|export``: the stored measurements; ``effkit results shipped``: effkit's own."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import typer

from effkit.cli import Typer, app, fail
from effkit.cli._shared import COLUMNS, FMT, OUTPUT, chosen_columns, emit
from effkit.cli.measure import LIST_COLUMNS, emit_measurements


results_app = Typer(help="List, show and export stored measurements; list the ones shipped with effkit.",
                          no_args_is_help=True)
app.add_typer(results_app, name="results")

RESULTS_DB = typer.Option(None, "--db", help="Results database file (default: effkit's file in your user data folder).")


def _db_path(db: Optional[Path]) -> Path:
    from effkit.store import default_db_path

    return db if db is not None else default_db_path()


def _open_db(db: Optional[Path]):
    from effkit.store import Store

    return Store(_db_path(db), create=False, readonly=True)


def _filters(model: Optional[str], status: Optional[str]) -> dict:
    if status is not None and status not in ("ok", "failed"):
        raise fail(f"--status must be ok or failed, got {status!r}")
    return {k: v for k, v in (("model", model), ("status", status)) if v is not None}


@results_app.command("list")
def results_list(
    db: Optional[Path] = RESULTS_DB,
    model: Optional[str] = typer.Option(None, "--model", help="Only rows of this model."),
    status: Optional[str] = typer.Option(None, "--status", help="Only rows with this status (ok or failed)."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", help="Only the last N rows."),
    fmt: str = FMT,
    columns: Optional[str] = COLUMNS,
) -> None:
    """List stored measurements, oldest first."""
    from effkit.measurement.config import result_columns
    from effkit.report import tables

    tables.check_format(fmt)
    if limit is not None and limit <= 0:
        raise fail(f"--limit must be a positive integer, got {limit}")
    with _open_db(db) as store:
        df = store.rows(**_filters(model, status))
        where = store.path
    if limit is not None:
        df = df.tail(limit)
    if df.empty:
        what = "no rows match" if (model or status) else "no results"
        hint = "" if (model or status) else "; effkit ships measurements of its own: `effkit results shipped`"
        typer.echo(f"{what} in {where}{hint}", err=True)
        return
    known = list(dict.fromkeys([*result_columns(), *df.columns]))  # rows stored by another version may hold more
    from effkit.trust import trust_notes

    # The same footer as measure/compare: which stored numbers a busy or noisy machine made.
    emit_measurements(df, columns=LIST_COLUMNS, title=f"results in {where}", fmt=fmt, output=None,
                      notes=[f"warning: {line}" for line in trust_notes(df)], chosen=chosen_columns(columns, known))


@results_app.command("show")
def results_show(
    row_id: int = typer.Argument(..., metavar="ID", help="Row id (see `effkit results list`)."),
    db: Optional[Path] = RESULTS_DB,
    fmt: str = typer.Option("table", "--format", "-f", help="table or json."),
) -> None:
    """Show every field of one stored measurement."""
    from effkit.report import tables

    tables.check_format(fmt, ("table", "json"))
    with _open_db(db) as store:
        row = store.get(row_id)
    emit(_StoredRow(row_id, row), fmt=fmt)


class _StoredRow:
    """One stored measurement: every field in a table (json: the row as stored, per-layer times included)."""

    def __init__(self, row_id: int, row: dict) -> None:
        self.row_id, self.row = row_id, row

    def json(self) -> str:
        return json.dumps(self.row, indent=2, default=str)

    def _frame(self):
        import pandas as pd

        fields = {k: v for k, v in self.row.items() if k != "layers_json"}
        return pd.DataFrame({"field": list(fields), "value": [_show_value(k, v) for k, v in fields.items()]})

    def _after(self) -> list:
        layers = self.row.get("layers_json")
        return [f"(per-layer times: {len(json.loads(layers))} rows; see --format json)"] if layers else []

    def rich(self, width=None) -> list:
        from effkit.report import tables

        return [tables.rich_table(self._frame(), title=f"result {self.row_id}", width=width, fold=False),
                *self._after()]

    def text(self) -> str:
        """The aligned text every command writes into a pipe or a file."""
        from effkit.report import tables

        return tables.text_table(self._frame(), title=f"result {self.row_id}", fold=False) + "".join(
            f"{line}\n" for line in self._after())


def _show_value(key: str, v) -> str:
    from effkit.units import human  # torch: not imported by `effkit --help`

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and key not in ("id", "batch_size", "iterations"):
        return f"{v} ({human(v)})" if abs(v) >= 1000 else str(v)
    return str(v)


@results_app.command("export")
def results_export(
    fmt: Optional[str] = typer.Option(None, "--format", "-f",
                                      help="csv or json (default: from the output file's suffix, else csv)."),
    output: Optional[Path] = OUTPUT,
    db: Optional[Path] = RESULTS_DB,
    model: Optional[str] = typer.Option(None, "--model", help="Only rows of this model."),
    status: Optional[str] = typer.Option(None, "--status", help="Only rows with this status (ok or failed)."),
) -> None:
    """Export stored measurements with every column (raw numbers) as CSV or JSON."""
    import effkit.files as files
    from effkit.report import tables

    suffix = output.suffix.lower().lstrip(".") if output is not None else ""
    if fmt is None:
        fmt = suffix if suffix in ("csv", "json") else "csv"
    tables.check_format(fmt, ("csv", "json"))
    if suffix in ("csv", "json") and suffix != fmt:
        raise fail(f"--format {fmt} does not match the output file {output}; use a .{fmt} file or --format {suffix}")
    if output is not None:
        files.check_output(output, keep=(_db_path(db),))  # never over the store it reads
    with _open_db(db) as store:
        df = store.rows(**_filters(model, status))
    if df.empty:
        # Leave an existing output file alone rather than replace it with a header.
        raise fail("no rows match " + ("these filters" if (model or status) else "(the database is empty)")
                   + f" in {store.path}; nothing written")
    emit(df, fmt=fmt, output=output, keep=(store.path,), wrote=f"wrote {len(df)} row(s) to {output}",
         export_all=True)


SHIPPED_COLUMNS = ["name", "kind", "machine", "date", "rows", "batch_sizes", "dtypes", "models"]
#: The file name first: ``--from-shipped`` takes it whole.
SHIPPED_IMPORTANCE = ["name", "machine", "rows", "date", "batch_sizes", "dtypes", "kind", "models"]


@results_app.command("shipped")
def results_shipped(fmt: str = FMT) -> None:
    """List the measurement files shipped with effkit, newest first, with the machine each was measured on.

    `effkit compare --shipped`, `effkit plot figure3 --shipped` and `effkit report --shipped` read them
    (the newest GPU file, else the CPU one; --from-shipped NAME|cpu|gpu picks another).
    """
    import pandas as pd

    from effkit.shipped import shipped_measurements
    from effkit.report import tables
    from effkit.shipped import DATA_DIR

    tables.check_format(fmt)
    files = shipped_measurements()
    if not files:
        raise fail(f"effkit ships no measurements here ({DATA_DIR} holds no .csv files)")
    df = pd.DataFrame([f.as_dict() for f in files])
    emit(df, fmt=fmt, title=f"measurements shipped with effkit ({DATA_DIR})", columns=SHIPPED_COLUMNS,
         importance=SHIPPED_IMPORTANCE, whole=("name",))
