"""Sweeps: file parsing and validation, expansion, the local engine (with an injected measure function),
resume, failures, Ctrl-C, the Ray engine on a local Ray instance, and the `effkit sweep` command."""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import assert_bad_input

from effkit.errors import BackendUnavailableError, BadInputError
from effkit.store import Store
from effkit.sweep import (SweepInterrupted, configs_table, load_sweep, run_sweep, sweep_spec)

# Settings that make a real measurement of the tiny model take a fraction of a second on a CPU.
FAST = dict(device="cpu", warmup_s=0, warmup_iters=1, min_iters=2, min_time_s=0, energy=False, idle_s=0)
ANALYSIS = ["params", "mult_adds", "flops", "mac", "paper_mac", "activations"]


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def fake_row(config) -> dict:
    """A stand-in for measure_config: a row whose numbers are simple functions of the configuration."""
    b = config.batch_size
    return {"model": config.model, "status": "ok", "error": None, "device": config.device, "batch_size": b,
            "dtype": config.dtype, "params": 100, "flops": 10 * b, "latency_ms": 1.0 * b,
            "machine_id": "fake-machine", "config_key": config.key()}


class Recorder:
    """measure_fn that records its calls and can fail or be interrupted at chosen calls."""

    def __init__(self, fail_models=(), interrupt_at=None, store=None):
        self.calls = []
        self.fail_models = set(fail_models)
        self.interrupt_at = interrupt_at
        self.store = store
        self.stored_before = []

    def __call__(self, config):
        self.calls.append(config)
        if self.store is not None:
            self.stored_before.append(len(self.store))
        if self.interrupt_at is not None and len(self.calls) == self.interrupt_at:
            raise KeyboardInterrupt
        if config.model in self.fail_models:
            raise RuntimeError(f"boom in {config.model}")
        return fake_row(config)


@pytest.fixture
def fake_machine(monkeypatch):
    """Resume looks up this machine's id; pin it to the one fake rows carry."""
    from effkit.measurement import run as sw  # the runner looks the machine up there

    monkeypatch.setattr(sw, "machine_id", lambda device: "fake-machine")


# -- parsing and expansion -----------------------------------------------------------------------


def test_yaml_expands_to_product_in_rounds(tmp_path, tiny):
    f = write(tmp_path / "s.yaml", """
        models: [tiny.py:build]
        input_sizes: [16, 32]
        batch_sizes: [1, 4]
        dtypes: [fp32, half]
        channels_last: [false, true]
        repeats: 2
        device: cpu
        min_iters: 3
        energy: false
    """)
    spec = load_sweep(f)
    configs = spec.configs()
    assert len(configs) == 2 * 2 * 2 * 2 * 2  # sizes x batches x dtypes x formats x repeats
    first_round, second_round = configs[:16], configs[16:]
    assert [c.key() for c in first_round] == [c.key() for c in second_round]
    assert len({c.key() for c in first_round}) == 16
    c = configs[0]
    # The relative file path is taken from the sweep file's folder and made absolute.
    assert c.model == f"{tiny.resolve()}:build"
    assert (c.input_size, c.batch_size, c.dtype, c.channels_last) == (16, 1, "float32", False)
    assert {x.dtype for x in configs} == {"float32", "float16"}
    assert all(x.device == "cpu" and x.min_iters == 3 and x.energy is False for x in configs)
    # Order: the last key varies fastest.
    assert [(x.input_size, x.batch_size, x.dtype, x.channels_last) for x in configs[:3]] == [
        (16, 1, "float32", False), (16, 1, "float32", True), (16, 1, "float16", False)]


def test_toml_and_yaml_give_the_same_configurations(tmp_path, tiny):
    y = write(tmp_path / "s.yaml", """
        models: [tiny.py:build]
        input_sizes: [16, 32]
        batch_sizes: [1, 2]
        device: cpu
        warmup_s: 0.5
    """)
    t = write(tmp_path / "s.toml", """
        models = ["tiny.py:build"]
        input_sizes = [16, 32]
        batch_sizes = [1, 2]
        device = "cpu"
        warmup_s = 0.5
    """)
    assert [c.key() for c in load_sweep(y).configs()] == [c.key() for c in load_sweep(t).configs()]


