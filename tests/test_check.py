"""Baselines and regression checks: the file format, the verdicts, the CLI gate and every bad input.

Expected numbers are computed by hand from the MAC definition in design.md (a conv reads its input and
weights once and writes its output once: hi*wi*ci + ho*wo*co + kh*kw*ci*co, + co with bias).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch
from conftest import assert_bad_input
from torch import nn

import effkit
from effkit.baseline import baseline_text, load_baseline, save_baseline, update_baseline
from effkit.gate import METRICS, Tolerance, check, parse_metrics, parse_tolerance
from effkit.errors import BadInputError

H = W = 8  # input side of the tiny models: 1x3x8x8
SHAPE = (1, 3, H, W)


class Tiny(nn.Module):
    """conv(3->c, 3x3, no bias) -> ReLU -> [optional extra conv] -> global pool -> linear(c->k)."""

    def __init__(self, c: int = 8, k: int = 4, deep: bool = False, head: str = "fc"):
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3, padding=1, bias=False)
        self.act = nn.ReLU()
        self.extra = nn.Conv2d(c, c, 3, padding=1, bias=False) if deep else None
        setattr(self, head, nn.Linear(c, k))
        self.head = head

    def forward(self, x):
        x = self.act(self.conv(x))
        if self.extra is not None:
            x = self.act(self.extra(x))  # the ReLU's second call
        return getattr(self, self.head)(x.mean((2, 3)))


def conv_mac(ci, co, k=3, h=H, w=W):
    return h * w * ci + h * w * co + k * k * ci * co


def linear_mac(i, o):
    return i + o + i * o + o  # input, output, weight, bias


@pytest.fixture
def base(tmp_path):
    path = tmp_path / "baseline.json"
    save_baseline({"tiny": Tiny()}, path, input_shape=SHAPE)
    return path


# ------------------------------------------------------------------------------------------------
# the file


def test_baseline_file_holds_hand_computed_counts_one_layer_per_line(base):
    text = base.read_text()
    data = json.loads(text)
    assert data["effkit_baseline"] == 1
    assert data["effkit_version"] == effkit.__version__
    assert data["torch_version"] == torch.__version__.split("+")[0]
    entry = data["models"]["tiny"]
    assert entry["input_shape"] == list(SHAPE) and entry["dtype"] == "float32"
    assert entry["spec"] is None  # saved from a Python object
    conv = entry["layers"]["conv"]
    assert conv["type"] == "Conv2d"
    assert conv["params"] == 3 * 8 * 9
    assert conv["mult_adds"] == H * W * 8 * 3 * 9
    assert conv["flops"] == 2 * H * W * 8 * 3 * 9
    assert conv["mac"] == conv_mac(3, 8) == 64 * 3 + 64 * 8 + 9 * 3 * 8 == 920
    assert conv["mac_bytes"] == 4 * conv["mac"]
    assert conv["activations"] == 8 * H * W
    fc = entry["layers"]["fc"]
    assert fc["mac"] == linear_mac(8, 4) and fc["params"] == 8 * 4 + 4
    assert entry["totals"]["params"] == 3 * 8 * 9 + 8 * 4 + 4
    assert entry["totals"]["paper_mac"] == conv_mac(3, 8) + linear_mac(8, 4)
    # Diff-friendly: every layer sits on a line of its own, and re-serialising is byte-identical.
    lines = {ln.strip().rstrip(",") for ln in text.splitlines()}
    for name, row in entry["layers"].items():
        assert f"{json.dumps(name)}: {json.dumps(row)}" in lines
    assert baseline_text(data) == text


def test_repeated_calls_get_their_own_keys(tmp_path):
    path = tmp_path / "b.json"
    data = save_baseline({"deep": Tiny(deep=True)}, path, input_shape=SHAPE)
    layers = data["models"]["deep"]["layers"]
    assert {"act", "act#1", "extra"} <= set(layers)
    assert layers["act"]["mac"] == layers["act#1"]["mac"] == 2 * 8 * H * W  # read + write


def test_save_refuses_to_overwrite_without_force(base):
    before = base.read_text()
    with pytest.raises(BadInputError, match="already exists.*update_baseline or force"):
        save_baseline({"tiny": Tiny(c=16)}, base, input_shape=SHAPE)
    assert base.read_text() == before
    save_baseline({"tiny": Tiny(c=16)}, base, input_shape=SHAPE, force=True)
    assert json.loads(base.read_text())["models"]["tiny"]["layers"]["conv"]["mac"] == conv_mac(3, 16)


def test_update_replaces_named_entries_and_keeps_others(tmp_path):
    path = tmp_path / "b.json"
    save_baseline({"a": Tiny(), "b": Tiny()}, path, input_shape=SHAPE)
    update_baseline(path, {"b": Tiny(c=16)})
    data = load_baseline(path)
    assert list(data["models"]) == ["a", "b"]
    assert data["models"]["a"]["layers"]["conv"]["mac"] == conv_mac(3, 8)
    assert data["models"]["b"]["layers"]["conv"]["mac"] == conv_mac(3, 16)
    assert data["models"]["b"]["input_shape"] == list(SHAPE)  # kept from the file, not the default 224


# ------------------------------------------------------------------------------------------------
# verdicts


def test_unchanged_model_passes(base):
    res = check(Tiny(), base, name="tiny", metrics=METRICS, tolerance="0")
    assert res.passed and not res.regressions and not res.improvements
    assert set(res.totals["status"]) == {"unchanged"}
    assert res.layers.empty


def test_widened_layer_fails_and_is_named(base):
    res = check(Tiny(c=16), base, name="tiny")
    assert not res.passed
    mac = res.totals.set_index("metric").loc["mac"]
    # conv 3->16 instead of 3->8; its ReLU reads and writes 8 more channels; the spatial mean reads 8 more
    # channels and writes 8 more values; the linear layer reads 16 inputs instead of 8.
    expected = ((conv_mac(3, 16) - conv_mac(3, 8)) + 2 * 8 * H * W + (8 * H * W + 8)
                + (linear_mac(16, 4) - linear_mac(8, 4)))
    assert mac["delta"] == expected and mac["status"] == "regression"
    assert mac["delta_pct"] == pytest.approx(100 * expected / mac["baseline"])
    row = res.layers[(res.layers.layer == "conv") & (res.layers.metric == "mac")].iloc[0]
    assert (row.baseline, row.current, row.change) == (conv_mac(3, 8), conv_mac(3, 16), "changed")
    assert "mac" in res.regressions[0]
    text = res.format("table")
    assert "FAILED" in text and "conv" in text and "regression" in text


def test_deepened_model_reports_added_layers(base):
    res = check(Tiny(deep=True), base, name="tiny")
    assert not res.passed
    added = res.layers[res.layers.change == "added"]
    assert set(added.layer) == {"extra", "act#1"}
    assert added.set_index("layer").loc["extra", "current"] == conv_mac(8, 8)


def test_renamed_layer_shows_as_removed_and_added(base):
    res = check(Tiny(head="classifier"), base, name="tiny", tolerance="0")
    assert res.passed  # same totals: a rename costs nothing
    changes = dict(zip(res.layers.layer, res.layers.change))
    assert changes == {"classifier": "added", "fc": "removed"}


def test_change_inside_tolerance_passes(base):
    # Linear 8->5 instead of 8->4: +8 weights +1 bias +1 output = +10 elements, 0.4% of the total.
    res = check(Tiny(k=5), base, name="tiny", tolerance="0.5%")
    mac = res.totals.set_index("metric").loc["mac"]
    assert mac["delta"] == 10 and mac["status"] == "within tolerance"
    assert mac["delta"] / mac["baseline"] < 0.005
    assert res.passed
    assert not check(Tiny(k=5), base, name="tiny", tolerance="0.1%").passed
    assert check(Tiny(k=5), base, name="tiny", tolerance="10").passed  # absolute: 10 elements allowed
    assert not check(Tiny(k=5), base, name="tiny", tolerance="9").passed


def test_improvement_passes_unless_strict(base):
    res = check(Tiny(c=4), base, name="tiny")
    assert res.passed and res.improvements and not res.regressions
    assert res.totals.set_index("metric").loc["mac", "status"] == "improvement"
    assert not check(Tiny(c=4), base, name="tiny", strict=True).passed


def test_several_metrics_and_no_per_layer(base):
    res = check(Tiny(c=16), base, name="tiny", metrics="mac,params", per_layer=False)
    assert list(res.totals.metric) == ["mac", "params"]
    assert res.totals.set_index("metric").loc["params", "delta"] == 3 * 8 * 9 + 8 * 4
    assert res.layers.empty and len(res.regressions) == 2


def test_formats(base):
    res = check(Tiny(c=16), base, name="tiny")
    data = json.loads(res.format("json"))
    assert data["passed"] is False and data["model"] == "tiny"
    assert any(r["layer"] == "conv" and r["change"] == "changed" for r in data["layers"])
    md = res.format("markdown")
    assert "| layer | metric |" in md and "| conv | mac |" in md
    with pytest.raises(BadInputError, match="unknown format"):
        res.format("html")


def test_assert_no_regression_message_shows_the_diff(base):
    effkit.assert_no_regression(Tiny(), base, name="tiny")
    with pytest.raises(AssertionError) as info:
        effkit.assert_no_regression(Tiny(c=16), base, name="tiny")
    assert "conv" in str(info.value) and "regression" in str(info.value)


def test_package_exports_check_even_after_module_import(base):
    # Importing a submodule binds it on the package; no submodule may shadow the function's name.
    import effkit.baseline  # noqa: F401
    import effkit.gate  # noqa: F401
    import effkit.report.check_render  # noqa: F401

    assert effkit.check is check
    assert effkit.check(Tiny(), base, name="tiny").passed
    assert effkit.save_baseline is save_baseline
    assert effkit.update_baseline is update_baseline and effkit.load_baseline is load_baseline
    assert isinstance(effkit.check(Tiny(), base, name="tiny"), effkit.CheckResult)


# ------------------------------------------------------------------------------------------------
# bad input (API)


def test_tolerance_parsing():
    assert parse_tolerance("0.5%") == Tolerance(0.005, True)
    assert parse_tolerance("1000") == Tolerance(1000.0, False)
    assert parse_tolerance(3) == Tolerance(3.0, False)
    for bad in ("", "abc", "5%%", "-1%", "-3", "nan", "inf%", "1e3x"):
        with pytest.raises(BadInputError, match="tolerance"):
            parse_tolerance(bad)


def test_metric_parsing():
    assert parse_metrics("mac, flops,mac") == ("mac", "flops")
    with pytest.raises(BadInputError, match="unknown metric 'latency'.*mac, mac_bytes, flops"):
        parse_metrics("mac,latency")


@pytest.mark.parametrize("content, needle", [
    (None, "does not exist"),
    ("{not json", "not valid JSON"),
    ('{"models": {}}', "not an effkit baseline"),
    ("[1, 2]", "not an effkit baseline"),
    ('{"effkit_baseline": 99, "models": {}}', "format 99"),
    ('{"effkit_baseline": 1, "models": {"m": {"input_shape": [1], "dtype": "float32"}}}', "totals"),
])
def test_unusable_baseline_files(tmp_path, content, needle):
    path = tmp_path / "b.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(BadInputError, match=needle):
        check(Tiny(), path, name="tiny")


def test_other_shape_or_dtype_is_refused(base):
    with pytest.raises(BadInputError, match="1x3x8x8, not 1x3x16x16.*not comparable"):
        check(Tiny(), base, name="tiny", input_shape=(1, 3, 16, 16))
    with pytest.raises(BadInputError, match="float32, not float16.*not comparable"):
        check(Tiny(), base, name="tiny", dtype="fp16")
    assert check(Tiny(), base, name="tiny", input_shape="1,3,8,8", dtype="float32").passed


def test_model_not_in_baseline_lists_those_it_has(base):
    with pytest.raises(BadInputError, match="'Tiny' is not in .*it has: tiny"):
        check(Tiny(), base)


# ------------------------------------------------------------------------------------------------
# the CLI, on a user model file (`file.py:factory`)

MODEL_FILE = """
from torch import nn


