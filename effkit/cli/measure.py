"""``effkit measure`` and ``effkit compare``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from effkit.cli import app, fail
from effkit.cli._progress import RunProgress
from effkit.cli._options import (BatchSizes, ChannelsLast, Columns, CudaGraph, Db, Device, Dtype, Energy,
                                 EnergyTrials, EnergyWindowS, Format, IdleS, InputShape, InputSize, MeasureOptions,
                                 MigEnergy, MinIters, MinTimeS, NoCudnnBenchmark, NoStore, OldEnergyWindow, OldIdle,
                                 OldMinTime, OldWarmup, Output, PerLayer, TdpEstimate, Tf32, WarmupIters, WarmupS)
from effkit.cli._shared import MODEL_HELP, default_store_path, emit
from effkit.report.columns import help_text

LIST_COLUMNS = ["id", "timestamp", "model", "device", "batch_size", "dtype", "status", "latency_ms", "fps",
                "flops_per_s", "energy_j_per_img", "gpu_name"]


def _db_arg(db: Optional[Path], no_store: bool):
    if no_store:
        if db is not None:
            raise fail("--db and --no-store contradict each other; give one")
        return None
    if db is not None:
        return db
    return default_store_path()


def _api_kwargs(options: MeasureOptions) -> dict:
    """The API's keyword arguments from the command's options, checked once by ``MeasureSettings.validate``.

    The shared setting options not given take ``MeasureSettings``' defaults. ``tdp_estimate_w`` (``None``
    unless ``--tdp-estimate`` was given) is among them: each row then carries the estimate.
    """
    from effkit.measurement.settings import MeasureSettings
    from effkit.errors import BadInputError
    from effkit.units import parse_batch_sizes  # torch: imported by the commands, not by `effkit --help`

    given = options.settings.given()
    if options.tdp_estimate is not None:
        given["tdp_estimate_w"] = _tdp_watts(options.tdp_estimate, given.get("device", "auto"))
    settings = MeasureSettings(dtype=options.dtype, channels_last=options.channels_last, **given)
    settings.validate()
    if options.input_size is not None and options.input_size <= 0:
        raise BadInputError(f"--input-size must be a positive integer, got {options.input_size}")
    opts = settings.as_dict()
    opts["dtype"] = settings.canonical_dtype()  # aliases such as fp16 are fine, stored by their full name
    batch_sizes = parse_batch_sizes(options.batch_size) if options.batch_size is not None else None
    return dict(input_size=options.input_size, input_shape=options.input_shape, batch_sizes=batch_sizes, **opts)


def _tdp_watts(text: Optional[str], device: str) -> Optional[float]:
    """``--tdp-estimate``: ``None`` (not given), watts, or ``auto`` (the board power of the device measured)."""
    if text is None:
        return None
    from effkit.measurement.energy.estimate import parse_tdp, tdp_of_device

    value = parse_tdp(text)
    return tdp_of_device(device) if value == "auto" else float(value)


def emit_measurements(df, *, fmt: str, output: Optional[Path], kind: str = "measure", columns=None,
                      title: Optional[str] = None, notes: Optional[list[str]] = None, keep=(), chosen=None,
                      layers: bool = False) -> None:
    """Result rows as :func:`effkit.measurement.table.results_table` lays them out (the table ``str()`` of a
    ``measure()``/``compare()`` result is), in the format asked for; ``columns``, ``title`` and ``notes``
    default to ``kind``'s. ``chosen``: what ``--columns`` asked for (see :func:`chosen_columns`)."""
    from effkit.cli._shared import ALL_COLUMNS
    from effkit.measurement.table import results_table

    table = results_table(df, kind=kind, title=title, notes=notes, fmt=fmt, columns=columns, layers=layers,
                          chosen="all" if chosen == ALL_COLUMNS else chosen)
    emit(table, fmt=fmt, output=output, keep=keep)


def _report_failures(df) -> None:
    failed = df[df["status"] != "ok"] if "status" in df else df.iloc[0:0]
    for _, r in failed.iterrows():
        typer.echo(f"effkit: warning: {r['model']} batch {r['batch_size']} failed: {r['error']}", err=True)
    if len(df) and len(failed) == len(df):
        raise typer.Exit(1)


