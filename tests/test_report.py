"""Reference accuracy (published numbers), user overrides, and the markdown/HTML comparison report."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest
from conftest import assert_bad_input

from effkit.errors import BadInputError
from effkit.report.accuracy import accuracy_of, append_accuracy, load_accuracy, reference_path
from effkit.report.report import build_report, report_table, write_report

# ------------------------------------------------------------------------------------------------ accuracy


def test_every_reference_row_has_a_source_and_weights():
    raw = pd.read_csv(reference_path())
    assert list(raw.columns) == ["model", "top1", "top5", "dataset", "weights", "source"]
    assert raw["model"].is_unique
    assert raw["source"].notna().all() and (raw["source"].str.len() > 20).all()
    assert raw["weights"].notna().all() and (raw["weights"].str.len() > 5).all()
    assert raw["top1"].between(50, 100).all() and raw["top5"].between(80, 100).all()
    assert (raw["top5"] > raw["top1"]).all()


def test_vovnet_rows_are_the_official_readme_error_rates_converted():
    acc = load_accuracy().set_index("model")
    # VoVNet.pytorch README: "Top-1 / Top-5" columns are error rates
    assert acc.loc["vovnet39", "top1"] == pytest.approx(100 - 23.23)
    assert acc.loc["vovnet39", "top5"] == pytest.approx(100 - 6.57)
    assert acc.loc["vovnet57", "top1"] == pytest.approx(100 - 22.27)
    assert acc.loc["vovnet57", "top5"] == pytest.approx(100 - 6.28)
    for m in ("vovnet39", "vovnet57"):
        assert "ERROR rate" in acc.loc[m, "source"] and "100 - error" in acc.loc[m, "source"]


def test_torchvision_and_timm_rows_match_published_numbers():
    acc = load_accuracy().set_index("model")
    published = {  # torchvision IMAGENET1K_V1 acc@1 / acc@5; timm v0.6.5 results
        "resnet18": (69.758, 89.078), "resnet50": (76.130, 92.862), "resnet101": (77.374, 93.546),
        "densenet121": (74.434, 91.972), "densenet161": (77.138, 93.560), "densenet201": (76.896, 93.370),
        "timm:ese_vovnet39b": (79.312, 94.714), "timm:ese_vovnet19b_dw": (76.802, 93.272),
    }
    for model, (top1, top5) in published.items():
        assert (acc.loc[model, "top1"], acc.loc[model, "top5"]) == pytest.approx((top1, top5)), model
    assert "IMAGENET1K_V1" in acc.loc["densenet201", "weights"]
    # the VoVNet README's ResNet-50 error (23.85 %) is the same torchvision checkpoint: 76.15 vs 76.13
    assert abs(acc.loc["resnet50", "top1"] - (100 - 23.85)) < 0.05


def test_zoo_architectures_covered():
    acc = set(load_accuracy()["model"])
    for m in ("vovnet39", "vovnet57", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
              "densenet121", "densenet161", "densenet169", "densenet201"):
        assert m in acc
    assert "vovnet27_slim" not in acc  # no published ImageNet number for it: left out, not invented


def test_user_csv_overrides_and_extends(tmp_path):
    p = tmp_path / "mine.csv"
    p.write_text("model,top1,top5\nvovnet39,80.5,95.0\nmy_net,60.0,\nmy_net,61.0,83.0\n")
    acc = load_accuracy(p)
    assert accuracy_of(acc, "vovnet39") == 80.5
    assert accuracy_of(acc, "my_net") == 61.0  # the later row of a model wins (appended evaluations)
    assert accuracy_of(acc, "resnet50") == pytest.approx(76.130)  # untouched reference rows stay
    assert accuracy_of(acc, "nothing") is None
    row = acc.set_index("model").loc["vovnet39"]
    assert row["origin"] == "user" and str(p) in row["source"]  # a source even when the user gave none
    assert acc["model"].is_unique


@pytest.mark.parametrize("text, match", [
    ("name,acc\nx,1\n", "lacks column"),
    ("model,top1\nx,0.7613\ny,123\n", "percentage"),
    ("model,top1\nx,abc\n", "percentage"),
    ("model,top1\nx,\n", "no top1"),
    ("", "empty"),
])
def test_user_csv_bad_input(tmp_path, text, match):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(BadInputError, match=match):
        load_accuracy(p)


def test_user_csv_missing_file(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        load_accuracy(tmp_path / "none.csv")


def test_append_accuracy_creates_and_extends(tmp_path):
    p = tmp_path / "acc.csv"
    append_accuracy(p, {"model": "m", "top1": 50.0, "top5": 90.0, "weights": "w.pth"})
    append_accuracy(p, {"model": "m", "top1": 55.0, "top5": 91.0, "source": "second run"})
    raw = pd.read_csv(p)
    assert list(raw.columns) == ["model", "top1", "top5", "dataset", "weights", "source"]
    assert len(raw) == 2 and raw["source"].iloc[0].startswith("effkit evaluate")
    assert accuracy_of(load_accuracy(p), "m") == 55.0
    # a hand-written file with other columns is rewritten whole, not misaligned
    q = tmp_path / "hand.csv"
    q.write_text("top1,model\n40,a\n")
    append_accuracy(q, {"model": "b", "top1": 45.0})
    acc = load_accuracy(q)
    assert accuracy_of(acc, "a") == 40 and accuracy_of(acc, "b") == 45
    with pytest.raises(BadInputError, match="does not exist"):
        append_accuracy(tmp_path / "no" / "acc.csv", {"model": "m", "top1": 1.0})


# ------------------------------------------------------------------------------------------------ report


def _results() -> pd.DataFrame:
    return pd.DataFrame({
        "model": ["vovnet39", "densenet201", "mystery"],
        "family": ["vovnet", "densenet", "other"],
        "status": ["ok", "ok", "ok"], "batch_size": [1, 1, 1], "dtype": ["float32"] * 3,
        "device": ["cuda:0"] * 3, "gpu_name": ["NVIDIA H100 80GB HBM3"] * 3, "cpu_model": ["Some CPU"] * 3,
        "input_shape": ["1x3x224x224"] * 3, "torch_version": ["2.13.0"] * 3,
        "params": [22.6e6, 20.0e6, 1e6], "flops": [16.0e9, 8.6e9, 1e9], "paper_mac": [1e8, 2e8, 1e7],
        "mac": [3e8, 6e8, 2e7], "mac_bytes": [1.2e9, 2.4e9, 8e7],
        "latency_ms": [4.0, 10.0, 1.0], "fps": [250.0, 100.0, 1000.0],
        "flops_per_s": [4.0e12, 8.6e11, 1e12], "peak_memory_bytes": [1.5e8, 3.0e8, 1e7],
        "energy_j_per_img": [0.4, 1.2, np.nan], "energy_status": ["ok", "ok", "unavailable: no NVML"],
        "energy_method": ["nvml_energy_counter", "nvml_energy_counter", None],
        "warmup_iters": [10, 10, 10], "min_iters": [50, 50, 50], "iterations": [120, 60, 400],
        "timer": ["cuda_event"] * 3, "timestamp": ["2025-05-01T10:00:00+00:00"] * 3,
    })


def test_report_table_values():
    t = report_table(_results(), load_accuracy()).set_index("model")
    # achieved GFLOP/s = flops_per_s / 1e9; accuracy from the reference table (100 - 23.23 for VoVNet-39)
    assert t.loc["vovnet39", "gflops_per_s"] == pytest.approx(4000.0)
    assert t.loc["densenet201", "gflops_per_s"] == pytest.approx(860.0)
    assert t.loc["vovnet39", "top1"] == pytest.approx(76.77)
    assert np.isnan(t.loc["mystery", "top1"]) and np.isnan(t.loc["mystery", "energy_j_per_img"])
    assert t.loc["vovnet39", "family"] == "VoVNet"
    assert "VoVNet.pytorch" in t.loc["vovnet39", "accuracy_source"]


def test_report_table_computes_gflops_per_s_as_the_method_section_defines_it():
    # flops of a batch x fps / batch: 90 images/s sustained (10 ms per iteration, gaps between iterations
    # counted) -> 8.6e9 x 90 / 1 = 774 GFLOP/s, not the 8.6e9 / 10 ms = 860 of a per-iteration latency
    df = _results().drop(columns=["flops_per_s"]).assign(fps=[250.0, 90.0, 1000.0])
    t = report_table(df).set_index("model")
    assert t.loc["densenet201", "gflops_per_s"] == pytest.approx(774.0)
    df = df.assign(batch_size=[4, 4, 4], fps=[250.0, 360.0, 1000.0])  # 8.6e9 x 360 / 4 = 774 again
    assert report_table(df).set_index("model").loc["densenet201", "gflops_per_s"] == pytest.approx(774.0)
    assert "FLOP/s = flops of a batch × fps / batch" in dict(build_report(df).method)["achieved FLOP/s (G)"]


def test_report_leaves_gflops_per_s_empty_without_flops_per_s_or_fps_and_says_why():
    df = _results().drop(columns=["flops_per_s"]).assign(fps=[250.0, np.nan, 1000.0])
    t = report_table(df).set_index("model")
    assert np.isnan(t.loc["densenet201", "gflops_per_s"])  # not 8.6e9 / 10 ms
    assert t.loc["vovnet39", "gflops_per_s"] == pytest.approx(16e9 * 250 / 1e9)  # 4000
    notes = build_report(df).sections[0].notes
    assert sum("achieved FLOP/s left empty for densenet201" in n for n in notes) == 1


def test_build_report_parts():
    rep = build_report(_results())
    assert set(rep.figures) == {"figure3", "roofline"}  # the H100's peaks are known
    machine = dict(rep.machine)
    assert machine["GPU"] == "NVIDIA H100 80GB HBM3" and machine["PyTorch"] == "2.13.0"
    assert machine["batch size"] == "1" and machine["dtype"] == "float32"
    method = dict(rep.method)
    assert method["warm-up iterations (at least)"] == "10"
    assert method["timed iterations (done)"] == "60, 120, 400"
    assert method["energy method"] == "nvml_energy_counter"
    assert any("no accuracy for mystery" in n for n in rep.notes)


def test_build_report_with_named_device():
    from effkit.devices import device_spec

    rep = build_report(_results(), device_spec=device_spec("h100 sxm"))
    assert "H100 SXM" in rep.figures["roofline"].axes[0].get_title()
    # the rows ran on an H100: a TITAN X's roofs over them are refused unless asked for
    with pytest.raises(BadInputError, match="peaks of TITAN X .Pascal. are not those.*NVIDIA H100 80GB HBM3"):
        build_report(_results(), device_spec=device_spec("titan x pascal"))
    rep = build_report(_results(), device_spec=device_spec("titan x pascal"), allow_other_device=True)
    assert "TITAN X (Pascal)" in rep.figures["roofline"].axes[0].get_title()


def test_build_report_without_known_device_has_no_roofline():
    df = _results().assign(gpu_name="Some Future GPU")
    rep = build_report(df)
    assert "roofline" not in rep.figures
    assert any(n.startswith("no roofline") for n in rep.notes)


def test_markdown_report_links_pngs_written_beside_it(tmp_path):
    out = tmp_path / "report.md"
    written = write_report(_results(), out)
    assert written[0] == out and all(p.exists() for p in written)
    text = out.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(links) == ["report_figure3.png", "report_roofline.png"]
    for link in links:
        assert (tmp_path / link).read_bytes().startswith(b"\x89PNG")
    assert "| model | status | family | batch | params (M) | FLOPs (G) |" in text
    # VoVNet-39 row: 22.6M params, 16 GFLOPs, 4 ms, 250 FPS, 1.5e8 B = 1.5e8 / 2**20 = 143.05 MiB (the terminal's
    # unit), 0.4 J, 4000 GFLOP/s, 76.77 %
    assert re.search(r"\| vovnet39 \| ok \| VoVNet \| 1 \| 22\.60 \| 16\.00 \| 100\.0 \| 300\.0 \| 4\.00 \| 250\.0 \| "
                     r"143\.1 \| "
                     r"0\.400 \| 4,000\.0 \| 76\.77 \|", text), text
    assert "| mystery |" in text and "–" in text  # missing values shown as missing, never 0
    for heading in ("## Machine", "## Method", "## Accuracy sources", "## Notes"):
        assert heading in text
    assert "NVIDIA H100 80GB HBM3" in text and "cuda_event" in text


def test_html_report_is_self_contained(tmp_path):
    out = tmp_path / "report.html"
    assert write_report(_results(), out) == [out]
    text = out.read_text()
    assert text.startswith("<!DOCTYPE html>")
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    assert len(images) == 2
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "<td>vovnet39</td>" in text and "<h2>Method</h2>" in text
    assert not list(tmp_path.glob("*.png"))  # nothing written beside it


def test_report_bad_input(tmp_path):
    with pytest.raises(BadInputError, match=r"\.md or \.html"):
        write_report(_results(), tmp_path / "report.docx")
    with pytest.raises(BadInputError, match="does not exist"):
        write_report(_results(), tmp_path / "no" / "report.md")
    with pytest.raises(BadInputError, match="empty"):
        write_report(pd.DataFrame(), tmp_path / "report.md")


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_report(tmp_path, cli):
    csv = tmp_path / "results.csv"
    _results().to_csv(csv, index=False)
    out = tmp_path / "r.html"
    code, _, err = cli("report", "--csv", str(csv), "--title", "PR 42", "-o", str(out))
    assert code == 0, err
    assert "<h1>PR 42</h1>" in out.read_text()
    # measured on an H100: another device's roofs are one line naming the flag that allows them
    assert_bad_input(cli("report", "--csv", str(csv), "--device-spec", "titan x pascal", "-o", str(tmp_path / "r.md")),
                     "TITAN X (Pascal)", "--any-device")
    assert not (tmp_path / "r.md").exists()
    code, _, err = cli("report", "--csv", str(csv), "--device-spec", "titan x pascal", "--any-device", "-o",
                       str(tmp_path / "r.md"))
    assert code == 0, err
    assert (tmp_path / "r_roofline.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("case", ["format", "unwritable", "empty", "columns", "accuracy"])
def test_cli_report_bad_input(tmp_path, cli, case):
    csv = tmp_path / "results.csv"
    _results().to_csv(csv, index=False)
    out = tmp_path / "r.md"
    extra = []
    if case == "format":
        out = tmp_path / "r.txt"
    elif case == "unwritable":
        out = tmp_path / "missing" / "r.md"
    elif case == "empty":
        csv.write_text("model,latency_ms\n")
    elif case == "columns":
        pd.DataFrame({"latency_ms": [1.0]}).to_csv(csv, index=False)
    elif case == "accuracy":
        bad = tmp_path / "acc.csv"
        bad.write_text("name,accuracy\nx,1\n")
        extra = ["--accuracy", str(bad)]
    code, _, err = cli("report", "--csv", str(csv), *extra, "-o", str(out))
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


# ------------------------------------------------------------------------------------------------ review fixes


def test_write_report_keeps_existing_figures_unless_forced(tmp_path):
    out = tmp_path / "rep.md"
    mine = tmp_path / "rep_figure3.png"
    mine.write_bytes(b"my own figure")
    with pytest.raises(BadInputError, match="rep_figure3.png") as e:
        write_report(_results(), out)
    assert "pass force to overwrite" in str(e.value)  # the argument's name; the CLI says --force
    assert mine.read_bytes() == b"my own figure" and not out.exists()
    assert not (tmp_path / "rep_roofline.png").exists()
    written = write_report(_results(), out, force=True)
    assert mine in written and mine.read_bytes().startswith(b"\x89PNG")


def test_html_report_has_no_side_files_to_protect(tmp_path):
    (tmp_path / "rep_figure3.png").write_bytes(b"mine")
    assert write_report(_results(), tmp_path / "rep.html") == [tmp_path / "rep.html"]
    assert (tmp_path / "rep_figure3.png").read_bytes() == b"mine"


@pytest.mark.parametrize("df, match", [
    (pd.DataFrame({"model": ["a"], "foo": [1]}), "latency_ms"),
    (pd.DataFrame({"model": ["a"], "latency_ms": [1.0]}), "flops_per_s"),
    (_results().astype({"flops_per_s": object}).assign(flops_per_s=["fast", 1.0, 2.0]), "flops_per_s"),
])
def test_build_report_checks_like_figure3(df, match):
    from effkit.report.plots import figure3

    with pytest.raises(BadInputError, match=match):
        build_report(df)
    with pytest.raises(BadInputError, match=match):
        figure3(df, {})


def test_cli_report_refuses_to_overwrite_side_files(tmp_path, cli):
    csv = tmp_path / "results.csv"
    _results().to_csv(csv, index=False)
    out = tmp_path / "rep.md"
    mine = tmp_path / "rep_figure3.png"
    mine.write_bytes(b"my own figure")
    assert_bad_input(cli("report", "--csv", str(csv), "-o", str(out)), str(mine), "--force")
    assert mine.read_bytes() == b"my own figure" and not out.exists()
    code, _, err = cli("report", "--csv", str(csv), "-o", str(out), "--force")
    assert code == 0, err
    assert mine.read_bytes().startswith(b"\x89PNG") and out.exists()


@pytest.mark.parametrize("case", ["peak", "bandwidth", "only-model-foo", "latency-text", "output-dir"])
def test_cli_report_more_bad_input(tmp_path, cli, case):
    csv = tmp_path / "results.csv"
    _results().to_csv(csv, index=False)
    out = tmp_path / "r.html"
    extra = []
    if case == "peak":
        extra = ["--peak-tflops", "-1"]
    elif case == "bandwidth":
        extra = ["--device-spec", "h100 sxm", "--bandwidth-gbs", "0"]
    elif case == "only-model-foo":
        csv.write_text("model,foo\na,1\n")
    elif case == "latency-text":
        _results().astype({"latency_ms": object}).assign(latency_ms=["4", "abc", "1"]).to_csv(csv, index=False)
    elif case == "output-dir":
        out.mkdir()
    res = cli("report", "--csv", str(csv), *extra, "-o", str(out))
    assert_bad_input(res)
    expected = {"peak": "--peak-tflops", "bandwidth": "--bandwidth-gbs", "only-model-foo": "latency_ms",
                "latency-text": "latency_ms", "output-dir": "directory"}[case]
    assert expected in res.stderr
    assert out.is_dir() if case == "output-dir" else not out.exists()


def test_cli_report_does_not_ignore_a_lone_peak(tmp_path, cli):
    # An unknown GPU and only --peak-tflops: no bandwidth to draw the roofline with, so the option cannot
    # be honoured; that is bad input, not a report that silently drops it.
    csv = tmp_path / "results.csv"
    _results().assign(gpu_name="Mystery GPU").to_csv(csv, index=False)
    out = tmp_path / "r.md"
    res = cli("report", "--csv", str(csv), "--peak-tflops", "5", "-o", str(out))
    assert_bad_input(res, "Mystery GPU", "--bandwidth-gbs")
    assert not out.exists()
    code, _, err = cli("report", "--csv", str(csv), "--peak-tflops", "5", "--bandwidth-gbs", "50",
                       "-o", str(out))
    assert code == 0, err
    assert "r_roofline.png" in out.read_text()


def test_cli_report_empty_db_names_it(tmp_path, cli, monkeypatch):
    # An empty database given with --db is an error naming it; an empty default one falls back to the
    # shipped measurements (tests/test_shipped.py).
    from effkit.store import Store

    db = tmp_path / "empty.sqlite"
    Store(db).close()
    out = tmp_path / "r.html"
    assert_bad_input(cli("report", "--db", str(db), "-o", str(out)), str(db), "--db", "--csv", "effkit measure")
    assert not out.exists()


def test_append_accuracy_checks_the_path_first(tmp_path):
    from effkit.report.accuracy import check_appendable

    (tmp_path / "d.csv").mkdir()
    with pytest.raises(BadInputError, match="directory"):
        append_accuracy(tmp_path / "d.csv", {"model": "m", "top1": 1.0})
    bad = tmp_path / "bad.csv"
    bad.write_text("name,accuracy\nx,1\n")
    with pytest.raises(BadInputError):
        check_appendable(bad)
    assert bad.read_text() == "name,accuracy\nx,1\n"


def _mixed_results() -> pd.DataFrame:
    # vovnet39 measured again later at batch 32: the latest row of each model would put it beside the
    # others at batch 1 (where it would look 8x faster per image than it is at batch 1).
    df = _results()
    extra = df.iloc[[0]].assign(batch_size=32, input_shape="32x3x224x224", latency_ms=16.0, fps=2000.0,
                                timestamp="2025-06-01T10:00:00+00:00")
    return pd.concat([df, extra], ignore_index=True)


def test_report_never_mixes_setups():
    rep = build_report(_mixed_results())
    assert [s.setup["batch_size"] for s in rep.sections] == ["1", "32"]
    for sec in rep.sections:
        assert set(sec.table["batch_size"]) == {sec.setup["batch_size"]}  # one batch per table, always shown
    assert list(rep.sections[0].table["model"]) == ["vovnet39", "densenet201", "mystery"]
    assert rep.sections[0].table.set_index("model").loc["vovnet39", "latency_ms"] == 4.0  # its batch-1 row
    assert list(rep.sections[1].table["model"]) == ["vovnet39"]
    assert set(rep.figures) == {"setup1_figure3", "setup1_roofline", "setup2_figure3", "setup2_roofline"}
    assert "batch size 32" in rep.sections[1].figures["figure3"]._suptitle.get_text()
    assert any("2 setups" in n for n in rep.notes)
    with pytest.raises(BadInputError, match="mix 2 setups.*batch_size"):
        report_table(_mixed_results())
    assert list(report_table(_mixed_results(), batch_size=32)["model"]) == ["vovnet39"]
    assert [s.setup["batch_size"] for s in build_report(_mixed_results(), batch_size=1).sections] == ["1"]


def test_markdown_report_of_two_setups_has_a_section_and_figures_each(tmp_path):
    out = tmp_path / "r.md"
    written = write_report(_mixed_results(), out)
    text = out.read_text()
    assert "## Setup 1: NVIDIA H100 80GB HBM3, batch size 1" in text
    assert "## Setup 2: NVIDIA H100 80GB HBM3, batch size 32" in text
    assert text.count("| model | status | family | batch |") == 2
    assert sorted(p.name for p in written[1:]) == ["r_setup1_figure3.png", "r_setup1_roofline.png",
                                                   "r_setup2_figure3.png", "r_setup2_roofline.png"]
    html_out = tmp_path / "r.html"
    write_report(_mixed_results(), html_out)
    assert html_out.read_text().count("<img ") == 4


def test_cli_report_of_two_setups_and_a_filter(tmp_path, cli):
    csv = tmp_path / "results.csv"
    _mixed_results().to_csv(csv, index=False)
    code, _, err = cli("report", "--csv", str(csv), "-b", "32", "-o", str(tmp_path / "r.md"))
    assert code == 0, err
    text = (tmp_path / "r.md").read_text()
    assert "## Comparison" in text and "batch size 32" in text and "| densenet201 |" not in text


def test_report_table_carries_status_and_captions_follow_the_panels_drawn():
    from effkit.report.report import render_html

    df = _results().assign(energy_j_per_img=np.nan, energy_status="off")
    # densenet201: IQR 3 ms of its 10 ms median (30 %, above the 10 % limit) -> noisy
    df["latency_iqr_ratio"] = [0.01, 0.3, 0.01]
    df.attrs["source"] = "results database r.db"
    rep = build_report(df)
    table = rep.sections[0].table.set_index("model")
    assert table.loc["densenet201", "status"] == "ok (noisy)" and table.loc["vovnet39", "status"] == "ok"
    html = render_html(rep)
    assert "<td>ok (noisy)</td>" in html
    caption = re.search(r"<figcaption>(Figure 3[^<]*)</figcaption>", html).group(1)
    # no energy: only (a) and (b) drawn, and the caption says so instead of describing (c) and (d)
    assert "(a) accuracy vs inference time" in caption and "(b)" in caption
    assert "(c) accuracy vs energy" not in caption and "(c), (d) not drawn" in caption
    assert "Grey: effkit does not trust the timing" in caption
    assert "NVIDIA H100 80GB HBM3" in caption and "batch 1" in caption and "results database r.db" in caption
