"""MAC lower bound: at fixed FLOPs B, a conv's memory access cost is smallest when ci = co (the paper's bound).

For a k x k conv on an h x w map, MAC = hw(ci + co) + k^2 ci co and B = k^2 hw ci co. With ci * co fixed
(so B fixed), hw(ci + co) >= 2 hw sqrt(ci co), hence MAC >= 2 sqrt(hw B / k^2) + B / hw, with equality
exactly at ci = co. This script builds real single-conv models over a sweep of ci/co at fixed ci * co,
runs each through ``effkit.profile`` (not just the formula), and plots the MAC effkit counts against the
bound.
"""

from __future__ import annotations

import math
import sys

import _common as C

# ci * co = 3600 = 60^2 has many divisor pairs, so the sweep reaches ratios from 1/16 to 16 with ci = co = 60.
PRODUCT = 3600
FULL_SHAPES = ((3, 32), (3, 8), (1, 32))  # (kernel, map side)
QUICK_SHAPES = ((3, 8),)


def channel_pairs(product: int, max_ratio: float, quick: bool) -> list[tuple[int, int]]:
    pairs = [(ci, product // ci) for ci in range(1, product + 1) if product % ci == 0]
    pairs = [(ci, co) for ci, co in pairs if 1 / max_ratio <= ci / co <= max_ratio]
    if quick:  # the ends and the middle are enough to check the shape of the curve
        mid = len(pairs) // 2
        pairs = [pairs[0], pairs[mid - 1], pairs[mid], pairs[mid + 1], pairs[-1]]
    return pairs


def mac_formula(hw: int, ci: int, co: int, k: int) -> int:
    """The paper's equation (1) for a stride-1, same-padded conv without bias."""
    return hw * (ci + co) + k * k * ci * co


def mac_bound(hw: int, flops_b: int, k: int) -> float:
    """The paper's lower bound at FLOPs ``B = k^2 hw ci co``: 2 sqrt(hw B / k^2) + B / hw."""
    return 2 * math.sqrt(hw * flops_b / (k * k)) + flops_b / hw


def sweep(quick: bool):
    import pandas as pd
    from torch import nn

    import effkit

    rows = []
    for k, side in (QUICK_SHAPES if quick else FULL_SHAPES):
        hw = side * side
        for ci, co in channel_pairs(PRODUCT, 16, quick):
            conv = nn.Conv2d(ci, co, k, padding=k // 2, bias=False)
            p = effkit.profile(conv, (1, ci, side, side))
            layer = p.layers.iloc[0]
            b = k * k * hw * ci * co  # the seed's B: multiply-adds of the conv
            rows.append({
                "kernel": k, "h": side, "w": side, "ci": ci, "co": co, "ratio_ci_co": ci / co,
                "params": p.totals.params, "mult_adds": p.totals.mult_adds, "flops": p.totals.flops,
                "mac": p.totals.mac, "mac_formula": mac_formula(hw, ci, co, k), "mac_min": mac_bound(hw, b, k),
                "mac_min_effkit": layer["mac_min"], "mac_over_min": p.totals.mac / mac_bound(hw, b, k),
            })
    df = pd.DataFrame(rows)
    df["is_min"] = df.groupby(["kernel", "h"])["mac"].transform("min") == df["mac"]
    return df


def figure(df):
    fig, axes = C.new_figure(2, figsize=(12, 4.6))
    a, b = axes[0]
    colours = ["#d62728", "#1f77b4", "#2ca02c"]
    for colour, ((k, side), part) in zip(colours, df.groupby(["kernel", "h"], sort=False)):
        label = f"{k}x{k} conv, {side}x{side} map, B = {part['mult_adds'].iloc[0] / 1e6:.1f}M mult-adds"
        a.plot(part["ratio_ci_co"], part["mac"] / 1e3, "o-", ms=4, color=colour, label=f"effkit MAC: {label}")
        a.axhline(part["mac_min"].iloc[0] / 1e3, color=colour, ls="--", lw=1)
        b.plot(part["ratio_ci_co"], part["mac_over_min"], "o-", ms=4, color=colour, label=label)
    a.plot([], [], "k--", lw=1, label="lower bound 2 sqrt(hwB/k^2) + B/hw")
    for ax in (a, b):
        ax.set_xscale("log", base=2)
        ax.axvline(1.0, color="black", lw=0.8, alpha=0.5)
        ax.set_xlabel("ci / co  (ci x co = 3600 fixed, so FLOPs fixed)")
        ax.grid(True, which="both", alpha=0.3)
    a.set_yscale("log")
    a.set_ylabel("MAC [K elements] (effkit.profile of a real conv)")
    a.set_title("(a) MAC at fixed FLOPs and its lower bound", fontsize=9)
    a.legend(fontsize=6.5, loc="upper center")
    b.set_ylabel("MAC / lower bound")
    b.set_title("(b) distance from the bound: 1 exactly at ci = co", fontsize=9)
    b.legend(fontsize=6.5, loc="upper center")
    fig.suptitle("MAC is minimal at ci = co for a fixed computation (VoVNet paper, seed 003)", fontsize=11)
    return fig


def main(argv=None) -> int:
    args = C.parse_args(__doc__, argv)
    df = sweep(args.quick)
    bad = df[df["mac"] != df["mac_formula"]]
    if len(bad):  # effkit's count and equation (1) must agree exactly on these plain convs
        C.fail(f"effkit MAC differs from equation (1) for {len(bad)} conv(s), e.g. ci={bad['ci'].iloc[0]}")
    C.write(df, figure(df), args.out, "mac_lower_bound")
    for (k, side), part in df.groupby(["kernel", "h"], sort=False):
        best = part.loc[part["mac"].idxmin()]
        print(f"{k}x{k} conv at {side}x{side}: min MAC {best['mac']:.0f} at ci/co = {best['ratio_ci_co']:g} "
              f"(bound {best['mac_min']:.0f}); at ci/co = 1/16 MAC is x{part['mac_over_min'].iloc[0]:.2f} the bound")
    return 0


if __name__ == "__main__":
    sys.exit(main())
