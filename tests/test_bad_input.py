"""Hostile input through the real CLI: one line on stderr, the right exit code, and no existing file changed.

Each case runs ``effkit.cli.main`` in this process (fast) or, where a second process matters (warnings
printed by libraries, a factory's own stderr), the ``effkit`` module in a subprocess. Before and after, every
file in the case's folder is hashed: bad input must leave them all byte-identical and create nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sqlite3
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch
from conftest import assert_bad_input
from torch import nn

from effkit.store import Store

NET = '''
import argparse
import os
import sys

from torch import nn


def build():
    return nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 2))


def exits_zero():
    sys.exit(0)


def raises_exit():
    raise SystemExit(3)


def parses_argv():
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, required=True)
    return nn.Linear(2, parser.parse_args().width)


def parses_defaults():
    # Fine with a clean command line; fails if it sees effkit's (or pytest's) arguments.
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=int, default=4)
    return nn.Sequential(nn.Conv2d(3, parser.parse_args().width, 3, bias=False), nn.ReLU())


def flips():
    # Builds when the baseline is saved; once the file EXIT is there (before `check`), it exits 0.
    if os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "EXIT")):
        sys.exit(0)
    return build()
'''

FAST = ["--device", "cpu", "--warmup", "0", "--warmup-iters", "1", "--min-iters", "2", "--min-time", "0",
        "--no-energy", "--input-shape", "1,3,8,8"]


class Evil:
    """Unpickling this runs ``os.system`` (here: ``true``); effkit must refuse it without running it."""

    def __reduce__(self):
        return (os.system, ("true",))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` (8-bit RGB) and has no pixel data: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A folder with a results store, a foreign SQLite file, a model file, a baseline and bad files."""
    monkeypatch.chdir(tmp_path)
    with Store(tmp_path / "ok.db") as store:
        store.add({"model": "net", "status": "ok", "batch_size": 1, "latency_ms": 1.0})
    foreign = sqlite3.connect(tmp_path / "foreign.db")
    foreign.execute("CREATE TABLE t (x)")
    foreign.commit()
    foreign.close()
    (tmp_path / "store.html").write_bytes((tmp_path / "ok.db").read_bytes())
    (tmp_path / "store.png").write_bytes((tmp_path / "foreign.db").read_bytes())

    (tmp_path / "net.py").write_text(NET)
    from effkit.baseline import save_baseline

    save_baseline(["net.py:build", "net.py:flips"], tmp_path / "base.json", input_shape="1,3,8,8")
    (tmp_path / "EXIT").write_text("")

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 2))
    torch.save(model.state_dict(), tmp_path / "net.pt")
    (tmp_path / "garbage.pt").write_bytes(bytes(range(256)) * 8)  # random-looking bytes, not a pickle
    (tmp_path / "evil.pt").write_bytes(pickle.dumps({"weight": Evil()}, protocol=2))
    # 30000x30000 is over twice PIL's limit (an error in PIL); 10000x10000 is over it once (only a warning there).
    for folder, side in (("images", 30000), ("large", 10000)):
        for cls in ("a", "b"):
            (tmp_path / folder / cls).mkdir(parents=True)
            (tmp_path / folder / cls / "bomb.png").write_bytes(_png_header_only(side, side))

    with Store(tmp_path / "badschema.db") as store:
        store.conn.execute("UPDATE effkit_schema SET version = 'one'")
    with Store(tmp_path / "listrow.db") as store:
        store.add({"model": "net", "status": "ok"})
        store.conn.execute("UPDATE results SET row_json = '[1, 2]'")
    return tmp_path


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith("-journal")
            and "__pycache__" not in p.parts}