def test_scalars_input_shapes_and_overrides(tmp_path, tiny):
    f = write(tmp_path / "s.yaml", f"""
        models: {tiny}:build
        input_shapes: ["1,3,24,16"]
        batch_sizes: 2
    """)
    spec = load_sweep(f, {"batch_sizes": [3, 5], "dtypes": None})
    shapes = [c.shape() for c in spec.configs()]
    assert shapes == [(3, 3, 24, 16), (5, 3, 24, 16)]
    assert sweep_spec(spec.to_dict()).configs() == spec.configs()


@pytest.mark.parametrize("body, line, needle", [
    ("models: [a.py:f]\nbatch_sizes: [1, 2\ndtypes: [float32]\n", 3, "malformed YAML"),
    ("models: [tiny.py:build]\nbatch_size: [1]\n", 2, "did you mean 'batch_sizes'"),
    ("models: [tiny.py:build]\nbatch_sizes:\n  - 1\n  - -2\n", 4, "positive integer, got -2"),
    ("models: [tiny.py:build]\nrepeats: two\n", 2, "repeats"),
    ("models: [tiny.py:build]\nchannels_last: [maybe]\n", 2, "true or false"),
    ("models: [tiny.py:build]\ndtypes: [float8]\n", 2, "unknown dtype"),
    ("models: [tiny.py:build]\ndevice: gpu\n", 2, "device"),
    ("models:\n  - tiny.py:build\n  - tiny.py:build\n", 3, "twice"),
    ("models: [tiny.py:build]\nmin_time_s: -1\n", 2, "min_time_s"),
    ("models: [tiny.py:build]\nmodels: [tiny.py:broken]\n", 2, "appears twice"),
    ("models:\n  - tiny.py:build\n  - missing.py:build\n", 3, "does not exist"),
    ("- tiny.py:build\n", 1, "top level must be a mapping"),
])
def test_malformed_yaml_names_file_and_line(tmp_path, tiny, body, line, needle):
    f = tmp_path / "s.yaml"
    f.write_text(body)
    with pytest.raises(BadInputError) as e:
        load_sweep(f)
    msg = str(e.value)
    assert msg.startswith(f"{f}:{line}: "), msg
    assert needle in msg
    assert "\n" not in msg


