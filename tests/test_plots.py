"""Charts: what each panel plots is read back from the Axes and compared with numbers worked out by hand."""

from __future__ import annotations

import math
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import assert_bad_input
from torch import nn

from effkit.devices import DeviceSpec, check_peaks, device_spec, load_device_specs
from effkit.errors import BadInputError
from effkit.report import figures, plots, select
from effkit.report.chart_data import family_of
from effkit.report.figures import save_figure
from effkit.report.plots import figure3, layers_figure
from effkit.report.roofline import roofline
from effkit.report.select import select_latest

SMALL = (5, 4)  # inches: small figures keep the tests fast

# Accuracy given by hand, so the tests do not depend on the bundled table.
ACC = {"vovnet39": 76.0, "densenet201": 77.0, "resnet50": 75.0}


def _results() -> pd.DataFrame:
    return pd.DataFrame({
        "model": ["vovnet39", "densenet201", "resnet50", "mystery", "vovnet39", "densenet201"],
        "family": ["vovnet", "densenet", "resnet", "other", "vovnet", "densenet"],
        "status": ["ok", "ok", "ok", "ok", "ok", "failed"],
        "batch_size": [2, 2, 2, 2, 2, 2],
        "dtype": ["float32"] * 6,
        "device": ["cuda:0"] * 6,
        "gpu_name": ["NVIDIA H100 80GB HBM3"] * 6,
        # vovnet39's first row is older than its second; the failed densenet201 row is the newest of all
        "timestamp": ["2025-01-01T00:00:00", "2025-01-01T00:00:00", "2025-01-01T00:00:00",
                      "2025-01-01T00:00:00", "2025-01-02T00:00:00", "2025-01-03T00:00:00"],
        "latency_ms": [30.0, 78.0, 24.0, 10.0, 20.0, 1.0],
        "flops": [16e9, 17e9, 16e9, 2e9, 16e9, 17e9],
        "flops_per_s": [5.0e11, 2.0e11, 6.0e11, 1.0e11, 8.0e11, 1e15],
        "mac_bytes": [2e8, 4e8, 3e8, 1e7, 2e8, 4e8],
        "energy_j_per_img": [1.5, 3.0, np.nan, 0.5, 1.0, 0.1],
        "energy_status": ["ok", "ok", "unavailable: no NVML", "ok", "ok", "ok"],
    })


def _offsets(ax) -> set[tuple[float, float]]:
    pts = set()
    for coll in ax.collections:
        for x, y in np.asarray(coll.get_offsets()):
            pts.add((round(float(x), 9), round(float(y), 9)))
    return pts


def _pts(*pairs) -> set[tuple[float, float]]:
    return {(round(float(x), 9), round(float(y), 9)) for x, y in pairs}


# ------------------------------------------------------------------------------------------------ Figure 3


def test_figure3_panels_labels_and_points():
    fig = figure3(_results(), ACC, figsize=SMALL)
    assert len(fig.axes) == 4
    a, b, c, d = fig.axes
    for ax in (a, b, c):
        assert ax.get_ylabel() == "ImageNet top-1 accuracy [%]"
    assert a.get_xlabel() == "inference time [ms / image]"
    assert b.get_xlabel() == d.get_xlabel() == "achieved computation [FLOP/s]"
    # points in GFLOP/s (800 below), ticks with a prefix: 800 GFLOP/s reads 800G, 2000 reads 2T
    assert b.xaxis.get_major_formatter()(800, 0) == "800G" and d.xaxis.get_major_formatter()(2000, 0) == "2T"
    assert c.get_xlabel() == d.get_ylabel() == "energy [J / image]"
    assert [ax.get_title()[:3] for ax in fig.axes] == ["(a)", "(b)", "(c)", "(d)"]

    # vovnet39: the later row (20 ms per batch of 2 -> 10 ms/img, 8e11 FLOP/s -> 800 GFLOP/s, 1.0 J/img);
    # densenet201: its ok row (78/2 = 39 ms/img, 200 GFLOP/s, 3.0 J); resnet50: 12 ms/img, 600 GFLOP/s, no energy;
    # mystery: no accuracy -> only in (d): (100 GFLOP/s, 0.5 J).
    assert _offsets(a) == _pts((10, 76), (39, 77), (12, 75))
    assert _offsets(b) == _pts((800, 76), (200, 77), (600, 75))
    assert _offsets(c) == _pts((1.0, 76), (3.0, 77))
    assert _offsets(d) == _pts((800, 1.0), (200, 3.0), (100, 0.5))

    assert fig.missing_accuracy == ["mystery"]
    assert fig.missing_energy == ["resnet50"]
    notes = "\n".join(fig.effkit_notes)
    assert "no accuracy for mystery" in notes
    assert "no energy measurement for resnet50" in notes and "no NVML" in notes
    assert "several measurements for vovnet39 (2)" in notes
    assert "status is not ok" in notes  # the failed densenet201 row
    # the notes are on the figure itself, not only in the attribute
    assert "no accuracy for mystery" in fig._supxlabel.get_text()


def test_figure3_title_names_machine_batch_and_dtype():
    fig = figure3(_results(), ACC, figsize=SMALL)
    title = fig._suptitle.get_text()
    assert "NVIDIA H100 80GB HBM3" in title and "batch size 2" in title and "float32" in title
    assert figure3(_results(), ACC, title="mine", figsize=SMALL)._suptitle.get_text() == "mine"


def test_figure3_one_marker_and_colour_per_family_and_labelled_points():
    fig = figure3(_results(), ACC, figsize=SMALL)
    d = fig.axes[3]
    labels = {coll.get_label() for coll in d.collections}
    assert labels == {"VoVNet", "DenseNet", "ResNet", "other"} - {"ResNet"}  # resnet50 has no energy
    colours = {coll.get_label(): tuple(np.round(coll.get_facecolor()[0][:3], 3)) for coll in d.collections}
    assert len(set(colours.values())) == len(colours)
    texts = {t.get_text() for t in d.texts}
    assert {"vovnet39", "densenet201", "mystery"} <= texts


