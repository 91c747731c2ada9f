"""Which number predicts speed: score params, FLOPs, MAC and the predictors against measured latency.

Measures the ImageNet zoo (16 models: VoVNet, DenseNet, ResNet, MobileNetV2, ShuffleNetV2, EfficientNet-B0,
ConvNeXt-Tiny) at 224x224, batch 1 and 8, with the per-layer pass, on the best device here (a GPU when there is
one). Then, per (machine, batch size, dtype, input size), the Spearman and Pearson correlation of each proxy with
the measured latency (``effkit.proxies``), and a calibration of the additive latency model fitted to the same
measurements by non-negative least squares (``effkit.calibrate``) with its leave-one-model-out error: the model
left out is predicted from a fit to the others, so that error is out of sample.

Writes ``which_proxy.csv`` (the scoreboard), ``which_proxy_calibration.csv`` (leave-one-model-out predictions),
``which_proxy_measurements.csv`` (the measured rows, machine fingerprint included) and ``which_proxy.png``; with
``--commit-results`` the measurements also go to ``effkit/data/measurements/``.
"""

from __future__ import annotations

import datetime as _dt
import re
import sys
from pathlib import Path

import _common as C

MODELS = ("vovnet27_slim", "vovnet39", "vovnet57", "densenet121", "densenet161", "densenet169", "densenet201",
          "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v2", "shufflenet_v2_x1_0",
          "efficientnet_b0", "convnext_tiny")
QUICK_MODELS = ("resnet18", "vovnet27_slim", "densenet121", "mobilenet_v2")
STORED = Path(__file__).resolve().parent.parent / "effkit" / "data" / "measurements"
# Machine fingerprint and setup columns the shipped measurements keep (no host name, no long JSON).
KEEP = ("model", "family", "status", "batch_size", "input_shape", "dtype", "device", "params", "mult_adds",
        "flops", "paper_mac", "mac", "mac_bytes", "mac_fused", "mac_fused_bytes", "activations", "latency_ms", "latency_p90_ms", "latency_p99_ms",
        "latency_iqr_ms", "iterations", "fps", "flops_per_s", "peak_memory_bytes", "memory_method",
        "energy_j_per_img", "energy_status", "machine_id", "cpu_model", "cpu_count", "gpu_name", "driver_version",
        "cuda_version", "torch_version", "effkit_version", "timestamp", "layers_json", "load_avg_1min",
        "torch_threads")


def extra_args(parser) -> None:
    parser.add_argument("--batch-sizes", default="1,8", help="comma-separated batch sizes (default: 1,8)")
    parser.add_argument("--models", default=None, help="comma-separated zoo names (default: the 16 ImageNet models)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for CPU runs (default 1: on a shared machine, multi-threaded CPU "
                        "inference slows down many times over when another process takes a core)")
    parser.add_argument("--measurements", type=Path, default=None,
                        help="score stored measurements (a CSV exported from the results store) instead of measuring")


def measure(models, batch_sizes, st, db: Path):
    """Measure every model at every batch size into ``db``; per-layer timings feed the calibration."""
    import os

    import torch

    import effkit

    for i, model in enumerate(models):
        C.note(f"  measuring {i + 1}/{len(models)}: {model} at batch {','.join(map(str, batch_sizes))}")
        load = C.load_average()
        rows = effkit.measure(model, input_size=32 if st.quick else 224, batch_sizes=list(batch_sizes),
                              device="auto", warmup_s=st.warmup_s, warmup_iters=st.warmup_iters,
                              min_iters=st.min_iters, min_time_s=st.min_time_s, energy=False, per_layer=True,
                              db=str(db))
        bad = rows[rows["status"] != "ok"]
        if len(bad):
            C.fail(f"measurement failed for {model}: {'; '.join(map(str, bad['error']))}")
        C.note(f"    latency {', '.join(f'{v:.1f}' for v in rows['latency_ms'])} ms (load {load}, "
               f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs)")


