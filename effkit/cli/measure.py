"""``effkit measure`` and ``effkit compare``."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from effkit.cli import app, fail
from effkit.units import human, parse_batch_sizes

MODEL_HELP = (
    "Zoo name (see `effkit models`), 'pkg.module:factory', 'path/to/file.py:factory' "
    "(this EXECUTES that file), 'torchvision:NAME' or 'timm:NAME' (where those packages import)."
)

# Options shared by `measure` and `compare` (typer builds a fresh click option per command from each).
BATCH = typer.Option(None, "--batch-size", "-b",
                     help="Batch sizes to sweep, comma-separated (e.g. 1,8,32); default: N of --input-shape, else 1.")
INPUT_SIZE = typer.Option(None, "--input-size", "-s", help="Square input side; default: the model's own (224, 32 for CIFAR).")
INPUT_SHAPE = typer.Option(None, "--input-shape",
                           help="Full input shape N,C,H,W; N is the batch size (with -b, they must agree).")
DTYPE = typer.Option("float32", "--dtype", help="float32 (the paper's), float16 or bfloat16 (via autocast); nothing else.")
DEVICE = typer.Option("auto", "--device", help="auto (CUDA when available), cpu, cuda or cuda:N.")
CHANNELS_LAST = typer.Option(False, "--channels-last", help="Use the NHWC memory format for model and input.")
CUDA_GRAPH = typer.Option(False, "--cuda-graph",
                          help="Time the replay of a captured CUDA graph (removes launch cost; batch 1 is launch-bound).")
NO_CUDNN_BENCH = typer.Option(False, "--no-cudnn-benchmark", help="Do not let cuDNN autotune its kernels.")
WARMUP = typer.Option(1.0, "--warmup", help="Warm-up seconds (at least --warmup-iters iterations too).")
WARMUP_ITERS = typer.Option(10, "--warmup-iters", help="Warm-up iterations (at least --warmup seconds too).")
MIN_ITERS = typer.Option(20, "--min-iters", help="Timed iterations, at least (and at least --min-time seconds).")
MIN_TIME = typer.Option(2.0, "--min-time", help="Seconds of timed iterations, at least.")
NO_ENERGY = typer.Option(False, "--no-energy", help="Skip the energy measurement (saves ~20 s per configuration).")
ENERGY_TRIALS = typer.Option(3, "--energy-trials", help="Energy windows per configuration (mean and std reported).")
ENERGY_WINDOW = typer.Option(5.0, "--energy-window", help="Seconds per energy window, at least (>= 5 s recommended for NVML).")
IDLE = typer.Option(1.0, "--idle", help="Seconds of idle power (at least 3), measured once per device per run "
                    "after a 5 s rest, for the net J/img (0: none).")
TF32 = typer.Option(None, "--tf32/--no-tf32", help="TF32 for float32 convolutions and matmuls on CUDA "
                    "(default: torch's settings, recorded in every row).")
MIG_ENERGY = typer.Option(False, "--mig-energy", help="On a MIG instance, measure the whole board's energy "
                          "anyway (it includes other tenants).")
PER_LAYER = typer.Option(False, "--per-layer", help="Also time every leaf module in a separate pass (per-layer FLOP/s).")
DB = typer.Option(None, "--db", help="Results database file (default: effkit's file in your user data folder, or $EFFKIT_DB).")
NO_STORE = typer.Option(False, "--no-store", help="Do not store the results.")
FMT = typer.Option("table", "--format", "-f", help="table, csv, json or markdown.")
OUTPUT = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout.")

MEASURE_COLUMNS = ["batch_size", "status", "latency_ms", "latency_p90_ms", "latency_p99_ms", "iterations", "fps",
                   "flops_per_s", "peak_memory_bytes", "activation_bytes", "energy_j_per_img",
                   "energy_j_per_img_net", "energy_j_per_img_std", "mean_power_w", "clock_drop", "error"]
#: Shown even when empty: an empty J/img column, with the reason under the table, is the message.
_ALWAYS = {"energy_j_per_img"}
COMPARE_COLUMNS = ["model", "batch_size", "status", "params", "flops", "paper_mac", "mac", "latency_ms", "fps",
                   "flops_per_s", "peak_memory_bytes", "energy_j_per_img", "energy_j_per_img_net", "error"]
LAYER_COLUMNS = ["name", "type", "flops", "mac", "latency_ms", "flops_per_s", "time_share"]
LIST_COLUMNS = ["id", "timestamp", "model", "device", "batch_size", "dtype", "status", "latency_ms", "fps",
                "flops_per_s", "energy_j_per_img", "gpu_name"]


def _db_arg(db: Optional[Path], no_store: bool):
    if no_store:
        if db is not None:
            raise fail("--db and --no-store contradict each other; give one")
        return None
    if db is not None:
        return db
    from effkit.errors import StoreError
    from effkit import default_db_path

    path = default_db_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create the results folder {path.parent}: {e.strerror or e}; pass --db") from e
    return path


class _Bar:
    """A rich progress bar on stderr driven by the API's ``progress(done, total, label)`` callback."""

    def __init__(self, title: str):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self.title = title
        self.task = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.task is not None:
            self.progress.__exit__(*exc)

    def __call__(self, done: int, total: int, label: str) -> None:
        # Started on the first report, i.e. after the settings were validated: a bad-input error
        # stays one clean line on stderr. Not drawn at all when stderr is not a terminal (CI logs,
        # pipes), where a transient bar would only leave blank lines behind.
        import sys

        if not sys.stderr.isatty():
            return
        if self.task is None:
            self.progress.__enter__()
            self.task = self.progress.add_task(self.title, total=total)
        self.progress.update(self.task, completed=done, description=f"{self.title}: {label}")


