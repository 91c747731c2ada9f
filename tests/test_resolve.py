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
