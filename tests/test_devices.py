"""One parser of device strings (effkit.devices.parse_device): measurement, sweeps and energy windows read a
device setting alike and word a bad one alike."""

import pytest
import torch

from effkit.devices import parse_device, resolve_device
from effkit.errors import BadInputError
from effkit.measurement.energy.base import NullMeter
from effkit.measurement.window import begin_window
from effkit.sweep import sweep_spec


@pytest.mark.parametrize("text, expected", [
    ("auto", None), (" AUTO ", None), ("cpu", torch.device("cpu")), (" CPU ", torch.device("cpu")),
    ("cuda", torch.device("cuda")), ("cuda:1", torch.device("cuda", 1)), ("Cuda:3", torch.device("cuda", 3)),
])
def test_what_a_device_string_names(text, expected):
    assert parse_device(text) == expected


def _refusals(text):
    """The messages of measurement (resolve_device), a sweep and an energy window for the same device string."""
    out = []
    for call in (lambda: resolve_device(text), lambda: sweep_spec(models=["resnet18"], device=text),
                 lambda: begin_window(text, meter=NullMeter("test"))):
        with pytest.raises(BadInputError) as e:
            call()
        assert e.value.field == "device"
        out.append(str(e.value))
    return out


@pytest.mark.parametrize("text", ["tpu", "cuda:x", "cuda:-1", "", "cpu cuda"])
def test_a_device_string_nothing_reads_is_refused_in_one_wording(text):
    assert _refusals(text) == [f"unknown device {text!r}; use auto, cpu, cuda or cuda:N"] * 3


def test_a_device_effkit_does_not_time_is_refused_by_measurement_and_sweeps_but_metered_by_a_window():
    expected = "device type 'meta' is not supported for measurement; use cpu or cuda:N"
    for call in (lambda: resolve_device("meta"), lambda: sweep_spec(models=["resnet18"], device="meta")):
        with pytest.raises(BadInputError, match=expected):
            call()
    window = begin_window("meta", meter=NullMeter("test"))  # brackets any code, on whatever device it runs
    assert window.device == "meta"
