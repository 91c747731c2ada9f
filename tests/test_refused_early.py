"""Bad input refused before anything is measured, Ctrl-C that says what was kept, and Ray addresses that are not Ray.

Each case goes through the real CLI: one line on stderr, the exit code, and no file created or changed
(hashes before and after). "Before measuring" is shown by a model that leaves a file behind when it runs
on a real device (the analysis on the meta device does not count).
"""

from __future__ import annotations

import hashlib
import http.server
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import assert_bad_input

from effkit.store import Store

NET = '''
import os
import signal
from pathlib import Path

from torch import nn

HERE = Path(__file__).resolve().parent


class Net(nn.Module):
    def __init__(self, channels=3):
        super().__init__()
        self.conv = nn.Conv2d(channels, 4, 3, bias=False)

    def forward(self, x):
        if x.device.type != "meta":
            (HERE / "MEASURED").write_text("")  # proof that a real measurement started
            if x.shape[0] == 2 and (HERE / "INTERRUPT").exists():
                os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, while batch 2 is measured
        return self.conv(x)


def build():
    return Net()


def broken():
    raise RuntimeError("factory exploded")
'''

FAST = ["--device", "cpu", "--warmup", "0", "--warmup-iters", "1", "--min-iters", "2", "--min-time", "0",
        "--no-energy", "--idle", "0"]