def test_figure3_computes_flops_per_s_when_absent_as_the_registry_defines_it():
    # 2 images of 8e9 FLOPs each: a batch is 16e9 FLOPs; 10 ms per iteration, but 180 images/s sustained (the
    # gaps between iterations count): flops of a batch x fps / batch = 16e9 x 180 / 2 = 1440 GFLOP/s, not the
    # 16e9 / 10 ms = 1600 GFLOP/s a per-iteration latency gives
    df = pd.DataFrame({"model": ["resnet50"], "latency_ms": [10.0], "flops": [16e9], "fps": [180.0],
                       "batch_size": [2]})
    fig = figure3(df, {"resnet50": 76.0}, figsize=SMALL)
    assert _offsets(fig.axes[1]) == _pts((1440, 76))
    assert fig.missing_energy == ["resnet50"]


def test_figure3_without_flops_per_s_or_fps_leaves_the_rate_empty_and_says_so():
    df = pd.DataFrame({"model": ["resnet50", "vovnet39"], "latency_ms": [10.0, 5.0], "flops": [8e9, 12e9],
                       "fps": [np.nan, 100.0], "batch_size": [1, 1]})
    fig = figure3(df, {"resnet50": 76.0, "vovnet39": 77.0}, figsize=SMALL)
    assert _offsets(fig.axes[1]) == _pts((1200, 77))  # 12e9 x 100 / 1; no resnet50 point at 8e9 / 10 ms
    assert any("achieved FLOP/s left empty for resnet50" in n for n in fig.effkit_notes)


def test_figure3_zero_energy_is_missing_not_a_point():
    df = pd.DataFrame({"model": ["a"], "latency_ms": [1.0], "flops_per_s": [1e9], "energy_j_per_img": [0.0]})
    fig = figure3(df, {"a": 50.0}, figsize=SMALL)
    # (c) and (d) have nothing to show: they shrink to a note instead of two empty boxes
    assert set(fig.panels) == {"a", "b"} and len(fig.axes) == 2
    assert fig.missing_energy == ["a"]
    assert any("(c), (d) left out" in n for n in fig.effkit_notes)


def test_figure3_uses_bundled_reference_accuracy_by_default():
    fig = figure3(_results(), figsize=SMALL)
    # VoVNet.pytorch README: VoVNet-39 top-1 error 23.23 % -> 76.77 % accuracy
    assert (10.0, 76.77) in _offsets(fig.axes[0])


@pytest.mark.parametrize("df, match", [
    (pd.DataFrame(), "empty"),
    (pd.DataFrame({"model": ["a"], "flops_per_s": [1.0]}), "latency_ms"),
    (pd.DataFrame({"model": ["a"], "latency_ms": [1.0]}), "flops_per_s"),
    (pd.DataFrame({"latency_ms": [1.0], "flops_per_s": [1.0]}), "model"),
])
def test_figure3_bad_input(df, match):
    with pytest.raises(BadInputError, match=match):
        figure3(df, ACC)


def test_figure3_rejects_non_dataframe():
    with pytest.raises(BadInputError, match="DataFrame"):
        figure3([{"model": "a"}], ACC)


# ------------------------------------------------------------------------------------------------ selection


def test_select_latest_filters_and_picks_latest():
    df = _results()
    df.loc[3, "batch_size"] = 8
    rows, notes = select_latest(df, batch_size=2, device="h100", dtype="fp32")
    assert list(rows["model"]) == ["vovnet39", "densenet201", "resnet50"]
    assert rows.set_index("model").loc["vovnet39", "latency_ms"] == 20.0  # the later row
    assert rows.set_index("model").loc["densenet201", "latency_ms"] == 78.0  # the failed newer one dropped
    assert any("latest" in n for n in notes)


def _mixed_batches() -> pd.DataFrame:
    # vovnet39 measured once more, at batch 32, later than everything else: the "latest row of each model"
    # would put it (20 ms / 32 images) beside the others at batch 2.
    df = _results().iloc[:4].assign(input_shape=["2x3x224x224"] * 4)
    extra = df.iloc[[0]].assign(batch_size=32, input_shape="32x3x224x224", timestamp="2025-02-01T00:00:00",
                                latency_ms=20.0)
    return pd.concat([df, extra], ignore_index=True)


def test_select_setups_never_mix_batch_sizes():
    setups = select.select_setups(_mixed_batches())
    assert [s.key["batch_size"] for s in setups] == ["2", "32"]
    assert [list(s.rows["model"]) for s in setups] == [["vovnet39", "densenet201", "resnet50", "mystery"],
                                                     ["vovnet39"]]
    for s in setups:
        assert set(s.rows["batch_size"]) == {int(s.key["batch_size"])}
    assert setups[0].key == {"machine": "NVIDIA H100 80GB HBM3", "batch_size": "2", "dtype": "float32",
                             "input_size": "3x224x224"}
    # the other keys split too: a CPU row on the same host is another machine, bf16 another dtype
    df = _results().iloc[:3].assign(input_shape="2x3x224x224", cpu_model="Some CPU")
    df.loc[1, "device"] = "cpu"
    df.loc[2, "dtype"] = "torch.bfloat16"
    keys = [(s.key["machine"], s.key["dtype"]) for s in select.select_setups(df)]
    assert keys == [("NVIDIA H100 80GB HBM3", "float32"), ("Some CPU", "float32"),
                    ("NVIDIA H100 80GB HBM3", "bfloat16")]
    df.loc[2, "input_shape"] = "2x3x160x160"
    assert select.select_setups(df, input_size=160)[0].key["input_size"] == "3x160x160"


