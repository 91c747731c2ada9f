"""The model zoo, the registry and external model/weight loading.

Big models are built on the meta device: parameter counts and state_dict keys need no real tensors.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

from effkit.errors import BackendUnavailableError, BadInputError, ModelLoadError, UnknownModelError
from effkit.models import create_model, get_entry, list_models, register_model
from effkit.models.external import create_external, load_weights
from effkit.models.densenet import DenseNet
from effkit.models.vovnet import OSAModule, VoVNet

FIXTURES = Path(__file__).parent / "fixtures"

# torchvision's model docs for DenseNet/ResNet; the VoVNet reference code for VoVNet.
PUBLISHED_PARAMS = {
    "vovnet27_slim": 3_525_736,
    "vovnet39": 22_600_296,
    "vovnet57": 36_640_296,
    "densenet121": 7_978_856,
    "densenet161": 28_681_000,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "densenet40_cifar": 1_019_722,  # "about 1.0M" in the DenseNet paper; counted from the build
    # The paper's variants have no published count; hand-computed in tests/test_variants.py.
    "osa40_cifar_12": 541_666,
    "osa40_cifar_5x43": 897_928,
    "vovnet27_slim_bottleneck": 2_747_752,
    # torchvision's weight metadata ("num_params") for the families beyond the paper.
    "mobilenet_v2": 3_504_872,
    "shufflenet_v2_x1_0": 2_278_604,
    "efficientnet_b0": 5_288_548,
    "convnext_tiny": 28_589_128,
}


def meta_model(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kwargs)


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ------------------------------------------------------------------------------------------------- zoo


def test_every_zoo_model_has_a_published_count():
    assert set(list_models()) == set(PUBLISHED_PARAMS)


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_param_counts_match_published(name):
    model = meta_model(name)
    assert all(p.is_meta for p in model.parameters())
    assert n_params(model) == PUBLISHED_PARAMS[name]


@pytest.mark.parametrize("name, keys", [
    ("vovnet39", ["stem.stem_1/conv.weight", "stem.stem_3/norm.running_var",
                  "stage2.OSA2_1.layers.0.OSA2_1_0/conv.weight",
                  "stage2.OSA2_1.concat.OSA2_1_concat/conv.weight",
                  "stage4.OSA4_2.layers.4.OSA4_2_4/norm.bias", "classifier.weight", "classifier.bias"]),
    ("densenet121", ["features.conv0.weight", "features.norm0.running_mean",
                     "features.denseblock1.denselayer1.norm1.weight",
                     "features.denseblock1.denselayer1.conv1.weight",
                     "features.denseblock1.denselayer1.norm2.weight",
                     "features.denseblock4.denselayer16.conv2.weight",
                     "features.transition1.norm.weight", "features.transition3.conv.weight",
                     "features.norm5.weight", "classifier.weight"]),
    ("resnet50", ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer1.0.conv3.weight",
                  "layer1.0.downsample.0.weight", "layer1.0.downsample.1.running_mean",
                  "layer4.2.bn3.bias", "fc.weight"]),
    ("resnet18", ["layer2.0.downsample.0.weight", "layer4.1.conv2.weight", "fc.bias"]),
    # torchvision's layouts: Conv2dNormActivation is a Sequential (0 conv, 1 norm, 2 activation).
    ("mobilenet_v2", ["features.0.0.weight", "features.0.1.running_var", "features.1.conv.0.0.weight",
                      "features.1.conv.1.weight", "features.1.conv.2.num_batches_tracked",
                      "features.2.conv.0.0.weight", "features.2.conv.1.0.weight", "features.2.conv.2.weight",
                      "features.17.conv.3.bias", "features.18.0.weight", "features.18.1.weight",
                      "classifier.1.weight", "classifier.1.bias"]),
    ("shufflenet_v2_x1_0", ["conv1.0.weight", "conv1.1.running_mean", "stage2.0.branch1.0.weight",
                            "stage2.0.branch1.2.weight", "stage2.0.branch1.3.bias", "stage2.0.branch2.0.weight",
                            "stage2.1.branch2.3.weight", "stage3.7.branch2.6.running_var",
                            "stage4.3.branch2.5.weight", "conv5.0.weight", "conv5.1.weight", "fc.weight"]),
    ("efficientnet_b0", ["features.0.0.weight", "features.0.1.running_mean", "features.1.0.block.0.0.weight",
                         "features.1.0.block.1.fc1.weight", "features.1.0.block.1.fc2.bias",
                         "features.1.0.block.2.0.weight", "features.2.0.block.0.0.weight",
                         "features.2.0.block.2.fc1.bias", "features.2.1.block.3.1.running_var",
                         "features.6.3.block.1.0.weight", "features.7.0.block.3.0.weight",
                         "features.8.0.weight", "features.8.1.bias", "classifier.1.weight"]),
    ("convnext_tiny", ["features.0.0.weight", "features.0.0.bias", "features.0.1.weight",
                       "features.1.0.layer_scale", "features.1.0.block.0.weight", "features.1.0.block.2.bias",
                       "features.1.2.block.3.weight", "features.1.2.block.5.bias", "features.2.0.weight",
                       "features.2.1.weight", "features.5.8.layer_scale", "features.6.1.bias",
                       "features.7.2.block.5.weight", "classifier.0.weight", "classifier.2.weight"]),
])
def test_state_dict_keys_follow_the_official_layout(name, keys):
    sd = meta_model(name).state_dict()
    for k in keys:
        assert k in sd, k


# state_dict entries counted by hand from each architecture: a BN is 5 entries (weight, bias, running
# mean/var, num_batches_tracked), a bias-free conv 1, a conv or linear with bias 2, a LayerNorm 2.
KEY_COUNTS = {
    # stem conv+BN 6; block 1 (t=1) dw conv+BN 6, project conv+BN 6; 16 blocks of 3 conv+BN (18);
    # last conv+BN 6; classifier 2: 6 + 12 + 16*18 + 6 + 2
    "mobilenet_v2": 314,
    # stem 6; 3 strided units (branch1 2 conv+BN, branch2 3 conv+BN: 30); 3+7+3 = 13 units of 18;
    # conv5 6; fc 2: 6 + 90 + 234 + 6 + 2
    "shufflenet_v2_x1_0": 338,
    # stem 6; block 1: dw 6 + gate (2 convs with bias) 4 + project 6; 15 blocks: 6 + 6 + 4 + 6 = 22;
    # head conv 6; classifier 2: 6 + 16 + 330 + 6 + 2
    "efficientnet_b0": 360,
    # stem conv 2 + LN 2; 18 blocks of dw conv 2, LN 2, 2 linears 4, layer_scale 1 (9);
    # 3 downsamplings of LN 2 + conv 2; head LN 2 + linear 2: 4 + 162 + 12 + 4
    "convnext_tiny": 182,
}


@pytest.mark.parametrize("name", sorted(KEY_COUNTS))
def test_state_dict_key_counts(name):
    assert len(meta_model(name).state_dict()) == KEY_COUNTS[name]


def test_vovnet_names_have_slashes_and_pooling_only_in_stages_3_to_5():
    model = meta_model("vovnet39")
    keys = list(model.state_dict())
    assert all("/" in k for k in keys if k.startswith(("stem.", "stage")))
    assert not hasattr(model.stage2, "Pooling")
    for s in ("stage3", "stage4", "stage5"):
        pool = getattr(model, s).Pooling
        assert isinstance(pool, nn.MaxPool2d) and pool.ceil_mode
    assert not model.stage4.OSA4_1.identity and model.stage4.OSA4_2.identity


def test_resnet_weights_follow_torchvision_v15_stride_on_3x3():
    model = meta_model("resnet50")
    block = model.layer2[0]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)


def test_densenet_transitions_compress_by_half():
    model = meta_model("densenet121")
    assert model.features.transition1.conv.in_channels == 256
    assert model.features.transition1.conv.out_channels == 128
    assert model.classifier.in_features == 1024


def test_osa_bottleneck_option_keys():
    m = OSAModule(64, 32, 128, 5, "OSA9_1", bottleneck=True)
    keys = list(m.state_dict())
    assert "layers.0.OSA9_1_0_bottleneck/conv.weight" in keys
    assert m.layers[0][0].out_channels == 32  # half of 64 input channels
    assert m.layers[1][0].in_channels == 32 and m.layers[1][0].out_channels == 16
    assert m(torch.randn(1, 64, 8, 8)).shape == (1, 128, 8, 8)


def test_bad_configs_raise_value_errors():
    with pytest.raises(ValueError, match="4 values of stage_ch"):
        VoVNet([1, 2, 3], [4, 5, 6, 7], [1, 1, 1, 1])
    with pytest.raises(BadInputError, match="num_classes"):
        create_model("vovnet27_slim", num_classes=0)
    with pytest.raises(BadInputError, match="identity"):
        OSAModule(64, 32, 128, 5, "OSA2_2", identity=True)
    with pytest.raises(BadInputError, match="block_config"):
        DenseNet(block_config=())
    with pytest.raises(BadInputError):
        create_model("resnet18", num_classes=-1)


def test_num_classes_and_entries():
    assert meta_model("vovnet39", num_classes=10).classifier.out_features == 10
    assert meta_model("densenet40_cifar").classifier.out_features == 10
    entry = get_entry("densenet40_cifar")
    assert entry.default_input_size == 32 and entry.family == "densenet"
    assert get_entry("vovnet57").family == "vovnet" and get_entry("resnet50").family == "resnet"
    assert get_entry("vovnet39").description.startswith("VoVNet-39")
    assert get_entry("densenet40_cifar").description


def test_list_models_pattern():
    assert list_models("vovnet*") == ["vovnet27_slim", "vovnet27_slim_bottleneck", "vovnet39", "vovnet57"]
    assert list_models("resnet1*") == ["resnet101", "resnet152", "resnet18"]
    assert list_models("nothing*") == []


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="already registered"):
        @register_model(family="vovnet")
        def vovnet39():  # noqa: F811
            """A second vovnet39."""


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UnknownModelError, match="vovnet39") as exc:
        create_model("vovnet40")
    assert "Did you mean" in str(exc.value)


def test_forward_vovnet27_slim_cpu():
    torch.manual_seed(0)
    model = create_model("vovnet27_slim").eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()


def test_forward_densenet40_cifar_cpu():
    torch.manual_seed(0)
    model = create_model("densenet40_cifar").eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 10) and torch.isfinite(out).all()
    # Three blocks of 12 layers, k=12, no compression: 16 + 3*12*12 = 448 channels at the head.
    assert model.classifier.in_features == 448


@pytest.mark.parametrize("name", ["mobilenet_v2", "shufflenet_v2_x1_0", "efficientnet_b0", "convnext_tiny"])
def test_forward_of_the_newer_families_cpu_at_32(name):
    # A real forward at 32x32 (ConvNeXt's smallest: five stride-2 stages leave 1x1) checks what the meta
    # device cannot: the arithmetic runs and stays finite from a fresh initialisation.
    torch.manual_seed(0)
    model = create_model(name, num_classes=10).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_stochastic_depth_drops_whole_samples_only_while_training():
    from effkit.models.common import StochasticDepth

    torch.manual_seed(0)
    drop = StochasticDepth(0.5)
    x = torch.ones(400, 3, 2, 2)
    y = drop(x)
    # each sample is dropped (0) or kept and scaled by 1 / (1 - 0.5) = 2, as a whole
    per_sample = y.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert (per_sample == per_sample[:, :1]).all()
    assert 150 < int((per_sample[:, 0] == 0).sum()) < 250  # about half of 400
    assert drop.eval()(x) is x
    with pytest.raises(BadInputError, match="stochastic depth"):
        StochasticDepth(1.5)


def test_newer_family_bad_configs_raise():
    from effkit.models.convnext import ConvNeXt
    from effkit.models.efficientnet import MBConv
    from effkit.models.mobilenet import MobileNetV2
    from effkit.models.shufflenet import ShuffleNetV2, ShuffleUnit

    with pytest.raises(BadInputError, match="stride"):
        ShuffleUnit(24, 48, 1)
    with pytest.raises(BadInputError, match="3 positive"):
        ShuffleNetV2([4, 8], [24, 116, 232, 464, 1024])
    with pytest.raises(BadInputError, match="t, c, n, s"):
        MobileNetV2([(1, 16, 1)])
    with pytest.raises(BadInputError, match="stride"):
        MBConv(16, 16, 3, 3, 6, 0.0)
    with pytest.raises(BadInputError, match="at least one stage"):
        ConvNeXt([])
    for name in ("mobilenet_v2", "shufflenet_v2_x1_0", "efficientnet_b0", "convnext_tiny"):
        with pytest.raises(BadInputError, match="num_classes"):
            meta_model(name, num_classes=0)
    assert get_entry("convnext_tiny").family == "convnext"
    assert get_entry("mobilenet_v2").description.startswith("MobileNetV2")


@pytest.mark.parametrize("name", ["resnet18", "densenet121"])
def test_meta_forward_of_imagenet_models(name):
    model = meta_model(name).eval()
    assert model(torch.empty(2, 3, 224, 224, device="meta")).shape == (2, 1000)


# ------------------------------------------------------------------------------------ external models

FACTORY_FILE = """
import torch
from torch import nn

