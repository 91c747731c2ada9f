"""The README's command-line examples, run in order in one temporary folder, so the README cannot rot.

Every ``effkit ...`` command of the README's ``bash`` blocks runs through the real entry point, in the order
the README gives them, so each reads what an earlier one wrote (``results.db``, ``results.csv``,
``effkit-baseline.json``). What a reader would have to bring is made here: the README's own model files
(``my_models.py:build``, ``mypkg.models:build_net``) as small nets, and a stand-in for the accuracy file that
``effkit evaluate`` (which needs ImageNet and weights) would write. To keep it fast on a CPU, commands that
measure get tiny timing settings (``--min-iters 2 --min-time 0 --warmup 0 --warmup-iters 1 --no-energy``),
32x32 inputs, batch sizes of at most 2 and float32 only (float16 on a CPU is emulated and slow); the sweep file
keeps every key of ``examples/sweep.yaml`` with shorter lists. Commands that need a GPU, a dataset, weights,
a Ray cluster or a package install are skipped, each by a rule with its reason, and the test checks that
nothing else was skipped. The few commands that measure many full-size models (minutes on a busy CPU even
so) run on their own in a test marked ``slow``; nothing later in the chain needs their rows.
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
import time
from pathlib import Path

import pytest
import torch
import typer.main
import yaml

from effkit.cli import app, main

ROOT = Path(__file__).resolve().parents[1]

#: (pattern on the command line, why it cannot run here). Everything else runs.
SKIP = [
    (r"^(python3? -m venv|\. |pip install)", "installs packages (.ci/run does this on a fresh machine)"),
    (r"^python -m pytest", "the test suite itself"),
    (r"--cuda-graph", "needs a CUDA GPU"),
    (r"^effkit evaluate ", "needs an ImageNet folder and weights (its output is stood in for below)"),
    (r"--engine ray", "needs a Ray cluster"),
    (r"MACHINE_ID", "names a machine id the reader fills in (the one `effkit calibrate` printed)"),
]

#: (pattern, why) of commands run by the slow test instead: they measure many or large models.
HEAVY = [
    (r"^effkit compare -b ", "measures the seven default backbones"),
    (r"^effkit measure densenet201 --per-layer", "times DenseNet-201 twice, once layer by layer"),
    (r"^effkit sweep -m ", "a grid of VoVNet-39 and ResNet-50 configurations"),
    (r"^effkit (proxies --benchmark|calibrate --benchmark \S+ --transfer-from)",
     "fits ~1,300 public benchmark models some thousand times (leave-one-out), 15-30 s each"),
]

#: What measuring commands get appended, by setting: the first spelling the command has is used.
FAST = [(("--min-iters",), "2"), (("--min-time", "--min-time-s"), "0"), (("--warmup", "--warmup-s"), "0"),
        (("--warmup-iters",), "1"), (("--no-energy",), None)]
MEASURING = {"measure", "compare", "sweep"}

MY_MODELS = """\
import torch.nn as nn


def build():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))


class TextEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.out = nn.Linear(16, 16)

    def forward(self, input_ids, attention_mask):
        return self.out(self.emb(input_ids)) * attention_mask.unsqueeze(-1)


def text_encoder():
    return TextEncoder()


class TwoViews(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, a, b):
        return self.conv(a) + self.conv(b)


def two_views():
    return TwoViews()


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.box = nn.Linear(4, 4)

    def forward(self, x, boxes):
        return self.conv(x).mean(), self.box(boxes)


def detector():
    return Detector()
"""


def readme_commands() -> list[str]:
    """The commands of the README's bash blocks in order; ``a && b`` and ``a; b`` give two."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=";&")
            lexer.whitespace_split = True
            lexer.commenters = "#"
            current: list[str] = []
            for token in [*lexer, ";"]:
                if token in (";", "&&"):
                    if current:
                        commands.append(shlex.join(current))
                    current = []
                else:
                    current.append(token)
    return commands


def _options(path: tuple[str, ...]) -> set[str]:
    command = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return {o for p in command.params for o in (*p.opts, *getattr(p, "secondary_opts", ()))}


def _value_after(args: list[str], flags: tuple[str, ...]) -> int | None:
    return next((i + 1 for i, a in enumerate(args) if a in flags and i + 1 < len(args)), None)


def shrink(args: list[str]) -> list[str]:
    """``args`` (after ``effkit``) with the tiny settings of the module docstring for measuring commands."""
    if args[0] not in MEASURING or {"--dry-run", "--shipped", "--from-shipped", "--public"} & set(args):
        return args  # nothing measured: shipped (or published) rows are read as they are
    args = list(args)
    i = _value_after(args, ("-b", "--batch-size"))
    if i is not None:
        args[i] = ",".join(b for b in args[i].split(",") if int(b) <= 2) or "1"
    i = _value_after(args, ("-s", "--input-size"))
    if i is not None:
        args[i] = "32"
    elif args[0] != "sweep" and "--input-shape" not in args:
        args += ["--input-size", "32"]
    i = _value_after(args, ("--dtype",))
    if i is not None:
        args[i] = "float32"
    have = _options((args[0],))
    for spellings, value in FAST:
        flag = next((s for s in spellings if s in have), None)
        if flag is not None and flag not in args:
            args += [flag] if value is None else [flag, value]
    return args


