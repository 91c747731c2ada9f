"""`effkit profile` / `effkit models` end to end, in this process: outputs and every bad-input path (exit 2, one
line). The real console script and ``python -m effkit`` are run in tests/test_cli_entry.py."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest
import torch
from conftest import assert_bad_input

from effkit.errors import UnknownModelError


def test_profile_csv_is_raw_and_matches_hand_count(tiny, cli):
    res = cli("profile", f"{tiny}:build", "--input-shape", "1,3,8,8", "--format", "csv")
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    conv = next(r for r in rows if r["name"] == "0")
    # 8x8 same-padded 3x3 conv 3->8: 64*(3+8) + 9*24 = 920 elements, 64*8*27 multiply-adds
    assert int(conv["mac"]) == 920 and int(conv["mult_adds"]) == 13824


def test_profile_csv_and_json_show_fused_mac(tiny, cli):
    res = cli("profile", f"{tiny}:build", "--input-shape", "1,3,8,8", "--format", "csv")
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(res.stdout))}
    # conv reads 192 + 216 and (BN folded, ReLU as epilogue) the ReLU writes the 512 outputs once.
    assert [int(rows[n]["mac_fused"]) for n in ("0", "1", "2")] == [408, 0, 512]
    assert int(rows["0"]["mac_fused_bytes"]) == 4 * 408
    res = cli("profile", f"{tiny}:build", "--input-size", "8", "--format", "json")
    totals = json.loads(res.stdout)["totals"]
    # + mean 512 + 8, + addmm 4 + 8 + 32 + 4 (the pool's output has no conv to join)
    assert totals["mac_fused"] == 408 + 512 + 520 + 48
    assert totals["mac"] == 920 + 1056 + 1024 + 520 + 48
    res = cli("profile", f"{tiny}:build", "--input-size", "8")
    assert "fused MAC 1.49K" in res.stdout


def test_profile_json_depth_and_table(tiny, tmp_path, cli):
    res = cli("profile", f"{tiny}:build", "--input-size", "8", "--format", "json")
    data = json.loads(res.stdout)
    assert data["input_shape"] == [1, 3, 8, 8]
    assert data["totals"]["params"] == 216 + 16 + 36
    out = tmp_path / "t.txt"
    res = cli("profile", f"{tiny}:build", "--input-size", "8", "--sort", "mac", "--top", "2", "--output", str(out))
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    assert "MAC =" in text and "total" in text


def test_profile_markdown_depth(tiny, cli):
    res = cli("profile", f"{tiny}:build", "--input-size", "8", "--depth", "0", "--format", "markdown")
    assert res.returncode == 0, res.stderr
    assert "| name |" in res.stdout and "(model)" in res.stdout


def test_weights_round_trip(tiny, tmp_path, cli):
    sys.path.insert(0, str(tiny.parent))
    try:
        import tiny as mod  # noqa: PLC0415
    finally:
        sys.path.pop(0)
    good = tmp_path / "good.pt"
    torch.save(mod.build().state_dict(), good)
    res = cli("profile", f"{tiny}:build", "--input-size", "8", "--weights", str(good), "--format", "csv")
    assert res.returncode == 0, res.stderr
    bad = tmp_path / "bad.pt"
    torch.save({"0.weight": torch.zeros(1)}, bad)
    assert_bad_input(cli("profile", f"{tiny}:build", "--weights", str(bad)), "0.weight")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    assert_bad_input(cli("profile", f"{tiny}:build", "--weights", str(corrupt)))
    assert_bad_input(cli("profile", f"{tiny}:build", "--weights", str(tmp_path / "missing.pt")), "missing.pt")


def test_unknown_model_suggests(cli):
    assert_bad_input(cli("profile", "vovnet40"), "vovnet39")


@pytest.mark.parametrize("args, needle", [
    (["--input-shape", "1,3,x"], "malformed shape"),
    (["--input-shape", "1,4,8,8"], "channels"),
    (["--batch-size", "0"], "batch size"),
    (["--dtype", "int3"], "dtype"),
    (["--format", "xml"], "format"),
    (["--sort", "nonsense"], "--sort"),
    (["--output", "/nonexistent-dir/x.csv", "--format", "csv"], "cannot write"),
])
def test_bad_options(tiny, args, needle, cli):
    assert_bad_input(cli("profile", f"{tiny}:build", "--input-size", "8", *args), needle)


def test_bad_user_models(tiny, tmp_path, cli):
    assert_bad_input(cli("profile", f"{tmp_path / 'nope.py'}:build"), "nope.py")
    assert_bad_input(cli("profile", f"{tiny}:broken"), "factory exploded")
    assert_bad_input(cli("profile", f"{tiny}:missing"))
    assert_bad_input(cli("profile", f"{tiny}:not_a_model"))
    syntax = tmp_path / "syntax.py"
    syntax.write_text("def build(:\n")
    assert_bad_input(cli("profile", f"{syntax}:build"))


def test_debug_lets_the_error_through(cli):
    # --debug, before or after the command: the error itself, not the one line (a process prints its traceback)
    for args in (("--debug", "profile", "vovnet40"), ("profile", "vovnet40", "--debug")):
        with pytest.raises(UnknownModelError, match="vovnet39"):
            cli(*args)


def test_models_lists_zoo(cli):
    res = cli("models", "vovnet*", "--format", "csv")
    assert res.returncode == 0, res.stderr
    rows = {r["name"]: int(r["params"]) for r in csv.DictReader(io.StringIO(res.stdout))}
    expected = {"vovnet27_slim": 3525736, "vovnet39": 22600296, "vovnet57": 36640296}  # the counts
    assert {k: rows[k] for k in expected} == expected
    assert all(name.startswith("vovnet") for name in rows)
    assert_bad_input(cli("models", "nothing*"), "no model")


def test_default_profile_vovnet39_runs(cli):
    res = cli("profile", "vovnet39", "--depth", "1")
    assert res.returncode == 0, res.stderr
    for stage in ("stem", "stage2", "stage5", "classifier"):
        assert stage in res.stdout


def test_version(cli):
    from effkit import __version__

    res = cli("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"effkit {__version__}"


def test_batch_disagreement(cli):
    assert_bad_input(cli("profile", "resnet18", "--input-shape", "1,3,32,32", "-b", "4"), "disagrees")
    assert_bad_input(cli("profile", "resnet18", "--input-shape", "1,3,32"), "N,C,H,W")
