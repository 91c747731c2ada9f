"""The shipped features of the public timm benchmarks (``effkit/data/public/features.csv``), without timm.

CI has no timm, so the shipped rows are checked through effkit's own zoo models that have the same
architecture as a timm model (same layers and widths: timm publishes the same parameter counts), against
two sources that are not effkit: timm's published parameter counts and GMACs in the benchmark files,
and PyTorch's ``FlopCounterMode``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from torch import nn

import effkit
from effkit import profile
from effkit.analysis import formulas as F
from effkit.analysis.op_kinds import KIND_COLUMNS, KINDS, op_kind, setup_features

PUBLIC = Path(effkit.__file__).parent / "data" / "public"
FEATURES = PUBLIC / "features.csv"
BENCHMARKS = {
    "timm-benchmark-infer-amp-nchw-pt291-cu128-4090.csv": "float16",
    "timm-benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv": "float16",
    "timm-benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv": "float32",
}
#: effkit zoo model -> the timm model of the same architecture.
TWINS = {"resnet18": "resnet18", "resnet50": "resnet50", "densenet121": "densenet121",
         "mobilenet_v2": "mobilenetv2_100", "convnext_tiny": "convnext_tiny"}


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def features() -> dict[tuple, dict]:
    return {(r["model"], int(r["img_size"]), int(r["batch_size"]), r["dtype"]): r for r in _read(FEATURES)}


def _published(model: str, size: int = 224) -> dict:
    rows = [r for r in _read(PUBLIC / "timm-benchmark-infer-amp-nchw-pt291-cu128-4090.csv")
            if r["model"] == model and int(r["infer_img_size"]) == size]
    assert len(rows) == 1
    return rows[0]


def test_features_cover_every_row_of_every_benchmark_file(features):
    wanted = set()
    for name, dtype in BENCHMARKS.items():
        for r in _read(PUBLIC / name):
            wanted.add((r["model"], int(r["infer_img_size"]), int(r["infer_batch_size"]), dtype))
    assert len(wanted) > 3000
    assert wanted - set(features) == set()
    assert set(features) - wanted == set()  # and nothing else


def test_features_columns_are_complete(features):
    row = next(iter(features.values()))
    for c in ("params", "mult_adds_per_batch", "mac_bytes_per_batch", "mac_fused_bytes_per_batch",
              "activations_per_batch", "kernels", "kernels_fused", *KIND_COLUMNS, "effkit_version", "timm_version"):
        assert c in row, c


# --- twins: effkit zoo models against timm's published numbers ----------------------------------------


def _fvcore_convention(p) -> float:
    """What fvcore (timm's counter) calls MACs: conv/linear multiply-adds, plus 2 per element of an inference
    batch norm, 5 per element of an affine layer norm and 1 per input element of an adaptive average pool
    (its default op handles); effkit's formulas count those ops the same, so their flops are added as they are."""
    ops = p.ops
    extra = ops[ops["op"].str.contains("batch_norm|layer_norm|adaptive_avg_pool")]["flops"].sum()
    return p.totals.mult_adds + extra


@pytest.mark.parametrize("zoo, timm_name", TWINS.items())
def test_zoo_twin_matches_timm_published_gmacs_and_params(zoo, timm_name):
    p = profile(zoo, (1, 3, 224, 224))
    pub = _published(timm_name)
    # timm publishes millions and billions to two decimals: agreement within half the last digit
    assert abs(p.totals.params / 1e6 - float(pub["param_count"])) <= 0.005 + 1e-9
    assert abs(_fvcore_convention(p) / 1e9 - float(pub["infer_gmacs"])) <= 0.005 + 1e-9


@pytest.mark.parametrize("zoo, timm_name", TWINS.items())
def test_shipped_rows_match_a_fresh_analysis_of_the_zoo_twin(features, zoo, timm_name):
    """The CPU file's batch-1 float32 row and the RTX 4090 file's float16 row at its batch, both at 224."""
    one = profile(zoo, (1, 3, 224, 224), "float32")
    row = features[(timm_name, 224, 1, "float32")]
    for c in ("params",):
        assert int(row[c]) == getattr(one.totals, c)
    for c in ("mult_adds", "flops", "paper_mac", "mac", "mac_bytes"):
        assert int(row[f"{c}_per_batch"]) == getattr(one.totals, c), c
    batch = int(_published(timm_name)["infer_batch_size"])
    big = profile(zoo, (batch, 3, 224, 224), "float16")
    row = features[(timm_name, 224, batch, "float16")]
    for c in ("mult_adds", "flops", "paper_mac", "mac", "mac_bytes"):
        assert int(row[f"{c}_per_batch"]) == getattr(big.totals, c), c
    # weights are read once per call: the fixed bytes are the float16 weights, not scaled by the batch
    assert int(row["mac_bytes_per_batch"]) < batch * int(row["mac_bytes_per_image"]) + 4 * one.totals.params


@pytest.mark.parametrize("zoo, timm_name", TWINS.items())
def test_shipped_mult_adds_match_flop_counter_mode(features, zoo, timm_name):
    from torch.utils.flop_counter import FlopCounterMode

    from effkit.models import create_model

    with torch.device("meta"):
        model = create_model(zoo).eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.empty(1, 3, 224, 224, device="meta"))
    flops = counter.get_total_flops()  # 2 per multiply-add of conv and matmul ops
    assert 2 * int(features[(timm_name, 224, 1, "float32")]["mult_adds_per_batch"]) == flops
    batch = int(_published(timm_name)["infer_batch_size"])
    # conv and matmul work grows linearly with the batch
    assert 2 * int(features[(timm_name, 224, batch, "float16")]["mult_adds_per_batch"]) == batch * flops


