"""Public functions and subpackages must not share a name: importing a submodule must not shadow a function."""

import subprocess
import sys

PROBE = """
import types, effkit
import effkit.measurement.timing, effkit.measurement.api, effkit.gate, effkit.baseline, effkit.prediction.api
for name in {names!r}:
    value = getattr(effkit, name)
    print(name, callable(value) and not isinstance(value, types.ModuleType))
"""


def _probe(*names: str) -> dict[str, bool]:
    # A fresh interpreter: this test process may already have imported any effkit submodule.
    out = subprocess.run([sys.executable, "-c", PROBE.format(names=names)], capture_output=True, text=True,
                         check=True).stdout
    return {name: flag == "True" for name, flag in (line.split() for line in out.splitlines())}


def test_measure_and_compare_stay_functions_after_submodule_imports():
    assert _probe("measure", "compare") == {"measure": True, "compare": True}


def test_check_and_predict_stay_functions_after_submodule_imports():
    assert _probe("check", "predict", "proxies", "calibrate") == {
        "check": True, "predict": True, "proxies": True, "calibrate": True}