def test_figure3_refuses_mixed_setups_naming_them_and_how_to_pick():
    with pytest.raises(BadInputError) as e:
        figure3(_mixed_batches(), ACC, figsize=SMALL)
    msg = str(e.value)
    assert "batch size 2" in msg and "batch size 32" in msg and "4 model(s)" in msg
    assert "pick one with batch_size" in msg and "\n" not in msg
    assert e.value.field == "batch_size"
    fig = figure3(_mixed_batches(), ACC, batch_size=32, figsize=SMALL)
    assert list(fig.data["model"]) == ["vovnet39"] and "batch size 32" in fig._suptitle.get_text()
    # 20 ms for 32 images -> 0.625 ms per image
    assert _offsets(fig.panels["a"]) == _pts((0.625, 76))


def test_figure3_marks_accuracy_from_a_small_folder():
    from effkit.evaluate import EvalResult

    small = EvalResult("resnet50", "w.pth", "/data/val_subset", images=500, classes=10, correct1=300,
                       correct5=450, top1=60.0, top5=90.0).accuracy_row()
    full = EvalResult("vovnet39", "w.pth", "/data/val", images=50_000, classes=1_000, correct1=38_000,
                      correct5=46_000, top1=76.0, top5=92.0).accuracy_row()
    acc = pd.DataFrame([small, full, {"model": "densenet201", "top1": 77.0, "dataset": ""}])
    fig = figure3(_results(), acc, figsize=SMALL)
    assert dict(zip(fig.data["model"], fig.data["accuracy_caveat"] != "")) == {
        "vovnet39": False, "densenet201": False, "resnet50": True, "mystery": False}
    a = fig.panels["a"]
    hollow = [c for c in a.collections if "not from ImageNet val" in c.get_label()]
    assert len(hollow) == 1 and _pts(*hollow[0].get_offsets()) == _pts((12, 60))
    assert len(hollow[0].get_facecolor()) == 0 or hollow[0].get_facecolor()[0][3] == 0  # hollow
    assert "resnet50 *" in {t.get_text() for t in a.texts}
    notes = "\n".join(fig.effkit_notes)
    assert "accuracy of resnet50" in notes and "500 images of 10 classes" in notes
    assert "vovnet39 *" not in {t.get_text() for t in a.texts}


def test_select_latest_nothing_left_says_what_there_is():
    with pytest.raises(BadInputError, match="batch size 64.*batch size\\(s\\) 2"):
        select_latest(_results(), batch_size=64)
    with pytest.raises(BadInputError, match="dtype"):
        select_latest(_results(), dtype="bfloat16")


def test_family_of():
    assert family_of("vovnet39") == "VoVNet"
    assert family_of("densenet40_osa") == "VoVNet"  # an OSA variant belongs with one-shot aggregation
    assert family_of("timm:ese_vovnet39b") == "VoVNet"
    assert family_of("x", "densenet") == "DenseNet"
    assert family_of("resnet50", None) == "ResNet"
    assert family_of("alexnet") == "other"


def test_family_of_covers_every_zoo_family_with_its_own_style():
    from effkit.models.registry import get_entry, list_models

    # every zoo family gets its own colour and marker, none falls under "other"
    names = {m: family_of(m, get_entry(m).family) for m in list_models()}
    assert "other" not in names.values(), names
    assert family_of("mobilenet_v2") == "MobileNet" and family_of("x", "shufflenet") == "ShuffleNet"
    assert family_of("efficientnet_b0") == "EfficientNet" and family_of("convnext_tiny") == "ConvNeXt"
    styles = list(plots.FAMILY_STYLES.values())
    assert len(set(c for c, _ in styles)) == len(styles) and len(set(m for _, m in styles)) == len(styles)


# ------------------------------------------------------------------------------------------------ per-layer


def _layers(name: str, macs, flops, groups, mac_min=None) -> pd.DataFrame:
    paths = [(g, f"l{i}") for i, g in enumerate(groups)]
    df = pd.DataFrame({
        "name": [".".join(p) for p in paths], "path": paths, "call": 0,
        "mac": macs, "flops": flops,
        "mac_min": mac_min if mac_min is not None else [math.nan] * len(macs),
    })
    df.attrs["model"] = name
    return df


def _bar_heights(ax) -> list[float]:
    return [float(p.get_height()) for c in ax.containers for p in c]


def test_layers_figure_bars_are_the_per_layer_values():
    # A dense-block-like profile: MAC grows inside the block; a zero row (a Flatten) is dropped.
    dense = _layers("dense", [100, 200, 300, 0, 50], [10, 20, 30, 0, 5], ["stem", "block1", "block1", "block1", "head"],
                    mac_min=[80, 150, 200, math.nan, math.nan])
    fig = layers_figure(dense, figsize=SMALL)
    axes = np.array(fig.axes).reshape(3, 1)
    assert _bar_heights(axes[0][0]) == [100, 200, 300, 50]
    assert _bar_heights(axes[1][0]) == [10, 20, 30, 5]
    assert axes[0][0].get_ylabel().startswith("MAC") and axes[1][0].get_ylabel() == "FLOPs"
    # groups label the x axis in execution order
    assert [t.get_text() for t in axes[2][0].get_xticklabels()] == ["stem", "block1", "head"]
    # MAC against its lower bound, per conv (rows with mac_min)
    lines = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in axes[2][0].lines}
    assert lines["MAC"] == ([0, 1, 2], [100, 200, 300])
    mac_min = next(v for k, v in lines.items() if k.startswith("mac_min"))
    assert mac_min == ([0, 1, 2], [80, 150, 200])


