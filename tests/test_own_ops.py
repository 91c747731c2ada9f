"""A module's own ops (its torch.cat, a residual add) are named as such, apart from the module's whole cost."""

from __future__ import annotations

import pytest

from effkit import profile


@pytest.fixture(scope="module")
def vovnet():
    return profile("vovnet39")


def test_an_osa_blocks_own_row_is_its_concatenation_and_says_so(vovnet):
    rows = {r["name"]: r for r in vovnet._layer_rows}
    assert "stage2.OSA2_1" not in rows  # the bare name is the whole block, in by_depth and the tree
    own = rows["stage2.OSA2_1 (own ops)"]
    # OSA2_1 concatenates its input (128 channels, 56x56) and five 128-channel layer outputs into 768 channels:
    # MAC = reads 6 * 128 * 3136 + writes 768 * 3136 = 4,816,896.
    assert own["ops"] == "cat" and own["mac"] == 2 * 768 * 56 * 56
    assert own["input_shape"] == ", ".join(["1x128x56x56"] * 6) and own["output_shape"] == "1x768x56x56"
    block = vovnet.by_depth(2).set_index("name").loc["stage2.OSA2_1"]
    assert block["mac"] > 5 * own["mac"]  # the block (its convs, BN, ReLU and the cat) is the 24M figure


def test_the_models_own_row_has_one_name_everywhere(vovnet):
    from effkit.analysis.profile import own_ops_name

    name = "(model) (own ops)"
    assert own_ops_name(()) == name
    assert name in vovnet.layers["name"].tolist()
    assert name in vovnet.by_depth(1)["name"].tolist()
    assert name in vovnet.tree(1)["name"].tolist()
    assert name in vovnet.ops["layer"].tolist()
    assert name in str(vovnet.table(tree=True, depth=1)) and name in vovnet.table().csv()
    assert "(model)" not in vovnet.layers["name"].tolist() and "functional ops" not in str(vovnet)


def test_csv_names_the_own_ops_row(vovnet):
    lines = vovnet.table(["name", "mac"]).csv().splitlines()
    assert "stage2.OSA2_1 (own ops),4816896" in lines


def test_a_root_row_of_zeros_is_not_shown_and_takes_no_top_slot():
    p = profile("resnet18")  # its own forward only flattens (a view): nothing to count
    assert not [r for r in p.table(["name"]).rows if r[0].startswith("(model)")]
    assert not [r for r in p.table(["name"], depth=1).rows if r[0].startswith("(model)")]
    assert [r[0] for r in p.table(["name"], top=3).rows] == ["conv1", "bn1", "relu"]


def test_densenet_top_rows_show_the_concatenations_own_shapes():
    p = profile("densenet121")
    table = p.table(["name", "input_shape", "output_shape", "mac"], sort="mac", top=6)
    row = next(r for r in table.rows if r[0] == "features.denseblock1 (own ops)")
    # denseblock1 joins the 64-channel stem output and six 32-channel layer outputs: 64 + 6 * 32 = 256 channels.
    assert row[1] == ", ".join(["1x64x56x56"] + ["1x32x56x56"] * 6) and row[2] == "1x256x56x56"
    assert row[3] == 2 * 256 * 56 * 56  # reads 256 and writes 256 channels of 56x56
