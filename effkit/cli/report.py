"""``effkit plot figure3|layers|roofline`` and ``effkit report``."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Optional

import typer

from effkit.cli import Typer, app, fail
from effkit.cli._options import CommandOptions
from effkit.cli._shared import MODEL_HELP, note, status
from effkit.store.sources import read_results

plot_app = Typer(
    help="Charts of what FLOPs hide: the paper's Figure 3, per-layer MAC/FLOPs, and the roofline.",
    no_args_is_help=True,
)
app.add_typer(plot_app, name="plot")

CSV_HELP = "Read measurements from this CSV (columns of the results store: model, latency_ms, flops_per_s ...)."
DB_HELP = "Read measurements from this results database (default: $EFFKIT_DB or the store in your user data folder)."
ACCURACY_HELP = ("CSV of your own accuracies (model,top1[,top5,dataset,weights,source]); overrides and extends "
                 "the bundled reference table by model name.")
BATCH_HELP = "Use only measurements at this batch size."
DTYPE_HELP = "Use only measurements in this dtype (float32, float16, bfloat16)."
DEVICE_HELP = "Use only measurements whose device / GPU / CPU name contains this text (e.g. cuda, H100)."
INPUT_SIZE_HELP = "Use only measurements whose input is this many pixels square (e.g. 224)."
ANY_DEVICE_HELP = ("Draw the roofs of --device-spec even over measurements taken on another device (refused "
                   "otherwise).")
FIG_OUTPUT_HELP = "Figure file to write; .png, .svg or .pdf."
SPEC_HELP = "Device whose peaks to draw, from effkit/data/device_specs.csv: 'H100 SXM', H200, 'TITAN X (Pascal)'."
PEAK_HELP = "Peak compute in TFLOP/s (overrides the device table)."
BW_HELP = "Peak memory bandwidth in GB/s (overrides the device table)."

# Options of the commands that read measurements (typer builds a fresh click option per command from each).
CSV = typer.Option(None, "--csv", help=CSV_HELP)
DB = typer.Option(None, "--db", help=DB_HELP)
BATCH = typer.Option(None, "--batch-size", "-b", help=BATCH_HELP)
DEVICE = typer.Option(None, "--device", help=DEVICE_HELP)
SHIPPED_HELP = ("Use the measurements shipped with effkit (the newest GPU file, else the CPU one; see `effkit results "
                "shipped`). Used anyway, with a note, when the default results database holds no measurements.")
FROM_SHIPPED = typer.Option(None, "--from-shipped", metavar="WHICH",
                            help="Use this shipped measurements file: its name (or a unique part of it), cpu or "
                            "gpu (the newest of that kind).")

# What `plot figure3` and `report` read, and how they filter it: one Annotated type per option (typer's way to
# share an option between commands), listed in each command's signature and gathered in ReadOptions.
ReadCsv = Annotated[Optional[Path], typer.Option("--csv", help=CSV_HELP)]
ReadDb = Annotated[Optional[Path], typer.Option("--db", help=DB_HELP)]
Accuracy = Annotated[Optional[Path], typer.Option("--accuracy", help=ACCURACY_HELP)]
ReadBatch = Annotated[Optional[int], typer.Option("--batch-size", "-b", help=BATCH_HELP)]
ReadDtype = Annotated[Optional[str], typer.Option("--dtype", help=DTYPE_HELP)]
ReadDevice = Annotated[Optional[str], typer.Option("--device", help=DEVICE_HELP)]
ReadInputSize = Annotated[Optional[int], typer.Option("--input-size", "-s", help=INPUT_SIZE_HELP)]
Shipped = Annotated[bool, typer.Option("--shipped", help=SHIPPED_HELP)]
FromShipped = Annotated[Optional[str], typer.Option("--from-shipped", metavar="WHICH", help=FROM_SHIPPED.help)]


@dataclass(frozen=True)
class ReadOptions(CommandOptions):
    """The read options of `plot figure3` and `report`, as given."""

    csv: ReadCsv = None
    db: ReadDb = None
    accuracy: Accuracy = None
    batch_size: ReadBatch = None
    dtype: ReadDtype = None
    device: ReadDevice = None
    input_size: ReadInputSize = None
    shipped: Shipped = False
    from_shipped: FromShipped = None

    @property
    def filters(self) -> dict:
        return {"device": self.device, "batch_size": self.batch_size, "dtype": self.dtype,
                "input_size": self.input_size}


def _measurements(csv: Optional[Path], db: Optional[Path], shipped: bool, from_shipped: Optional[str]):
    """(measurements, the shipped file they came from or ``None``) for `plot figure3` and `report`.

    With --shipped/--from-shipped: the shipped file. With neither, nor --csv/--db, and a default results
    database that is missing or empty: the default shipped file, said in one note.
    """
    which = from_shipped if from_shipped is not None else ("auto" if shipped else None)
    df = read_results(db=db, csv=csv, shipped=which, shipped_if_empty=True)
    for text in df.attrs.get("notes", ()):
        note(text)
    return df, df.attrs.get("shipped")


def _shipped_setup(chosen, batch_size, dtype, notes: list[str] | None = None):
    """(batch size, dtype) for a figure of shipped data: the filters given, else its one setup or its
    smallest batch in float32, named in a note (printed now, or added to ``notes`` to print later)."""
    picked = []
    if batch_size is None and len(chosen.batch_sizes) > 1:
        batch_size = chosen.batch_sizes[0]
        picked.append(f"--batch-size {batch_size}")
    if dtype is None and len(chosen.dtypes) > 1:
        dtype = "float32" if "float32" in chosen.dtypes else chosen.dtypes[0]
        picked.append(f"--dtype {dtype}")
    if picked:
        text = (f"{chosen.name} holds batch size(s) {', '.join(map(str, chosen.batch_sizes))} in "
                f"{', '.join(chosen.dtypes)}: drawing {' '.join(picked)} (pick another with those options)")
        note(text) if notes is None else notes.append(text)
    return batch_size, dtype


def _select(results, device=None, batch_size=None, dtype=None, input_size=None):
    from effkit.report.select import select_latest

    rows, notes = select_latest(results, device=device, batch_size=batch_size, dtype=dtype, input_size=input_size)
    return rows, notes


def _select_setup(results, what, device, batch_size, dtype, input_size=None):
    from effkit.report.select import select_setup

    chosen = select_setup(results, device=device, batch_size=batch_size, dtype=dtype, input_size=input_size,
                          what=what)
    return chosen.rows, chosen.notes


@plot_app.command("figure3")
def figure3_cmd(
    output: Path = typer.Option(..., "--output", "-o", help=FIG_OUTPUT_HELP),
    csv: ReadCsv = None,
    db: ReadDb = None,
    accuracy: Accuracy = None,
    batch_size: ReadBatch = None,
    dtype: ReadDtype = None,
    device: ReadDevice = None,
    input_size: ReadInputSize = None,
    shipped: Shipped = False,
    from_shipped: FromShipped = None,
    title: Optional[str] = typer.Option(None, "--title", help="Figure title (default: machine, batch size, dtype)."),
    public: Optional[str] = typer.Option(None, "--public", help="Draw timm's published throughput of the VoVNet, "
                                         "DenseNet and ResNet families instead: rtx4090 or rtx3090 (224 px, AMP, "
                                         "timm's batch size), top-1 from timm's ImageNet results."),
) -> None:
    """The paper's Figure 3 from measurements: accuracy vs time, GFLOP/s and energy; energy vs GFLOP/s.

    One point per model (the latest successful measurement matching the filters), coloured by family.
    Measurements of several setups (machine, batch size, dtype, input size) are refused: pick one with
    the filters. Accuracy comes from the bundled reference table (with sources) or --accuracy; models
    without one are left out of panels (a)-(c) and named in a note. With --shipped (or when you have
    measured nothing yet) the measurements shipped with effkit are drawn, their machine and file in the title.
    """
    from effkit.report.accuracy import load_accuracy
    from effkit.report.figures import check_figure_path, save_figure
    from effkit.report.plots import figure3

    read = ReadOptions.of(locals())
    check_figure_path(output)
    if public is not None:
        _public_figure3(public, output, title)
        return
    acc = load_accuracy(read.accuracy)
    results, chosen = _measurements(read.csv, read.db, read.shipped, read.from_shipped)
    if chosen is not None:
        batch_size, dtype = _shipped_setup(chosen, batch_size, dtype)
        if title is None:
            title = (f"Figure 3 — {chosen.machine}, batch size {batch_size or chosen.batch_sizes[0]}, "
                     f"{dtype or chosen.dtypes[0]}\nshipped measurements: {chosen.name}")
    with status("drawing Figure 3"):
        fig = figure3(results, acc, title=title, device=device, batch_size=batch_size, dtype=dtype,
                      input_size=input_size)
    if fig.missing_accuracy and len(fig.missing_accuracy) == len(fig.data):
        raise fail("no accuracy for any of " + ", ".join(fig.missing_accuracy)
                   + "; give them with --accuracy FILE (model,top1 in percent)")
    save_figure(fig, output)
    for n in fig.effkit_notes:
        note(n)
    typer.echo(f"wrote {output}", err=True)


def _public_figure3(name: str, output: Path, title: Optional[str]) -> None:
    """Figure 3 of a shipped public benchmark (no energy there: panels (a) and (b))."""
    from effkit.prediction.public import public_results
    from effkit.report.figures import save_figure
    from effkit.report.plots import figure3

    rows, top1, source = public_results(name)
    device, batch = rows["gpu_name"].iloc[0], int(rows["batch_size"].max())
    with status("drawing Figure 3"):
        fig = figure3(rows, top1, title=title or (f"Figure 3 on published throughput: {device}, float16 autocast, "
                                                  f"batch {batch}, 224 px\nsource: timm benchmark results, {source}"))
    save_figure(fig, output)
    for n in fig.effkit_notes:
        note(n)
    typer.echo(f"wrote {output}", err=True)


def _profile_for(model: str, input_size, input_shape, batch_size, dtype):
    from effkit.analysis.profile import UncountedOpsWarning, profile
    from effkit.models.resolve import resolve_input_shape

    shape = resolve_input_shape(model, input_size, input_shape, batch_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UncountedOpsWarning)
        return profile(model, shape, dtype, warn=False)


@plot_app.command("layers")
def layers_cmd(
    model: str = typer.Argument(..., help=MODEL_HELP),
    output: Path = typer.Option(..., "--output", "-o", help=FIG_OUTPUT_HELP),
    compare: Optional[str] = typer.Option(None, "--compare", help="A second model, drawn side by side."),
    input_size: Optional[int] = typer.Option(None, "--input-size", "-s",
                                             help="Square input side; default: each model's own (224, 32 for CIFAR)."),
    input_shape: Optional[str] = typer.Option(None, "--input-shape", help="Full input shape N,C,H,W for both models."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Batch size analysed (default 1)."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, float16 or bfloat16: sets bytes per element."),
    group_depth: Optional[int] = typer.Option(None, "--group-depth",
                                              help="Module depth that names a group (1 = stages); default: automatic."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Measurements CSV with per-layer timings (layers_json)."),
    db: Optional[Path] = typer.Option(None, "--db", help="Results database with per-layer timings "
                                      "(`effkit measure --per-layer`); adds latency and achieved FLOP/s rows."),
) -> None:
    """Per-layer MAC, FLOPs and MAC vs its lower bound along the depth, grouped by stage / block.

    With --compare, two models side by side on shared axes (e.g. densenet121 vs vovnet39: MAC growing
    inside each dense block against OSA's flat profile). With --csv/--db, the latest per-layer
    measurement of each model adds latency and achieved FLOP/s rows.
    """
    from effkit.report.figures import check_figure_path, save_figure
    from effkit.report.plots import layers_figure
    from effkit.report.select import measured_layers

    check_figure_path(output)
    if group_depth is not None and group_depth < 1:
        raise fail(f"--group-depth must be a positive integer, got {group_depth}")
    results = read_results(db=db, csv=csv, required=False)
    names = [model] + ([compare] if compare else [])
    with status("analysing " + " and ".join(names)):
        profs = [_profile_for(m, input_size, input_shape, batch_size, dtype) for m in names]
    # Only timings of the setup analysed: a batch-8 run's layer times beside batch-1 MAC and FLOPs would mislead.
    same = [_same_setup(results, p) for p in profs] if results is not None else None
    measured = [measured_layers(rows, m) for rows, m in zip(same, names)] if results is not None else None
    notes = []  # printed once the figure is written, so an error stays one line
    if results is not None:
        notes = [f"no per-layer measurement of {m} in the results at input {'x'.join(map(str, p.input_shape))}, "
                 f"{p.dtype} (measure with --per-layer, or pick the setup measured with --batch-size/--input-size)"
                 for m, p, meas in zip(names, profs, measured) if meas is None]
    with status("drawing"):
        fig = layers_figure(profs[0], profs[1] if compare else None,
                            measured if measured and any(x is not None for x in measured) else None,
                            group_depth=group_depth,
                            source=results.attrs.get("source") if results is not None else None)
    save_figure(fig, output)
    for n in [*notes, *fig.effkit_notes]:
        note(n)
    typer.echo(f"wrote {output}", err=True)


def _same_setup(results, prof):
    """The rows of ``results`` measured at the profile's input shape and dtype (all rows when they do not say)."""
    from effkit.report.select import setup_key

    shape = "x".join(map(str, prof.input_shape))
    want = {"batch_size": shape.split("x")[0], "input_size": "x".join(shape.split("x")[1:]),
            "dtype": str(prof.dtype).removeprefix("torch.")}
    keep = []
    for rec in results.to_dict(orient="records"):
        key = setup_key(rec)
        keep.append(all(key[k] in (v, "?") for k, v in want.items()))
    return results[keep]


@plot_app.command("roofline")
def roofline_cmd(
    output: Path = typer.Option(..., "--output", "-o", help=FIG_OUTPUT_HELP),
    csv: Optional[Path] = CSV,
    db: Optional[Path] = DB,
    device_spec_name: Optional[str] = typer.Option(None, "--device-spec", help=SPEC_HELP),
    peak_tflops: Optional[float] = typer.Option(None, "--peak-tflops", help=PEAK_HELP),
    bandwidth_gbs: Optional[float] = typer.Option(None, "--bandwidth-gbs", help=BW_HELP),
    per_layer: Optional[str] = typer.Option(
        None, "--per-layer", help="Plot the layers of this model instead of one point per model; measured "
        "per-layer timings from --csv/--db when present, else each layer at its roofline bound."),
    batch_size: Optional[int] = BATCH,
    dtype: Optional[str] = typer.Option(None, "--dtype", help=DTYPE_HELP + " Also picks the peak drawn."),
    device: Optional[str] = DEVICE,
    input_size: Optional[int] = typer.Option(None, "--input-size", "-s",
                                             help=INPUT_SIZE_HELP + " With --per-layer and no measurements: "
                                             "the input side analysed."),
    allow_other_device: bool = typer.Option(False, "--any-device", help=ANY_DEVICE_HELP),
    shipped: bool = typer.Option(False, "--shipped", help="Use the measurements shipped with effkit (the newest GPU "
                                 "file, else the CPU one; see `effkit results shipped`). Roofs for a CPU file come "
                                 "from --peak-tflops and --bandwidth-gbs."),
    from_shipped: Optional[str] = FROM_SHIPPED,
) -> None:
    """Roofline: arithmetic intensity (FLOPs / MAC bytes) vs achieved FLOP/s, under the device's roofs.

    The roofs come from --device-spec (or the GPU named in the measurements) or from --peak-tflops and
    --bandwidth-gbs; the peaks of another device than the one measured are refused without --any-device.
    Measurements of several setups (machine, batch size, dtype, input size) are refused: pick one with
    the filters. Points not measured are drawn hollow at the bound they could reach at most.
    """
    from effkit.devices import check_peaks
    from effkit.report.figures import check_figure_path, save_figure
    from effkit.report.chart_marks import data_source
    from effkit.report.roofline import check_measured_on, roofline, roofs_title, spec_for_rows

    check_figure_path(output)
    check_peaks(peak_tflops, bandwidth_gbs)
    notes: list[str] = []  # printed once the figure is written, so an error stays one line
    if shipped or from_shipped is not None:
        results, chosen = _measurements(csv, db, shipped, from_shipped)
        notes.append(f"measurements shipped with effkit: {chosen.name} ({chosen.machine})")
        batch_size, dtype = _shipped_setup(chosen, batch_size, dtype, notes)
    else:
        # with --per-layer alone, the default store's rows of that model, if it holds any
        results = read_results(db=db, csv=csv, required=per_layer is None, default_if_it_holds=per_layer)
    rows = None
    if results is not None:
        rows, chosen_notes = _select_setup(results, "roofline", device, batch_size, dtype, input_size)
        notes += chosen_notes
    spec = spec_for_rows(rows, device_spec_name, dtype=dtype, peak_tflops=peak_tflops, bandwidth_gbs=bandwidth_gbs)
    if per_layer is not None:
        if rows is not None:
            check_measured_on(rows[rows["model"].astype(str) == per_layer], spec,
                              allow_other_device=allow_other_device)
        points, setup, source = _layer_points(rows, per_layer, input_size, batch_size, spec.dtype, notes)
        title = f"Roofline of {per_layer}'s layers\n{roofs_title(spec)}"
        fig = roofline(points, spec, label_column="name", title=title, setup=setup,
                       source=source or data_source(results))
    else:
        fig = roofline(rows, spec, allow_other_device=allow_other_device, source=data_source(results))
    save_figure(fig, output)
    for n in [*notes, *(n for n in fig.effkit_notes if not n.startswith(("peaks of", "roofs")))]:
        note(n)
    typer.echo(f"wrote {output}", err=True)


def _layer_points(rows, model: str, input_size, batch_size, dtype: str, notes: list[str]):
    """(points, the setup they were measured or analysed in, their source or ``None``): the model's measured
    per-layer points, else its analysed layers (drawn at their bound)."""
    import pandas as pd

    from effkit.report.select import measured_layers

    points = measured_layers(rows, model) if rows is not None else None
    if points is not None:
        return points, rows[rows["model"].astype(str) == model].tail(1), None
    if rows is not None:
        notes.append(f"no per-layer measurement of {model}: layers drawn at their roofline bound")
    with status(f"analysing {model}"):
        prof = _profile_for(model, input_size, None, batch_size, dtype)
    shape = tuple(prof.input_shape)
    setup = pd.DataFrame([{"device": "not timed (static analysis)", "batch_size": shape[0], "dtype": dtype,
                           "input_shape": "x".join(map(str, shape))}])
    return prof.layers, setup, f"effkit static analysis of {model}"


@app.command()
def report(
    output: Path = typer.Option(..., "--output", "-o", help="Report file: .md (figures written beside it as PNG) "
                                "or .html (one self-contained file)."),
    csv: ReadCsv = None,
    db: ReadDb = None,
    accuracy: Accuracy = None,
    batch_size: ReadBatch = None,
    dtype: ReadDtype = None,
    device: ReadDevice = None,
    input_size: ReadInputSize = None,
    shipped: Shipped = False,
    from_shipped: FromShipped = None,
    device_spec_name: Optional[str] = typer.Option(None, "--device-spec", help=SPEC_HELP + " For the roofline."),
    peak_tflops: Optional[float] = typer.Option(None, "--peak-tflops", help=PEAK_HELP),
    bandwidth_gbs: Optional[float] = typer.Option(None, "--bandwidth-gbs", help=BW_HELP),
    allow_other_device: bool = typer.Option(False, "--any-device", help=ANY_DEVICE_HELP),
    title: Optional[str] = typer.Option(None, "--title", help="Report title (default: machine, batch size, dtype)."),
    force: bool = typer.Option(False, "--force", help="Overwrite figure files (<stem>_figure3.png, "
                               "<stem>_roofline.png) that already exist beside a .md report."),
) -> None:
    """A self-contained comparison report to attach to a pull request.

    Holds, for each setup (machine, batch size, dtype, input size) in the measurements, the Table-4-style
    table (batch, params, FLOPs, MAC, latency, FPS, memory, J/img, GFLOP/s, top-1), Figure 3 and a roofline
    when the device's peaks are known; then the machine and the method recorded with the measurements
    (warm-up, iterations, energy method). With --shipped (or when you have measured nothing yet) it reports
    the measurements shipped with effkit, their machine and file in the title.
    """
    from effkit.devices import check_peaks
    from effkit.report.accuracy import load_accuracy
    from effkit.report.report import check_report_path, write_report
    from effkit.report.roofline import spec_for_rows
    from effkit.report.select import check_measurements

    read = ReadOptions.of(locals())
    check_report_path(output, force=force)
    check_peaks(peak_tflops, bandwidth_gbs)
    acc = load_accuracy(read.accuracy)
    results, chosen = _measurements(read.csv, read.db, read.shipped, read.from_shipped)
    if chosen is not None and title is None:
        title = f"effkit comparison — shipped measurements of {chosen.machine} ({chosen.name})"
    check_measurements(results, "report")
    filters = read.filters
    spec = None
    if device_spec_name is not None or peak_tflops is not None or bandwidth_gbs is not None:
        rows, _ = _select(results, **filters)  # the rows the peaks given are looked up for
        spec = spec_for_rows(rows, device_spec_name, dtype=filters["dtype"], peak_tflops=peak_tflops,
                             bandwidth_gbs=bandwidth_gbs)
    with status("writing the report"):
        written = write_report(results, output, accuracy=acc, title=title, device_spec=spec, force=force,
                               allow_other_device=allow_other_device, **filters)
    for p in written:
        typer.echo(f"wrote {p}", err=True)
