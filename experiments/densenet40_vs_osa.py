"""DenseNet-40 vs its OSA versions on CIFAR-10 shapes: params, FLOPs, paper MAC, all-op MAC and measured latency.

The paper (section 3.2) replaces DenseNet-40's dense blocks by OSA modules and reports the MAC of its
equation (1) falling from 3.7M to 2.5M. The OSA layout is effkit's choice (see effkit/models/cifar.py and
experiments/README.md): each OSA module outputs the width of the dense block it replaces, and DenseNet-40's
stem, transitions and head are kept. Latency is measured on this machine (GPU if there is one, else CPU:
the CSV's ``machine`` column says which).
"""

from __future__ import annotations

import math
import sys

import _common as C

MODELS = ("densenet40_cifar", "osa40_cifar_12", "osa40_cifar_5x43")
LAYOUT = {
    "densenet40_cifar": "3 dense blocks x 12 layers, growth 12",
    "osa40_cifar_12": "3 OSA modules x 12 layers x 12 ch",
    "osa40_cifar_5x43": "3 OSA modules x 5 layers x 43 ch",
}
# Paper section 3.2 (paper_numbers.md): MAC by equation (1), and CIFAR-10 (C10+) error in percent.
PAPER_MAC = {"densenet40_cifar": 3.7e6, "osa40_cifar_12": math.nan, "osa40_cifar_5x43": 2.5e6}
PAPER_C10_ERROR = {"densenet40_cifar": 5.24, "osa40_cifar_12": 100 - 93.6, "osa40_cifar_5x43": 5.44}

COUNTS = ["params", "mult_adds", "flops", "paper_mac", "mac", "mac_bytes", "activations"]


def analyse():
    """Static counts of the three models at 1x3x32x32, and their per-conv paper MAC along the depth."""
    import pandas as pd

    import effkit

    totals, convs = [], {}
    for name in MODELS:
        p = effkit.profile(name)
        totals.append({"model": name, **p.totals.as_dict()})
        layers = p.layers[p.layers["type"] == "Conv2d"]
        convs[name] = layers["paper_mac"].to_numpy()
    return pd.DataFrame(totals), convs


def table(totals, timed):
    ref = totals.set_index("model").loc["densenet40_cifar"]
    df = totals.merge(timed[C.timing_columns(timed)], on="model")
    df.insert(1, "layout", df["model"].map(LAYOUT))
    for col in ("params", "flops", "paper_mac", "mac", "activations"):
        df[f"{col}_vs_densenet40"] = df[col] / ref[col]
    df["paper_mac_published"] = df["model"].map(PAPER_MAC)
    df["paper_c10_error_pct"] = df["model"].map(PAPER_C10_ERROR)
    df["latency_ms_per_img"] = df["latency_ms"] / df["batch_size"]
    df["machine"] = C.describe_machine(timed)
    return df


def figure(df, convs):
    fig, axes = C.new_figure(3, figsize=(16, 4.6))
    a, b, c = axes[0]
    colours = {"densenet40_cifar": "#1f77b4", "osa40_cifar_12": "#ff7f0e", "osa40_cifar_5x43": "#d62728"}

    one = df.drop_duplicates("model")
    metrics = ["params", "flops", "paper_mac", "mac", "activations"]
    width = 0.38
    for i, name in enumerate(MODELS[1:]):
        row = one[one["model"] == name].iloc[0]
        xs = [k + (i - 0.5) * width for k in range(len(metrics))]
        a.bar(xs, [row[f"{m}_vs_densenet40"] for m in metrics], width, color=colours[name], label=name)
    a.axhline(1.0, color="black", lw=1, label="DenseNet-40 = 1")
    a.plot([2 - width, 2 + width], [2.5 / 3.7] * 2, color="black", ls="--", lw=1.5,
           label="paper: MAC 3.7M -> 2.5M (x0.68)")
    a.set_xticks(range(len(metrics)), ["params", "FLOPs", "paper MAC\n(conv+linear)", "MAC\n(all ops)",
                                       "activations"], fontsize=8)
    a.set_ylabel("relative to DenseNet-40")
    a.set_title("(a) static counts, 1x3x32x32")
    a.set_ylim(0, 1.3)
    a.legend(fontsize=7, loc="upper center", ncol=2)
    a.grid(True, axis="y", alpha=0.3)

    for name in MODELS:
        values = convs[name]
        b.plot(range(1, len(values) + 1), values / 1e3, "o-", ms=2.5, lw=0.8, color=colours[name],
               label=f"{name} (convs: {values.sum() / 1e6:.2f}M)")
    b.set_xlabel("conv layer, in execution order")
    b.set_ylabel("paper MAC per conv [K elements]")
    b.set_title("(b) equation (1) per conv along the depth")
    b.legend(fontsize=7)
    b.grid(True, alpha=0.3)

    batches = sorted(df["batch_size"].unique())
    width = 0.8 / len(MODELS)
    for i, name in enumerate(MODELS):
        part = df[df["model"] == name].set_index("batch_size").loc[batches]
        xs = [k + (i - 1) * width for k in range(len(batches))]
        per_img = part["latency_ms"] / part.index
        err = part["latency_iqr_ms"] / 2 / part.index
        c.bar(xs, per_img, width, yerr=err, capsize=3, color=colours[name], label=name)
    c.set_xticks(range(len(batches)), [f"batch {b}" for b in batches])
    c.set_ylabel("latency [ms / image] (median, IQR bars)")
    c.set_title(f"(c) measured on {df['machine'].iloc[0]}", fontsize=9)
    c.legend(fontsize=7)
    c.grid(True, axis="y", alpha=0.3)
    fig.suptitle("DenseNet-40 vs OSA versions (CIFAR-10 shapes)", fontsize=11)
    return fig


def main(argv=None) -> int:
    args = C.parse_args(__doc__, argv)
    st = C.settings(args.quick)
    C.note("analysing " + ", ".join(MODELS))
    totals, convs = analyse()
    timed = C.measure(MODELS, st, batch_sizes=(1,) if st.quick else (1, 16))
    df = table(totals, timed)
    C.write(df, figure(df, convs), args.out, "densenet40_vs_osa")
    return 0


if __name__ == "__main__":
    sys.exit(main())
