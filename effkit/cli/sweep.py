"""``effkit sweep``: measure a grid of configurations, locally or on a Ray cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from effkit.cli import app, fail
from effkit.cli._shared import (ALIAS_OPTIONS, FMT, SETTING_FLAGS, SETTING_OPTIONS, alias_flags, emit, progress,
                                settings_given, with_options)

_SUMMARY_COLUMNS = ["id", "model", "input_shape", "dtype", "channels_last", "status", "latency_ms", "fps",
                    "flops_per_s", "hostname", "gpu_name"]
#: The flag behind each sweep key, so that a bad flag value is reported as the flag's, not the file's.
_FLAG_NAMES = {
    "models": "--model", "input_sizes": "--input-size", "batch_sizes": "--batch-size", "dtypes": "--dtype",
    "channels_last": "--channels-last", "repeats": "--repeats", **SETTING_FLAGS,
}
_DRY_RUN_COLUMNS = ["config", "model", "input_shape", "dtype", "channels_last", "device", "repeat"]


def _yes_no(value) -> str:
    return "yes" if value is True or value == 1 else "no"


def _short(model: str) -> str:
    """``/long/path/to/file.py:build`` -> ``file.py:build`` for tables (CSV/JSON keep the full spec)."""
    target, sep, factory = model.rpartition(":")
    if sep and target.endswith(".py"):
        return f"{Path(target).name}:{factory}"
    return model


def _split(text: Optional[str]) -> Optional[list[str]]:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return parts or None


def _ints(flag: str, text: Optional[str]) -> Optional[list[int]]:
    parts = _split(text)
    if parts is None:
        return None
    if not all(p.isdigit() and int(p) > 0 for p in parts):
        raise fail(f"{flag} takes comma-separated positive integers such as 1,8, got {text!r}")
    return [int(p) for p in parts]


def _bools(text: Optional[str]) -> Optional[list[Any]]:
    if text is None:
        return None
    if text.strip().lower() == "both":
        return [False, True]
    return _split(text)  # the spec validator turns yes/no/true/false into bools, with one clear error


@app.command()
@with_options(SETTING_OPTIONS, ALIAS_OPTIONS)
def sweep(
    file: Optional[Path] = typer.Argument(
        None, help="Sweep file (.yaml/.yml or .toml) with models, input_sizes, batch_sizes, dtypes, "
        "channels_last, repeats, device and timing settings. Flags below replace the file's values."),
    model: Optional[List[str]] = typer.Option(
        None, "--model", "-m", help="Model to sweep (repeatable or comma-separated): zoo name, "
        "'pkg.module:factory' or 'path/file.py:factory' (this EXECUTES that file)."),
    input_size: Optional[str] = typer.Option(None, "--input-size", "-s",
                                             help="Square input sides, comma-separated (e.g. 224,320)."),
    batch_size: Optional[str] = typer.Option(None, "--batch-size", "-b",
                                             help="Batch sizes, comma-separated (e.g. 1,8)."),
    dtype: Optional[str] = typer.Option(None, "--dtype",
                                        help="dtypes, comma-separated: float32, float16, bfloat16."),
    channels_last: Optional[str] = typer.Option(
        None, "--channels-last", help="Memory formats: yes, no, both, or a list such as no,yes."),
    repeats: Optional[int] = typer.Option(None, "--repeats", help="Measure each configuration N times."),
    *,
    engine: str = typer.Option("local", "--engine", "-e",
                               help="local (in-process, one at a time) or ray (one Ray task per configuration)."),
    address: Optional[str] = typer.Option(
        None, "--address", help="Ray cluster to join (HOST:6379, ray://HOST:10001 or auto); "
        "default: start a local Ray. Needs --engine ray."),
    ray_cpus: Optional[float] = typer.Option(None, "--ray-cpus",
                                             help="CPUs each Ray task reserves when it runs on a CPU (default 1)."),
    db: Optional[Path] = typer.Option(None, "--db", help="Results database (default: $EFFKIT_DB, else the "
                                      "user data folder's results.sqlite)."),
    resume: bool = typer.Option(False, "--resume",
                                help="Skip configurations already stored successfully for this machine and settings."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the configurations without measuring."),
    fmt: str = FMT,
    **settings,
) -> None:
    """Measure every combination of models, input sizes, batch sizes, dtypes and memory formats.

    Each finished configuration is committed to the results database at once; a failing one is
    stored as failed and the sweep goes on. Ctrl-C keeps what finished; --resume continues.
    """
    from effkit.report import tables
    from effkit import load_sweep, sweep_spec

    tables.check_format(fmt)
    # Options of the run itself are checked before the sweep file, the models or Ray are touched.
    _check_run_options(engine=engine, address=address, ray_cpus=ray_cpus, db=db)
    models = [m for text in (model or []) for m in (_split(text) or [])] or None
    overrides = {
        "models": models, "input_sizes": _ints("--input-size", input_size),
        "batch_sizes": _ints("--batch-size", batch_size), "dtypes": _split(dtype),
        "channels_last": _bools(channels_last), "repeats": repeats, **settings_given(dict(settings)),
    }
    # A bad value is named by the flag typed, an old spelling included.
    names = {**_FLAG_NAMES, **alias_flags(settings)}
    if file is not None:
        spec = load_sweep(file, overrides, override_names=names)
    elif models is None:
        raise fail("nothing to sweep: give a sweep FILE or at least one --model")
    else:
        spec = sweep_spec(overrides, override_names=names)
    configs = spec.configs()

    if dry_run:
        _dry_run(configs, fmt)
        return
    rows = _run(configs, engine=engine, db=db, resume=resume, address=address, ray_cpus=ray_cpus)
    _summary(rows, fmt)


def _check_run_options(*, engine: str, address: Optional[str], ray_cpus: Optional[float],
                       db: Optional[Path]) -> None:
    """Refuse bad --engine, --address, --ray-cpus and --db values, named by their flags, before any work."""
    import math

    from effkit.sweep import ENGINES

    if engine not in ENGINES:
        raise fail(f"unknown --engine {engine!r}; use {' or '.join(ENGINES)}")
    if address is not None and engine != "ray":
        raise fail("--address is for the Ray engine; add --engine ray")
    if ray_cpus is not None and not (math.isfinite(ray_cpus) and ray_cpus > 0):
        # Ray accepts fractional CPUs (0.5), so any positive number is allowed, not only integers.
        raise fail(f"--ray-cpus must be a positive number of CPUs such as 1 or 0.5, got {ray_cpus:g}")
    if db is not None:
        _check_db(db)


def _check_db(db: Path) -> None:
    """A --db that is a folder, in a missing or read-only folder, or not an effkit store is refused now,
    not after the sweep has started; nothing is created."""
    from effkit.errors import EffkitError
    from effkit import Store
    from effkit.files import check_writable

    path = db.expanduser()
    if path.is_dir():
        raise fail(f"--db {db} is a folder; give a file path such as {db / 'results.sqlite'}")
    try:
        check_writable(path)
        if path.exists() and path.stat().st_size > 0:
            # Read-only, so a file that is not a store is left exactly as it was.
            Store(path, create=False, readonly=True).close()
    except EffkitError as e:
        raise fail(f"--db: {e}") from None


def _dry_run(configs, fmt: str) -> None:
    from effkit.sweep import configs_table

    df = configs_table(configs)
    shown = df.assign(model=df["model"].map(_short), channels_last=df["channels_last"].map(_yes_no))
    emit(df, fmt=fmt, title=f"{len(df)} configurations (dry run: nothing measured)", columns=_DRY_RUN_COLUMNS,
         shown=shown, export_all=True, markdown_title=False)


def _run(configs, *, engine, db, resume, address, ray_cpus):
    from rich.console import Console

    from effkit.sweep import SweepInterrupted, run_sweep

    err = Console(stderr=True)
    # disable=True when stderr is not a terminal: a transient bar would leave blank lines in logs.
    bar = progress("[bold]sweep", "{task.description}", console=err, disable=not err.is_terminal)
    task = bar.add_task("", total=None)
    failed = 0
    skipped = 0

    def on_event(event) -> None:
        nonlocal failed, skipped
        if event.kind == "start":
            skipped = event.skipped
            bar.update(task, total=event.total, completed=0)
        elif event.kind == "begin":
            bar.update(task, description=_label(event.config))
        else:
            failed += event.row.get("status") != "ok"
            bar.update(task, completed=event.done,
                       description=f"{_label(event.config)}: {event.row.get('status')}"
                       + (f"  ({failed} failed)" if failed else ""))

    try:
        with bar:
            rows = run_sweep(configs, engine=engine, db=str(db) if db is not None else None, resume=resume,
                             address=address, progress=on_event, ray_num_cpus=ray_cpus)
    except SweepInterrupted as e:
        typer.echo(f"effkit: interrupted: {e.finished} of {e.total} configurations finished and are stored "
                   f"in {e.db}; run the same command with --resume to go on", err=True)
        raise typer.Exit(130)
    db_text = str(db) if db is not None else _default_db()
    ok = int((rows["status"] == "ok").sum()) if len(rows) else 0
    typer.echo(f"stored {len(rows)} rows in {db_text}: {ok} ok, {len(rows) - ok} failed"
               + (f"; skipped {skipped} already stored" if skipped else ""), err=True)
    return rows


def _default_db() -> str:
    from effkit import default_db_path

    return str(default_db_path())


def _label(config) -> str:
    if config is None:
        return ""
    shape = "x".join(map(str, config.shape()))
    cl = " channels_last" if config.channels_last else ""
    return f"{config.model} {shape} {config.dtype}{cl}"


def _summary(rows, fmt: str) -> None:
    from effkit.report import tables

    if not len(rows):
        return
    cols = [c for c in _SUMMARY_COLUMNS if c in rows.columns and rows[c].notna().any()]
    shown = rows.assign(model=rows["model"].map(_short))
    if "channels_last" in rows.columns:
        shown["channels_last"] = rows["channels_last"].map(_yes_no)
    emit(rows, fmt=fmt, title="sweep results (this run)", columns=cols, shown=shown, export_all=True,
         markdown_title=False)
    if fmt == "table":
        # Errors are long; listed under the table rather than folded into a narrow column.
        console = tables.console()
        for rec in rows[rows["status"] != "ok"].itertuples():
            console.print(f"failed #{rec.id} {_short(rec.model)} {rec.input_shape}: {rec.error}",
                          markup=False, highlight=False)
