"""``effkit sweep``: measure a grid of configurations, locally or on a Ray cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from effkit.cli import app, fail
from effkit.cli._options import (SETTING_FLAGS, CudaGraph, Device, Energy, EnergyTrials, EnergyWindowS, IdleS,
                                 MigEnergy, MinIters, MinTimeS, NoCudnnBenchmark, OldEnergyWindow, OldIdle, OldMinTime,
                                 OldWarmup, PerLayer, SettingFlags, Tf32, WarmupIters, WarmupS)
from effkit.cli._shared import COLUMNS, FMT, chosen_columns, default_store_path, emit

_SUMMARY_COLUMNS = ["id", "model", "input_shape", "dtype", "channels_last", "status", "latency_ms", "fps",
                    "flops_per_s", "hostname", "gpu_name"]
#: The flag behind each sweep key, so that a bad flag value is reported as the flag's, not the file's.
_FLAG_NAMES = {
    "models": "--model", "input_sizes": "--input-size", "batch_sizes": "--batch-size", "dtypes": "--dtype",
    "channels_last": "--channels-last", "repeats": "--repeats", "cpu_half": "--cpu-half", **SETTING_FLAGS,
}
_DRY_RUN_COLUMNS = ["config", "model", "input_shape", "dtype", "channels_last", "device", "repeat"]
#: On a narrow terminal, the summary's columns kept first (the last listed are left out first).
_IMPORTANCE = ["id", "model", "status", "latency_ms", "fps", "input_shape", "dtype", "channels_last", "flops_per_s",
               "gpu_name", "hostname"]


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
    cpu_half: Optional[bool] = typer.Option(None, "--cpu-half", help="Measure float16/bfloat16 even when device "
                                            "auto is a CPU (emulated there and slow; skipped by default)."),
    device: Device = None,
    cuda_graph: CudaGraph = None,
    cudnn_benchmark: NoCudnnBenchmark = None,
    warmup_s: WarmupS = None,
    warmup_iters: WarmupIters = None,
    min_iters: MinIters = None,
    min_time_s: MinTimeS = None,
    energy: Energy = None,
    energy_trials: EnergyTrials = None,
    energy_window_s: EnergyWindowS = None,
    idle_s: IdleS = None,
    tf32: Tf32 = None,
    mig_energy: MigEnergy = None,
    per_layer: PerLayer = None,
    old_warmup_s: OldWarmup = None,
    old_min_time_s: OldMinTime = None,
    old_energy_window_s: OldEnergyWindow = None,
    old_idle_s: OldIdle = None,
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
    dry_run: bool = typer.Option(False, "--dry-run", help="List the configurations and the estimated run time; measure nothing."),
    fmt: str = FMT,
    columns: Optional[str] = COLUMNS,
) -> None:
    """Measure every combination of models, input sizes, batch sizes, dtypes and memory formats.

    Each finished configuration is committed to the results database at once; a failing one is
    stored as failed and the sweep goes on. Ctrl-C keeps what finished; --resume continues.
    """
    from effkit.measurement.config import result_columns
    from effkit.report import tables

    settings = SettingFlags.of(locals())
    tables.check_format(fmt)
    chosen = chosen_columns(columns, result_columns())
    # Options of the run itself are checked before the sweep file, the models or Ray are touched.
    _check_run_options(engine=engine, address=address, ray_cpus=ray_cpus, db=db)
    models = [m for text in (model or []) for m in (_split(text) or [])] or None
    overrides = {
        "models": models, "input_sizes": _ints("--input-size", input_size),
        "batch_sizes": _ints("--batch-size", batch_size), "dtypes": _split(dtype),
        "channels_last": _bools(channels_last), "repeats": repeats, "cpu_half": cpu_half,
        **settings.given(),
    }
    spec = _spec(file, overrides, names={**_FLAG_NAMES, **settings.alias_flags()})
    split = _half_on_cpu(spec, engine)
    configs = split.run

    if dry_run:
        _dry_run(split, fmt)
        return
    if not configs:
        return
    rows = _run(configs, engine=engine, db=db, resume=resume, address=address, ray_cpus=ray_cpus)
    _summary(rows, fmt, chosen)


def _spec(file: Optional[Path], overrides: dict, names: dict):
    """The sweep of the file with the flags' values over it, or of the flags alone; a bad value is named by
    the flag typed (an old spelling included)."""
    from effkit.sweep.spec import load_sweep, sweep_spec

    if file is not None:
        return load_sweep(file, overrides, override_names=names)
    if overrides["models"] is None:
        raise fail("nothing to sweep: give a sweep FILE or at least one --model")
    return sweep_spec(overrides, override_names=names)


def _check_run_options(*, engine: str, address: Optional[str], ray_cpus: Optional[float],
                       db: Optional[Path]) -> None:
    """Bad --engine, --address, --ray-cpus and --db values are refused before the sweep is expanded."""
    from effkit.sweep import check_run_options

    check_run_options(engine=engine, address=address, ray_num_cpus=ray_cpus, db=db)


def _half_on_cpu(spec, engine: str):
    """The configurations to run; a note on stderr says how many half-precision ones a CPU skips, and why."""
    from effkit.cli._shared import note
    from effkit.sweep.half import sweep_configs

    split = sweep_configs(spec, engine)
    if split.skipped:
        note(split.message({"cpu_half": "--cpu-half (or cpu_half: true in the sweep file)"}))
    return split


def _dry_run(split, fmt: str) -> None:
    from effkit.cli._progress import duration, estimate_note
    from effkit.cli._shared import note
    from effkit.measurement.estimate import run_estimate
    from effkit.sweep import configs_table

    skipped = {id(c) for c in split.skipped}
    configs = split.configs
    df = configs_table(configs)
    columns = [*_DRY_RUN_COLUMNS, "estimate_s"]
    if skipped:
        df["status"] = ["skipped: half precision on a CPU" if id(c) in skipped else "to run" for c in configs]
        columns.append("status")
    estimate = run_estimate(split.run)  # what will run: skipped configurations cost nothing
    seconds = dict(zip(map(id, split.run), estimate.seconds))
    df["estimate_s"] = [seconds.get(id(c)) for c in configs]
    shown = df.assign(model=df["model"].map(_short), channels_last=df["channels_last"].map(_yes_no),
                      estimate_s=[duration(seconds[id(c)]) if id(c) in seconds else "" for c in configs])
    text = estimate_note(estimate)
    what = f"{len(split.run)} configurations" + (f", {len(split.skipped)} skipped" if skipped else "")
    emit(df, fmt=fmt, title=f"{what} (dry run: nothing measured)", columns=columns,
         shown=shown, export_all=True, markdown_title=False, notes=[text])
    if fmt in ("csv", "json"):  # no caption in these formats: the total goes to stderr
        note(text)


def _run(configs, *, engine, db, resume, address, ray_cpus):
    from effkit.cli._progress import RunProgress
    from effkit.sweep import SweepInterrupted, run_sweep

    # A bar on a terminal; in a log, one line per finished configuration and a heartbeat.
    shown = RunProgress("sweep")
    try:
        with shown:
            rows = run_sweep(configs, engine=engine, db=str(db) if db is not None else _default_db(), resume=resume,
                             address=address, progress=shown, ray_num_cpus=ray_cpus)
    except SweepInterrupted as e:
        typer.echo(f"effkit: interrupted: {e.finished} of {e.total} configurations finished and are stored "
                   f"in {e.db}; run the same command with --resume to go on", err=True)
        raise typer.Exit(130)
    db_text = str(db) if db is not None else _default_db()
    ok = int((rows["status"] == "ok").sum()) if len(rows) else 0
    skipped = shown.tracker.skipped
    typer.echo(f"stored {len(rows)} rows in {db_text}: {ok} ok, {len(rows) - ok} failed"
               + (f"; skipped {skipped} already stored" if skipped else ""), err=True)
    return rows


def _default_db() -> str:
    return str(default_store_path())


def _summary(rows, fmt: str, chosen=None) -> None:
    from effkit.cli._shared import ALL_COLUMNS
    from effkit.report import tables

    if not len(rows):
        return
    if chosen is None:
        cols = [c for c in _SUMMARY_COLUMNS if c in rows.columns and rows[c].notna().any()]
    else:
        cols = list(rows.columns) if chosen == ALL_COLUMNS else [c for c in chosen if c in rows.columns]
    shown = rows.assign(model=rows["model"].map(_short))
    if "status" in rows.columns:  # "ok (noisy)": the stored status stays "ok"
        from effkit.trust import shown_status

        shown["status"] = [shown_status(r) for r in rows.to_dict(orient="records")]
    if "channels_last" in rows.columns:
        shown["channels_last"] = rows["channels_last"].map(_yes_no)
    emit(rows, fmt=fmt, title="sweep results (this run)", columns=cols, shown=shown, export_all=chosen is None,
         markdown_title=False, importance=_IMPORTANCE if chosen is None else None)
    if fmt == "table":
        # Errors are long; listed under the table rather than folded into a narrow column.
        console = tables.console()
        for rec in rows[rows["status"] != "ok"].itertuples():
            console.print(f"failed #{rec.id} {_short(rec.model)} {rec.input_shape}: {rec.error}",
                          markup=False, highlight=False)
        from effkit.trust import trust_notes

        for line in trust_notes(rows):
            console.print(f"warning: {line}", markup=False, highlight=False)