def test_layers_figure_compare_and_measured():
    first = _layers("dense", [100, 200], [10, 20], ["b1", "b1"])
    second = _layers("osa", [150, 150, 150], [30, 30, 30], ["s1", "s1", "s2"])
    # 20 FLOPs in 0.01 ms -> 2e6 FLOP/s; the first layer has no measurement
    measured = pd.DataFrame({"name": ["b1.l1"], "latency_ms": [0.01]})
    fig = layers_figure(first, second, measured)
    axes = np.array(fig.axes).reshape(5, 2)  # mac, flops, latency, FLOP/s, mac vs mac_min; two models
    assert _bar_heights(axes[0][1]) == [150, 150, 150]
    assert _bar_heights(axes[2][0]) == [0.01]
    assert _bar_heights(axes[3][0]) == pytest.approx([2e6])
    assert "osa" in axes[0][1].get_title() and "dense" in axes[0][0].get_title()
    assert any("1 layer(s) without a measurement" in n for n in fig.effkit_notes)


def test_layers_figure_from_a_profile():
    from effkit.analysis.profile import profile

    # conv 4->8, 3x3, same padding on 10x10: MAC = 100*(4+8) + 9*4*8 = 1488 (the paper's formula)
    net = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, bias=False))
    fig = layers_figure(profile(net, (1, 4, 10, 10)), figsize=SMALL)
    assert _bar_heights(fig.axes[0]) == [1488]
    # mac_min at ci = co = ... the bound is below the conv's MAC (ci != co here)
    mac_line = next(ln for ln in fig.axes[2].lines if ln.get_label() == "MAC")
    bound = next(ln for ln in fig.axes[2].lines if ln.get_label().startswith("mac_min"))
    assert list(mac_line.get_ydata()) == [1488]
    assert bound.get_ydata()[0] < 1488


def test_layers_figure_title_names_input_dtype_and_device_and_legend_names_the_groups():
    from effkit.analysis.profile import profile

    net = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1))
    fig = layers_figure(profile(net, (2, 4, 10, 10)), figsize=SMALL)
    title = fig.axes[0].get_title()
    assert "input 2x4x10x10" in title and "float32" in title and "meta device" in title
    # timed layers say where they were timed
    measured = pd.DataFrame({"name": ["0"], "latency_ms": [0.5]})
    measured.attrs["device"] = "NVIDIA H100 80GB HBM3"
    fig = layers_figure(profile(net, (2, 4, 10, 10)), measured=measured, figsize=SMALL)
    assert "timed on NVIDIA H100 80GB HBM3" in fig.axes[0].get_title()
    # one legend entry per group, in the colour of its bars
    layers = _layers("m", [1, 2, 3, 4], [1, 1, 1, 1], ["s1", "s1", "s2", "s3"])
    fig = layers_figure(layers, figsize=SMALL)
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["s1", "s2", "s3"]
    bars = fig.axes[0].patches
    patch_colours = [tuple(np.round(h.get_facecolor(), 3)) for h in legend.legend_handles]
    assert patch_colours == [tuple(np.round(bars[i].get_facecolor(), 3)) for i in (0, 2, 3)]


def test_layers_figure_group_labels_do_not_crowd():
    # 30 stages of two layers on a narrow figure: naming every stage would print the names on top of each other
    groups = [f"stage{i:02d}" for i in range(30) for _ in range(2)]
    fig = _drawn(layers_figure(_layers("m", [1] * 60, [1] * 60, groups), figsize=(3, 4)))
    ax = fig.axes[-1]  # the bottom row carries the labels
    ticks = [t for t in ax.get_xticklabels() if t.get_text()]
    assert len(ticks) >= 3  # still readable, not blanked out
    xs = sorted(ax.transData.transform((t.get_position()[0], 0))[0] for t in ticks)
    min_gap_px = plots.GROUP_LABEL_PT * 1.3 * fig.dpi / 72  # one rotated line of 6-pt text and some air
    assert min(b - a for a, b in zip(xs, xs[1:])) >= min_gap_px
    assert len(ticks) <= ax.get_window_extent().width / min_gap_px + 1  # no more than fit


def test_layers_figure_bad_input():
    with pytest.raises(BadInputError, match="mac"):
        layers_figure(pd.DataFrame({"name": ["a"], "flops": [1]}))
    with pytest.raises(BadInputError, match="no layer"):
        layers_figure(pd.DataFrame({"name": ["a"], "mac": [0], "flops": [0]}))
    with pytest.raises(BadInputError, match="Profile"):
        layers_figure("vovnet39")


# ------------------------------------------------------------------------------------------------ roofline


def test_roofline_points_and_roofs():
    spec = DeviceSpec("toy", peak_tflops=10.0, bandwidth_gbs=1000.0)  # ridge at 10e12 / 1e12 = 10 FLOP/byte
    pts = pd.DataFrame({"model": ["a", "b"], "flops": [4e9, 1e9], "mac_bytes": [1e8, 1e9],
                        "flops_per_s": [2e12, np.nan]})
    fig = roofline(pts, spec, figsize=SMALL)
    ax = fig.axes[0]
    # a: 4e9 / 1e8 = 40 FLOP/byte at 2000 GFLOP/s (measured);
    # b: 1 FLOP/byte, not measured -> at its bound min(10000, 1000 * 1) = 1000 GFLOP/s
    assert _offsets(ax) == _pts((40, 2000), (1, 1000))
    roof = next(ln for ln in ax.lines if ln.get_label().startswith("roofline"))
    x, y = np.asarray(roof.get_xdata()), np.asarray(roof.get_ydata())
    assert y.max() == pytest.approx(10_000)  # 10 TFLOP/s in GFLOP/s
    low = x < 10
    assert np.allclose(y[low], 1000 * x[low])  # the bandwidth roof: GB/s x FLOP/byte = GFLOP/s
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "FLOP / byte" in ax.get_xlabel() and "[FLOP/s]" in ax.get_ylabel()
    # points are in GFLOP/s; the ticks say it with a prefix: 1000 GFLOP/s is 1T, 10 FLOP/byte is 10 (not 10^1)
    assert ax.yaxis.get_major_formatter()(1000, 0) == "1T" and ax.yaxis.get_major_formatter()(50, 0) == "50G"
    assert ax.xaxis.get_major_formatter()(10, 0) == "10"
    assert any("not measured" in n for n in fig.effkit_notes)
    assert spec.ridge_flop_per_byte == pytest.approx(10)


