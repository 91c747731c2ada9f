"""What the README's install lines install."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_says_which_torch_each_install_line_brings():
    first, cpu, tests = _bash_blocks()[:3]
    # the default line takes what PyPI serves (CUDA on Linux x86-64): no pin that claims to be the CPU wheel
    assert "pip install . && effkit profile vovnet39" in first and "torch==" not in first
    # the CPU-only line uses PyTorch's CPU index, as docs/regression-checks.md does
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in cpu
    assert "effkit profile vovnet39" in cpu
    assert tests.strip() == "pip install -e '.[test,ray]' && python -m pytest"
    assert "torch==2.13.0" in (ROOT / ".ci" / "run").read_text()  # CI keeps its pin


def test_a_regular_install_is_found_from_the_folder_holding_a_checkout(tmp_path):
    """The install lines' regular (non-editable) copy beats a checkout folder named ``effkit`` in the current folder.

    Python takes a regular package anywhere on the path over a folder without ``__init__.py`` (a namespace
    portion) found earlier; an editable install adds no such package to the path, which is why the README sends
    ``pip install .`` to users and says where an editable one is not found.
    """
    import os
    import subprocess
    import sys

    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "effkit").symlink_to(ROOT / "effkit", target_is_directory=True)  # stands for the installed copy
    holder = tmp_path / "projects"
    (holder / "effkit" / "tests").mkdir(parents=True)  # a checkout folder: no __init__.py at its top
    code = "import effkit, sys; sys.stdout.write(str(getattr(effkit, '__file__', None)))"
    env = {**os.environ, "PYTHONPATH": str(site)}
    found = subprocess.run([sys.executable, "-c", code], cwd=holder, env=env, capture_output=True, text=True,
                           check=True).stdout
    assert found == str(site / "effkit" / "__init__.py")