def test_malformed_toml_names_line(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('models = ["a.py:f"]\nbatch_sizes = 1 2\n')
    with pytest.raises(BadInputError, match=rf"^{f}:2: malformed TOML"):
        load_sweep(f)
    f.write_text('models = ["a.py:f"]\nbatch_sizes = [1, 2\ndtypes = ["float32"]\n')
    with pytest.raises(BadInputError, match=rf"^{f}:3: malformed TOML: Unclosed array"):
        load_sweep(f)
    f.write_text('models = ["a.py:f"]\n\nrepeat = 2\n')
    with pytest.raises(BadInputError, match=rf"^{f}:3: unknown key 'repeat'; did you mean 'repeats'"):
        load_sweep(f)


def test_missing_file_empty_file_and_no_models(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        load_sweep(tmp_path / "nope.yaml")
    (tmp_path / "e.yaml").write_text("# nothing\n")
    with pytest.raises(BadInputError, match="empty"):
        load_sweep(tmp_path / "e.yaml")
    (tmp_path / "n.yaml").write_text("batch_sizes: [1]\n")
    with pytest.raises(BadInputError, match="no models"):
        load_sweep(tmp_path / "n.yaml")
    (tmp_path / "s.json").write_text("{}")
    with pytest.raises(BadInputError, match="extension"):
        load_sweep(tmp_path / "s.json")


def test_unknown_zoo_model_is_reported_with_suggestions_before_running(tmp_path):
    f = write(tmp_path / "s.yaml", """
        models:
          - vovnet39
          - vovnet93
    """)
    with pytest.raises(BadInputError) as e:
        load_sweep(f)
    assert str(e.value).startswith(f"{f}:3: unknown model 'vovnet93'")
    assert "vovnet39" in str(e.value).split("Did you mean", 1)[1]


def test_example_sweep_file_is_valid():
    example = Path(__file__).resolve().parents[1] / "examples" / "sweep.yaml"
    configs = load_sweep(example).configs()
    assert len(configs) == 3 * 2 * 2 * 2  # models x input sizes x batch sizes x dtypes
    assert {c.model for c in configs} == {"vovnet39", "resnet50", "densenet201"}


def test_dry_run_table_lists_every_configuration(tiny):
    spec = sweep_spec(models=[f"{tiny}:build"], input_sizes=[16, 32], batch_sizes=[1, 2], repeats=2)
    df = configs_table(spec.configs())
    assert len(df) == 8
    assert list(df["input_shape"][:4]) == ["1x3x16x16", "2x3x16x16", "1x3x32x32", "2x3x32x32"]
    assert list(df["repeat"]) == [1, 1, 1, 1, 2, 2, 2, 2]
    assert df["config"].tolist() == list(range(1, 9))


# -- the local engine ----------------------------------------------------------------------------


def test_local_engine_commits_each_row_and_records_failures(tmp_path, tiny):
    spec = sweep_spec(models=[f"{tiny}:build", f"{tiny}:broken"], batch_sizes=[1, 2], device="cpu")
    db = tmp_path / "r.sqlite"
    broken = f"{tiny}:broken"
    with Store(db) as store:
        rec = Recorder(fail_models={broken}, store=store)
        events = []
        df = run_sweep(spec, db=store, measure_fn=rec, progress=events.append)
    # The store held every earlier row when each configuration started: committed one by one.
    assert rec.stored_before == [0, 1, 2, 3]
    assert df["status"].tolist() == ["ok", "ok", "failed", "failed"]
    failed = df[df["status"] == "failed"]
    assert failed["error"].str.contains(f"RuntimeError: boom in {broken}", regex=False).all()
    assert failed["config_key"].tolist() == [c.key() for c in spec.configs()[2:]]
    # A failed row still says where it ran.
    assert failed["machine_id"].notna().all() and failed["hostname"].notna().all()
    with Store(db) as store:
        stored = store.rows()
    assert stored["id"].tolist() == df["id"].tolist()
    assert stored["status"].tolist() == ["ok", "ok", "failed", "failed"]
    assert [e.kind for e in events] == ["start"] + ["begin", "done"] * 4
    assert events[0].total == 4 and events[-1].done == 4


def test_resume_skips_stored_configs_and_retries_failed_ones(tmp_path, tiny, fake_machine):
    a, b = f"{tiny}:build", f"{tiny}:broken"
    spec = sweep_spec(models=[a, b], batch_sizes=[1, 2], device="cpu")
    db = tmp_path / "r.sqlite"
    first = Recorder(fail_models={b})
    run_sweep(spec, db=db, measure_fn=first)
    assert len(first.calls) == 4

    again = Recorder()
    events = []
    df = run_sweep(spec, db=db, resume=True, measure_fn=again, progress=events.append)
    # The two ok configurations are skipped; the two failed ones run again (and now succeed).
    assert [c.model for c in again.calls] == [b, b]
    assert df["status"].tolist() == ["ok", "ok"]
    assert events[0].skipped == 2 and events[0].total == 2

    nothing = Recorder()
    assert run_sweep(spec, db=db, resume=True, measure_fn=nothing).empty
    assert nothing.calls == []

    # Each stored row counts as one repeat: with repeats=3, two more rounds of all four run.
    more = Recorder()
    run_sweep(sweep_spec(spec.to_dict(), repeats=3), db=db, resume=True, measure_fn=more)
    assert len(more.calls) == 8

    # Without resume everything runs again.
    plain = Recorder()
    run_sweep(spec, db=db, measure_fn=plain)
    assert len(plain.calls) == 4


def test_resume_is_per_machine(tmp_path, tiny, monkeypatch):
    from effkit.measurement import run as sw

    spec = sweep_spec(models=[f"{tiny}:build"], device="cpu")
    db = tmp_path / "r.sqlite"
    run_sweep(spec, db=db, measure_fn=Recorder())
    monkeypatch.setattr(sw, "machine_id", lambda device: "another-machine")
    rec = Recorder()
    run_sweep(spec, db=db, resume=True, measure_fn=rec)
    assert len(rec.calls) == 1


def test_ctrl_c_keeps_finished_rows(tmp_path, tiny):
    spec = sweep_spec(models=[f"{tiny}:build"], batch_sizes=[1, 2, 3, 4], device="cpu")
    db = tmp_path / "r.sqlite"
    with pytest.raises(SweepInterrupted) as e:
        run_sweep(spec, db=db, measure_fn=Recorder(interrupt_at=3))
    assert e.value.finished == 2 and e.value.total == 4
    assert isinstance(e.value, KeyboardInterrupt)
    with Store(db) as store:
        assert store.rows()["batch_size"].tolist() == [1, 2]


def test_bad_engine_and_address_without_ray(tiny):
    spec = sweep_spec(models=[f"{tiny}:build"], device="cpu")
    with pytest.raises(BadInputError, match="unknown engine"):
        run_sweep(spec, engine="dask", measure_fn=Recorder())
    with pytest.raises(BadInputError, match="engine ray"):
        run_sweep(spec, address="auto", measure_fn=Recorder())


# -- the Ray engine ------------------------------------------------------------------------------


def test_missing_ray_gives_install_hint(tmp_path, tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    rec = Recorder()
    spec = sweep_spec(models=[f"{tiny}:build"], device="cpu")
    with pytest.raises(BackendUnavailableError, match=r"pip install 'ray>=2.9' \(in a checkout of effkit: "
                       r"pip install -e '\.\[ray\]'\)") as e:
        run_sweep(spec, engine="ray", db=tmp_path / "r.sqlite", measure_fn=rec)
    assert "\n" not in str(e.value)
    assert rec.calls == []
    assert not (tmp_path / "r.sqlite").exists()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_ray_address_fails_fast(tmp_path, tiny):
    pytest.importorskip("ray")
    rec = Recorder()
    spec = sweep_spec(models=[f"{tiny}:build"], device="cpu")
    with pytest.raises(BackendUnavailableError, match="cannot reach the Ray cluster at 127.0.0.1:"):
        run_sweep(spec, engine="ray", address=f"127.0.0.1:{_closed_port()}", db=tmp_path / "r.sqlite",
                  measure_fn=rec)
    assert rec.calls == []
    with pytest.raises(BadInputError, match="malformed Ray address"):
        run_sweep(spec, engine="ray", address="nohostport", measure_fn=rec)


@pytest.fixture
def grpc_server():
    """A gRPC server on a free local port whose every method answers with a chosen status."""
    grpc = pytest.importorskip("grpc")
    from concurrent import futures

    servers = []

    def start(code) -> str:
        class AnswerAll(grpc.GenericRpcHandler):
            def service(self, details):
                if code is None:
                    return None  # no handler at all: the server says UNIMPLEMENTED
                return grpc.unary_unary_rpc_method_handler(lambda req, ctx: ctx.abort(code, "no"))

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=1), handlers=[AnswerAll()])
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(0)


def test_address_that_is_not_ray_or_needs_a_token_fails_fast(tmp_path, tiny, grpc_server, monkeypatch):
    import grpc

    pytest.importorskip("ray")
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    spec = sweep_spec(models=[f"{tiny}:build"], device="cpu")
    with pytest.raises(BackendUnavailableError, match="is not a Ray head node"):
        run_sweep(spec, engine="ray", address=grpc_server(None), db=tmp_path / "r.sqlite", measure_fn=Recorder())
    locked = grpc_server(grpc.StatusCode.UNAUTHENTICATED)
    with pytest.raises(BackendUnavailableError, match="requires token authentication: set RAY_AUTH_MODE=token"):
        run_sweep(spec, engine="ray", address=locked, db=tmp_path / "r.sqlite", measure_fn=Recorder())
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "not-the-right-one")
    with pytest.raises(BackendUnavailableError, match="rejected this machine's token"):
        run_sweep(spec, engine="ray", address=locked, db=tmp_path / "r.sqlite", measure_fn=Recorder())