SWEEP_FAST = ["--device", "cpu", "--warmup-s", "0", "--min-iters", "2", "--min-time-s", "0", "--no-energy"]


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A folder with a results store (one row), a read-only store, a read-only folder and the model file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(NET)
    for name in ("ok.db", "ro.db", "rofolder/in.db"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        with Store(tmp_path / name) as store:
            store.add({"model": "net", "status": "ok", "batch_size": 1, "latency_ms": 1.0})
    (tmp_path / "ro.db").chmod(0o444)
    (tmp_path / "rofolder").chmod(0o555)
    if os.geteuid() == 0:
        # root may write anything, so emulate what any other user sees: the owner's write bit decides.
        real = os.access

        def access(path, mode, *args, **kwargs):
            if mode & os.W_OK and Path(path).exists() and not Path(path).stat().st_mode & stat.S_IWUSR:
                return False
            return real(path, mode, *args, **kwargs)

        monkeypatch.setattr(os, "access", access)
    yield tmp_path
    (tmp_path / "rofolder").chmod(0o755)


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


# (id, argv, exit code, words the one line must hold)
CASES = [
    # a store that cannot be written is refused when it is opened, before the first measurement
    ("measure: read-only store", ["measure", "net.py:build", *FAST, "-s", "8", "--db", "ro.db"], 2, ["read-only"]),
    ("measure: store in a read-only folder", ["measure", "net.py:build", *FAST, "-s", "8", "--db", "rofolder/in.db"],
     2, ["read-only folder"]),
    ("measure: new store in a read-only folder", ["measure", "net.py:build", *FAST, "-s", "8", "--db",
                                                  "rofolder/new.db"], 2, ["read-only folder"]),
    ("compare: read-only store", ["compare", "net.py:build", *FAST, "-s", "8", "--db", "ro.db"], 2, ["read-only"]),
    # bad input that the analysis on the meta device finds: exit 2, not a stored failed row and exit 1
    ("measure: wrong channel count", ["measure", "net.py:build", *FAST, "--input-shape", "1,4,8,8", "--db", "ok.db"],
     2, ["expects 3 input channels but got 4"]),
    ("measure: factory raises", ["measure", "net.py:broken", *FAST, "-s", "8", "--db", "ok.db"],
     2, ["net.py:broken", "factory exploded"]),
    ("compare: one factory raises", ["compare", "net.py:build", "net.py:broken", *FAST, "-s", "8", "--db", "ok.db"],
     2, ["net.py:broken", "factory exploded"]),
    ("compare: too small for every batch", ["compare", "net.py:build", *FAST, "-s", "2", "-b", "1,2", "--db",
                                            "ok.db"], 2, ["net.py:build", "too small"]),
    ("sweep: a factory that always raises", ["sweep", "-m", "net.py:broken", *SWEEP_FAST, "-s", "8", "--db", "ok.db"],
     2, ["factory exploded"]),
    ("sweep: too small at every size", ["sweep", "-m", "net.py:build", *SWEEP_FAST, "-s", "1,2", "--db", "ok.db"],
     2, ["net.py:build", "too small"]),
    # float64 is refused by sweep as by measure, before anything runs (dry run included)
    ("sweep --dtype float64", ["sweep", "-m", "net.py:build", *SWEEP_FAST, "--dtype", "float64", "--db", "ok.db"],
     2, ["--dtype", "float64", "float32"]),
    ("sweep --dtype float64 --dry-run", ["sweep", "-m", "net.py:build", "--dtype", "fp32,float64", "--dry-run"],
     2, ["--dtype", "float64"]),
    ("measure --dtype float64", ["measure", "net.py:build", *FAST, "--dtype", "float64", "--db", "ok.db"],
     2, ["--dtype", "float64"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_refused_before_measuring(case, ws, cli):
    name, args, expected, needles = case
    before = _hashes(ws)
    assert_bad_input(cli(*args), *needles, code=expected)
    assert not (ws / "MEASURED").exists()  # refused before the first real forward pass
    assert _hashes(ws) == before  # nothing changed, nothing created


def test_a_writable_store_is_measured_into(ws, cli):
    """The control for the read-only cases: the same command on a writable store measures and stores."""
    code, out, err = cli("measure", "net.py:build", *FAST, "-s", "8", "--db", "ok.db", "-f", "json")
    assert code == 0, err
    assert (ws / "MEASURED").exists()
    with Store(ws / "ok.db") as store:
        assert store.rows()["status"].tolist() == ["ok", "ok"]


def test_run_sweep_refuses_an_unmeasurable_dtype_before_opening_the_store(tmp_path):
    from effkit.errors import BadInputError
    from effkit.measurement.api import MeasureConfig
    from effkit.sweep import run_sweep

    configs = [MeasureConfig(model="resnet18", dtype="float32", device="cpu"),
               MeasureConfig(model="resnet18", dtype="float64", device="cpu")]
    with pytest.raises(BadInputError, match="dtype must be one of float32, float16, bfloat16, got 'float64'"):
        run_sweep(configs, db=tmp_path / "r.sqlite", measure_fn=lambda c: {})
    assert not (tmp_path / "r.sqlite").exists()


# -- Ctrl-C --------------------------------------------------------------------------------------


def _run_process(args, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, "-m", "effkit", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_ctrl_c_of_measure_says_what_was_stored(ws):
    (ws / "INTERRUPT").write_text("")
    res = _run_process(["measure", "net.py:build", *FAST, "-s", "8", "-b", "1,2,3", "--db", "new.db"], ws)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 130, res.stderr
    # the finished configuration's log line (stderr is a pipe), then what was kept
    assert len(lines) == 2 and lines[0].startswith("effkit: [1/3] net.py:build bs=1 "), res.stderr
    assert lines[1] == ("effkit: interrupted: 1 of 3 configurations measured and stored in new.db (ids 1); "
                        "the others were not measured"), res.stderr
    with Store(ws / "new.db", readonly=True) as store:
        rows = store.rows()
    assert rows["batch_size"].tolist() == [1] and rows["status"].tolist() == ["ok"]


def test_ctrl_c_of_compare_without_a_store(ws):
    (ws / "INTERRUPT").write_text("")
    before = _hashes(ws)
    res = _run_process(["compare", "net.py:build", *FAST, "-s", "8", "-b", "1,2", "--no-store"], ws)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.returncode == 130, res.stderr
    assert len(lines) == 2 and lines[0].startswith("effkit: [1/2] net.py:build bs=1 "), res.stderr
    assert lines[1] == "effkit: interrupted: 1 of 2 configurations measured; none stored (--no-store)", res.stderr
    after = _hashes(ws)
    assert after.pop("MEASURED") and after == before  # only the model's own marker is new
    assert res.stdout == ""


# -- Ray addresses that answer but are not Ray ---------------------------------------------------


@pytest.fixture
def web_server():
    """A plain HTTP server on a free local port, serving from a thread that stops by itself within 60 s."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # the server runs in the test's process: keep its stderr for effkit
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Quiet)
    server.timeout = 0.2
    stop = threading.Event()
    deadline = time.monotonic() + 60

    def serve():
        while not stop.is_set() and time.monotonic() < deadline:
            server.handle_request()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    stop.set()
    thread.join(5)
    server.server_close()


def test_a_web_server_is_not_a_ray_head(ws, web_server, cli):
    pytest.importorskip("ray")
    start = time.monotonic()
    res = cli("sweep", "-m", "net.py:build", *SWEEP_FAST, "--engine", "ray", "--address", web_server, "--db", "r.db")
    assert time.monotonic() - start < 15
    assert_bad_input(res, f"{web_server} answers but is not a Ray node", "web server")
    assert not (ws / "r.db").exists()


def test_a_silent_listener_is_not_a_ray_head(ws, cli, monkeypatch):
    pytest.importorskip("ray")
    from effkit.sweep import ray as ray_engine

    monkeypatch.setattr(ray_engine, "RAY_CONNECT_TIMEOUT_S", 1.0)
    with socket.socket() as listener:  # accepts connections (the kernel's backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        start = time.monotonic()
        res = cli("sweep", "-m", "net.py:build", *SWEEP_FAST, "--engine", "ray", "--address", address, "--db", "r.db")
    assert time.monotonic() - start < 15
    assert_bad_input(res, "no reply to a gRPC greeting within 1 s")
    assert not (ws / "r.db").exists()