def build():
    return nn.Sequential(
        nn.Conv2d(3, {width}, 3, padding=1, bias=False),
        nn.ReLU(),
        nn.Conv2d({width}, 8, 3, padding=1, bias=False),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, {classes}),
    )
"""


def write_model(folder: Path, width=8, classes=4) -> None:
    (folder / "net.py").write_text(MODEL_FILE.format(width=width, classes=classes))
    # A rewrite within the same second at the same size could be served from stale bytecode.
    shutil.rmtree(folder / "__pycache__", ignore_errors=True)


@pytest.fixture
def cli_base(tmp_path, cli):
    write_model(tmp_path)
    code, _, err = cli("baseline", "save", "net.py:build", "--input-size", "8", "-o", "base.json", cwd=tmp_path)
    assert code == 0, err
    return tmp_path


def test_cli_gate_on_a_user_model(cli_base, cli):
    d = cli_base
    data = json.loads((d / "base.json").read_text())
    assert data["models"]["net.py:build"]["spec"] == "net.py:build"
    assert data["models"]["net.py:build"]["layers"]["0"]["mac"] == conv_mac(3, 8)

    code, out, err = cli("check", "--baseline", "base.json", cwd=d)  # no MODEL: everything in the file
    assert code == 0, out + err
    assert "1 of 1 model passed" in out

    write_model(d, classes=5)  # +10 elements of MAC, well inside 0.5%
    code, out, err = cli("check", "--baseline", "base.json", "net.py:build", cwd=d)
    assert code == 0, out + err
    assert "within tolerance" in out

    write_model(d, width=16)  # the first conv widened
    code, out, err = cli("check", "--baseline", "base.json", "--metric", "mac,params", "--format", "json", cwd=d)
    assert code == 1, out + err
    report = json.loads(out)
    assert report["passed"] is False
    rows = {(r["layer"], r["metric"]): r for r in report["models"][0]["layers"]}
    assert rows[("0", "mac")]["baseline"] == conv_mac(3, 8)
    assert rows[("0", "mac")]["current"] == conv_mac(3, 16)
    assert rows[("2", "params")]["current"] == 16 * 8 * 9

    write_model(d, width=4)  # narrower: an improvement
    code, out, _ = cli("check", "--baseline", "base.json", cwd=d)
    assert code == 0 and "improvement" in out
    code, out, _ = cli("check", "--baseline", "base.json", "--strict", "--format", "markdown", cwd=d)
    assert code == 1 and "improvement" in out

    assert_bad_input(cli("baseline", "save", "net.py:build", "-o", "base.json", cwd=d),
                     "already exists", "baseline update")
    code, _, err = cli("baseline", "update", "-o", "base.json", cwd=d)  # accept the narrower model
    assert code == 0, err
    entry = json.loads((d / "base.json").read_text())["models"]["net.py:build"]
    assert entry["input_shape"] == [1, 3, 8, 8]  # kept, not reset to 224
    assert entry["layers"]["0"]["mac"] == conv_mac(3, 4)
    assert cli("check", "--baseline", "base.json", "--strict", cwd=d)[0] == 0


def test_cli_deepened_model_fails_end_to_end(tmp_path, cli):
    write_model(tmp_path)
    code, _, err = cli("baseline", "save", "net.py:build", "--input-size", "8", cwd=tmp_path)
    assert code == 0 and (tmp_path / "effkit-baseline.json").exists(), err
    # Deepen: one more 3x3 conv (8->8) after the second one.
    text = MODEL_FILE.format(width=8, classes=4).replace(
        "nn.AdaptiveAvgPool2d(1),", "nn.Conv2d(8, 8, 3, padding=1, bias=False),\n        nn.AdaptiveAvgPool2d(1),")
    (tmp_path / "net.py").write_text(text)
    code, out, err = cli("check", "--baseline", "effkit-baseline.json", "--format", "json", cwd=tmp_path)
    assert code == 1, out + err
    report = json.loads(out)["models"][0]
    total = report["totals"][0]
    assert (total["metric"], total["delta"], total["status"]) == ("mac", conv_mac(8, 8), "regression")
    # Sequential children are named by position, so everything after the new layer shifts by one:
    rows = {r["layer"]: (r["baseline"], r["current"], r["change"]) for r in report["layers"]}
    pool_mac = 8 * H * W + 8  # global average pool: reads 8x8x8, writes 8
    assert rows == {
        "3": (pool_mac, conv_mac(8, 8), "changed"),  # was the pool, now the new conv
        "4": (0, pool_mac, "changed"),  # was the flatten (a view), now the pool
        "5": (linear_mac(8, 4), 0, "changed"),  # was the linear layer, now the flatten
        "6": (None, linear_mac(8, 4), "added"),  # the linear layer
    }


@pytest.mark.parametrize("args, needles", [
    (["--baseline", "missing.json"], ["missing.json does not exist"]),
    (["--baseline", "corrupt.json"], ["not valid JSON"]),
    (["--baseline", "other.json"], ["not an effkit baseline"]),
    (["--baseline", "base.json", "--input-size", "16"], ["1x3x8x8, not 1x3x16x16"]),
    (["--baseline", "base.json", "--dtype", "bfloat16"], ["float32, not bfloat16"]),
    (["--baseline", "base.json", "resnet18"], ["'resnet18' is not in", "it has: net.py:build"]),
    (["--baseline", "base.json", "--metric", "mac,speed"], ["unknown metric 'speed'", "paper_mac"]),
    (["--baseline", "base.json", "--tolerance", "five%"], ["bad tolerance 'five%'"]),
    (["--baseline", "base.json", "--format", "csv"], ["unknown format 'csv'"]),
])
def test_cli_bad_input(cli_base, cli, args, needles):
    (cli_base / "corrupt.json").write_text('{"effkit_baseline": 1, "models": {')
    (cli_base / "other.json").write_text('{"rows": []}')
    assert_bad_input(cli("check", *args, cwd=cli_base), *needles)


def test_cli_refuses_entries_saved_from_python_objects(base, cli):
    # `base` holds a module saved from Python: the CLI cannot rebuild it by name.
    assert_bad_input(cli("check", "--baseline", str(base), cwd=base.parent), "'tiny'", "saved from a Python object")
    assert_bad_input(cli("baseline", "update", "-o", str(base), cwd=base.parent), "saved from a Python object")


# ------------------------------------------------------------------------------------------------
# the zoo's committed baselines: a change to a zoo model's counts fails here

ZOO_BASELINE = Path(__file__).parent / "baselines" / "zoo.json"


def test_zoo_baseline_covers_the_zoo():
    data = load_baseline(ZOO_BASELINE)
    assert sorted(data["models"]) == effkit.list_models()
    for name, entry in data["models"].items():
        side = 32 if "cifar" in name else 224
        assert entry["input_shape"] == [1, 3, side, side], name
        assert entry["spec"] == name


# torchvision's model documentation: "GFLOPS" (multiply-adds, 224x224) and parameter counts.
PUBLISHED = {
    "resnet18": (1.814, 11_689_512), "resnet34": (3.664, 21_797_672), "resnet50": (4.089, 25_557_032),
    "resnet101": (7.801, 44_549_160), "resnet152": (11.514, 60_192_808),
    "densenet121": (2.834, 7_978_856), "densenet161": (7.728, 28_681_000),
    "densenet169": (3.360, 14_149_480), "densenet201": (4.29, 20_013_928),
}


def test_zoo_baseline_agrees_with_published_numbers():
    # The committed file is the reference the gate enforces, so it must itself be right.
    models = load_baseline(ZOO_BASELINE)["models"]
    for name, (g_mult_adds, params) in PUBLISHED.items():
        totals = models[name]["totals"]
        assert totals["params"] == params, name
        assert round(totals["mult_adds"] / 1e9, 3 if name != "densenet201" else 2) == g_mult_adds, name
    # Paper section 3.2: equation (1) summed over DenseNet-40's convs at 32x32 gives 3.7M (3.68M).
    assert round(models["densenet40_cifar"]["totals"]["paper_mac"] / 1e6, 2) == 3.68


# torchvision's weight metadata ("_ops" GFLOPS to three digits, "num_params") for the newer families.
PUBLISHED_NEWER = {
    "mobilenet_v2": (0.301, 3_504_872), "shufflenet_v2_x1_0": (0.145, 2_278_604),
    "efficientnet_b0": (0.386, 5_288_548), "convnext_tiny": (4.456, 28_589_128),
}


def test_zoo_baseline_newer_families_agree_with_published_numbers():
    models = load_baseline(ZOO_BASELINE)["models"]
    for name, (g_mult_adds, params) in PUBLISHED_NEWER.items():
        totals = models[name]["totals"]
        assert totals["params"] == params, name
        assert totals["mult_adds"] / 1e9 == pytest.approx(g_mult_adds, rel=2e-2), name


@pytest.mark.parametrize("name", sorted(load_baseline(ZOO_BASELINE)["models"]) if ZOO_BASELINE.exists() else [])
def test_zoo_model_matches_its_baseline(name):
    res = check(name, ZOO_BASELINE, metrics=METRICS, tolerance="0", strict=True)
    assert res.passed, res.format("table")
    assert res.layers.empty, res.format("table")


def test_zoo_gate_through_the_cli(tmp_path, cli):
    code, out, err = cli("check", "--baseline", str(ZOO_BASELINE), "vovnet27_slim", "densenet40_cifar",
                         "--metric", "mac,flops,params", "--tolerance", "0", "--strict", cwd=tmp_path)
    assert code == 0, out + err
    assert "2 of 2 models passed" in out


def test_baseline_to_a_directory_is_refused_even_with_force(cli_base, cli):
    # "already exists; use --force" would send the user to a flag that then fails with "Is a directory".
    folder = cli_base / "adir"
    folder.mkdir()
    for extra in ([], ["--force"]):
        res = cli("baseline", "save", "net.py:build", "-o", str(folder), *extra, cwd=cli_base)
        assert_bad_input(res, "is a directory")
        assert "--force" not in res[2]
    assert_bad_input(cli("baseline", "update", "net.py:build", "-o", str(folder), cwd=cli_base), "is a directory")


def test_baseline_into_a_missing_folder_is_refused(cli_base, cli):
    res = cli("baseline", "save", "net.py:build", "-o", str(cli_base / "nope" / "b.json"), cwd=cli_base)
    assert_bad_input(res, "does not exist")
    assert not (cli_base / "nope").exists()


def test_corrupt_baseline_on_update_suggests_save_force_not_update(cli_base, cli):
    empty = cli_base / "empty.json"
    empty.write_text("")
    res = cli("baseline", "update", "net.py:build", "-o", str(empty), cwd=cli_base)
    assert_bad_input(res, "not valid JSON", "baseline save", "--force")
    assert "baseline update" not in res[2]  # the command that just failed
    assert empty.read_text() == ""  # left as it was


def test_corrupt_baseline_end_to_end_is_one_line(tmp_path, cli):
    (tmp_path / "empty.json").write_text("{")
    code, out, err = cli("baseline", "update", "resnet18", "-o", "empty.json", cwd=tmp_path)
    assert_bad_input((code, out, err), "not valid JSON", "--force")
    assert err.count("\n") == 1  # not even a blank line from a progress bar


LONG_NAMES_FILE = """
from torch import nn