def build(width=4, num_classes=3):
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.Flatten(), nn.LazyLinear(num_classes))

def tiny(num_classes=3):
    return nn.Linear(8, num_classes)

def not_a_model():
    return 42

def explodes():
    raise RuntimeError("factory went bang")

CONSTANT = 7
"""


@pytest.fixture
def factory_file(tmp_path):
    path = tmp_path / "mynet.py"
    path.write_text(FACTORY_FILE)
    return path


def test_external_from_file(factory_file):
    model = create_external(f"{factory_file}:tiny", num_classes=5)
    assert isinstance(model, nn.Linear) and model.out_features == 5
    via_registry = create_model(f"{factory_file}:tiny")
    assert isinstance(via_registry, nn.Linear)


def test_external_files_with_the_same_name_do_not_collide(tmp_path):
    for sub, n in (("a", 2), ("b", 3)):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "net.py").write_text(f"from torch import nn\ndef f():\n    return nn.Linear(1, {n})\n")
    assert create_external(f"{tmp_path / 'a' / 'net.py'}:f").out_features == 2
    assert create_external(f"{tmp_path / 'b' / 'net.py'}:f").out_features == 3


def test_external_file_imports_its_neighbours_and_leaves_sys_path_as_it_was(tmp_path, monkeypatch):
    # the file's folder is on sys.path only while the file runs, even when the import fails
    (tmp_path / "effkit_neighbour_layers.py").write_text("from torch import nn\nWIDTH = 7\n")
    (tmp_path / "net.py").write_text("from torch import nn\nfrom effkit_neighbour_layers import WIDTH\n"
                                     "def f():\n    return nn.Linear(1, WIDTH)\n")
    (tmp_path / "bad.py").write_text("import sys\nsys.exit(3)\n")
    before = list(sys.path)
    try:
        assert create_external(f"{tmp_path / 'net.py'}:f").out_features == 7
        assert sys.path == before
        with pytest.raises(ModelLoadError, match="bad.py"):
            create_external(f"{tmp_path / 'bad.py'}:f")
        assert sys.path == before
    finally:
        sys.modules.pop("effkit_neighbour_layers", None)
    from effkit.models.external import current_folder_importable

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    outside = list(sys.path)
    with current_folder_importable():
        assert sys.path[0] == str(tmp_path)
    assert sys.path == outside
    monkeypatch.setattr(sys, "path", ["", *outside])  # "" is the current folder already: nothing added
    with current_folder_importable():
        assert sys.path == ["", *outside]


def test_external_from_module(tmp_path, monkeypatch):
    pkg = tmp_path / "effkit_testpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(FACTORY_FILE)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    try:
        model = create_external("effkit_testpkg.nets:tiny", num_classes=4)
        assert isinstance(model, nn.Linear) and model.out_features == 4
        with pytest.raises(UnknownModelError, match="build, explodes, not_a_model, tiny"):
            create_external("effkit_testpkg.nets:missing")
    finally:
        for name in ("effkit_testpkg", "effkit_testpkg.nets"):
            sys.modules.pop(name, None)


def test_external_missing_file(tmp_path):
    missing = tmp_path / "nope.py"
    with pytest.raises(ModelLoadError, match="nope.py does not exist"):
        create_external(f"{missing}:build")


def test_external_directory_is_not_a_file(tmp_path):
    with pytest.raises(ModelLoadError, match="is not a file"):
        create_external(f"{tmp_path}/:build")


def test_external_file_that_raises_on_import(tmp_path):
    bad = tmp_path / "broken.py"
    bad.write_text("import torch\nraise ImportError('needs a package that is not here')\n")
    with pytest.raises(ModelLoadError, match="could not import .*broken.py: ImportError: needs a package") as exc:
        create_external(f"{bad}:build")
    assert isinstance(exc.value.__cause__, ImportError)
    syntax = tmp_path / "syntax.py"
    syntax.write_text("def build(:\n")
    with pytest.raises(ModelLoadError, match="SyntaxError"):
        create_external(f"{syntax}:build")


def test_external_module_that_cannot_be_imported():
    with pytest.raises(ModelLoadError, match="could not import 'effkit_no_such_pkg.mod': ModuleNotFoundError"):
        create_external("effkit_no_such_pkg.mod:build")


def test_external_missing_attribute_lists_callables(factory_file):
    with pytest.raises(UnknownModelError) as exc:
        create_external(f"{factory_file}:buidl")
    msg = str(exc.value)
    assert "'buidl'" in msg and "Did you mean build?" in msg
    assert "build, explodes, not_a_model, tiny" in msg
    assert "CONSTANT" not in msg and "nn" not in msg.split("Callables there:")[1]


def test_external_factory_raising(factory_file):
    with pytest.raises(ModelLoadError, match="factory .*:explodes raised RuntimeError: factory went bang") as exc:
        create_external(f"{factory_file}:explodes")
    assert isinstance(exc.value.__cause__, RuntimeError)


def test_external_factory_returning_a_non_module(factory_file):
    with pytest.raises(ModelLoadError, match="returned int, not a torch.nn.Module"):
        create_external(f"{factory_file}:not_a_model")
    with pytest.raises(ModelLoadError, match="not a callable"):
        create_external(f"{factory_file}:CONSTANT")


def test_external_bad_kwargs_are_a_factory_error(factory_file):
    with pytest.raises(ModelLoadError, match="TypeError"):
        create_external(f"{factory_file}:tiny", depth=3)


@pytest.mark.parametrize("spec", ["no_colon", "pkg.mod:", ":build", "pkg.mod:not-an-identifier"])
def test_external_malformed_spec(spec):
    with pytest.raises(BadInputError):
        create_external(spec)


def test_seed_reference_vovnet39_has_the_zoo_keys_and_shapes():
    with torch.device("meta"):
        seed = create_external(f"{FIXTURES / 'seed_vovnet.py'}:vovnet39")
    zoo = meta_model("vovnet39")
    seed_sd, zoo_sd = seed.state_dict(), zoo.state_dict()
    assert list(seed_sd) == list(zoo_sd)
    assert {k: v.shape for k, v in seed_sd.items()} == {k: v.shape for k, v in zoo_sd.items()}


def _backend_importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except Exception:
        return False
    return True


@pytest.mark.parametrize("backend, name", [("torchvision", "resnet18"), ("timm", "resnet18")])
def test_backend_models_or_a_clear_error(backend, name):
    if _backend_importable(backend):
        with torch.device("meta"):
            model = create_external(f"{backend}:{name}")
        assert n_params(model) == PUBLISHED_PARAMS["resnet18"]
        with pytest.raises(UnknownModelError, match="resnet18"):
            create_external(f"{backend}:resnet19")
    else:
        with pytest.raises(BackendUnavailableError) as exc:
            create_external(f"{backend}:{name}")
        msg = str(exc.value)
        assert f"{backend} is not importable here" in msg and "zoo names" in msg
        assert "\n" not in msg
        assert exc.value.__cause__ is not None


def test_backend_import_failing_with_runtime_error_is_unavailable(monkeypatch):
    import effkit.models.external as ext

    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name == "torchvision":
            raise RuntimeError("operator torchvision::nms does not exist")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(ext.importlib, "import_module", fake)
    with pytest.raises(BackendUnavailableError, match="torchvision is not importable here .*nms") as exc:
        create_external("torchvision:resnet18")
    assert isinstance(exc.value.__cause__, RuntimeError)


def test_backends_refuse_pretrained():
    with pytest.raises(BadInputError, match="never downloads"):
        create_external("timm:resnet18", pretrained=True)


# -------------------------------------------------------------------------------------------- weights


def _small():
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))


def _assert_same(a: nn.Module, b: nn.Module):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_load_weights_round_trip(tmp_path):
    src = _small()
    src[1].running_mean.normal_()
    path = tmp_path / "w.pt"
    torch.save(src.state_dict(), path)
    dst = _small()
    torch.manual_seed(99)
    for p in dst.parameters():
        nn.init.normal_(p)
    load_weights(dst, path)
    _assert_same(src, dst)


@pytest.mark.parametrize("wrap", ["state_dict", "model", "dataparallel"])
def test_load_weights_wrapped_checkpoints(tmp_path, wrap):
    src = _small()
    sd = src.state_dict()
    if wrap == "dataparallel":
        ckpt = {f"module.{k}": v for k, v in sd.items()}
    else:
        ckpt = {wrap: sd, "epoch": torch.tensor(3)}
    path = tmp_path / "w.pth"
    torch.save(ckpt, path)
    dst = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    load_weights(dst, str(path))
    _assert_same(src, dst)


def test_load_weights_zoo_model(tmp_path):
    src = create_model("vovnet27_slim", num_classes=3)
    path = tmp_path / "vov.pt"
    torch.save({"state_dict": src.state_dict()}, path)
    dst = create_model("vovnet27_slim", num_classes=3)
    load_weights(dst, path)
    _assert_same(src, dst)


def test_load_weights_mismatch_message(tmp_path):
    src = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2), nn.Linear(2, 2))
    sd = src.state_dict()
    sd.pop("2.bias")
    sd["extra.weight"] = torch.zeros(1)
    path = tmp_path / "w.pt"
    torch.save(sd, path)
    dst = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 2), nn.Linear(2, 2))
    with pytest.raises(ModelLoadError) as exc:
        load_weights(dst, path)
    msg = str(exc.value)
    assert "w.pt" in msg
    assert "1 missing key (2.bias)" in msg
    assert "1 unexpected key (extra.weight)" in msg
    assert "3 shape mismatches" in msg
    assert "0.weight: model [5, 4], file [3, 4]" in msg
    assert "\n" not in msg


def test_load_weights_mismatch_shows_first_five(tmp_path):
    path = tmp_path / "w.pt"
    torch.save({f"k{i}": torch.zeros(1) for i in range(8)}, path)
    with pytest.raises(ModelLoadError, match=r"8 unexpected keys \(k0, k1, k2, k3, k4, \.\.\. \(\+3 more\)\)"):
        load_weights(nn.Identity(), path)


def test_load_weights_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_weights(_small(), tmp_path / "absent.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(ModelLoadError, match="corrupt.pt: not a PyTorch checkpoint at all") as exc:
        load_weights(_small(), corrupt)
    assert exc.value.__cause__ is not None
    not_sd = tmp_path / "list.pt"
    torch.save([torch.zeros(1)], not_sd)
    with pytest.raises(ModelLoadError, match="holds no state_dict"):
        load_weights(_small(), not_sd)


def test_load_weights_refuses_pickled_objects(tmp_path):
    path = tmp_path / "module.pt"
    torch.save(_small(), path)  # a whole pickled module: not loadable with weights_only=True
    with pytest.raises(ModelLoadError, match=r"holding code or objects .*torch\.nn\.modules") as exc:
        load_weights(_small(), path)
    assert "weights_only=False" not in str(exc.value)


def test_load_weights_into_meta_model(tmp_path):
    src = _small()
    path = tmp_path / "w.pt"
    torch.save(src.state_dict(), path)
    with torch.device("meta"):
        dst = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    load_weights(dst, path)
    assert not any(p.is_meta for p in dst.parameters())
    _assert_same(src, dst)


def test_load_weights_maps_old_densenet_keys(tmp_path):
    torch.manual_seed(0)
    src = DenseNet(growth_rate=4, block_config=(1, 1), num_init_features=8, num_classes=2)
    old = {}
    for k, v in src.state_dict().items():
        for new, legacy in (("norm1", "norm.1"), ("conv1", "conv.1"), ("norm2", "norm.2"), ("conv2", "conv.2")):
            if ".denselayer" in k and f".{new}." in k:
                k = k.replace(f".{new}.", f".{legacy}.")
        old[k] = v
    assert any(".norm.1." in k for k in old)
    path = tmp_path / "old.pth"
    torch.save(old, path)
    dst = DenseNet(growth_rate=4, block_config=(1, 1), num_init_features=8, num_classes=2)
    load_weights(dst, path)
    _assert_same(src, dst)


def test_no_download_helpers_in_fixture():
    code = [ln for ln in (FIXTURES / "seed_vovnet.py").read_text().splitlines() if not ln.lstrip().startswith("#")]
    assert not any("load_state_dict_from_url" in ln or "model_urls" in ln for ln in code)
    with pytest.raises(ModelLoadError, match="ValueError: .*no downloads"):
        create_external(f"{FIXTURES / 'seed_vovnet.py'}:vovnet27_slim", pretrained=True)


def test_external_docstring_warns_that_files_are_executed():
    assert "executes the file" in textwrap.dedent(create_external.__doc__).lower()
