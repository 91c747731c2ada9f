"""effkit.models.resolve: one rule for "is this spec a file", used by the registry, the loader and sweeps."""

import pytest
from torch import nn

from effkit.errors import BadInputError
from effkit.models.resolve import build_model, default_input_size, is_file_spec, model_name


@pytest.mark.parametrize("spec, is_file", [
    ("vovnet39", False),                  # a zoo name
    ("torchvision:resnet50", False),      # a model library
    ("timm:vovnet39a", False),
    ("pkg.module:build", False),          # a module
    ("net.py:build", True),               # ends in .py
    ("models/net:build", True),           # a path separator, no .py
    ("/abs/dir/net.py:build", True),
])
def test_file_spec_rule(spec, is_file):
    assert is_file_spec(spec) is is_file


def test_names_sizes_and_building():
    lin = nn.Linear(2, 3)
    assert model_name(lin) == "Linear" and model_name("resnet18") == "resnet18"
    with pytest.raises(BadInputError, match="expected a model name or an nn.Module"):
        model_name(42)
    assert default_input_size("resnet18") == 224 and default_input_size("densenet40_cifar") == 32
    assert default_input_size("x.py:f") is None and default_input_size(lin) is None
    copy = build_model(lin)
    assert copy is not lin and copy.weight.data_ptr() != lin.weight.data_ptr()


def test_every_entry_point_reads_a_model_or_its_name_the_same_way(tmp_path):
    # profile, measure, check, evaluate and build_baseline all go through resolve(): one refusal, word for word.
    from PIL import Image

    import effkit
    from effkit.baseline import build_baseline
    from effkit.evaluate import evaluate
    from effkit.gate import check

    (tmp_path / "cat").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "cat" / "1.png")  # evaluate reads its folder before the model
    calls = [lambda: effkit.profile(42), lambda: effkit.measure(42),
             lambda: check(42, {"effkit_baseline": 1, "models": {}}), lambda: evaluate(42, data=tmp_path),
             lambda: build_baseline([42]), lambda: build_baseline({"a": 42})]
    for call in calls:
        with pytest.raises(BadInputError) as e:
            call()
        assert str(e.value) == "expected a model name or an nn.Module, got int"


def test_resolved_builds_a_copy_the_module_itself_or_on_a_device():
    from effkit.models.resolve import resolve

    lin = nn.Linear(2, 3)
    given = resolve(lin)
    assert (given.name, given.module, given.spec) == ("Linear", lin, None)
    assert given.build(copy=False) is lin and given.build() is not lin
    on_meta = given.build(device="meta")
    assert on_meta.weight.is_meta and not lin.weight.is_meta  # the caller's module stays where it was
    named = resolve("resnet18")
    assert (named.name, named.module, named.spec, named.default_input_size) == ("resnet18", None, "resnet18", 224)
    assert next(named.build(device="meta").parameters()).is_meta