def test_roofline_per_layer_groups_by_type():
    pts = pd.DataFrame({"name": ["c1", "bn", "c2"], "type": ["Conv2d", "BatchNorm2d", "Conv2d"],
                        "flops": [100.0, 10.0, 50.0], "mac_bytes": [10.0, 20.0, 5.0],
                        "flops_per_s": [1e9, 1e8, 2e9]})
    fig = roofline(pts, {"name": "toy", "peak_tflops": 1.0, "bandwidth_gbs": 100.0}, figsize=SMALL)
    labels = {c.get_label() for c in fig.axes[0].collections}
    assert labels == {"Conv2d", "BatchNorm2d"}
    assert _offsets(fig.axes[0]) == _pts((10, 1), (0.5, 0.1), (10, 2))


def test_roofline_bad_input():
    spec = DeviceSpec("toy", 1.0, 1.0)
    with pytest.raises(BadInputError, match="mac_bytes"):
        roofline(pd.DataFrame({"model": ["a"], "flops": [1.0]}), spec)
    with pytest.raises(BadInputError, match="empty"):
        roofline(pd.DataFrame(columns=["model", "flops", "mac_bytes"]), spec)


def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig


def test_roofline_legend_is_outside_the_axes_so_it_covers_no_roof():
    fig = _drawn(roofline(_results(), device_spec("h100 sxm"), figsize=SMALL))
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    box = ax.get_window_extent()
    assert legend.x0 >= box.x1 - 1  # entirely right of the plotting area
    assert fig.get_window_extent().contains(legend.x1 - 1, legend.y0 + 1)  # and still on the figure


def test_roofline_refuses_the_peaks_of_a_device_not_measured_on():
    rows = _results()
    # measured on an H100 (its table regex matches "NVIDIA H100 80GB HBM3"): the TITAN X's roofs are wrong
    with pytest.raises(BadInputError, match="peaks of TITAN X .Pascal. are not those") as e:
        roofline(rows, device_spec("titan x pascal"), figsize=SMALL)
    assert e.value.field == "allow_other_device" and "allow_other_device" in str(e.value)
    assert roofline(rows, device_spec("titan x pascal"), allow_other_device=True, figsize=SMALL)
    # rows timed on the CPU of a GPU host are not the GPU's either
    cpu = rows.assign(device="cpu", cpu_model="Some CPU")
    with pytest.raises(BadInputError, match="Some CPU"):
        roofline(cpu, device_spec("h100 sxm"), figsize=SMALL)
    # the user's own peaks, and rows that record no device, cannot be checked and pass
    assert roofline(cpu, device_spec(peak_tflops=1.0, bandwidth_gbs=50.0), figsize=SMALL)
    assert roofline(rows.drop(columns=["gpu_name", "device"]), device_spec("titan x pascal"), figsize=SMALL)


def test_cli_roofline_refuses_another_devices_peaks_unless_asked(tmp_path, results_csv, cli):
    out = tmp_path / "r.png"
    res = cli("plot", "roofline", "--csv", str(results_csv), "--device-spec", "titan x pascal",
              "-o", str(out))
    assert_bad_input(res)
    assert "--any-device" in res.stderr and "--device-spec" in res.stderr and not out.exists()
    code, _, err = cli("plot", "roofline", "--csv", str(results_csv), "--device-spec", "titan x pascal",
                       "--any-device", "-o", str(out))
    assert code == 0, err


def test_device_specs_have_sources_and_datasheet_values():
    table = load_device_specs()
    assert table["source"].str.len().min() > 20
    h100 = table.set_index("name").loc["H100 SXM"]
    # NVIDIA H100 SXM datasheet (dense): FP32 66.9, TF32 494.7, BF16/FP16 989.4 TFLOP/s; 3.35 TB/s; 700 W
    assert (h100.fp32_tflops, h100.tf32_tflops, h100.bf16_tflops, h100.fp16_tflops) == (66.9, 494.7, 989.4, 989.4)
    assert (h100.bandwidth_gbs, h100.tdp_w) == (3350, 700)
    assert table.set_index("name").loc["H200", "bandwidth_gbs"] == 4800
    titan = table.set_index("name").loc["TITAN X (Pascal)"]
    assert (titan.fp32_tflops, titan.bandwidth_gbs, titan.tdp_w) == (11.0, 480, 250)


def test_device_spec_lookup():
    assert device_spec("h100").peak_tflops == 66.9
    spec = device_spec(gpu_name="NVIDIA H100 80GB HBM3", dtype="bf16")
    assert (spec.name, spec.peak_tflops, spec.bandwidth_gbs) == ("H100 SXM", 989.4, 3350)
    assert device_spec(gpu_name="NVIDIA H200", dtype="float32").bandwidth_gbs == 4800
    assert device_spec("TITAN X (Pascal)").peak_tflops == 11.0
    user = device_spec(peak_tflops=2.0, bandwidth_gbs=50.0)
    assert (user.peak_tflops, user.bandwidth_gbs, user.source) == (2.0, 50.0, "user values")
    assert device_spec("h200", bandwidth_gbs=1.0).bandwidth_gbs == 1.0
    with pytest.raises(BadInputError, match="unknown device"):
        device_spec("a100")
    with pytest.raises(BadInputError, match="no float16 peak"):
        device_spec("titan x pascal", dtype="float16")
    with pytest.raises(BadInputError, match="bandwidth_gbs"):  # the Python API names settings, not flags
        device_spec(peak_tflops=1.0)
    with pytest.raises(BadInputError, match="no peaks known"):
        device_spec(gpu_name="NVIDIA B200")