def _options(**kw) -> dict:
    """The API's keyword arguments from the command's options, checked once by ``MeasureSettings.validate``."""
    from effkit import MeasureSettings
    from effkit.errors import BadInputError

    settings = MeasureSettings(
        dtype=kw["dtype"], device=kw["device"], channels_last=kw["channels_last"], cuda_graph=kw["cuda_graph"],
        cudnn_benchmark=not kw["no_cudnn_benchmark"], warmup_s=kw["warmup"], warmup_iters=kw["warmup_iters"],
        min_iters=kw["min_iters"], min_time_s=kw["min_time"], energy=not kw["no_energy"],
        energy_trials=kw["energy_trials"], energy_window_s=kw["energy_window"], idle_s=kw["idle"],
        per_layer=kw["per_layer"], tf32=kw["tf32"], mig_energy=kw["mig_energy"])
    settings.validate()
    if kw["input_size"] is not None and kw["input_size"] <= 0:
        raise BadInputError(f"--input-size must be a positive integer, got {kw['input_size']}")
    opts = settings.as_dict()
    opts["dtype"] = settings.canonical_dtype()  # aliases such as fp16 are fine, stored by their full name
    return dict(input_size=kw["input_size"], input_shape=kw["input_shape"],
                batch_sizes=parse_batch_sizes(kw["batch_size"]) if kw["batch_size"] is not None else None, **opts)


def _machine(df) -> str:
    if df.empty:
        return ""
    r = df.iloc[0]
    if str(r.get("device", "")).startswith("cuda") and r.get("gpu_name"):
        return f"{r['gpu_name']} (driver {r.get('driver_version') or '?'})"
    return str(r.get("cpu_model") or r.get("device") or "")


def _notes(df) -> list[str]:
    notes = ["fps = images / timed span (sustained throughput); flops_per_s = analysis flops x fps / batch; "
             "latencies (p50/p90/p99) per iteration, per batch."]
    if "memory_method" in df and df["memory_method"].notna().any():
        notes.append("peak memory: " + str(df["memory_method"].dropna().iloc[0]) + ".")
    statuses = sorted({str(s) for s in df.get("energy_status", []) if s and str(s) != "ok"})
    if statuses:
        notes.append("energy: " + "; ".join(statuses))
    else:
        notes.append("energy_j_per_img is gross (energy counter delta / images); energy_j_per_img_net subtracts "
                     "the idle power measured once per device for this run.")
    return notes


def _emit(df, *, columns, title: str, fmt: str, output: Optional[Path], notes: list[str], extra=None,
          keep=()) -> None:
    from effkit import files
    from effkit.report import tables

    cols = [c for c in columns if c in df.columns and (c in _ALWAYS or df[c].notna().any())
            and not (c == "status" and (df[c] == "ok").all())]
    if fmt == "csv":
        text = tables.csv_text(df)
    elif fmt == "json":
        text = tables.json_text(df)
    elif fmt == "markdown":
        text = f"**{title}**\n\n" + tables.markdown_table(df, columns=cols) + "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
        for sub_title, sub in extra or []:
            text += f"\n**{sub_title}**\n\n" + tables.markdown_table(sub, columns=LAYER_COLUMNS)
    else:
        renderables = [tables.rich_table(df, title=title, columns=cols, caption="\n".join(notes))]
        for sub_title, sub in extra or []:
            renderables.append(tables.rich_table(sub, title=sub_title, columns=LAYER_COLUMNS))
        if output is None:
            console = tables.console()
            for r in renderables:
                console.print(r)
            return
        text = "".join(tables.render_text(r) for r in renderables)
    if output is None:
        typer.echo(text, nl=not text.endswith("\n"))
    else:
        files.write_text(output, text, keep=keep)  # never over the --db just written
        typer.echo(f"wrote {output}", err=True)


def _layer_tables(df, top: int = 15):
    import io

    import pandas as pd

    out = []
    if "layers_json" not in df.columns:
        return out
    for _, r in df.iterrows():
        if not isinstance(r.get("layers_json"), str):
            continue
        layers = pd.read_json(io.StringIO(r["layers_json"]), orient="records")
        layers = layers.sort_values("latency_ms", ascending=False, kind="stable").head(top)
        out.append((f"{r['model']} bs={r['batch_size']}: slowest {len(layers)} layers (separate hooked pass)", layers))
    return out


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
        from effkit.sweep import SweepInterrupted

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