@pytest.fixture
def local_ray():
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray instance is already running in this process")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_engine_matches_local_engine(tmp_path, tiny, local_ray):
    from effkit.measurement.machine import fingerprint

    spec = sweep_spec(models=[f"{tiny}:build", f"{tiny}:broken"], input_sizes=[16, 32], **FAST)
    ok_configs = [c for c in spec.configs() if c.model.endswith(":build")]
    local_db, ray_db = tmp_path / "local.sqlite", tmp_path / "ray.sqlite"
    local = run_sweep(ok_configs, db=local_db)
    events = []
    run_sweep(spec, engine="ray", db=ray_db, progress=events.append)
    with Store(ray_db) as store:
        stored = store.rows()
    assert len(stored) == 4 and events[-1].done == 4
    # Rows arrive in completion order; match them by configuration.
    by_key = stored.set_index("config_key")
    good = by_key.loc[[c.key() for c in ok_configs]]
    assert good["status"].tolist() == ["ok", "ok"]
    for col in ANALYSIS:
        assert good[col].astype(int).tolist() == local[col].astype(int).tolist(), col
    # Hand count of the tiny model: conv 8*3*3*3 + BN 2*8 + linear 8*4 + 4.
    assert good["params"].tolist() == [216 + 16 + 36] * 2
    # The conv's multiply-adds grow with the input area: 16*16*8*27 and 32*32*8*27 (plus the linear's 32).
    conv_16, conv_32 = 16 * 16 * 8 * 27, 32 * 32 * 8 * 27
    assert good["mult_adds"].tolist() == [conv_16 + 32, conv_32 + 32]
    assert (good["latency_ms"] > 0).all()
    # The broken factory failed on its own; the node that ran it is recorded.
    bad = stored[stored["status"] == "failed"]
    assert len(bad) == 2 and bad["error"].str.contains("factory exploded").all()
    mid = fingerprint("cpu")["machine_id"]
    assert set(stored["machine_id"]) == {mid}

    # Resume on Ray: the two ok configurations are already stored for this (single-node) cluster.
    again = run_sweep(spec, engine="ray", db=ray_db, resume=True)
    assert sorted(again["model"].str.rsplit(":", n=1).str[1]) == ["broken", "broken"]
    # Joined already: another address is refused rather than silently ignored.
    with pytest.raises(BadInputError, match="already connected"):
        run_sweep(spec, engine="ray", db=ray_db, address="10.0.0.1:6379")


