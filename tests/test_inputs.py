"""Models that are not one float tensor in: several inputs, integer ids, value-dependent code,
plain tensor attributes, tensors made inside forward, channels-last inputs; their bad-input paths."""

from __future__ import annotations

import warnings

import pytest
import torch
from conftest import assert_bad_input
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import effkit
from effkit.errors import BadInputError

MODELS = '''
import torch
from torch import nn


class TextEncoder(nn.Module):
    """Token ids and an attention mask in, one pooled vector out."""

    def __init__(self, vocab=50, dim=16):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, input_ids, attention_mask):
        h = self.proj(self.emb(input_ids))
        return (h * attention_mask.unsqueeze(-1).to(h.dtype)).sum(1)


class ReadsValues(nn.Module):
    """Python control flow on a tensor's value: impossible on the meta device."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        y = self.conv(x)
        if y.mean() > -1e30:  # reads a value
            y = y * 2
        return self.fc(y.mean((2, 3)))


def text_encoder():
    return TextEncoder()


def reads_values():
    return ReadsValues()
'''


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "user_models.py"
    path.write_text(MODELS)
    ns: dict = {}
    exec(compile(MODELS, str(path), "exec"), ns)
    return path, ns



def _profile(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # embedding may have no formula yet: not what is tested here
        return effkit.profile(*args, warn=False, **kwargs)


# Text encoder at batch 2, 8 tokens, width 16: the one linear does 2*8*16*16 = 4096 multiply-adds.
TEXT_MULT_ADDS = 2 * 8 * 16 * 16


@pytest.mark.parametrize("inputs", [
    {"input_ids": ((2, 8), "int64"), "attention_mask": ((2, 8), torch.int64)},  # named
    [((2, 8), "int64"), ((2, 8), "int64")],  # positional
    {"input_ids": torch.zeros(2, 8, dtype=torch.long), "attention_mask": torch.ones(2, 8, dtype=torch.long)},
    {"input_ids": lambda: torch.randint(0, 50, (2, 8)), "attention_mask": "2x8:int64"},  # builders, text
])
def test_text_encoder_inputs(models, inputs):
    prof = _profile(models[1]["TextEncoder"](), inputs=inputs)
    assert prof.totals.mult_adds == TEXT_MULT_ADDS
    assert prof.input_shape == (2, 8)
    assert all("int64" in s for s in prof.inputs), prof.inputs


def test_text_encoder_matches_flop_counter_on_a_real_run(models):
    model = models[1]["TextEncoder"]()
    ids, mask = torch.zeros(2, 8, dtype=torch.long), torch.ones(2, 8, dtype=torch.long)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    prof = _profile(model, inputs={"input_ids": ids, "attention_mask": mask})
    assert prof.totals.mult_adds == fc.get_total_flops() // 2


def test_floats_follow_the_dtype_integers_keep_theirs(models):
    prof = _profile(models[1]["TextEncoder"](), inputs={"input_ids": "2x8:int64", "attention_mask": "2x8"},
                    dtype="float16")
    assert prof.inputs == ["input_ids=2x8 int64", "attention_mask=2x8 float16"]


def test_integer_inputs_get_valid_values():
    from effkit.analysis import inputs as I

    args, kwargs = I.materialise(*I.split({"ids": "4x64:int64", "mask": "4x64:bool", "x": "4x3"}),
                                 torch.float32, "cpu")
    assert kwargs["ids"].dtype == torch.int64 and int(kwargs["ids"].min()) >= 0
    assert kwargs["mask"].all() and kwargs["x"].dtype == torch.float32


def test_value_reads_are_named_with_the_users_line(models):
    path, ns = models
    with pytest.raises(BadInputError) as err:
        _profile(ns["ReadsValues"](), (1, 3, 8, 8))
    msg = str(err.value)
    assert "reads tensor values (_local_scalar_dense)" in msg
    assert f"{path}:" in msg and "if y.mean() > -1e30" in msg
    assert "execute=cpu" in msg and "shape" not in msg.split("(")[0]


def test_execute_cpu_counts_like_flop_counter(models):
    model = models[1]["ReadsValues"]()
    x = torch.randn(2, 3, 8, 8)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x)
    lines = []
    prof = _profile(model, (2, 3, 8, 8), execute="cpu", log=lines.append)
    # conv 1x1 3->4 on 2x8x8: 2*64*4*3 = 1536; linear 4->2 on a batch of 2: 16
    assert prof.totals.mult_adds == 1536 + 16 == fc.get_total_flops() // 2
    assert prof.execute == "cpu" and len(lines) == 1 and "memory" in lines[0]
    assert all(p.device.type == "cpu" and not p.is_meta for p in model.parameters())