class _Interruptible:
    """Ctrl-C while measuring: one line saying what was kept, exit 130 (rows are stored as each is made)."""

    def __init__(self, db, no_store: bool):
        self.db, self.no_store = db, no_store

    def __enter__(self):
        return self

    def __exit__(self, kind, e, tb):
        from effkit.measurement.run import SweepInterrupted

        if kind is None or not issubclass(kind, KeyboardInterrupt):
            return False
        if not isinstance(e, SweepInterrupted):
            kept = "interrupted before the first measurement; nothing measured, nothing stored"
        elif self.no_store:
            kept = f"interrupted: {e.finished} of {e.total} configurations measured; none stored (--no-store)"
        else:
            ids = ", ".join(str(i) for i in e.rows["id"]) if e.finished else ""
            kept = (f"interrupted: {e.finished} of {e.total} configurations measured and stored in {self.db}"
                    + (f" (ids {ids})" if ids else "") + "; the others were not measured")
        typer.echo(f"effkit: {kept}", err=True)
        raise typer.Exit(130)


def _stored_note(df, db) -> None:
    if db is not None and "id" in df.columns and len(df):
        typer.echo(f"stored {len(df)} row(s) in {db} (ids {', '.join(str(i) for i in df['id'])})", err=True)


def _prepare(models: list[str], options: MeasureOptions):
    """The API's keyword arguments, the store and the columns asked for, every option checked before any
    measuring."""
    import effkit.files as files
    from effkit.models.registry import check_model_names
    from effkit.report import tables

    tables.check_format(options.fmt)
    chosen = _chosen(options.columns)
    opts = _api_kwargs(options)
    check_model_names(models)
    _warn_half_on_cpu(opts)
    store = _db_arg(options.db, options.no_store)
    if options.output is not None:
        files.check_output(options.output, keep=(store,))  # before minutes of measuring, not after
    return opts, store, chosen


def _chosen(text: Optional[str]):
    """``--columns``, checked against every column a result row can have."""
    from effkit.cli._shared import chosen_columns
    from effkit.measurement.config import result_columns

    return chosen_columns(text, result_columns())


def _warn_half_on_cpu(opts: dict) -> None:
    from effkit.trust import half_on_cpu_warning

    message = half_on_cpu_warning(opts["dtype"], opts["device"])
    if message:
        typer.echo(f"effkit: warning: {message} (measured anyway; every row says so)", err=True)


def _finish(df, *, kind: str, store, options: MeasureOptions, chosen) -> None:
    """Print the rows measured as ``kind`` (measure or compare), ``chosen``: the columns --columns asked for."""
    emit_measurements(df, kind=kind, fmt=options.fmt, output=options.output, keep=(store,), chosen=chosen,
                      layers=bool(options.settings.per_layer))
    _stored_note(df, store)
    _report_failures(df)


#: What measure's and compare's --help say their columns are (the tables', README's and report's words).
_COLUMN_HELP = help_text(("latency_ms", "fps", "flops_per_s", "peak_memory_bytes", "energy_j_per_img"))


@app.command(epilog=_COLUMN_HELP)
def measure(
    model: str = typer.Argument(..., help=MODEL_HELP),
    batch_size: BatchSizes = None,
    input_size: InputSize = None,
    input_shape: InputShape = None,
    dtype: Dtype = "float32",
    channels_last: ChannelsLast = False,
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
    tdp_estimate: TdpEstimate = None,
    db: Db = None,
    no_store: NoStore = False,
    fmt: Format = "table",
    columns: Columns = None,
    output: Output = None,
    old_warmup_s: OldWarmup = None,
    old_min_time_s: OldMinTime = None,
    old_energy_window_s: OldEnergyWindow = None,
    old_idle_s: OldIdle = None,
    weights: Optional[Path] = typer.Option(None, "--weights", help="Local state_dict file to load first."),
) -> None:
    """Measure MODEL: latency (median/p90/p99), FPS, achieved FLOP/s, peak memory and energy per image.

    One row per batch size, stored in the results database as each is measured. A batch size that fails
    (out of memory, say) is recorded as failed and the others still run.
    """
    from effkit.measurement.api import measure as run_measure

    options = MeasureOptions.of(locals())
    opts, store, chosen = _prepare([model], options)
    with _Interruptible(store, options.no_store), RunProgress("measuring") as shown:
        df = run_measure(model, db=store, progress=shown, weights=str(weights) if weights else None, **opts)
    _finish(df, kind="measure", store=store, options=options, chosen=chosen)


