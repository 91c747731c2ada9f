"""The bundled device table: every row parses, names its source and records dense peaks; GPU names find
their row; a user CSV (the CPU row documented in docs/device-specs.md) loads the same way.

Expected values are the vendor datasheets' figures, written beside each assertion.
"""

from __future__ import annotations

import math
import pathlib
import re

import pandas as pd
import pytest

from effkit.report.plots import device_spec, load_device_specs

ROOT = pathlib.Path(__file__).resolve().parents[1]
CSV = ROOT / "effkit" / "data" / "device_specs.csv"
WANTED = ["A100 SXM 80GB", "A100 SXM 40GB", "A100 PCIe 80GB", "A100 PCIe 40GB", "V100 SXM2", "V100 PCIe", "L4",
          "L40S", "RTX 4090", "RTX 3090", "H100 SXM", "H100 PCIe", "H200", "TITAN X (Pascal)"]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return load_device_specs()


def test_every_row_parses_and_names_its_source(table):
    raw = pd.read_csv(CSV)  # the file as written, before the loader fills anything in
    assert list(raw["name"]) and raw["name"].is_unique
    assert set(WANTED) <= set(raw["name"])
    for rec in raw.to_dict(orient="records"):
        name = rec["name"]
        assert isinstance(rec["source"], str) and len(rec["source"]) > 40, name
        assert re.search(r"NVIDIA", rec["source"]), name  # a vendor document, not a third-party table
        assert str(rec["source_url"]).startswith(("https://www.nvidia.com/", "https://images.nvidia.com/")), name
        assert rec["with_sparsity"] == "no", name
        for col in ("fp32_tflops", "bandwidth_gbs", "tdp_w"):
            assert isinstance(rec[col], (int, float)) and rec[col] > 0, (name, col)
        for col in ("tf32_tflops", "fp16_tflops", "bf16_tflops"):
            v = rec[col]
            assert math.isnan(v) or v >= rec["fp32_tflops"], (name, col)  # tensor peaks never below plain FP32
        re.compile(rec["gpu_name_regex"])


@pytest.mark.parametrize("name, peaks", [
    # (fp32, tf32, fp16, bf16, GB/s, W) from the datasheets, dense (the "*" with-sparsity figures halved)
    ("A100 SXM 80GB", (19.5, 156, 312, 312, 2039, 400)),
    ("A100 PCIe 80GB", (19.5, 156, 312, 312, 1935, 300)),
    ("A100 PCIe 40GB", (19.5, 156, 312, 312, 1555, 250)),
    ("V100 SXM2", (15.7, None, 125, None, 900, 300)),
    ("L4", (30.3, 120 / 2, 242 / 2, 242 / 2, 300, 72)),
    ("L40S", (91.6, 366 / 2, 362.05, 362.05, 864, 350)),
    ("H100 PCIe", (51.2, 756 / 2, 1513 / 2, 1513 / 2, 2000, 350)),
    ("RTX 4090", (82.6, 82.6, 330.4 / 2, 330.4 / 2, 1008, 450)),
    ("RTX 3090", (35.6, 35.6, 142 / 2, 142 / 2, 936, 350)),
])
def test_datasheet_values_dense(table, name, peaks):
    row = table.set_index("name").loc[name]
    got = (row.fp32_tflops, row.tf32_tflops, row.fp16_tflops, row.bf16_tflops, row.bandwidth_gbs, row.tdp_w)
    for g, want in zip(got, peaks):
        if want is None:
            assert math.isnan(g)
        else:
            assert g == pytest.approx(want, abs=0.6)  # datasheets round (1,513 / 2 = 756.5 is printed 756)


@pytest.mark.parametrize("gpu_name, row", [
    ("NVIDIA A100-SXM4-80GB", "A100 SXM 80GB"),
    ("NVIDIA A100-SXM4-40GB", "A100 SXM 40GB"),
    ("NVIDIA A100 80GB PCIe", "A100 PCIe 80GB"),
    ("NVIDIA A100-PCIE-40GB", "A100 PCIe 40GB"),
    ("Tesla V100-SXM2-16GB", "V100 SXM2"),
    ("Tesla V100-PCIE-32GB", "V100 PCIe"),
    ("NVIDIA L4", "L4"),
    ("NVIDIA L40S", "L40S"),
    ("NVIDIA GeForce RTX 4090", "RTX 4090"),
    ("NVIDIA GeForce RTX 3090", "RTX 3090"),
    ("NVIDIA H100 PCIe", "H100 PCIe"),
    ("NVIDIA H100 80GB HBM3", "H100 SXM"),
    ("NVIDIA H200", "H200"),
])
def test_recorded_gpu_names_find_their_row(gpu_name, row):
    assert device_spec(gpu_name=gpu_name).name == row


@pytest.mark.parametrize("gpu_name", ["Tesla V100S-PCIE-32GB", "NVIDIA GeForce RTX 3090 Ti", "NVIDIA L40"])
def test_near_miss_gpu_names_are_not_given_another_cards_peaks(gpu_name):
    from effkit.errors import BadInputError

    with pytest.raises(BadInputError, match="no peaks known"):
        device_spec(gpu_name=gpu_name)


def test_documented_cpu_row_loads_like_the_bundled_table(tmp_path):
    doc = (ROOT / "docs" / "device-specs.md").read_text()
    block = re.search(r"```csv\n(.*?)```", doc, flags=re.S).group(1)
    path = tmp_path / "my_devices.csv"
    path.write_text(block)
    assert list(pd.read_csv(path).columns) == list(pd.read_csv(CSV).columns)  # the same row format
    spec = device_spec("epyc 7763", path=path)
    # 64 cores x 2.45 GHz x 32 FLOP/cycle = 5,017.6 GFLOP/s; 8 channels x 3200 MT/s x 8 B = 204.8 GB/s
    assert spec.name == "AMD EPYC 7763"
    assert spec.peak_tflops == pytest.approx(64 * 2.45e9 * 32 / 1e12)
    assert spec.bandwidth_gbs == pytest.approx(8 * 3200e6 * 8 / 1e9)
    assert spec.ridge_flop_per_byte == pytest.approx(5.0176e12 / 204.8e9)  # 24.5 FLOP/byte


def test_the_documented_python_example_runs(tmp_path, monkeypatch):
    # Every python block of the guide, run in order in a folder holding the guide's CSV as my_devices.csv (the
    # name the example loads), so an example naming a function that is not there fails here.
    import matplotlib

    matplotlib.use("Agg")
    doc = (ROOT / "docs" / "device-specs.md").read_text()
    (tmp_path / "my_devices.csv").write_text(re.search(r"```csv\n(.*?)```", doc, flags=re.S).group(1))
    blocks = re.findall(r"```python\n(.*?)```", doc, flags=re.S)
    assert blocks
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    for block in blocks:
        exec(compile(block, "docs/device-specs.md", "exec"), scope)
    assert scope["spec"].name == "AMD EPYC 7763"
    assert "AMD EPYC 7763" in scope["fig"].texts[0].get_text() + scope["fig"].axes[0].get_title()
    assert (tmp_path / "resnet18_roofline.png").stat().st_size > 0
