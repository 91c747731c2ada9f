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
    assert "pip install -e . && effkit profile vovnet39" in first and "torch==" not in first
    # the CPU-only line uses PyTorch's CPU index, as docs/regression-checks.md does
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in cpu
    assert "effkit profile vovnet39" in cpu
    assert tests.strip() == "pip install -e '.[test,ray]' && python -m pytest"
    assert "torch==2.13.0" in (ROOT / ".ci" / "run").read_text()  # CI keeps its pin