# (id, argv, exit code, words the one line must hold); ids ending in "!" run in a subprocess.
CASES = [
    # item 1: a report never replaces a results store, another SQLite file, or the command's own --db
    ("export over its --db", ["results", "export", "--db", "ok.db", "-o", "ok.db"], 2, ["results database"]),
    ("export over another SQLite file", ["results", "export", "--db", "ok.db", "-o", "foreign.db"], 2, ["SQLite"]),
    ("measure -o its --db", ["measure", "net.py:build", *FAST, "--db", "ok.db", "-f", "csv", "-o", "ok.db"],
     2, ["results database"]),
    ("measure -o its new --db", ["measure", "net.py:build", *FAST, "--db", "new.db", "-f", "csv", "-o", "new.db"],
     2, ["results database"]),
    ("compare -o a store", ["compare", "net.py:build", *FAST, "--db", "other.db", "-f", "csv", "-o", "ok.db"],
     2, ["SQLite"]),
    ("check -o a store", ["check", "net.py:build", "--baseline", "base.json", "-o", "ok.db"], 2, ["SQLite"]),
    ("check -o its baseline", ["check", "net.py:build", "--baseline", "base.json", "-o", "base.json"],
     2, ["base.json"]),
    ("profile -o a store", ["profile", "net.py:build", "--input-shape", "1,3,8,8", "-f", "csv", "-o", "ok.db"],
     2, ["SQLite"]),
    ("baseline save over a store", ["baseline", "save", "net.py:build", "--input-shape", "1,3,8,8", "-o", "ok.db",
                                    "--force"], 2, ["SQLite"]),
    ("report over a store", ["report", "--db", "ok.db", "-o", "store.html"], 2, ["SQLite"]),
    ("plot over an SQLite file", ["plot", "figure3", "--db", "ok.db", "-o", "store.png"], 2, ["SQLite"]),
    # item 6: a factory that exits is an error, never a silent exit 0
    ("factory sys.exit(0)", ["profile", "net.py:exits_zero", "--input-shape", "1,3,8,8"], 2, ["exited (code 0)"]),
    ("factory raises SystemExit", ["profile", "net.py:raises_exit", "--input-shape", "1,3,8,8"],
     2, ["exited (code 3)"]),
    ("factory runs argparse!", ["profile", "net.py:parses_argv", "--input-shape", "1,3,8,8"],
     2, ["exited (code 2)", "--width"]),
    ("check: a factory exits", ["check", "--baseline", "base.json"], 2, ["net.py:flips", "exited (code 0)"]),
    ("check: a factory exits, json", ["check", "net.py:flips", "--baseline", "base.json", "-f", "json"],
     2, ["exited (code 0)"]),
    ("baseline save: a factory exits", ["baseline", "save", "net.py:exits_zero", "--input-shape", "1,3,8,8",
                                        "-o", "new.json"], 2, ["exited (code 0)"]),
    # item 7: tracebacks that must be one line
    ("decompression bomb", ["evaluate", "net.py:build", "--data", "images", "--weights", "net.pt", "--device", "cpu",
                            "--workers", "1"], 2, ["decompression bomb"]),
    ("image over PIL's limit!", ["evaluate", "net.py:build", "--data", "large", "--weights", "net.pt", "--device",
                                 "cpu", "--workers", "1"], 2, ["10000x10000", "decompression bomb"]),
    ("overflowing shape", ["profile", "vovnet27_slim", "--input-shape", "99999999999999999999,3,224,224"],
     2, ["more than a tensor can hold"]),
    ("schema version not a number", ["results", "list", "--db", "badschema.db"], 2, ["'one'"]),
    ("row JSON is a list", ["results", "export", "--db", "listrow.db"], 2, ["damaged row", "list"]),
    # item 10: parser errors in effkit's one-line format, with the fix
    ("unknown command", ["profil", "vovnet39"], 2, ["effkit: error:", "'profile'"]),
    ("missing argument", ["profile"], 2, ["effkit: error: profile:", "MODEL", "usage: effkit profile"]),
    ("unknown flag", ["profile", "vovnet39", "--bogus"], 2, ["effkit: error: profile:", "--bogus"]),
    ("mistyped flag", ["profile", "vovnet39", "--inputsize", "3"], 2, ["--inputsize", "did you mean --input-size"]),
    ("not a number", ["profile", "vovnet39", "--input-size", "abc"], 2, ["--input-size", "integer"]),
    ("mistyped subcommand", ["results", "lst"], 2, ["'list'"]),
    # item 11: which weights refusal it is, and never "weights_only=False"
    ("weights: random bytes", ["profile", "net.py:build", "--input-shape", "1,3,8,8", "--weights", "garbage.pt"],
     2, ["not a PyTorch checkpoint at all"]),
    ("weights: a pickle with code!", ["profile", "net.py:build", "--input-shape", "1,3,8,8", "--weights", "evil.pt"],
     2, ["code or objects", "posix.system"]),
]


def _run_process(args, cwd) -> tuple[int, str, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    res = subprocess.run([sys.executable, "-m", "effkit", *args], capture_output=True, text=True, cwd=cwd, env=env)
    return res.returncode, res.stdout, res.stderr


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, ws, cli):
    name, args, expected, needles = case
    before = _hashes(ws)
    code, out, err = _run_process(args, ws) if name.endswith("!") else cli(*args)
    assert_bad_input((code, out, err), *needles, code=expected)
    assert "weights_only=False" not in err
    assert _hashes(ws) == before  # nothing changed, nothing created


def test_check_passes_only_when_every_model_was_compared(ws, cli):
    """The control for the cases above: without the EXIT file the same baseline passes with exit 0."""
    (ws / "EXIT").unlink()
    code, out, err = cli("check", "--baseline", "base.json", "-f", "json")
    assert code == 0, err
    assert [m["model"] for m in json.loads(out)["models"]] == ["net.py:build", "net.py:flips"]


def test_factory_sees_a_clean_argv(ws, cli):
    # pytest's own arguments are in sys.argv here; the factory must not see them, and they come back after.
    argv = list(sys.argv)
    sys.argv = [*argv, "--not-a-factory-flag"]
    try:
        code, out, err = cli("profile", "net.py:parses_defaults", "--input-shape", "1,3,8,8", "-f", "json")
        assert code == 0, err
        assert sys.argv == [*argv, "--not-a-factory-flag"]
    finally:
        sys.argv = argv
    # Conv2d(3 -> 4, 3x3, no bias) on 1x3x8x8: 4*3*3*3 = 108 params.
    assert json.loads(out)["totals"]["params"] == 108
