"""The walkthrough notebook runs from top to bottom on a CPU, so it never rots.

It is executed with nbclient in a temporary working folder; any cell error fails the test. The committed
file must carry no outputs and be exactly what notebooks/make_walkthrough.py writes.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
WALKTHROUGH = NOTEBOOKS / "walkthrough.ipynb"


def kernel_name() -> str:
    """The python3 kernel; installed for this interpreter first if the machine has no such kernel spec."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user", "--name", "python3"],
                       check=True, capture_output=True)
    return "python3"


def builder():
    spec = importlib.util.spec_from_file_location("make_walkthrough", NOTEBOOKS / "make_walkthrough.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_walkthrough_is_stored_without_outputs():
    nb = nbformat.read(WALKTHROUGH, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_walkthrough_is_what_its_builder_writes():
    assert WALKTHROUGH.read_text(encoding="utf-8") == builder().text()


def test_walkthrough_runs_on_cpu(tmp_path):
    nb = nbformat.read(WALKTHROUGH, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=kernel_name(), timeout=120,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.data]
    assert len(images) == 2  # Figure 3 and the per-layer view
    text = "\n".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "DenseNet-40 paper MAC 3.68M" in text and "passed: False" in text
    assert list(tmp_path.iterdir()) == []  # the notebook cleans up the baseline it writes
