"""Table-4-style backbone comparison: VoVNet-39/57 vs ResNet-50/101 vs DenseNet-161/201, with analysis columns.

Measurements come from committed ones when there are any for all six models (CSV files under
``effkit/data/measurements/``, GPU rows preferred, or ``--measurements FILE``); otherwise the six ImageNet
classifiers are measured here at 224x224, batch 1, with modest settings (on this machine's GPU if it has
one, else on its CPU: the CSV's ``source`` and ``machine`` columns say which). Beside every model go
effkit's static counts (FLOPs, MAC, arithmetic intensity), the paper's Table 4 (RefineDet320 detectors on a
TITAN X, Pascal) and the ImageNet inference times of the official VoVNet.pytorch README (same GPU).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import _common as C

MODELS = ("vovnet39", "vovnet57", "resnet50", "resnet101", "densenet161", "densenet201")
REPO = Path(__file__).resolve().parent.parent
STORED = REPO / "effkit" / "data" / "measurements"

# Paper Table 4 (paper_numbers.md): whole RefineDet320 detector, COCO, TITAN X (Pascal).
TABLE4 = {
    "resnet50": (25.43, 23.2, 63.46, 2229, 5.3, 591.3, 30.3),
    "densenet201": (24.65, 12.0, 56.13, 3498, 9.9, 296.9, 32.5),
    "vovnet39": (32.6, 25.0, 56.28, 2199, 4.8, 815.0, 33.5),
    "resnet101": (33.02, 17.5, 82.45, 3013, 7.5, 579.2, 32.0),
    "densenet161": (32.74, 12.8, 66.76, 3628, 10.0, 419.7, 33.5),
    "vovnet57": (36.45, 21.2, 70.32, 2511, 5.9, 775.5, 33.9),
}
TABLE4_COLUMNS = ("paper_flops_g", "paper_fps", "paper_params_m", "paper_memory_mb", "paper_j_per_img",
                  "paper_gflops_per_s", "paper_coco_ap")
# Official VoVNet.pytorch README: ImageNet classifier inference time on a TITAN X (Pascal), PyTorch 1.0.
README_MS = {"resnet50": 12, "densenet201": 39, "vovnet39": 10, "resnet101": 20, "densenet161": 27, "vovnet57": 13}


def extra_args(parser) -> None:
    parser.add_argument("--measurements", type=Path, default=None,
                        help="CSV of measurements (columns of the results store) to use instead of measuring")
    parser.add_argument("--measure", action="store_true",
                        help="measure here even when committed measurements exist")


def stored(path: Path | None):
    """(latest successful row per model, source) from a CSV or the committed folder; None if not all six."""
    import pandas as pd

    from effkit.report.select import select_latest

    files = [path] if path is not None else sorted(STORED.glob("*.csv")) if STORED.is_dir() else []
    frames = []
    for f in files:
        try:
            frames.append(pd.read_csv(f))
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
            C.fail(f"cannot read measurements {f}: {e}")
    if not frames:
        return None
    df = pd.concat(frames, ignore_index=True)
    if "model" not in df.columns or "latency_ms" not in df.columns:
        C.fail(f"measurements in {', '.join(map(str, files))} need model and latency_ms columns")
    df = df[df["model"].isin(MODELS)]
    if "batch_size" in df.columns:
        df = df[pd.to_numeric(df["batch_size"], errors="coerce") == 1]
    if "input_shape" in df.columns:
        df = df[df["input_shape"].astype(str) == "1x3x224x224"]  # the analysis columns are at 224x224
    if "gpu_name" in df.columns and df["gpu_name"].notna().any():
        df = df[df["gpu_name"].notna()]  # GPU rows first: the paper's claims are about GPUs
    if df.empty:
        return None
    rows, _ = select_latest(df)
    if set(rows["model"]) != set(MODELS):
        if path is not None:
            C.fail(f"{path} lacks successful batch-1 rows for "
                   + ", ".join(sorted(set(MODELS) - set(rows["model"]))))
        return None
    return rows, "stored: " + ", ".join(os.path.relpath(f, REPO) for f in files)


def analyse(input_size: int):
    import pandas as pd

    import effkit

    rows = []
    for name in MODELS:
        p = effkit.profile(name, (1, 3, input_size, input_size))
        rows.append({"model": name, **p.totals.as_dict()})
    return pd.DataFrame(rows)


def table(static, timed, source: str):
    import pandas as pd

    from effkit.report.accuracy import accuracy_of, load_accuracy
    from effkit.report.chart_data import family_of

    df = static.merge(timed[C.timing_columns(timed)], on="model")
    df.insert(1, "family", [family_of(m) for m in df["model"]])
    df.insert(2, "source", source)
    df["machine"] = C.describe_machine(timed)
    df["intensity_flop_per_byte"] = df["flops"] / df["mac_bytes"]  # arithmetic intensity (roofline x axis)
    df["mac_per_mflop"] = df["mac"] / (df["flops"] / 1e6)
    df["gflops_per_s"] = df["flops_per_s"] / 1e9
    ref = df.set_index("model").loc["resnet50"]
    df["latency_vs_resnet50"] = df["latency_ms"] / ref["latency_ms"]
    df["flops_vs_resnet50"] = df["flops"] / ref["flops"]
    df["mac_vs_resnet50"] = df["mac"] / ref["mac"]
    acc = load_accuracy()
    df["top1"] = [accuracy_of(acc, m) for m in df["model"]]
    paper = pd.DataFrame([{"model": m, **dict(zip(TABLE4_COLUMNS, v))} for m, v in TABLE4.items()])
    df = df.merge(paper, on="model")
    df["readme_imagenet_ms"] = df["model"].map(README_MS)
    df["readme_ms_vs_resnet50"] = df["readme_imagenet_ms"] / README_MS["resnet50"]
    df["paper_gflops_per_s_vs_resnet50"] = df["paper_gflops_per_s"] / TABLE4["resnet50"][5]
    df["gflops_per_s_vs_resnet50"] = df["gflops_per_s"] / ref["flops_per_s"] * 1e9
    return df


def rank_correlation(df, x: str, y: str = "latency_ms") -> float:
    return float(df[x].rank().corr(df[y].rank()))


def figure(df):
    from effkit.report.plots import FAMILY_STYLES

    fig, axes = C.new_figure(2, 2, figsize=(12, 9))
    (a, b), (c, d) = axes

    def scatter(ax, x, xlabel):
        for rec in df.itertuples(index=False):
            colour, marker = FAMILY_STYLES[rec.family]
            ax.scatter(getattr(rec, x), rec.latency_ms, color=colour, marker=marker, s=40, edgecolors="black",
                       linewidths=0.4, zorder=3)
            ax.annotate(rec.model, (getattr(rec, x), rec.latency_ms), xytext=(4, 3), textcoords="offset points",
                        fontsize=7)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("measured latency [ms], batch 1")
        ax.grid(True, alpha=0.3)
        ax.margins(x=0.2, y=0.15)

    df = df.assign(gflops=df["flops"] / 1e9, mac_m=df["mac"] / 1e6)
    scatter(a, "gflops", "FLOPs [G] (effkit, 224x224)")
    a.set_title(f"(a) latency vs FLOPs (rank corr. {rank_correlation(df, 'flops'):+.2f})", fontsize=9)
    scatter(b, "mac_m", "MAC, all ops [M elements]")
    b.set_title(f"(b) latency vs MAC (rank corr. {rank_correlation(df, 'mac'):+.2f})", fontsize=9)

    xs = range(len(df))
    c.bar([x - 0.2 for x in xs], df["latency_vs_resnet50"], 0.4, color="#d62728", label="measured here")
    c.bar([x + 0.2 for x in xs], df["readme_ms_vs_resnet50"], 0.4, color="#7f7f7f",
          label="VoVNet.pytorch README, TITAN X")
    c.axhline(1.0, color="black", lw=1)
    c.set_xticks(list(xs), df["model"], fontsize=7, rotation=20)
    c.set_ylabel("ImageNet latency / ResNet-50's")
    c.set_title("(c) classifier latency relative to ResNet-50", fontsize=9)
    c.legend(fontsize=7)
    c.grid(True, axis="y", alpha=0.3)

    d.bar([x - 0.2 for x in xs], df["gflops_per_s_vs_resnet50"], 0.4, color="#d62728", label="measured here")
    d.bar([x + 0.2 for x in xs], df["paper_gflops_per_s_vs_resnet50"], 0.4, color="#7f7f7f",
          label="paper Table 4 (RefineDet320, TITAN X)")
    d.axhline(1.0, color="black", lw=1)
    d.set_xticks(list(xs), df["model"], fontsize=7, rotation=20)
    d.set_ylabel("achieved GFLOP/s / ResNet-50's")
    d.set_title("(d) computation efficiency relative to ResNet-50", fontsize=9)
    d.legend(fontsize=7)
    d.grid(True, axis="y", alpha=0.3)
    fig.suptitle(f"Backbones, Table-4 style — {df['machine'].iloc[0]} ({df['source'].iloc[0]})", fontsize=10)
    return fig


def main(argv=None) -> int:
    args = C.parse_args(__doc__, argv, extra_args)
    st = C.settings(args.quick)
    found = None if args.measure else stored(args.measurements)
    if found is not None:
        timed, source = found
        size = 224
        C.note(f"using {source}")
    else:
        size = 32 if st.quick else 224
        C.note(f"no committed measurements of all six models: measuring here at {size}x{size}")
        timed = C.measure(MODELS, st, input_size=size)
        source = f"measured here ({'quick, ' if st.quick else ''}{size}x{size})"
    df = table(analyse(size), timed, source)
    C.write(df, figure(df), args.out, "backbone_comparison")
    print(f"rank correlation with latency: FLOPs {rank_correlation(df, 'flops'):+.2f}, "
          f"MAC {rank_correlation(df, 'mac'):+.2f}, params {rank_correlation(df, 'params'):+.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