def stage(tmp: Path) -> None:
    """What the README assumes a reader has, in the folder the commands run in."""
    (tmp / "my_models.py").write_text(MY_MODELS)
    (tmp / "mypkg").mkdir()
    (tmp / "mypkg" / "__init__.py").write_text("")
    (tmp / "mypkg" / "models.py").write_text(MY_MODELS.replace("def build(", "def build_net("))
    (tmp / "tests" / "fixtures").mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "fixtures" / "seed_vovnet.py", tmp / "tests" / "fixtures")
    sweep = yaml.safe_load((ROOT / "examples" / "sweep.yaml").read_text())
    sweep.update(models=sweep["models"][:1], input_sizes=[32], batch_sizes=[1], dtypes=["float32"],
                 warmup_s=0.0, min_iters=2, min_time_s=0.0, energy=False)
    (tmp / "examples").mkdir()
    (tmp / "examples" / "sweep.yaml").write_text(yaml.safe_dump(sweep))


def stand_in_accuracy(tmp: Path, command: str) -> None:
    """The accuracy CSV the skipped ``effkit evaluate ... --save-accuracy FILE`` would have written."""
    args = shlex.split(command)
    if "--save-accuracy" in args:
        model = args[2]
        out = tmp / args[args.index("--save-accuracy") + 1]
        out.write_text("model,top1,top5,dataset,weights,source\n"
                       f"{model},75.0,92.0,stand-in,none,test stand-in for effkit evaluate\n")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    stage(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # mypkg.models, as `pip install -e .` would make it importable
    monkeypatch.setenv("EFFKIT_DB", str(tmp_path / "default-store.db"))  # never the user's own store
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("COLUMNS", "200")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny inputs: a second thread only adds synchronisation, worse on a busy machine
    yield tmp_path
    torch.set_num_threads(threads)


def run_command(command: str, capsys) -> float:
    """Run one README command (shrunk) through the real entry point; its wall time in seconds."""
    args = shlex.split(command)
    assert args[0] == "effkit", f"a README command that is neither run nor skipped: {command}"
    args = shrink(args[1:])
    capsys.readouterr()
    t0 = time.perf_counter()
    try:
        main(args)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    seconds = time.perf_counter() - t0
    out = capsys.readouterr()
    assert code == 0, f"README command failed ({code}): effkit {shlex.join(args)}\n{out.err[-2000:]}"
    assert "Traceback" not in out.err
    return seconds


def _rule(rules, command):
    return next((why for pattern, why in rules if re.search(pattern, command)), None)


def test_readme_examples_run_in_order(workdir, capsys):
    tmp_path = workdir
    ran, skipped, timings = [], [], []
    for command in readme_commands():
        reason = _rule(SKIP, command) or _rule(HEAVY, command)
        if reason is not None:
            skipped.append((command, reason))
            stand_in_accuracy(tmp_path, command)
            continue
        timings.append((run_command(command, capsys), command))
        ran.append(command)
    with capsys.disabled():  # where the time goes, for whoever has to keep this test fast
        for seconds, command in sorted(timings, reverse=True)[:3]:
            print(f"\n  {seconds:5.1f} s  {command}", file=sys.stderr, end="")

    # What the chain promises: each file a later command reads, and each the README names as an output.
    for name in ("r50.csv", "results.db", "table4.md", "results.csv", "figure3.png", "fig3.pdf", "layers.svg",
                 "roofline.png", "report.html", "effkit-baseline.json"):
        assert (tmp_path / name).is_file() and (tmp_path / name).stat().st_size > 0, name
    assert len(ran) >= 20
    # Only the rules above skip anything, and every rule is still needed.
    assert {why for _, why in skipped} == {why for _, why in SKIP + HEAVY}, skipped


@pytest.mark.slow
@pytest.mark.parametrize("pattern", [p for p, _ in HEAVY])
def test_heavy_readme_examples(workdir, capsys, pattern):
    commands = [c for c in readme_commands() if re.search(pattern, c) and not _rule(SKIP, c)]
    assert commands, f"no README command matches {pattern!r} any more"
    for command in commands:
        run_command(command, capsys)
    assert (workdir / "results.db").is_file() or "--db" not in " ".join(commands)


def test_no_example_reads_a_file_before_a_command_writes_it():
    commands = readme_commands()
    first_use = {}
    for i, command in enumerate(commands):
        for flag in ("--db", "--csv", "--accuracy", "--baseline"):
            for m in re.finditer(rf"{flag} (\S+)", command):
                first_use.setdefault(m.group(1), (i, command))
    writers = {"results.db": r"effkit (measure|compare|sweep) .*--db results\.db",
               "results.csv": r"effkit results export .*-o results\.csv",
               "my_accuracy.csv": r"--save-accuracy my_accuracy\.csv",
               "effkit-baseline.json": r"effkit baseline save .*--output effkit-baseline\.json"}
    for name, pattern in writers.items():
        i, reader = first_use[name]
        assert any(re.search(pattern, c) for c in commands[:i + 1]), f"{name} is read before it is written: {reader}"


def test_energy_window_example_runs_on_the_cpu(workdir, capsys):
    """The README's training-step example, moved from cuda:0 to the CPU with a tiny batch."""
    text = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "energy_window" in b)
    cpu = (block.replace(".cuda()", "").replace('device="cuda"', 'device="cpu"').replace('"cuda:0"', '"cpu"')
           .replace("randn(32, 3, 224, 224", "randn(2, 3, 32, 32").replace("(32,)", "(2,)"))
    assert "cuda" not in cpu and "randn(2, 3, 32, 32" in cpu, "the README example changed: update this test"
    namespace: dict = {}
    exec(compile(cpu, "README.md (energy_window example)", "exec"), namespace)
    w = namespace["w"]
    assert w.seconds > 0 and w.device == "cpu"
    assert w.status == "ok" or w.status.startswith(("ok (", "unavailable: ", "failed: "))
    assert str(w.seconds) in capsys.readouterr().out
