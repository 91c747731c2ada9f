"""1x1 bottleneck ablation on VoVNet-27-slim (paper Table 3): params, FLOPs, MAC, activations, latency.

The paper puts a 1x1 conv with half the input channels in front of every 3x3 conv of the OSA modules: its
DSOD300 detector drops from 5.9M to 4.8M params and 5.6 to 4.6 GFLOPs, yet slows from 14 to 18 ms and grows
from 825 to 895 MB. Here the backbones alone (ImageNet classifier, 224x224, batch 1) are analysed by effkit
and timed on this machine (GPU if there is one, else CPU: the CSV's ``machine`` column says which).
"""

from __future__ import annotations

import sys

import _common as C

MODELS = ("vovnet27_slim", "vovnet27_slim_bottleneck")
# Paper Table 3 (paper_numbers.md): the whole DSOD300 detector on a TITAN X (Pascal).
PAPER = {
    "vovnet27_slim": dict(paper_gflops=5.6, paper_latency_ms=14.0, paper_params_m=5.9, paper_memory_mb=825.0,
                          paper_map=74.8),
    "vovnet27_slim_bottleneck": dict(paper_gflops=4.6, paper_latency_ms=18.0, paper_params_m=4.8,
                                     paper_memory_mb=895.0, paper_map=71.1),
}
# (our column, paper column or None, label) for the ratio chart
RATIOS = [
    ("params", "paper_params_m", "params"),
    ("flops", "paper_gflops", "FLOPs"),
    ("paper_mac", None, "paper MAC\n(conv+linear)"),
    ("mac", None, "MAC\n(all ops)"),
    ("activations", "paper_memory_mb", "activations\n(paper: memory)"),
    ("conv_layers", None, "conv layers"),
    ("latency_ms", "paper_latency_ms", "latency"),
]


def analyse(input_size: int):
    import pandas as pd

    import effkit

    rows = []
    for name in MODELS:
        p = effkit.profile(name, (1, 3, input_size, input_size))
        convs = p.layers[p.layers["type"] == "Conv2d"]
        rows.append({"model": name, "bottleneck": name.endswith("_bottleneck"), **p.totals.as_dict(),
                     "conv_layers": len(convs), "mean_conv_mac_ratio": convs["mac_ratio"].mean()})
    return pd.DataFrame(rows)


def table(static, timed):
    import pandas as pd

    df = static.merge(timed[C.timing_columns(timed)], on="model")
    df = df.merge(pd.DataFrame([{"model": m, **v} for m, v in PAPER.items()]), on="model")
    plain = df.set_index("model").loc["vovnet27_slim"]
    for ours, paper, _ in RATIOS:
        df[f"{ours}_vs_plain"] = df[ours] / plain[ours]
        if paper:
            df[f"{paper}_vs_plain"] = df[paper] / plain[paper]
    df["machine"] = C.describe_machine(timed)
    return df


def figure(df):
    fig, axes = C.new_figure(2, figsize=(13, 4.6))
    a, b = axes[0]
    row = df.set_index("model").loc["vovnet27_slim_bottleneck"]
    xs = range(len(RATIOS))
    ours = [row[f"{c}_vs_plain"] for c, _, _ in RATIOS]
    paper = [row[f"{p}_vs_plain"] if p else float("nan") for _, p, _ in RATIOS]
    a.bar([x - 0.2 for x in xs], ours, 0.4, color="#d62728", label=f"effkit, backbone ({df['machine'].iloc[0]})")
    a.bar([x + 0.2 for x in xs], paper, 0.4, color="#7f7f7f", label="paper Table 3, DSOD300 on TITAN X")
    a.axhline(1.0, color="black", lw=1)
    a.set_xticks(list(xs), [label for _, _, label in RATIOS], fontsize=7)
    a.set_ylabel("with bottleneck / without")
    a.set_title("(a) what the 1x1 bottleneck changes")
    a.legend(fontsize=7, loc="upper left")
    a.grid(True, axis="y", alpha=0.3)

    colours = ["#1f77b4", "#d62728"]
    for i, name in enumerate(MODELS):
        r = df.set_index("model").loc[name]
        b.bar(i, r["latency_ms"], 0.6, yerr=r["latency_iqr_ms"] / 2, capsize=4, color=colours[i])
        b.annotate(f"{r['latency_ms']:.1f} ms (paper: {r['paper_latency_ms']:.0f} ms)\n"
                   f"{r['flops'] / 1e9:.2f} GFLOPs, {r['params'] / 1e6:.2f}M params",
                   (i, r["latency_ms"]), xytext=(0, 6), textcoords="offset points", ha="center", fontsize=7)
    b.set_xticks([0, 1], list(MODELS), fontsize=8)
    b.set_ylabel("latency [ms] (median, IQR bars)")
    b.set_title(f"(b) measured, input {df['input_shape'].iloc[0]}", fontsize=9)
    b.margins(y=0.25)
    b.grid(True, axis="y", alpha=0.3)
    fig.suptitle("VoVNet-27-slim: 1x1 bottleneck ablation", fontsize=11)
    return fig


def main(argv=None) -> int:
    args = C.parse_args(__doc__, argv)
    st = C.settings(args.quick)
    size = 64 if st.quick else 224
    C.note(f"analysing {', '.join(MODELS)} at {size}x{size}")
    static = analyse(size)
    timed = C.measure(MODELS, st, input_size=size)
    df = table(static, timed)
    C.write(df, figure(df), args.out, "bottleneck_ablation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