# -- the command ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _wide_tables(monkeypatch):
    """Tables wide enough to read cell by cell."""
    monkeypatch.setenv("COLUMNS", "200")


def test_cli_dry_run_lists_configurations(tmp_path, tiny, cli):
    f = write(tmp_path / "s.yaml", """
        models: [tiny.py:build]
        input_sizes: [16, 32]
    """)
    res = cli("sweep", str(f), "--batch-size", "1,8", "--dry-run", "--format", "json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    assert [r["input_shape"] for r in rows] == ["1x3x16x16", "8x3x16x16", "1x3x32x32", "8x3x32x32"]
    res = cli("sweep", "--model", f"{tiny}:build", "--input-size", "16", "--channels-last", "both", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "2 configurations" in res.stdout and "tiny.py:build" in res.stdout
    assert not (tmp_path / "r.sqlite").exists()


def test_cli_bad_input_is_one_line_exit_2(tmp_path, tiny, cli):
    f = tmp_path / "s.yaml"
    f.write_text("models: [tiny.py:build]\nbatch_sizes: [1, 2\n")
    assert_bad_input(cli("sweep", str(f), "--dry-run"), f"{f}:", "malformed YAML")
    f.write_text("models: [tiny.py:build]\nbatch_sizes: [0]\n")
    assert_bad_input(cli("sweep", str(f)), f"{f}:2:", "positive integer")
    assert_bad_input(cli("sweep", "--model", f"{tiny}:build", "--batch-size", "x"), "--batch-size")
    assert_bad_input(cli("sweep"), "--model")
    assert_bad_input(cli("sweep", "--model", "vovnet93", "--dry-run"), "unknown model 'vovnet93'")
    import importlib.util

    # Without the ray extra the same command is refused for the missing package: one line, exit 2 either way.
    why = "cannot reach the Ray cluster" if importlib.util.find_spec("ray") else "needs Ray, which is not installed"
    assert_bad_input(cli("sweep", "--model", f"{tiny}:build", "--engine", "ray", "--address",
                              f"127.0.0.1:{_closed_port()}", "--db", str(tmp_path / "r.sqlite")), why)
    assert not (tmp_path / "r.sqlite").exists()


def test_cli_runs_a_sweep_into_the_db(tmp_path, tiny, cli):
    db = tmp_path / "r.sqlite"
    # wide_kernel cannot take 8x8 (its kernel is 16x16): that one configuration is stored as failed, the
    # three others are measured.
    args = ["sweep", "--model", f"{tiny}:build,{tiny}:wide_kernel", "--input-size", "8,16", "--device", "cpu",
            "--warmup-s", "0", "--min-iters", "2", "--min-time-s", "0", "--no-energy", "--db", str(db)]
    res = cli(*args, "--format", "csv")
    assert res.returncode == 0, res.stderr
    assert "stored 4 rows" in res.stderr and "3 ok, 1 failed" in res.stderr
    with Store(db) as store:
        rows = store.rows()
    failed = rows[rows["status"] == "failed"]
    assert failed["model"].str.endswith(":wide_kernel").all() and failed["input_shape"].tolist() == ["1x3x8x8"]
    assert failed["error"].str.contains("too small").all()
    res = cli(*args, "--resume")
    assert res.returncode == 0, res.stderr
    assert "skipped 3 already stored" in res.stderr


def test_bad_flag_value_is_blamed_on_the_flag_not_the_file(tmp_path):
    from effkit.errors import BadInputError
    from effkit.sweep import load_sweep

    f = tmp_path / "s.yaml"
    f.write_text("models: [resnet18]\nrepeats: 2\n")
    with pytest.raises(BadInputError, match=r"^--repeats: "):
        load_sweep(f, {"repeats": 0}, override_names={"repeats": "--repeats"})
    f.write_text("models: [resnet18]\nrepeats: 0\n")
    with pytest.raises(BadInputError, match=r"s\.yaml:2: repeats"):
        load_sweep(f)


@pytest.mark.parametrize("flag, value, needle", [
    ("--channels-last", "maybe", "--channels-last: expected true or false"),
    ("--repeats", "0", "--repeats: expected a positive integer"),
    ("--min-iters", "0", "--min-iters: expected a positive integer"),
    ("--warmup-s", "-1", "--warmup-s: expected a number of seconds"),
    ("--device", "tpu", "unknown --device 'tpu'; use auto, cpu, cuda or cuda:N"),
])
def test_cli_bad_flag_is_named_by_its_flag_with_or_without_a_file(tmp_path, tiny, cli, flag, value, needle):
    f = tmp_path / "s.yaml"
    f.write_text("models: [tiny.py:build]\n")
    for source in ([str(f)], ["--model", f"{tiny}:build"]):
        res = cli("sweep", *source, flag, value, "--dry-run")
        assert_bad_input(res, needle)
        # Neither the file nor the Python key is blamed for a flag's value.
        key = flag.lstrip("-").replace("-", "_")
        assert str(f) not in res.stderr and not re.search(rf"(?<![-\w]){key}:", res.stderr), res.stderr


def test_cli_bad_model_flag_names_the_flag(tmp_path, tiny, cli):
    f = tmp_path / "s.yaml"
    f.write_text("models: [tiny.py:build]\n")
    assert_bad_input(cli("sweep", str(f), "--model", "vovnet93", "--dry-run"),
                          "--model: ", "unknown model 'vovnet93'")
    assert_bad_input(cli("sweep", "--model", f"{tiny}:build,{tiny}:build", "--dry-run"), "--model lists")


def test_sweep_spec_names_overridden_keys_as_told():
    from effkit.errors import BadInputError
    from effkit.sweep import sweep_spec

    with pytest.raises(BadInputError, match=r"^--repeats: expected a positive integer, got 0$"):
        sweep_spec({"models": ["resnet18"], "repeats": 0}, override_names={"repeats": "--repeats"})
    with pytest.raises(BadInputError, match=r"^repeats: expected"):  # Python callers keep the key names
        sweep_spec({"models": ["resnet18"], "repeats": 0})


@pytest.mark.parametrize("value", ["-1", "0", "nan"])
def test_cli_ray_cpus_is_named_by_its_flag(tmp_path, tiny, cli, value):
    db = tmp_path / "r.sqlite"
    res = cli("sweep", "--model", f"{tiny}:build", "--ray-cpus", value, "--db", str(db))
    assert_bad_input(res, "--ray-cpus must be a positive number")
    assert "ray_num_cpus" not in res.stderr
    assert not db.exists()


def test_cli_db_is_checked_before_anything_runs(tmp_path, tiny, cli, monkeypatch):
    import effkit.sweep as sw

    def must_not_run(*a, **k):
        raise AssertionError("the sweep started despite a bad --db")

    monkeypatch.setattr(sw, "run_sweep", must_not_run)
    text = tmp_path / "textdb.txt"
    text.write_text("not a database\n")
    model = ["--model", f"{tiny}:build", "--device", "cpu"]
    assert_bad_input(cli("sweep", *model, "--db", str(text)), "--db", "not an SQLite database")
    assert text.read_text() == "not a database\n"  # left untouched
    assert_bad_input(cli("sweep", *model, "--db", str(tmp_path)), "--db", "is a folder")
    missing = tmp_path / "nope" / "r.sqlite"
    assert_bad_input(cli("sweep", *model, "--db", str(missing)), "--db", "does not exist")
    assert not missing.parent.exists()
    # Even a dry run, so the command that is about to be run for real is known to be right.
    assert_bad_input(cli("sweep", *model, "--db", str(text), "--dry-run"), "--db")
    # A bad --db is reported before a bad sweep file is even read.
    assert_bad_input(cli("sweep", str(tmp_path / "missing.yaml"), "--db", str(text)), "--db")


def test_cli_in_a_pipe_prints_no_blank_progress_line_and_wide_tables(tmp_path, tiny, cli):
    db = tmp_path / "r.sqlite"
    res = cli("sweep", "--model", f"{tiny}:build", "--input-size", "16", "--device", "cpu", "--warmup-s", "0",
              "--min-iters", "1", "--min-time-s", "0", "--no-energy", "--db", str(db),
              env={"COLUMNS": None, "LINES": None})  # no terminal size, as in a CI log
    assert res.returncode == 0, res.stderr
    # One plain line for the configuration, then the summary line; no empty line a transient bar would leave.
    lines = res.stderr.splitlines()
    assert len(lines) == 2 and all(ln.strip() for ln in lines), res.stderr
    assert lines[0].startswith("effkit: [1/1] tiny.py:build bs=1 (1x3x16x16 float32): ok in "), res.stderr
    assert lines[1].startswith("stored 1 rows"), res.stderr
    # All the summary columns stay on one line; a plain Console() folds them at 80 columns.
    header = next(line for line in res.stdout.splitlines() if "latency" in line)
    assert "achieved FLOP/s" in header and "channels last" in header, res.stdout


def test_gpu_tasks_get_a_fresh_worker_each_so_none_measures_a_gpu_it_was_not_given():
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        pytest.skip("a Ray instance is already running in this process")
    from effkit.sweep import gpu_remote

    def _which_gpu():  # defined here so that Ray ships it by value (workers cannot import this test file)
        import os

        return os.getpid(), os.environ.get("CUDA_VISIBLE_DEVICES")

    # two logical GPUs: Ray schedules and sets CUDA_VISIBLE_DEVICES as on a two-GPU node
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        task = gpu_remote(ray, _which_gpu)
        seen = [ray.get(task.options(num_cpus=1).remote(), timeout=120) for _ in range(4)]
    finally:
        ray.shutdown()
    pids = [pid for pid, _ in seen]
    assert len(set(pids)) == 4, seen  # one worker per task: a reused worker would keep its first GPU
    assert all(gpu in ("0", "1") for _, gpu in seen), seen  # exactly one GPU each


def test_sweep_files_can_set_tf32_and_the_mig_opt_in():
    spec = sweep_spec(models=["resnet18"], device="cuda", tf32=False, mig_energy=True)
    c = spec.configs()[0]
    assert c.tf32 is False and c.mig_energy is True
    assert sweep_spec(models=["resnet18"]).configs()[0].tf32 is None  # torch's own settings by default
    with pytest.raises(BadInputError):
        sweep_spec(models=["resnet18"], tf32=3)


def test_cli_sweep_flags_set_tf32_and_the_mig_opt_in(tiny, cli):
    base = ("sweep", "--model", f"{tiny}:build", "--input-size", "16", "--dry-run", "--format", "json")
    res = cli(*base, "--no-tf32", "--mig-energy")
    assert res.returncode == 0, res.stderr
    key = json.loads(json.loads(res.stdout)[0]["config_key"])
    assert key["tf32"] is False and key["mig_energy"] is True
    res = cli(*base)
    assert res.returncode == 0, res.stderr
    key = json.loads(json.loads(res.stdout)[0]["config_key"])
    assert "tf32" not in key and "mig_energy" not in key  # unset: the keys stored before these settings match


def test_db_none_stores_nothing_as_in_measure(tmp_path, tiny, monkeypatch):
    # One meaning of db=None across the API: no store is opened, not even the default one.
    default = tmp_path / "default" / "results.sqlite"
    monkeypatch.setenv("EFFKIT_DB", str(default))
    spec = sweep_spec(models=[f"{tiny}:build"], batch_sizes=[1, 2], device="cpu")
    df = run_sweep(spec, measure_fn=Recorder())
    assert df["status"].tolist() == ["ok", "ok"]
    assert "id" not in df.columns  # ids exist only for stored rows
    assert not default.exists() and not default.parent.exists()


def test_resume_without_a_store_is_refused(tiny):
    spec = sweep_spec(models=[f"{tiny}:build"], batch_sizes=[1], device="cpu")
    with pytest.raises(BadInputError, match="resume.*needs a results store") as e:
        run_sweep(spec, resume=True, measure_fn=Recorder())
    assert e.value.field == "resume"


def test_cli_sweep_without_db_uses_the_default_store(tmp_path, tiny, cli, monkeypatch):
    default = tmp_path / "new-folder" / "results.sqlite"  # its folder does not exist yet
    monkeypatch.setenv("EFFKIT_DB", str(default))
    res = cli("sweep", "--model", f"{tiny}:build", "--device", "cpu", "--warmup-s", "0", "--min-iters", "1",
              "--min-time-s", "0", "--no-energy")
    assert res.returncode == 0, res.stderr
    with Store(default) as store:
        assert len(store) == 1


def test_failed_row_is_the_measured_rows_start():
    # A configuration that fails before it is measured carries the same columns as one that was measured.
    from effkit.measurement.config import MeasureConfig, base_row
    from effkit.measurement.failed import failed_row

    config = MeasureConfig(model="resnet18", batch_size=2, device="cpu", warmup_s=0.5)
    row = failed_row(config, "boom", {"machine_id": "m"})
    assert row["status"] == "failed" and row["error"] == "boom" and row["machine_id"] == "m"
    assert row["input_shape"] == "2x3x224x224" and row["family"] == "resnet" and row["warmup_s"] == 0.5
    from effkit.measurement.config import ROW_COLUMNS

    assert set(ROW_COLUMNS) <= set(row) and set(row) == set(base_row(config, machine={"machine_id": "x"}))