# ------------------------------------------------------------------------------------------------ saving


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_save_figure_formats(tmp_path, suffix, magic):
    fig = figure3(_results(), ACC, figsize=SMALL)
    p = save_figure(fig, tmp_path / f"fig{suffix}")
    assert p.read_bytes().startswith(magic)


def test_save_figure_bad_paths(tmp_path):
    fig = roofline(pd.DataFrame({"model": ["a"], "flops": [1.0], "mac_bytes": [1.0]}), DeviceSpec("t", 1, 1),
                   figsize=SMALL)
    with pytest.raises(BadInputError, match=r"\.png, \.svg or \.pdf"):
        save_figure(fig, tmp_path / "fig.jpg")
    with pytest.raises(BadInputError, match="does not exist"):
        save_figure(fig, tmp_path / "no" / "fig.png")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(BadInputError, match="cannot write"):
        save_figure(fig, a_file / "fig.png")  # its "folder" is a file: unwritable


# ------------------------------------------------------------------------------------------------ CLI


@pytest.fixture
def results_csv(tmp_path):
    p = tmp_path / "results.csv"
    _results().to_csv(p, index=False)
    return p


def test_cli_figure3_writes_and_notes(tmp_path, results_csv, cli):
    out = tmp_path / "fig3.png"
    code, _, err = cli("plot", "figure3", "--csv", str(results_csv), "--batch-size", "2", "--dtype",
                       "float32", "--device", "cuda", "--output", str(out))
    assert code == 0, err
    assert out.read_bytes().startswith(b"\x89PNG")
    assert "no accuracy for mystery" in err  # reference table has no "mystery"


def test_cli_figure3_user_accuracy(tmp_path, results_csv, cli):
    acc = tmp_path / "acc.csv"
    acc.write_text("model,top1\nmystery,70.5\n")
    code, _, err = cli("plot", "figure3", "--csv", str(results_csv), "--accuracy", str(acc),
                       "-o", str(tmp_path / "f.svg"))
    assert code == 0 and "no accuracy" not in err


@pytest.mark.parametrize("case", ["empty", "columns", "format", "unwritable", "no-accuracy", "filter", "missing"])
def test_cli_figure3_bad_input(tmp_path, results_csv, cli, case):
    out = tmp_path / "f.png"
    csv = results_csv
    extra = []
    if case == "empty":
        csv = tmp_path / "empty.csv"
        csv.write_text("model,latency_ms,flops_per_s\n")
    elif case == "columns":
        csv = tmp_path / "cols.csv"
        pd.DataFrame({"model": ["a"], "fps": [1.0]}).to_csv(csv, index=False)
    elif case == "format":
        out = tmp_path / "f.gif"
    elif case == "unwritable":
        out = tmp_path / "missing" / "f.png"
    elif case == "no-accuracy":
        csv = tmp_path / "unknown.csv"
        pd.DataFrame({"model": ["x1", "x2"], "latency_ms": [1.0, 2.0], "flops_per_s": [1e9, 1e9]}).to_csv(csv, index=False)
    elif case == "filter":
        extra = ["--batch-size", "64"]
    elif case == "missing":
        csv = tmp_path / "nope.csv"
    assert_bad_input(cli("plot", "figure3", "--csv", str(csv), *extra, "-o", str(out)),
                     *(["does not exist"] if case == "missing" else []))
    assert not out.exists()


def test_cli_figure3_mixed_setups_is_one_line_naming_the_flags(tmp_path, cli):
    csv = tmp_path / "mixed.csv"
    _mixed_batches().to_csv(csv, index=False)
    res = cli("plot", "figure3", "--csv", str(csv), "-o", str(tmp_path / "f.png"))
    assert_bad_input(res, "batch size 2", "batch size 32", "--batch-size")
    code, _, err = cli("plot", "figure3", "--csv", str(csv), "-b", "2", "-o", str(tmp_path / "f.png"))
    assert code == 0 and (tmp_path / "f.png").exists()


def test_cli_roofline_and_layers(tmp_path, results_csv, cli):
    out = tmp_path / "roof.pdf"
    code, _, err = cli("plot", "roofline", "--csv", str(results_csv), "-o", str(out))
    assert code == 0, err  # H100 peaks found from the recorded GPU name
    assert out.read_bytes().startswith(b"%PDF")
    res = cli("plot", "roofline", "--csv", str(results_csv), "--device-spec", "a100", "-o", str(out))
    assert_bad_input(res)
    res = cli("plot", "roofline", "--per-layer", "nosuchmodel", "--peak-tflops", "1",
              "--bandwidth-gbs", "10", "-o", str(out))
    assert_bad_input(res)
    res = cli("plot", "layers", "nosuchmodel", "-o", str(tmp_path / "l.png"))
    assert_bad_input(res)


def test_plots_leave_pyplot_alone():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figure3(_results(), ACC, figsize=SMALL)
    assert plt.get_fignums() == before  # nothing registered with pyplot, nothing left open
    assert figures.FIGURE_FORMATS == {".png": "png", ".svg": "svg", ".pdf": "pdf"}


def _with_layers_json() -> pd.DataFrame:
    old = pd.DataFrame({"name": ["c"], "type": ["Conv2d"], "call": [0], "flops": [100.0], "mac": [10.0],
                        "mac_bytes": [40.0], "latency_ms": [1.0], "flops_per_s": [1e5]})
    new = old.assign(latency_ms=0.5, flops_per_s=2e5)
    return pd.DataFrame({
        "model": ["m", "m", "m"], "status": ["ok", "ok", "failed"], "latency_ms": [1.0, 1.0, 1.0],
        "flops_per_s": [1.0, 1.0, 1.0], "timestamp": ["2025-01-01", "2025-01-02", "2025-01-03"],
        "layers_json": [old.to_json(orient="records"), new.to_json(orient="records"), None],
    })


