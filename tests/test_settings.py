"""MeasureSettings: one list of settings, bounds stated once, one validate()."""

import math

import pytest

from effkit.errors import BadInputError
from effkit.measurement.settings import MeasureSettings

# (setting, a value just out of range, what the message says): the bounds as documented in MeasureSettings.
OUT_OF_RANGE = [
    ("min_iters", 0, "integer >= 1"), ("warmup_iters", -1, "integer >= 0"), ("energy_trials", 0, "integer >= 1"),
    ("energy_window_iters", -1, "integer >= 0"), ("warmup_s", -0.5, "finite number >= 0"),
    ("min_time_s", math.inf, "finite number >= 0"), ("energy_window_s", math.nan, "finite number >= 0"),
    ("idle_s", -1.0, "finite number >= 0"), ("min_iters", 2.5, "integer >= 1"), ("warmup_iters", True, "integer"),
]


def test_defaults_are_valid():
    MeasureSettings().validate()
    MeasureSettings(warmup_iters=0, warmup_s=0, min_time_s=0, idle_s=0, energy_window_iters=0).validate()


@pytest.mark.parametrize("name, value, needle", OUT_OF_RANGE)
def test_out_of_range_names_the_setting(name, value, needle):
    with pytest.raises(BadInputError, match=rf"^{name} must be an? {needle}") as e:
        MeasureSettings(**{name: value}).validate()
    assert e.value.field == name


# (setting, a value that is not one of its choices, the message): tf32 may also be unset (None).
NOT_A_CHOICE = [("mig_energy", 1, "mig_energy must be true or false, got 1"),
                ("mig_energy", None, "mig_energy must be true or false, got None"),
                ("tf32", "yes", "tf32 must be true, false or None, got 'yes'")]


@pytest.mark.parametrize("name, value, message", NOT_A_CHOICE)
def test_switches_take_only_their_choices(name, value, message):
    with pytest.raises(BadInputError, match=rf"^{message}$") as e:
        MeasureSettings(**{name: value}).validate()
    assert e.value.field == name
    for ok in ((True, False, None) if name == "tf32" else (True, False)):
        MeasureSettings(**{name: ok}).validate()


def test_energy_trials_only_checked_with_energy():
    MeasureSettings(energy=False, energy_trials=0).validate()


@pytest.mark.parametrize("dtype, canonical", [("fp16", "float16"), ("bf16", "bfloat16"), ("float32", "float32")])
def test_dtype_aliases(dtype, canonical):
    s = MeasureSettings(dtype=dtype)
    s.validate()
    assert s.canonical_dtype() == canonical


@pytest.mark.parametrize("dtype", ["float64", "int8", "nonsense"])
def test_dtype_that_cannot_be_measured(dtype):
    with pytest.raises(BadInputError, match="dtype must be one of float32, float16, bfloat16") as e:
        MeasureSettings(dtype=dtype).validate()
    assert e.value.field == "dtype"


def test_settings_are_keyword_only_and_frozen():
    with pytest.raises(TypeError):
        MeasureSettings("float16")
    with pytest.raises(AttributeError):
        MeasureSettings().min_iters = 3


def test_sweep_keys_take_their_kinds_from_the_bounds():
    from effkit.sweep import SETTING_KEYS

    assert SETTING_KEYS == {
        "warmup_s": "seconds", "warmup_iters": "count0", "min_iters": "count", "min_time_s": "seconds",
        "energy": "bool", "energy_trials": "count", "energy_window_s": "seconds", "energy_window_iters": "count0",
        "idle_s": "seconds", "cuda_graph": "bool", "cudnn_benchmark": "bool", "per_layer": "bool",
        "mig_energy": "bool", "tf32": "bool",
    }
