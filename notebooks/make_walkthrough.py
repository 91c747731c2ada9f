"""Build notebooks/walkthrough.ipynb (stored without outputs) from the cells below.

Run ``python notebooks/make_walkthrough.py`` after editing a cell; tests/test_notebooks.py executes the
notebook and checks that the committed file is what this script writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOK = Path(__file__).resolve().parent / "walkthrough.ipynb"

CELLS: list[tuple[str, str]] = [
    ("md", """\
# effkit walkthrough: what FLOPs hide

The VoVNet paper (arXiv 1904.09730) argues that FLOPs and parameter counts are indirect proxies: what decides
inference time and energy is each layer's **memory access cost (MAC)** and how busy it keeps the device
(**achieved FLOP/s**). This notebook walks through effkit on small, fast examples:

1. **profile** a model layer by layer (static counting on the meta device: no compute, no GPU),
2. **compare** models, statically and measured,
3. the paper's **Figure 3** from those measurements,
4. the **per-layer view**: DenseNet's MAC growing inside a dense block, OSA's flat profile,
5. a **MAC check**: the paper's numbers, and a regression gate for your own model.

Everything runs on a CPU in well under a minute."""),
    ("code", """\
import importlib.resources
import warnings
from pathlib import Path

import pandas as pd
from IPython.display import Image, display

import effkit
from effkit.report.figures import figure_png_bytes
from effkit.report.plots import figure3, layers_figure

pd.set_option("display.width", 160)
pd.set_option("display.max_columns", 20)


def show(fig):
    \"\"\"Display a matplotlib Figure built without pyplot.\"\"\"
    display(Image(figure_png_bytes(fig, dpi=80)))"""),
    ("md", """\
## 1. Profile

`effkit.profile` runs the model once on PyTorch's meta device and counts, per layer, `params`, `mult_adds`,
`flops` (= 2 x mult-adds for convs), `mac` (elements read and written), `paper_mac` (the paper's equation (1),
conv and linear layers only) and `activations`. CIFAR models default to 32x32 inputs."""),
    ("code", """\
dense = effkit.profile("densenet40_cifar")
dense.totals"""),
    ("code", """\
# One row per module call; mac_min is the paper's lower bound for a conv at its FLOPs (reached at ci = co).
dense.layers[["name", "type", "input_shape", "output_shape", "flops", "mac", "paper_mac", "mac_min", "mac_ratio"]].head(8)"""),
    ("code", """\
# Aggregated to depth 2: the stem, each dense block, each transition.
dense.by_depth(2)[["name", "type", "layers", "params", "flops", "mac", "paper_mac"]]"""),
    ("md", """\
## 2. Compare

### Static: DenseNet-40 and its OSA versions

The paper replaces each dense block of DenseNet-40 by a one-shot-aggregation (OSA) module and reports the
MAC of equation (1) falling from 3.7M to 2.5M. effkit's zoo has two OSA versions (layout stated in
`effkit/models/cifar.py` and `experiments/README.md`)."""),
    ("code", """\
names = ["densenet40_cifar", "osa40_cifar_12", "osa40_cifar_5x43"]
static = pd.DataFrame([{"model": n, **effkit.profile(n).totals.as_dict()} for n in names]).set_index("model")
static.assign(paper_mac_M=static["paper_mac"] / 1e6, params_M=static["params"] / 1e6)[
    ["params_M", "flops", "paper_mac_M", "mac", "activations"]]"""),
    ("md", """\
### Measured

Measurements need the device they describe. If the repository has committed measurements
(`effkit/data/measurements/*.csv`, e.g. from a GPU) they are used; otherwise a **small CPU measurement** is
made here with tiny settings (96x96 inputs, 3 timed iterations): it shows the mechanics, not the paper's GPU
numbers."""),
    ("code", """\
stored_dir = Path(str(importlib.resources.files("effkit") / "data" / "measurements"))
stored = sorted(stored_dir.glob("*.csv")) if stored_dir.is_dir() else []
if stored:
    results = pd.concat([pd.read_csv(f) for f in stored], ignore_index=True)
    label = "committed measurements: " + ", ".join(f.name for f in stored)
else:
    results = effkit.compare(
        ["resnet18", "densenet121", "vovnet39"], input_size=96, device="cpu", energy=False,
        warmup_s=0, warmup_iters=2, min_iters=3, min_time_s=0,
    )
    label = "CPU measurement made in this notebook (96x96, batch 1, 3 iterations): not GPU numbers"