class Net(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.a_block_with_a_rather_long_name_for_the_table = nn.Sequential()
        self.a_block_with_a_rather_long_name_for_the_table.add_module(
            "and_a_child_convolution_with_a_long_name", nn.Conv2d(3, width, 3, bias=False))

    def forward(self, x):
        return self.a_block_with_a_rather_long_name_for_the_table(x)


def build():
    return Net({width})
"""


def test_check_table_is_not_folded_to_80_columns_in_a_pipe(tmp_path, cli, monkeypatch):
    layer = "a_block_with_a_rather_long_name_for_the_table.and_a_child_convolution_with_a_long_name"
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # long.py is rewritten at the same size at once
    (tmp_path / "long.py").write_text(LONG_NAMES_FILE.format(width=4))
    code, _, err = cli("baseline", "save", "long.py:build", "-s", "8", "-o", "b.json", cwd=tmp_path)
    assert code == 0, err
    (tmp_path / "long.py").write_text(LONG_NAMES_FILE.format(width=6))
    res = cli("check", "--baseline", "b.json", env={"COLUMNS": None, "LINES": None})  # as in a CI log
    assert res.returncode == 1, res.stderr
    # The layer name (86 characters) stays whole on one line; at 80 columns rich would fold it.
    assert any(layer in line for line in res.stdout.splitlines()), res.stdout