@app.command()
def measure(
    model: str = typer.Argument(..., help=MODEL_HELP),
    batch_size: Optional[str] = BATCH, input_size: Optional[int] = INPUT_SIZE, input_shape: Optional[str] = INPUT_SHAPE,
    dtype: str = DTYPE, device: str = DEVICE, channels_last: bool = CHANNELS_LAST, cuda_graph: bool = CUDA_GRAPH,
    no_cudnn_benchmark: bool = NO_CUDNN_BENCH, warmup: float = WARMUP, warmup_iters: int = WARMUP_ITERS,
    min_iters: int = MIN_ITERS, min_time: float = MIN_TIME, no_energy: bool = NO_ENERGY,
    energy_trials: int = ENERGY_TRIALS, energy_window: float = ENERGY_WINDOW, idle: float = IDLE,
    tf32: Optional[bool] = TF32, mig_energy: bool = MIG_ENERGY, per_layer: bool = PER_LAYER, db: Optional[Path] = DB,
    no_store: bool = NO_STORE, fmt: str = FMT,
    output: Optional[Path] = OUTPUT,
    weights: Optional[Path] = typer.Option(None, "--weights", help="Local state_dict file to load first."),
) -> None:
    """Measure MODEL: latency (median/p90/p99), FPS, achieved FLOP/s, peak memory and energy per image.

    One row per batch size, stored in the results database as each is measured. A batch size that fails
    (out of memory, say) is recorded as failed and the others still run.
    """
    from effkit import files
    from effkit.measurement.api import measure as run_measure
    from effkit.report import tables

    from effkit.models.registry import check_model_names

    tables.check_format(fmt)
    opts = _options(**locals())
    check_model_names([model])
    store = _db_arg(db, no_store)
    if output is not None:
        files.check_output(output, keep=(store,))  # before minutes of measuring, not after
    with _Interruptible(store, no_store), _Bar(f"measuring {model}") as bar:
        df = run_measure(model, db=store, progress=bar, weights=str(weights) if weights else None, **opts)
    ok = df[df["status"] == "ok"]
    head = ok.iloc[0] if len(ok) else df.iloc[0]
    title = (f"{model}  input {head['input_shape']}  {opts['dtype']}  on {_machine(df)}  "
             f"params {human(head['params'])}  FLOPs {human(head['flops'])}  "
             f"paper MAC {human(head['paper_mac'])}  MAC {human(head['mac'])}")
    _emit(df, columns=MEASURE_COLUMNS, title=title, fmt=fmt, output=output, notes=_notes(df),
          extra=_layer_tables(df) if per_layer else None, keep=(store,))
    _stored_note(df, store)
    _report_failures(df)


@app.command()
def compare(
    models: Optional[List[str]] = typer.Argument(
        None, help="Models to compare (default: vovnet39 vovnet57 densenet121 densenet161 densenet201 "
                   "resnet50 resnet101)."),
    small: bool = typer.Option(False, "--small",
                               help="Default to the small set instead: vovnet27_slim, resnet18, densenet121."),
    batch_size: Optional[str] = BATCH, input_size: Optional[int] = INPUT_SIZE, input_shape: Optional[str] = INPUT_SHAPE,
    dtype: str = DTYPE, device: str = DEVICE, channels_last: bool = CHANNELS_LAST, cuda_graph: bool = CUDA_GRAPH,
    no_cudnn_benchmark: bool = NO_CUDNN_BENCH, warmup: float = WARMUP, warmup_iters: int = WARMUP_ITERS,
    min_iters: int = MIN_ITERS, min_time: float = MIN_TIME, no_energy: bool = NO_ENERGY,
    energy_trials: int = ENERGY_TRIALS, energy_window: float = ENERGY_WINDOW, idle: float = IDLE,
    tf32: Optional[bool] = TF32, mig_energy: bool = MIG_ENERGY, per_layer: bool = PER_LAYER, db: Optional[Path] = DB,
    no_store: bool = NO_STORE, fmt: str = FMT,
    output: Optional[Path] = OUTPUT,
) -> None:
    """Measure several models side by side, in the spirit of the paper's Table 4.

    Params, FLOPs, paper MAC, all-op MAC, latency, FPS, achieved FLOP/s, peak memory and J/img per model
    and batch size; --format markdown/csv with --output exports the table.
    """
    from effkit import files
    from effkit.measurement.api import compare as run_compare
    from effkit.report import tables

    from effkit.models.registry import check_model_names

    tables.check_format(fmt)
    opts = _options(**locals())
    check_model_names(models or [])
    store = _db_arg(db, no_store)
    if output is not None:
        files.check_output(output, keep=(store,))  # before minutes of measuring, not after
    with _Interruptible(store, no_store), _Bar("comparing") as bar:
        df = run_compare(models or None, small=small, db=store, progress=bar, **opts)
    title = f"effkit compare  {opts['dtype']}  on {_machine(df)}"
    _emit(df, columns=COMPARE_COLUMNS, title=title, fmt=fmt, output=output, notes=_notes(df),
          extra=_layer_tables(df) if per_layer else None, keep=(store,))
    _stored_note(df, store)
    _report_failures(df)