@app.command(epilog=_COLUMN_HELP)
def compare(
    models: Optional[List[str]] = typer.Argument(
        None, help="Models to compare (default: vovnet39 vovnet57 densenet121 densenet161 densenet201 "
                   "resnet50 resnet101)."),
    small: bool = typer.Option(False, "--small",
                               help="Default to the small set instead: vovnet27_slim, resnet18, densenet121."),
    batch_size: BatchSizes = None,
    input_size: InputSize = None,
    input_shape: InputShape = None,
    dtype: Dtype = "float32",
    channels_last: ChannelsLast = False,
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
    tdp_estimate: TdpEstimate = None,
    db: Db = None,
    no_store: NoStore = False,
    fmt: Format = "table",
    columns: Columns = None,
    output: Output = None,
    old_warmup_s: OldWarmup = None,
    old_min_time_s: OldMinTime = None,
    old_energy_window_s: OldEnergyWindow = None,
    old_idle_s: OldIdle = None,
    shipped: bool = typer.Option(False, "--shipped", help="Measure nothing: show the rows shipped with effkit "
                                 "(the newest GPU file, else the CPU one; see `effkit results shipped`)."),
    from_shipped: Optional[str] = typer.Option(None, "--from-shipped", metavar="WHICH",
                                               help="Like --shipped, from this file: its name (or a unique part "
                                               "of it), cpu or gpu."),
    public: Optional[str] = typer.Option(None, "--public", metavar="GPU",
                                         help="Measure nothing: timm's published throughput on rtx4090 or rtx3090 "
                                         "(AMP, 224 px) of MODELS (timm names; default: the VoVNet, DenseNet and "
                                         "ResNet families) beside effkit's static numbers and timm's top-1."),
) -> None:
    """Measure several models side by side, in the spirit of the paper's Table 4.

    Params, FLOPs, paper MAC, all-op MAC, latency, FPS, achieved FLOP/s, peak memory and J/img per model
    and batch size; --format markdown/csv with --output exports the table. With --shipped or
    --from-shipped nothing is measured: the table shows the measurements shipped with effkit (-b, --dtype
    and --input-size pick their rows; without models, the default set the file holds).
    """
    from effkit.measurement.api import compare as run_compare

    options = MeasureOptions.of(locals())
    if public is not None:
        return _compare_public(public, models or None, options)
    if shipped or from_shipped is not None:
        return _compare_shipped(models or None, small, from_shipped or "auto", options)
    opts, store, chosen = _prepare(models or [], options)
    with _Interruptible(store, options.no_store), RunProgress("comparing") as shown:
        df = run_compare(models or None, small=small, db=store, progress=shown, **opts)
    _finish(df, kind="compare", store=store, options=options, chosen=chosen)


#: The options of ``compare`` that still mean something without measuring: they choose rows or the output.
_SHIPPED_OPTIONS = {"batch_size", "dtype", "input_size", "fmt", "output", "columns"}


def _compare_public(name: str, models, options: MeasureOptions) -> None:
    """`compare --public`: a shipped public benchmark's rows of ``models`` beside effkit's static numbers."""
    from effkit.cli._shared import emit
    from effkit.prediction.public import public_results
    from effkit.report import tables

    for opt, flag in options.given().items():
        if opt not in ("fmt", "output"):
            raise fail(f"{flag} has no effect with --public, which shows published rows; leave it out")
    tables.check_format(options.fmt)
    df, _, source = public_results(name, models=models)
    df = df.assign(gflops_per_s=df["flops_per_s"] / 1e9).sort_values("latency_ms")
    title = (f"timm's published throughput on {df['gpu_name'].iloc[0]}, float16 autocast, batch "
             f"{int(df['batch_size'].max())}, 224 px ({source}; not measured here)")
    emit(df, title=title, fmt=options.fmt, output=options.output,
         columns=["model", "params", "mult_adds", "paper_mac", "mac", "activations", "fps", "gflops_per_s", "top1"],
         notes=["gflops_per_s: 2 x effkit's multiply-adds per image x timm's images/s; top1: timm's ImageNet "
                "results (best weights at 224 px)"])


def _compare_shipped(models, small: bool, which: str, options: MeasureOptions) -> None:
    """`compare --shipped`: the shipped rows of ``models`` as the compare table; measuring options are refused."""
    import effkit.files as files
    from effkit.shipped import compare_shipped
    from effkit.report import tables

    for name, flag in options.given().items():
        if name not in _SHIPPED_OPTIONS:
            raise fail(f"{flag} has no effect with --shipped/--from-shipped, which measure and "
                       "store nothing (they show the shipped rows); leave it out")
    tables.check_format(options.fmt)
    chosen_cols = _chosen(options.columns)
    if options.output is not None:
        files.check_output(options.output)
    from effkit.units import parse_batch_sizes

    batches = parse_batch_sizes(options.batch_size) if options.batch_size is not None else None
    if options.input_size is not None and options.input_size <= 0:
        raise fail(f"--input-size must be a positive integer, got {options.input_size}")
    df = compare_shipped(models, which=which, small=small, batch_sizes=batches, dtype=options.dtype,
                         input_size=options.input_size)
    chosen = df.attrs["shipped"]
    title = (f"effkit compare  {options.dtype}  on {chosen.machine}  shipped measurements {chosen.name}  "
             "(not measured here)")
    emit_measurements(df, kind="compare", title=title, fmt=options.fmt, output=options.output, chosen=chosen_cols)