def results_frame(db: Path, load: float | None):
    import torch

    from effkit.store import load_results

    df = load_results(db)
    df = df[df["status"] == "ok"].copy()
    df["load_avg_1min"] = load
    df["torch_threads"] = torch.get_num_threads()
    return df


def score(df):
    """(scoreboard, leave-one-model-out rows, calibrations) for the measurements ``df``."""
    import pandas as pd

    import effkit

    # Every shipped row is scored, the noisy ones too: this is the recorded experiment (its numbers are quoted),
    # and which rows effkit doubts is said in the figure and the status column, not by dropping them here.
    cals = effkit.calibrate(df, save=False, include_untrusted=True)
    board = effkit.proxies(df, calibrations=cals, include_untrusted=True)
    loo = pd.DataFrame([{"machine_id": c.machine_id, "dtype": c.dtype, **row} for c in cals for row in c.loo])
    return board, loo, cals


def summary(board, cals) -> None:
    """Print the ranking of proxies per group and the calibrated model's out-of-sample error."""
    lat = board[board["target"] == "latency_ms"]
    for keys, g in lat.groupby(["machine", "batch_size", "dtype"], sort=False):
        g = g.sort_values("spearman", ascending=False)
        C.note(f"{keys[0]}, batch {keys[1]}, {keys[2]} ({int(g['n_models'].iloc[0])} models): Spearman with latency")
        for _, r in g.iterrows():
            C.note(f"    {r['proxy']:<22} rho {r['spearman']:+.3f}   r {r['pearson']:+.3f}")
    for c in cals:
        C.note(f"calibration {c.machine_id[:12]} {c.dtype}: leave-one-model-out median |error| "
               f"{c.loo_median_abs_error:.1%} over {len(c.models)} models")


def figure(board, df):
    from effkit.report.proxies_plot import proxies_figure

    batch = sorted(df["batch_size"].unique())[0]
    rows = df[df["batch_size"] == batch]
    return proxies_figure(rows, title=f"Which number predicts latency? ({C.describe_machine(rows)}, batch {batch})")


def ship(df, out: Path) -> Path:
    """The measurements as a CSV named after the machine and the date (for ``effkit/data/measurements/``)."""
    machine = C.describe_machine(df)
    slug = re.sub(r"[^a-z0-9]+", "-", machine.lower()).strip("-")[:40]
    path = out / f"{slug}-{_dt.date.today():%Y-%m-%d}.csv"
    from effkit.layers_file import split_layers

    split_layers(df[[c for c in KEEP if c in df.columns]], path, float_format="%.7g")  # per-layer JSON beside it
    C.note(f"wrote {path}")
    return path


def main(argv=None) -> int:
    import tempfile

    import pandas as pd

    import torch

    args = C.parse_args(__doc__, argv, extra_args)
    st = C.settings(args.quick)
    if args.threads < 1:
        C.fail(f"--threads must be a positive integer, got {args.threads}")
    torch.set_num_threads(args.threads)
    models = tuple(args.models.split(",")) if args.models else (QUICK_MODELS if st.quick else MODELS)
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.measurements is not None:
        from effkit.shipped import read_measurements

        df = read_measurements(args.measurements)  # the per-layer timings joined back from their side file
    else:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "which_proxy.db"
            load = C.load_average()
            measure(models, batch_sizes, st, db)
            df = results_frame(db, load)
        df[[c for c in KEEP if c in df.columns]].to_csv(args.out / "which_proxy_measurements.csv", index=False,
                                                          float_format="%.7g")
        if args.commit_results:
            STORED.mkdir(parents=True, exist_ok=True)
            ship(df, STORED)
    board, loo, cals = score(df)
    board.to_csv(args.out / "which_proxy.csv", index=False, float_format="%.5g")
    loo.to_csv(args.out / "which_proxy_calibration.csv", index=False, float_format="%.5g")
    summary(board, cals)
    from effkit.report.figures import save_figure

    png = save_figure(figure(board, df), args.out / "which_proxy.png", dpi=110)
    C.note(f"wrote {args.out / 'which_proxy.csv'}, {args.out / 'which_proxy_calibration.csv'} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
