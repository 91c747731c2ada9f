"""``effkit proxies``, ``effkit predict``, ``effkit calibrate`` and ``effkit plot proxies``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from effkit.cli import app, fail
from effkit.cli._benchmark import BENCHMARK_HELP, DEVICE_HELP, FEATURES_HELP
from effkit.cli._shared import FMT, default_store_path, emit, note, status
from effkit.cli.report import CSV, DB, DB_HELP, FIG_OUTPUT_HELP, FROM_SHIPPED, plot_app
from effkit.store.sources import read_results

SPEC_HELP = "Device to predict for, from effkit/data/device_specs.csv: 'H100 SXM', H200, 'TITAN X (Pascal)'."
PEAK_HELP = "Peak compute in TFLOP/s (overrides the device table, or stands for a device not in it)."
BW_HELP = "Peak memory bandwidth in GB/s (overrides the device table)."
LAUNCH_HELP = ("Host time per op (kernel launch overhead), microseconds. Default: the device table's value for "
               "the device, else 15 (eager PyTorch spends 10-30 us per op on a current server).")
MACHINE_HELP = "Use only measurements of this machine (its machine_id, or a unique prefix)."
SHIPPED_HELP = ("Use the measurements shipped with effkit (the newest GPU file, else the CPU one; see `effkit "
                "results shipped`).")
UNTRUSTED_HELP = ("Also use the rows effkit does not trust (status 'ok (busy, noisy)' ...: a busy machine, noisy "
                  "timing); left out by default, with a note counting them.")


def _say(text: str) -> None:
    """A note from the core, its settings named by their flags."""
    from effkit.cli._flags import flag_for
    from effkit.errors import render_settings

    note(render_settings(text, flag_for))


def _stored_calibrations(csv: Optional[Path], db: Optional[Path]):
    """Calibrations stored beside the measurements read (none for a CSV)."""
    if csv is not None:
        return []
    from effkit.store.calibrations import list_calibrations

    return list_calibrations(db)


def _present(cals, results):
    """The calibrations of machines the measurements hold (a store may keep other machines' too)."""
    if "machine_id" not in results.columns:
        return []
    present = set(results["machine_id"].astype(str))
    return [c for c in cals if c.machine_id in present]


def _check_output(fmt: str, output: Optional[Path]) -> None:
    import effkit.files as files
    from effkit.report import tables

    tables.check_format(fmt)
    if output is not None:
        files.check_output(output)


class _ProxyGroups:
    """The proxies' scores as one table per group, each with its notes (see :func:`effkit.cli._shared.emit`)."""

    def __init__(self, parts, columns) -> None:
        self.parts, self.columns = parts, columns

    def _frames(self):
        from effkit.report.tables import FrameTable

        return [FrameTable(rows, title=title, columns=self.columns, notes=gn) for rows, title, gn in self.parts]

    def rich(self, width=None) -> list:
        return [r for frame in self._frames() for r in frame.rich(width)]

    def text(self) -> str:
        texts = [frame.text() for frame in self._frames()]
        return "".join(t if t.endswith("\n") else t + "\n" for t in texts)

    def markdown(self) -> str:
        from effkit.report import tables

        return "".join(f"**{title}**\n\n" + tables.markdown_table(rows, columns=self.columns) + "\n"
                       + "".join(f"- {n}\n" for n in gn) + "\n" for rows, title, gn in self.parts)


def _group_tables(scores):
    """One wide table per group (a row per proxy; Spearman and Pearson per target), its title and notes."""
    import pandas as pd

    wide = scores.pivot_table(index=["machine_id", "batch_size", "dtype", "input_shape", "proxy"],
                              columns="target", values=["spearman", "pearson"], aggfunc="first", sort=False)
    wide.columns = [f"{t}_{stat}" for stat, t in wide.columns]
    wide = wide.reset_index()
    order = {p: i for i, p in enumerate(scores["proxy"].drop_duplicates())}
    columns = ["proxy", *(c for c in ("latency_ms_spearman", "latency_ms_pearson", "energy_j_per_img_spearman",
                                      "energy_j_per_img_pearson") if c in wide.columns)]
    keys = ["machine_id", "batch_size", "dtype", "input_shape"]
    parts = []
    for key, part in scores.groupby(keys, sort=False):
        first = part.iloc[0]
        rows = wide.merge(pd.DataFrame([dict(zip(keys, key))]), on=keys)
        rows = rows.sort_values("proxy", key=lambda s: s.map(order))
        title = (f"{first['machine']} (machine {first['machine_id']})  batch {first['batch_size']}  "
                 f"{first['dtype']}  input {first['input_shape']}  {first['n_models']} models")
        group_notes = [f"models: {first['models']}"] + ([first["note"]] if first["note"] else [])
        parts.append((rows, title, group_notes))
    return parts, columns


@app.command()
def proxies(
    csv: Optional[Path] = CSV,
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP + " Its calibrations score the calibrated prediction."),
    machine: Optional[str] = typer.Option(None, "--machine", help=MACHINE_HELP),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Use only this batch size."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="Use only this dtype (float32, float16, bfloat16)."),
    device_spec: Optional[str] = typer.Option(None, "--device-spec", help=SPEC_HELP + " Default: the GPU measured."),
    peak_tflops: Optional[float] = typer.Option(None, "--peak-tflops", help=PEAK_HELP),
    bandwidth_gbs: Optional[float] = typer.Option(None, "--bandwidth-gbs", help=BW_HELP),
    include_untrusted: bool = typer.Option(False, "--include-untrusted", help=UNTRUSTED_HELP),
    benchmark: Optional[Path] = typer.Option(None, "--benchmark", help=BENCHMARK_HELP),
    features: Optional[Path] = typer.Option(None, "--features", help=FEATURES_HELP),
    device: Optional[str] = typer.Option(None, "--device", help=DEVICE_HELP),
    fmt: str = FMT,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Which number predicts speed: each proxy's rank (Spearman) and linear (Pearson) correlation with
    measured latency and J/img, per group of comparable measurements (machine, batch size, dtype, input size).

    Proxies: params, mult_adds, flops, paper_mac, mac, mac_fused (when present), activations, the roofline
    prediction (GPUs in the device table, or --peak-tflops/--bandwidth-gbs) and the calibrated prediction
    (when the database holds a calibration of that machine). Groups of fewer than 4 models are flagged.

    With --benchmark FILE: the same proxies and the predictor's leave-one-model-out prediction against the
    file's time per image, over all its models and per family (timm's name prefix).
    """
    from effkit.prediction.proxies import proxies as score_proxies

    _check_output(fmt, output)
    if benchmark is not None:
        from effkit.cli._benchmark import show_proxies

        with status("scoring the proxies"):
            scores = score_proxies(benchmark=benchmark, features_table=features, dtype=dtype, device=device)
        show_proxies(scores, fmt, output, _say)
        return
    results = read_results(db=db, csv=csv)
    cals = _present(_stored_calibrations(csv, db), results)
    with status("scoring the proxies"):
        scores = score_proxies(results, machine=machine, batch_size=batch_size, dtype=dtype, calibrations=cals,
                               device_spec=device_spec, peak_tflops=peak_tflops, bandwidth_gbs=bandwidth_gbs,
                               include_untrusted=include_untrusted)
    notes = list(scores.attrs.get("notes", []))
    if fmt in ("csv", "json"):
        emit(scores, title="proxies", fmt=fmt, output=output, notes=notes)
        for n in notes:
            _say(n)
        return
    emit(_ProxyGroups(*_group_tables(scores)), fmt=fmt, output=output)
    for n in notes:
        _say(n)


@app.command()
def predict(
    model: str = typer.Argument(..., help="Zoo name (see `effkit models`), 'pkg.module:factory' or "
                                "'path/to/file.py:factory' (this EXECUTES that file)."),
    device_spec: Optional[str] = typer.Option(None, "--device-spec", help=SPEC_HELP),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Batch size (default 1)."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, float16 or bfloat16: picks the peaks and bytes."),
    input_size: Optional[int] = typer.Option(None, "--input-size", "-s",
                                             help="Square input side; default: the model's own (224, 32 for CIFAR)."),
    input_shape: Optional[str] = typer.Option(None, "--input-shape", help="Full input shape N,C,H,W."),
    peak_tflops: Optional[float] = typer.Option(None, "--peak-tflops", help=PEAK_HELP),
    bandwidth_gbs: Optional[float] = typer.Option(None, "--bandwidth-gbs", help=BW_HELP),
    launch_overhead_us: Optional[float] = typer.Option(None, "--launch-overhead-us", help=LAUNCH_HELP),
    calibration: Optional[str] = typer.Option(None, "--calibration",
                                              help="Use this machine's stored calibration (its machine_id or a "
                                              "unique prefix; see `effkit calibrate`)."),
    db: Optional[Path] = typer.Option(None, "--db", help="Results database holding the calibration."),
    execution: str = typer.Option("eager", "--execution",
                                  help="eager (every op reads its inputs and writes its output) or fused (the "
                                  "traffic of a deployment that folds BN, fuses epilogues and writes into "
                                  "concatenation buffers)."),
    top: int = typer.Option(15, "--top", help="Show the N slowest layers (0: all)."),
    fmt: str = FMT,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write to this file instead of stdout."),
) -> None:
    """Predict MODEL's latency per layer and in total on a device: per-op roofline
    max(flops / peak, bytes / bandwidth) + launch overhead, or the rates a calibration measured.

    Each layer is marked compute-, memory- or launch-bound. With --calibration the prediction uses the
    fitted rates of that machine (and predicts J/img when its energy was measured).
    """
    from effkit.prediction.api import predict as run_predict

    _check_output(fmt, output)
    if top < 0:
        raise fail(f"--top must be 0 or a positive integer, got {top}")
    with status(f"analysing {model}"):
        pred = run_predict(model, device_spec, batch_size=batch_size, dtype=dtype, input_size=input_size,
                           input_shape=input_shape, peak_tflops=peak_tflops, bandwidth_gbs=bandwidth_gbs,
                           launch_overhead_us=launch_overhead_us, calibration=calibration, db=db,
                           execution=execution)
    s = pred.summary()
    if fmt in ("csv", "json"):
        import pandas as pd

        df = pred.layers.assign(**{k: v for k, v in s.items() if k in ("model", "device", "method", "execution")})
        emit(df if fmt == "csv" else pd.DataFrame([s]), title="prediction", fmt=fmt, output=output, notes=[])
        return
    layers = pred.layers.sort_values("time_ms", ascending=False, kind="stable")
    if top:
        layers = layers.head(top)
    from effkit.report import tables

    title = (f"{pred.model}  input {s['input_shape']}  {pred.dtype}  on {pred.device} ({pred.method}, "
             f"{pred.execution} traffic): "
             f"{tables.human(pred.latency_ms)} ms/batch, {tables.human(pred.fps)} img/s"
             + (f", {tables.human(pred.energy_j_per_img)} J/img" if pred.energy_j_per_img == pred.energy_j_per_img
                else "") + (f"; {pred.regime}-bound" if pred.regime else ""))
    shares = ", ".join(f"{b} {pred.bound_share[b]:.0%}" for b in ("compute", "memory", "launch"))
    regime = f"{pred.regime}-bound overall; " if pred.regime else ""
    notes = [f"{regime}time in compute- / memory- / launch-bound ops: {shares}", *pred.notes]
    if pred.method == "calibrated" and pred.roofline_latency_ms == pred.roofline_latency_ms:
        notes.append(f"roofline alone: {tables.human(pred.roofline_latency_ms)} ms/batch")
    notes.append("traffic is eager PyTorch's (every op reads its inputs and writes its output)")
    emit(layers, title=title, fmt=fmt, output=output, notes=notes,
          columns=["layer", "flops", "bytes", "kernels", "time_ms", "time_share", "bound"],
          importance=["layer", "time_ms", "bound", "time_share", "flops", "bytes", "kernels"])


@app.command()
def calibrate(
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP + " The calibration is stored there too."),
    machine: Optional[str] = typer.Option(None, "--machine", help=MACHINE_HELP + " Needed when it holds several."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="Fit only this dtype (default: each one measured)."),
    layers: bool = typer.Option(True, "--layers/--no-layers",
                                help="Also fit the per-layer timings of `effkit measure --per-layer` runs."),
    include_untrusted: bool = typer.Option(False, "--include-untrusted", help=UNTRUSTED_HELP),
    benchmark: Optional[Path] = typer.Option(None, "--benchmark", help=BENCHMARK_HELP),
    features: Optional[Path] = typer.Option(None, "--features", help=FEATURES_HELP),
    device: Optional[str] = typer.Option(None, "--device", help=DEVICE_HELP),
    transfer_from: Optional[Path] = typer.Option(
        None, "--transfer-from", help="With --benchmark: fit this other device's benchmark file, move its rates "
        "to the benchmark's device by the device table's peaks and report its error there."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Fit the measurements of this CSV instead (columns of "
                                       "the results store); the calibration is shown, not stored."),
    shipped: bool = typer.Option(False, "--shipped", help=SHIPPED_HELP + " Shown, not stored."),
    from_shipped: Optional[str] = FROM_SHIPPED,
    fmt: str = FMT,
) -> None:
    """Fit this machine's achieved rates to its stored measurements (non-negative least squares) and store them.

    Fits seconds per FLOP of each op kind (conv, matmul, vector), per byte moved and per kernel launched,
    and (where energy was measured) idle power, joules per FLOP and per byte. Reports the leave-one-model-out
    error: how far off the prediction is for a model the fit has not seen.

    With --benchmark FILE: fits seconds per FLOP and per byte of each op class and per kernel to the file's
    published throughput, and reports leave-one-model-out and leave-one-family-out errors beside a FLOPs
    power law and the best log-linear fit on FLOPs, MAC and activations fitted in the same run. A degenerate
    fit is refused and nothing is stored.
    """
    import pandas as pd

    from effkit.prediction.calibrate import calibrate as fit_calibrations
    from effkit.report import tables

    tables.check_format(fmt)
    from effkit.store import default_db_path

    which = from_shipped if from_shipped is not None else ("auto" if shipped else None)
    path = db if db is not None else default_db_path()
    if benchmark is not None:
        from effkit.cli._benchmark import show_calibration

        if db is None:  # the fit is stored: on a new machine the default store's folder is made first
            path = default_store_path()
        with status("fitting"):
            cals = fit_calibrations(benchmark=benchmark, features_table=features, dtype=dtype, device=device,
                                    transfer_from=transfer_from, db=path)
        show_calibration(cals[0], fmt, path, _say)
        return
    results = None
    if csv is not None or which is not None:
        # read like every other reader; a calibration of rows that are not a store's has no store to go to
        results = read_results(db=db, csv=csv, shipped=which)
        path = None
    with status("fitting"):
        cals = fit_calibrations(results, db=path, machine=machine, dtype=dtype, use_layers=layers,
                                include_untrusted=include_untrusted, save=path is not None)
    summary = pd.DataFrame([_calibration_row(cal) for cal in cals])
    if fmt in ("csv", "json"):
        emit(summary, title="calibrations", fmt=fmt, output=None, notes=[])
        typer.echo(f"stored in {path}" if path is not None else "not stored: the measurements read are not a "
                   "results database", err=True)
        return
    for cal, (_, row) in zip(cals, summary.iterrows()):
        where = cal.fingerprint.get("gpu_name") or cal.fingerprint.get("cpu_model") or "?"
        from effkit.cli._flags import flag_for
        from effkit.errors import render_settings

        notes = [render_settings(n, flag_for) for n in cal.notes] + ([cal.energy_note] if cal.energy_note else [])
        free = [k for k, v in cal.achieved().items() if v == float("inf")]
        if free:
            notes.append(f"inf ({', '.join(free)}): the fit found no cost for that term; these measurements "
                         "do not tell it apart from the others (more, and more varied, models do)")
        notes.append(f"stored in {path}; use it with: effkit predict MODEL --calibration {cal.machine_id[:8]}"
                     if path is not None else "not stored: the measurements read are not a results database "
                     "(calibrate a --db to keep one for `effkit predict --calibration`)")
        emit(_as_fields(row.dropna()), title=f"calibration of {where} ({cal.dtype})", fmt=fmt, output=None,
             notes=notes)
        if cal.loo:  # the error is a fraction (predicted / measured - 1): shown as a percentage
            emit(pd.DataFrame(list(cal.loo)).rename(columns={"error": "relative_error"}),
                 title="leave-one-model-out", fmt=fmt, output=None, notes=[])


def _as_fields(row):
    """One row as a (field, value) table: a calibration's dozen rates fit 80 columns this way, each in its words
    and unit (:mod:`effkit.report.columns`)."""
    import pandas as pd

    from effkit.report.columns import format_column

    shown = [format_column(k, [v]) for k, v in row.items()]
    return pd.DataFrame({"field": [h for h, _ in shown], "value": [cells[0] for _, cells in shown]})


def _calibration_row(cal) -> dict:
    row = {"machine_id": cal.machine_id, "dtype": cal.dtype, "models": len(cal.models), "points": cal.points,
           "layer_points": cal.layer_points, **cal.achieved(), "loo_median_abs_error": cal.loo_median_abs_error}
    energy = cal.energy or {}
    for k in ("idle_w", "j_per_flop", "j_per_byte"):
        row[f"energy_{k}"] = energy.get(k, float("nan"))
    row["energy_loo_median_abs_error"] = cal.energy_loo_median_abs_error
    return row


@plot_app.command("proxies")
def proxies_plot_cmd(
    output: Path = typer.Option(..., "--output", "-o", help=FIG_OUTPUT_HELP),
    csv: Optional[Path] = CSV,
    db: Optional[Path] = DB,
    machine: Optional[str] = typer.Option(None, "--machine", help=MACHINE_HELP),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Use only this batch size."),
    dtype: Optional[str] = typer.Option(None, "--dtype", help="Use only this dtype."),
    target: str = typer.Option("latency", "--target", help="latency or energy (J/img)."),
    device_spec: Optional[str] = typer.Option(None, "--device-spec", help=SPEC_HELP + " Default: the GPU measured."),
    peak_tflops: Optional[float] = typer.Option(None, "--peak-tflops", help=PEAK_HELP),
    bandwidth_gbs: Optional[float] = typer.Option(None, "--bandwidth-gbs", help=BW_HELP),
    include_untrusted: bool = typer.Option(False, "--include-untrusted", help=UNTRUSTED_HELP),
    shipped: bool = typer.Option(False, "--shipped", help=SHIPPED_HELP),
    from_shipped: Optional[str] = FROM_SHIPPED,
) -> None:
    """One scatter panel per proxy against measured latency (or J/img), the correlations in each title.

    Draws one group of comparable measurements: pick it with --machine, --batch-size and --dtype when the
    measurements hold several.
    """
    from effkit.prediction.proxies import proxy_groups
    from effkit.report.figures import check_figure_path, save_figure
    from effkit.report.proxies_plot import proxies_figure

    check_figure_path(output)
    targets = {"latency": "latency_ms", "energy": "energy_j_per_img"}
    if target not in targets:
        raise fail(f"--target must be latency or energy, got {target!r}")
    which = from_shipped if from_shipped is not None else ("auto" if shipped else None)
    results = read_results(db=db, csv=csv, shipped=which)
    cals = _present(_stored_calibrations(csv, db), results) if which is None else []
    with status("scoring the proxies"):
        groups, notes = proxy_groups(results, machine=machine, batch_size=batch_size, dtype=dtype, calibrations=cals,
                                     device_spec=device_spec, peak_tflops=peak_tflops, bandwidth_gbs=bandwidth_gbs,
                                     include_untrusted=include_untrusted)
    if len(groups) > 1:
        listed = "; ".join(f"machine {g['machine_id']} batch {g['batch_size']} {g['dtype']}" for g, _ in groups)
        raise fail(f"the measurements hold {len(groups)} groups ({listed}); pick one with --machine, "
                   "--batch-size and --dtype")
    label, rows = groups[0]
    title = f"what predicts {target}: machine {label['machine_id']}, batch {label['batch_size']}, {label['dtype']}"
    from effkit.report.chart_marks import data_source

    from effkit.cli._flags import flag_for
    from effkit.errors import render_settings

    # what the selection left out belongs in the PNG too: a reader of the figure never sees the terminal
    left = [render_settings(n, flag_for) for n in notes if "does not trust" in n or "left out" in n]
    fig = proxies_figure(rows, target=targets[target], title=title, source=data_source(results), notes=left)
    save_figure(fig, output)
    for n in [*notes, *(n for n in fig.effkit_notes if n not in left)]:
        _say(n)
    typer.echo(f"wrote {output}", err=True)