def test_measured_layers_takes_the_latest_ok_row():
    layers = select.measured_layers(_with_layers_json(), "m")
    assert list(layers["latency_ms"]) == [0.5]
    assert select.measured_layers(_with_layers_json(), "other") is None
    assert select.measured_layers(pd.DataFrame({"model": ["m"]}), "m") is None


def test_cli_roofline_per_layer_from_measurements(tmp_path, cli):
    csv = tmp_path / "r.csv"
    _with_layers_json().to_csv(csv, index=False)
    out = tmp_path / "r.svg"
    code, _, err = cli("plot", "roofline", "--csv", str(csv), "--per-layer", "m", "--peak-tflops", "1",
                       "--bandwidth-gbs", "10", "-o", str(out))
    assert code == 0, err
    assert "not measured" not in err  # the layer's own timing was used
    assert out.read_text().lstrip().startswith("<?xml")


# ------------------------------------------------------------------------------------------------ review fixes


@pytest.mark.parametrize("bad", ["abc", "1.5ms"])
def test_figure3_non_numeric_latency_is_bad_input(bad):
    df = _results().astype({"latency_ms": object})
    df.loc[2, "latency_ms"] = bad
    with pytest.raises(BadInputError, match=r"column latency_ms .*not numbers") as e:
        figure3(df, ACC, figsize=SMALL)
    assert bad in str(e.value)


def test_figure3_leaves_out_non_positive_latency_with_a_note():
    df = _results()
    df.loc[2, "latency_ms"] = -3.0  # resnet50
    df.loc[3, "latency_ms"] = 0.0  # mystery
    fig = figure3(df, ACC, figsize=SMALL)
    # Left: vovnet39 (its newer row) and densenet201 (its only ok row); times per image at batch size 2.
    assert fig.data["model"].tolist() == ["vovnet39", "densenet201"]
    assert fig.data["time_ms_per_img"].tolist() == [10.0, 39.0]
    assert any("resnet50" in n and "mystery" in n and "latency_ms" in n for n in fig.effkit_notes)
    df["latency_ms"] = 0.0
    with pytest.raises(BadInputError, match="positive latency_ms"):
        figure3(df, ACC, figsize=SMALL)


def test_check_peaks():
    check_peaks(None, None)
    check_peaks(1.0, 2.0)
    for peak, bw, match in ((-1.0, None, "peak_tflops"), (None, 0.0, "bandwidth_gbs"),
                            (float("inf"), None, "peak_tflops"), (float("nan"), None, "peak_tflops")):
        with pytest.raises(BadInputError, match=match) as e:
            check_peaks(peak, bw)
        assert e.value.field == match


def test_check_figure_path_refuses_a_directory(tmp_path):
    (tmp_path / "d.png").mkdir()
    with pytest.raises(BadInputError, match="directory"):
        figures.check_figure_path(tmp_path / "d.png")


@pytest.mark.parametrize("value", ["abc", "-3", "0"])
def test_cli_figure3_bad_latency_values(tmp_path, cli, value):
    df = _results().astype({"latency_ms": object})
    df.loc[2, "latency_ms"] = value  # resnet50
    csv = tmp_path / "r.csv"
    df.to_csv(csv, index=False)
    out = tmp_path / "f.png"
    res = cli("plot", "figure3", "--csv", str(csv), "-o", str(out))
    if value == "abc":
        assert_bad_input(res, "latency_ms")
        assert not out.exists()
    else:
        assert res.returncode == 0, res.stderr
        err = res.stderr
        assert "left out resnet50: latency_ms is missing, zero or negative" in err


@pytest.fixture
def empty_default_db(tmp_path, monkeypatch):
    from effkit.store import Store

    db = tmp_path / "empty.sqlite"
    Store(db).close()
    monkeypatch.setenv("EFFKIT_DB", str(db))
    return db


# An empty default database: the roofline says so; Figure 3 falls back to the shipped measurements
# (tests/test_shipped.py), but not with --db given.
@pytest.mark.parametrize("argv", [["plot", "roofline", "--device-spec", "h100-sxm", "-o"],
                                  ["plot", "figure3", "--db", "DB", "-o"]])
def test_cli_empty_default_db_names_it(tmp_path, cli, empty_default_db, argv):
    out = tmp_path / "f.png"
    argv = [str(empty_default_db) if a == "DB" else a for a in argv]
    assert_bad_input(cli(*argv, str(out)), str(empty_default_db), "--db", "--csv", "effkit measure")
    assert not out.exists()


@pytest.mark.parametrize("flag, value", [("--peak-tflops", "-1"), ("--bandwidth-gbs", "0")])
def test_cli_roofline_rejects_non_positive_peaks_before_reading(tmp_path, cli, flag, value):
    out = tmp_path / "r.png"
    # the CSV does not exist: the peak is refused first, so the message is about the peak
    res = cli("plot", "roofline", "--csv", str(tmp_path / "none.csv"), "--device-spec", "h100 sxm",
              flag, value, "-o", str(out))
    assert_bad_input(res, flag)
    assert not out.exists()


def test_cli_plot_output_is_a_directory(tmp_path, results_csv, cli):
    (tmp_path / "d.png").mkdir()
    assert_bad_input(cli("plot", "figure3", "--csv", str(results_csv), "-o", str(tmp_path / "d.png")), "directory")


# ------------------------------------------------------------------------------------------------ what a PNG says


def _noisy_results() -> pd.DataFrame:
    df = _results()
    df["torch_threads"] = 4
    df["input_shape"] = "2x3x224x224"
    # resnet50: IQR 50 % of its median (noisy, above the 10 % limit); the others 2 %
    df["latency_iqr_ratio"] = [0.02, 0.02, 0.5, 0.02, 0.02, 0.02]
    return df


def _footer(fig) -> str:
    """The text under the figure, its wrapping undone."""
    return " ".join(fig._supxlabel.get_text().split()) if fig._supxlabel is not None else ""