def test_execute_cpu_refuses_what_does_not_fit(models, monkeypatch):
    from effkit.analysis import execute

    monkeypatch.setattr(execute, "available_memory", lambda: 1000)
    with pytest.raises(BadInputError, match="needs about .* but only 1000 B is available"):
        _profile(models[1]["ReadsValues"](), (1, 3, 8, 8), execute="cpu")


class WithPlainTensors(nn.Module):
    """A plain tensor attribute (not a buffer) and a tensor made in forward without device=."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.scale = torch.full((4,), 2.0)

    def forward(self, x):
        pos = torch.arange(x.shape[0]).to(x.dtype).unsqueeze(-1)
        return self.lin(x * self.scale) + pos


def test_plain_tensor_attributes_and_factories_in_forward():
    model = WithPlainTensors()
    weight = model.lin.weight
    prof = _profile(model, (3, 4))
    assert prof.totals.mult_adds == 3 * 4 * 4  # the one linear
    # the user's model is untouched: same tensors, on the CPU, with their values
    assert model.scale.device.type == "cpu" and torch.equal(model.scale, torch.full((4,), 2.0))
    assert model.lin.weight is weight and not weight.is_meta and model.training


class Flattens(nn.Module):
    def __init__(self, reshape: bool):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1, bias=False)
        self.reshape = reshape

    def forward(self, x):
        y = self.conv(x)
        return y.reshape(y.shape[0], -1) if self.reshape else y.view(y.shape[0], -1)


def test_channels_last_view_fails_as_on_a_real_tensor():
    assert _profile(Flattens(reshape=False), (1, 3, 4, 4)).totals.mult_adds == 16 * 4 * 3
    with pytest.raises(BadInputError, match="view"):
        _profile(Flattens(reshape=False), (1, 3, 4, 4), channels_last=True)
    with pytest.raises(RuntimeError, match="view"):  # the real thing fails the same way
        Flattens(reshape=False)(torch.randn(1, 3, 4, 4).contiguous(memory_format=torch.channels_last))


def test_channels_last_reshape_copy_is_counted():
    plain = _profile(Flattens(reshape=True), (1, 3, 4, 4))
    cl = _profile(Flattens(reshape=True), (1, 3, 4, 4), channels_last=True)
    # the reshape of the 1x4x4x4 channels-last conv output copies it: 64 reads + 64 writes
    assert cl.totals.mac - plain.totals.mac == 2 * 64
    assert "clone" in set(cl.ops["op"]) and cl.channels_last


# --- the command line --------------------------------------------------------------------------


def test_cli_named_inputs(models, cli):
    path, _ = models
    res = cli("profile", f"{path}:text_encoder", "--input", "input_ids=2x8:int64",
              "--input", "attention_mask=2x8:int64", "--format", "json")
    assert res.returncode == 0, res.stderr
    import json

    data = json.loads(res.stdout)
    assert data["totals"]["mult_adds"] == TEXT_MULT_ADDS
    assert data["inputs"] == ["input_ids=2x8 int64", "attention_mask=2x8 int64"]


def test_cli_execute_cpu_states_its_memory(models, cli):
    path, _ = models
    res = cli("profile", f"{path}:reads_values", "--input", "2x3x8x8", "--execute", "cpu", "--format", "csv")
    assert res.returncode == 0, res.stderr
    assert "memory" in res.stderr and "running" in res.stderr


@pytest.mark.parametrize("args, needles", [
    (["--input", "input_ids=2x8:int64"], ["needs input 'attention_mask'", "--input"]),
    (["--input", "input_ids=2x8:int64", "--input", "attention_mask=2x8:int64", "--input", "extra=2x8"],
     ["input 'extra' is not an argument", "forward(input_ids, attention_mask)"]),
    (["--input", "2x8:int64", "--input", "2x8:int64", "--input", "2x8:int64"], ["at most 2 positional"]),
    (["--input", "input_ids=2xx8:int64"], ["input 'input_ids'", "malformed shape"]),
    (["--input", "input_ids=2x8:int65", "--input", "attention_mask=2x8:int64"],
     ["input 'input_ids'", "unknown dtype 'int65'"]),
    (["--input", "input_ids=2x8:float32", "--input", "attention_mask=2x8:int64"],
     ["check the dtype of each input", "input_ids=2x8 float32"]),
    (["--input", "=2x8"], ["malformed input '=2x8'"]),
])
def test_cli_bad_inputs(models, args, needles, cli):
    path, _ = models
    assert_bad_input(cli("profile", f"{path}:text_encoder", *args), *needles)


def test_cli_value_reads_and_memory_refusal(models, cli):
    path, _ = models
    assert_bad_input(cli("profile", f"{path}:reads_values", "--input-shape", "1,3,8,8"),
                     "reads tensor values", "--execute=cpu", "if y.mean() > -1e30")
    # 1x3x300000x300000 float32 is about a terabyte of input alone
    assert_bad_input(cli("profile", f"{path}:reads_values", "--input-shape", "1,3,300000,300000",
                         "--execute", "cpu"), "--execute=cpu", "needs about", "use smaller inputs")


# --- a library model ---------------------------------------------------------------------------


def test_tiny_bert_with_an_attention_mask():
    transformers = pytest.importorskip("transformers", reason="transformers is not installed")
    cfg = transformers.BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=64, max_position_embeddings=32)
    model = transformers.BertModel(cfg).eval()
    ids = torch.zeros(1, 16, dtype=torch.long)
    mask = torch.ones(1, 16, dtype=torch.long)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    # FlopCounterMode has no formula for the CPU flash-attention kernel: the math backend shows it the
    # attention matmuls that effkit's attention formula counts.
    with FlopCounterMode(display=False) as fc, torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
        model(input_ids=ids, attention_mask=mask)
    inputs = {"input_ids": ((1, 16), "int64"), "attention_mask": ((1, 16), "int64")}
    try:
        prof = _profile(model, inputs=inputs)
    except BadInputError as e:  # the library's own mask check reads values: then a real run
        assert "execute=cpu" in str(e)
        prof = _profile(model, inputs=inputs, execute="cpu")
    assert prof.totals.mult_adds == fc.get_total_flops() // 2
    assert not prof.uncounted  # the mask check's all() and its read into Python are counted too


def test_fvcore_is_fed_the_same_inputs(models):
    from effkit.analysis.crosscheck import fvcore_crosscheck

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        diff = fvcore_crosscheck(models[1]["TextEncoder"](),
                                 inputs={"input_ids": "2x8:int64", "attention_mask": "2x8:int64"})
    assert diff.fvcore_mult_adds == diff.effkit_mult_adds == TEXT_MULT_ADDS


def test_cli_input_text_forms():
    from effkit.analysis.inputs import MixedInputs, parse_cli_inputs

    assert parse_cli_inputs(["1x3x8x8"]) == [(1, 3, 8, 8)]
    assert parse_cli_inputs(["ids=1x4:int64"]) == {"ids": ((1, 4), torch.int64)}
    mixed = parse_cli_inputs(["1x3x8x8:float16", "boxes=1x5x4"])
    assert isinstance(mixed, MixedInputs) and mixed == ([((1, 3, 8, 8), torch.float16)], {"boxes": (1, 5, 4)})
    with pytest.raises(BadInputError, match="after a named one"):
        parse_cli_inputs(["boxes=1x5x4", "1x3x8x8"])
    with pytest.raises(BadInputError, match="given twice"):
        parse_cli_inputs(["a=1", "a=2"])


def test_measure_channels_last_takes_its_analysis_from_a_channels_last_trace():
    from effkit.measurement.api import measure

    fast = dict(device="cpu", warmup_s=0.0, warmup_iters=1, min_iters=2, min_time_s=0.0, energy=False)
    plain = measure(Flattens(reshape=True), input_size=4, **fast).iloc[0]
    cl = measure(Flattens(reshape=True), input_size=4, channels_last=True, **fast).iloc[0]
    assert int(cl["mac"]) - int(plain["mac"]) == 2 * 64  # the reshape's copy, as above


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x, y=None):
        return self.lin(x) if y is None else self.lin(x) + self.lin(y)


@pytest.mark.parametrize("inputs, mult_adds", [
    (lambda: {"x": torch.randn(2, 4), "y": torch.randn(2, 4)}, 2 * 2 * 4 * 4),  # a dict: keywords
    (lambda: (torch.randn(2, 4),), 2 * 4 * 4),  # a tuple: positional
    (lambda: torch.randn(2, 4), 2 * 4 * 4),  # one tensor
    ([(2, 4), torch.randn(2, 4)], 2 * 2 * 4 * 4),  # a shape and an example tensor
])
def test_a_callable_can_build_every_input(inputs, mult_adds):
    assert _profile(TwoInputs(), inputs=inputs).totals.mult_adds == mult_adds


def test_unknown_execute_mode():
    with pytest.raises(BadInputError, match="unknown execute 'gpu'; use meta or cpu"):
        _profile(TwoInputs(), (2, 4), execute="gpu")
    with pytest.raises(BadInputError, match="input_shape or inputs, not both"):
        _profile(TwoInputs(), (2, 4), inputs=[(2, 4)])