# --- batch scaling and op kinds, worked by hand -------------------------------------------------------


def test_batch_scaling_keeps_weights_fixed():
    # 1x1 conv 3 -> 2 channels on 2x2 maps, no bias: per image reads 12 and writes 8 (20 elements), the
    # 6 weights once per call. At batch 5: 5 * 20 + 6 = 106; mult_adds 5 * (8 outputs x 3) = 120.
    m = nn.Conv2d(3, 2, 1, bias=False)
    f = setup_features(m, 2, 5, "float32")
    assert (f["mac_per_image"], f["mac_fixed"], f["mac_per_batch"]) == (20, 6, 106)
    assert (f["mac_bytes_per_image"], f["mac_bytes_fixed"]) == (80, 24)
    assert (f["mult_adds_per_image"], f["mult_adds_fixed"], f["mult_adds_per_batch"]) == (24, 0, 120)
    assert (f["conv_flops"], f["conv_bytes"], f["conv_kernels"]) == (240, 424, 1)
    assert f["affine"] and f["params"] == 6


class _Swap(nn.Module):
    """Channels to the front, then flattened: with a batch of 1 the permuted tensor is still contiguous in
    memory (a size-1 dimension has no stride that matters), so the reshape is a view; from batch 2 on it
    copies the whole tensor."""

    def forward(self, x):
        return x.permute(1, 0, 2, 3).reshape(x.shape[1], -1)


def test_batch_one_rows_use_their_own_trace():
    one = setup_features(_Swap(), 4, 1, "float32")
    four = setup_features(_Swap(), 4, 4, "float32")
    assert (one["kernels"], one["data_movement_kernels"], one["mac_per_batch"]) == (0, 0, 0)
    # batch 4, 3 channels of 4x4: the copy reads and writes 4 * 48 elements
    assert (four["kernels"], four["data_movement_kernels"], four["mac_per_batch"]) == (1, 1, 384)
    # the line through batches 2 and 3 (96 per image, nothing fixed) does not hold at batch 1
    assert (one["mac_per_image"], one["mac_fixed"]) == (96, 0)


def test_conv_kinds_by_groups():
    # dense 3x3 (3 -> 8), grouped (8 -> 8, groups 2), depthwise (groups 8): one kernel each
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.Conv2d(8, 8, 3, padding=1, groups=2, bias=False),
                      nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False))
    f = setup_features(m, 4, 2, "float32")
    # mult_adds per image on 4x4 maps, 128 outputs each: x 3*9 = 3456; x 4*9 = 4608; x 9 = 1152.
    # flops = 2 x mult_adds, batch 2.
    assert (f["conv_flops"], f["conv_grouped_flops"], f["conv_depthwise_flops"]) == (4 * 3456, 4 * 4608, 4 * 1152)
    assert (f["conv_kernels"], f["conv_grouped_kernels"], f["conv_depthwise_kernels"]) == (1, 1, 1)


def test_every_formula_has_a_kind():
    names = {op.__name__ for op in F._FORMULAS}
    assert {n for n in names if op_kind(n) == "other"} == set()
    assert {op_kind(n) for n in names} <= {*KINDS, "view"}


def test_kind_columns_add_up_to_the_totals(features):
    for key, r in features.items():
        for total, part in (("flops_per_batch", "flops"), ("mac_bytes_per_batch", "bytes"),
                            ("mac_fused_bytes_per_batch", "fused_bytes"), ("kernels", "kernels"),
                            ("kernels_fused", "kernels_fused")):
            assert sum(int(r[f"{k}_{part}"]) for k in KINDS) == int(r[total]), (key, total)