def test_figure3_marks_untrusted_rows_grey_and_names_its_data():
    from effkit.report.chart_marks import UNTRUSTED_FACE, UNTRUSTED_LABEL

    fig = figure3(_noisy_results(), ACC, figsize=SMALL, source="CSV results.csv")
    a = fig.panels["a"]
    grey = [c for c in a.collections if np.allclose(c.get_facecolor()[0][:3], matplotlib_rgb(UNTRUSTED_FACE))]
    # resnet50 alone is grey: 24 ms per batch of 2 -> 12 ms/img at 75 %
    assert len(grey) == 1 and _pts(*np.asarray(grey[0].get_offsets())) == _pts((12, 75))
    footer = _footer(fig)
    assert f"{UNTRUSTED_LABEL} " in footer and "resnet50 (noisy)" in footer
    assert UNTRUSTED_LABEL in fig.legend_labels
    # the machine (GPU, threads), batch, dtype, input size and source, in the figure itself
    assert ("data: NVIDIA H100 80GB HBM3, 4 torch threads, batch 2, float32, input 3x224x224 — CSV results.csv"
            in footer)


def matplotlib_rgb(colour):
    from matplotlib.colors import to_rgb

    return to_rgb(colour)


def test_roofline_untrusted_grey_no_user_values_and_provenance():
    df = _noisy_results()
    fig = roofline(df[df["status"] == "ok"].drop_duplicates("model", keep="last"),
                   {"name": "user values", "peak_tflops": 1.0, "bandwidth_gbs": 100.0, "source": "user values"},
                   figsize=SMALL, source="results database r.db", allow_other_device=True)
    title, footer = fig.axes[0].get_title(), _footer(fig)
    assert "user values" not in title and "user values" not in footer
    assert "1 TFLOP/s" in title and "100 GB/s" in title
    assert "results database r.db" in footer and "resnet50 (noisy)" in footer
    # 600 and 800 GFLOP/s points are above a 1 TFLOP/s roof? no: but the bandwidth roof at their intensity is
    # 100 GB/s x 53 (resnet50: 16e9 / 3e8) = 5.3 TFLOP/s capped at 1 TFLOP/s: all below; nothing flagged
    assert not any("above the roofs" in n for n in fig.effkit_notes)
    low = roofline(df.iloc[:1], {"name": "user values", "peak_tflops": 0.1, "bandwidth_gbs": 100.0},
                   figsize=SMALL, allow_other_device=True)
    # vovnet39's first row reached 500 GFLOP/s, above a 0.1 TFLOP/s roof: the roofs cannot be its peaks
    assert any("1 point(s) above the roofs" in n for n in low.effkit_notes)


def test_figure3_legend_lists_only_what_is_drawn():
    # no energy anywhere: (c) and (d) are not drawn, so "mystery" (no accuracy, only in (d)) has no point
    df = _results().assign(energy_j_per_img=np.nan)
    fig = figure3(df, ACC, figsize=SMALL)
    assert set(fig.panels) == {"a", "b"}
    assert "other" not in fig.legend_labels  # mystery's family: drawn nowhere
    assert set(fig.legend_labels) == {"VoVNet", "DenseNet", "ResNet"}


def test_labels_do_not_overprint():
    from effkit.report.chart_marks import labels_overlap

    # six models on nearly the same spot: their names must still be readable
    n = 6
    pts = pd.DataFrame({"model": [f"model_number_{i}" for i in range(n)],
                        "flops": [1e9 * (1 + i / 100) for i in range(n)],
                        "mac_bytes": [1e8] * n, "flops_per_s": [1e11 * (1 + i / 200) for i in range(n)]})
    fig = roofline(pts, DeviceSpec("toy", 10.0, 1000.0), figsize=(6, 5))
    assert labels_overlap(fig) == []


def test_layers_legend_has_no_more_entries_than_colours():
    groups = [f"stage{i:02d}" for i in range(14) for _ in range(2)]
    fig = layers_figure(_layers("m", [1] * 28, [1] * 28, groups), figsize=(6, 4))
    assert len(fig.legend_labels) == plots.GROUP_COLOURS  # 14 groups, 10 colours: groups 0 and 10 share one
    assert fig.legend_labels[0].replace("\n", " ") == "stage00, stage10"
    assert "static analysis" in _footer(fig)


def test_small_set_figure3_says_why_vovnet27_slim_has_no_point():
    from effkit.shipped import load_shipped

    df = load_shipped("cpu")
    small = df[df["model"].isin(["vovnet27_slim", "resnet18", "densenet121"]) & (df["batch_size"] == 1)]
    fig = figure3(small, figsize=SMALL)
    assert fig.missing_accuracy == ["vovnet27_slim"]
    footer = _footer(fig)
    # the paper's Table 2: VoVNet-27-slim is a DSOD300 backbone, 74.8 mAP on VOC 2007; no ImageNet top-1
    assert "vovnet27_slim: the VoVNet paper publishes no ImageNet top-1" in footer and "74.8 mAP" in footer
    assert "VoVNet" not in fig.legend_labels  # no VoVNet point is drawn, so the legend does not list one
    assert "shipped file cpu-amd-epyc-1-threads-2026-12-02.csv" in footer


def test_cli_layers_times_only_the_setup_analysed(cli, tmp_path):
    from effkit.shipped import load_shipped

    src = load_shipped("cpu").attrs["shipped"].path
    # the shipped file times vovnet27_slim at batch 1 and 8: batch 4 has no timing, so none may be drawn
    res = cli("plot", "layers", "vovnet27_slim", "--csv", str(src), "-b", "4", "-o", str(tmp_path / "l4.png"))
    assert res.returncode == 0, res.stderr
    assert "no per-layer measurement of vovnet27_slim in the results at input 4x3x224x224" in res.stderr
    res = cli("plot", "layers", "vovnet27_slim", "--csv", str(src), "-o", str(tmp_path / "l1.png"))
    assert res.returncode == 0 and "no per-layer measurement" not in res.stderr