print(label)
shown = ["model", "device", "gpu_name", "input_shape", "batch_size", "flops", "mac", "latency_ms", "fps",
         "flops_per_s", "energy_j_per_img", "energy_status"]
results[[c for c in shown if c in results.columns]]"""),
    ("md", """\
## 3. Figure 3

The paper's four panels: accuracy against inference time, against achieved GFLOP/s and against energy per
image, and energy against GFLOP/s. Accuracy comes from the bundled reference table (ImageNet top-1 of the
published weights, with sources). Where something was not measured (energy on a CPU without RAPL) the
figure leaves it out and says so in its notes."""),
    ("code", """\
# One setup per figure (machine, batch size, dtype, input size): the committed runs hold batch 1 and 8.
fig3 = figure3(results, batch_size=1, title=f"Figure 3 — {label}, batch 1")
show(fig3)
fig3.effkit_notes"""),
    ("code", "fig3.data"),
    ("md", """\
## 4. Per-layer view

MAC and FLOPs along the depth, grouped by block, DenseNet-40 beside its 5-layer OSA version: inside a dense
block every layer reads all earlier feature maps, so its MAC climbs; inside an OSA module the layers have
ci = co and sit on the MAC lower bound (bottom row). The per-layer latency of the OSA model (right) is measured
here on the CPU with timing hooks (compare layers with each other, not with whole-model latency)."""),
    ("code", """\
from effkit.measurement.api import measure_layers

osa = effkit.profile("osa40_cifar_5x43")
osa_times = measure_layers("osa40_cifar_5x43", device="cpu", iters=3, warmup_iters=1)
show(layers_figure(dense, compare=osa, measured=(None, osa_times)))"""),
    ("code", """\
# The slowest layers of the OSA model on this CPU, with their achieved FLOP/s.
osa_times.dropna(subset=["latency_ms"]).nlargest(5, "latency_ms")[["name", "type", "flops", "mac", "latency_ms", "flops_per_s"]]"""),
    ("md", """\
## 5. MAC check

First the paper's own numbers: equation (1) summed over DenseNet-40's convs is 3.68M (the paper: 3.7M), and
every intermediate conv of an OSA module reaches the bound `mac_min` (ratio 1)."""),
    ("code", """\
assert round(dense.totals.paper_mac / 1e6, 1) == 3.7
osa_convs = osa.layers[osa.layers["type"] == "Conv2d"]
inner = osa_convs[osa_convs["name"].str.contains(r"layers\\.[1-9]\\.conv")]
print(f"DenseNet-40 paper MAC {dense.totals.paper_mac / 1e6:.2f}M; OSA 5x43 {osa.totals.paper_mac / 1e6:.2f}M "
      f"(paper: 2.5M); OSA inner convs MAC / mac_min: {inner['mac_ratio'].min():.3f}-{inner['mac_ratio'].max():.3f}")"""),
    ("md", """\
Then a regression gate: record a model's counts once as a baseline, and `effkit.check` fails when a change makes
MAC grow, even when FLOPs barely move. Here the "change" is the paper's story run backwards: the OSA model's
modules are turned back into dense blocks (DenseNet-40). FLOPs grow by 6 %, MAC by more than double.
(On the command line: `effkit baseline save` and `effkit check`; see `docs/regression-checks.md`.)"""),
    ("code", """\
effkit.save_baseline({"classifier": effkit.create_model("osa40_cifar_5x43")}, "walkthrough-baseline.json",
                     input_shape=(1, 3, 32, 32), force=True)
result = effkit.check(effkit.create_model("densenet40_cifar"), "walkthrough-baseline.json", name="classifier",
                      metrics=("mac", "paper_mac", "flops", "params"))
print("passed:", result.passed)
result.totals"""),
    ("code", """\
# Which layers moved: the dense layers appear, the OSA layers disappear.
result.layers["change"].value_counts()"""),
    ("code", """\
assert not result.passed
assert effkit.check(effkit.create_model("osa40_cifar_5x43"), "walkthrough-baseline.json", name="classifier").passed
Path("walkthrough-baseline.json").unlink()"""),
]


def build() -> nbformat.NotebookNode:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, text) in enumerate(CELLS):
        cell = new_markdown_cell(text) if kind == "md" else new_code_cell(text)
        cell["id"] = f"cell-{i:02d}"  # fixed ids keep the file byte-stable between builds
        nb.cells.append(cell)
    return nb


def text() -> str:
    return nbformat.writes(build()) + "\n"


def main() -> int:
    NOTEBOOK.write_text(text(), encoding="utf-8")
    print(f"wrote {NOTEBOOK}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
