"""How fast and how lean is effkit's static analysis next to the other counters, and how quick is its CLI?

Measured in one run of this script, tools alternating within each repeat so that drifting machine
load hits all of them alike:

* every tool on every model in a fresh subprocess per repeat. The child imports torch, builds the
  model on the CPU and sets the thread count; then it imports the tool ("import"), makes its first
  call at the first shape ("cold" = import + first call), and calls it again at every shape
  ("steady": the median of several calls after one warm-up call per shape). Each phase is timed in
  CPU time (user + sys of the process, all threads) and wall time. "RSS rise" is the child's peak
  resident memory (``ru_maxrss``) after the cold call minus its peak before the import;
* the cold CLI: ``effkit profile MODEL -f csv``, ``effkit profile MODEL`` (table to a pipe),
  ``effkit models`` and ``effkit --help`` end to end, next to ``python -c "import torch"`` and
  ``python -c pass``.

The tools, each in its best documented configuration:

* effkit: ``effkit.profile(model, shape).totals`` (the model on the meta device: no real compute);
* flop_counter: ``torch.utils.flop_counter.FlopCounterMode`` around a forward pass of a meta copy of
  the model, made as effkit 0.1 made it (``copy.deepcopy`` with every parameter and buffer mapped to
  an empty meta tensor), so it pays the same copy cost effkit used to;
* fvcore: ``FlopCountAnalysis(model, x).total()`` on a real input under ``torch.no_grad()``, with the
  handles of ``effkit.analysis.crosscheck.fvcore_handles()`` ('/' in module names replaced, untimed);
* thop: ``thop.profile(model, inputs=(x,))``; ptflops: ``get_model_complexity_info(model, (C, H, W))``;
  torchinfo: ``summary(model, input_size=shape, verbose=0)``; torchscan: ``crawl_module(model, (C, H, W))``.
  These four run a real forward pass under ``torch.no_grad()``.

Tools that are not installed are skipped. Usage::

    python benchmarks/analysis_speed.py                      # 5 models, 224 and 512, 3 repeats
    python benchmarks/analysis_speed.py --models vovnet39 --sizes 224 --repeats 1
    python benchmarks/analysis_speed.py --json results.json --threads 1
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

TOOLS = ("effkit", "flop_counter", "fvcore", "thop", "ptflops", "torchinfo", "torchscan")
META_TOOLS = {"effkit", "flop_counter"}  # no real compute: cheap to call often
MODELS = ("vovnet39", "resnet50", "resnet152", "densenet121", "densenet201")
# Targets from the issue on analysis speed.
TARGET_VS_FLOP_COUNTER = 0.15  # effkit steady CPU / FlopCounterMode's (densenet201, vovnet39 at 224)
TARGET_RSS_MB = 10.0  # extra peak RSS of a cold effkit.profile(...).totals
TARGET_PROFILE_S = 0.6  # cold `effkit profile vovnet39 -f csv` beyond `python -c "import torch"`
TARGET_QUICK_S = 0.3  # `effkit models` beyond import torch; `effkit --help` beyond `python -c pass`

REPO = Path(__file__).resolve().parents[1]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


class _Clock:
    """Wall and CPU seconds of a block (CPU: the whole process, every thread)."""

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c


def _meta_deepcopy(model):
    """effkit 0.1's copy of a model onto meta: deepcopy with every tensor mapped to an empty meta one."""
    import copy

    import torch

    memo = {}
    for p in model.parameters():
        memo.setdefault(id(p), torch.nn.Parameter(torch.empty(p.shape, dtype=p.dtype, device="meta"),
                                                  requires_grad=p.requires_grad))
    for b in model.buffers():
        memo.setdefault(id(b), torch.empty(b.shape, dtype=b.dtype, device="meta"))
    return copy.deepcopy(model, memo)


def _make_call(tool: str, model):
    """Import ``tool`` and return call(shape) -> its count of multiply-adds."""
    import torch

    if tool == "effkit":
        from effkit.analysis.profile import profile

        return lambda shape: int(profile(model, shape, warn=False).totals.mult_adds)
    if tool == "flop_counter":
        from torch.utils.flop_counter import FlopCounterMode

        def call(shape):
            meta = _meta_deepcopy(model)
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                meta(torch.empty(shape, device="meta"))
            return counter.get_total_flops() // 2  # 2 flops per multiply-add
        return call
    if tool == "fvcore":
        from fvcore.nn import FlopCountAnalysis

        from effkit.analysis.crosscheck import fvcore_handles

        def call(shape):
            with torch.no_grad():
                fca = FlopCountAnalysis(model, torch.randn(shape))
                fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
                fca.clear_op_handles().set_op_handle(**fvcore_handles())
                return int(fca.total())
        return call
    if tool == "thop":
        import thop

        def call(shape):
            with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
                return int(thop.profile(model, inputs=(torch.randn(shape),), verbose=False)[0])
        return call
    if tool == "ptflops":
        from ptflops import get_model_complexity_info

        def call(shape):
            with torch.no_grad():
                return int(get_model_complexity_info(model, tuple(shape[1:]), as_strings=False,
                                                     print_per_layer_stat=False)[0])
        return call
    if tool == "torchinfo":
        from torchinfo import summary

        return lambda shape: int(summary(model, input_size=shape, verbose=0).total_mult_adds)
    if tool == "torchscan":
        from torchscan import crawl_module

        def call(shape):
            with torch.no_grad():
                return int(crawl_module(model, tuple(shape[1:]))["totals"]["macs"]["value"])
        return call
    raise SystemExit(f"unknown tool {tool!r}")


def _load(model_name: str, threads: int):
    import warnings

    import torch

    warnings.simplefilter("ignore")
    torch.set_num_threads(threads)
    from effkit.models import create_model

    return create_model(model_name).eval()


def _own_model(tool: str, model):
    """The model as ``tool`` gets it: fvcore cannot take '/' in module names (VoVNet's), so it gets a renamed
    copy; the hook-based counters get their own copy, since they attach state to modules. Untimed."""
    import copy

    if tool in META_TOOLS:
        return model
    model = copy.deepcopy(model)
    if tool == "fvcore":
        for mod in list(model.modules()):
            if any("/" in k for k in mod._modules):
                mod._modules = type(mod._modules)((k.replace("/", "__"), v) for k, v in mod._modules.items())
    return model


def _cold_child(tool: str, model_name: str, shape: tuple[int, ...], threads: int) -> dict:
    """One tool in this fresh process: import it, then its first call (CPU and wall), and the RSS rise."""
    import torch

    model = _own_model(tool, _load(model_name, threads))
    out: dict = {"kind": "cold", "tool": tool, "model": model_name, "threads": torch.get_num_threads(),
                 "base_rss_mb": _peak_rss_mb()}
    with _Clock() as imp:
        call = _make_call(tool, model)
    with _Clock() as cold:
        out["mult_adds"] = call(shape)
    out.update(import_cpu_s=imp.cpu, import_wall_s=imp.wall, cold_cpu_s=imp.cpu + cold.cpu,
               cold_wall_s=imp.wall + cold.wall, rss_rise_mb=_peak_rss_mb() - out["base_rss_mb"])
    return out


def _steady_child(tools: list[str], model_name: str, shapes, threads: int, steady: int) -> dict:
    """Every tool on one model in this process: per shape one warm-up call each, then rounds in which the
    tools take turns (so that a burst of load hits them alike); medians of CPU and wall time."""
    import torch

    model = _load(model_name, threads)
    calls = {t: _make_call(t, _own_model(t, model)) for t in tools}
    out: dict = {"kind": "steady", "model": model_name, "threads": torch.get_num_threads(), "shapes": {}}
    for shape in shapes:
        key = "x".join(map(str, shape))
        counts = {t: calls[t](shape) for t in tools}  # warm-up
        times: dict[str, list] = {t: [] for t in tools}
        for i in range(steady):
            for t in tools:
                if t not in META_TOOLS and i >= max(1, steady // 3):
                    continue  # real forward passes: fewer calls
                with _Clock() as c:
                    calls[t](shape)
                times[t].append((c.cpu, c.wall))
        out["shapes"][key] = {t: {"mult_adds": counts[t], "calls": len(times[t]),
                                  "cpu_s": statistics.median(x[0] for x in times[t]),
                                  "wall_s": statistics.median(x[1] for x in times[t])} for t in tools}
    return out


def _run_child(kind: str, tools: list[str], model: str, sizes: list[int], threads: int, steady: int) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--tools", *tools, "--models", model, "--threads",
           str(threads), "--steady", str(steady), "--sizes", *map(str, sizes)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        return {"kind": kind, "tool": tools[0], "model": model, "error": proc.stderr.strip().splitlines()[-1][:200]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _cpu_and_wall(cmd: list[str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr.decode()[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def _md(rows: list[dict], columns: list[str]) -> str:
    def cell(v) -> str:
        if isinstance(v, bool):
            return "yes" if v else "NO"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _med(runs: list[dict], *keys):
    vals = []
    for r in runs:
        for k in keys:
            r = r[k]
        vals.append(r)
    return statistics.median(vals)


def _cli(model: str, repeats: int) -> list[dict]:
    py = sys.executable
    commands = {
        "python -c pass": [py, "-c", "pass"],
        "python -c 'import torch'": [py, "-c", "import torch"],
        # The same without the interpreter's teardown, which effkit's quick commands skip.
        "python -c 'import torch, os; os._exit(0)'": [py, "-c", "import torch, os; os._exit(0)"],
        f"effkit profile {model} -f csv": [py, "-m", "effkit", "profile", model, "-f", "csv"],
        f"effkit profile {model} (table to a pipe)": [py, "-m", "effkit", "profile", model],
        "effkit models": [py, "-m", "effkit", "models"],
        "effkit --help": [py, "-m", "effkit", "--help"],
    }
    runs: dict[str, list] = {k: [] for k in commands}
    for rep in range(repeats):
        print(f"  CLI run {rep + 1}/{repeats}", file=sys.stderr, flush=True)
        for key, cmd in commands.items():
            runs[key].append(_cpu_and_wall(cmd))
    rows = [{"command": k, "cpu_s": statistics.median(c for c, _ in v), "wall_s": statistics.median(w for _, w in v)}
            for k, v in runs.items()]
    base = {r["command"]: r for r in rows}
    for r in rows:
        ref = base["python -c pass"] if r["command"] == "effkit --help" else base["python -c 'import torch'"]
        if r["command"].startswith("effkit"):
            r["beyond_cpu_s"] = r["cpu_s"] - ref["cpu_s"]
            r["beyond_wall_s"] = r["wall_s"] - ref["wall_s"]
            r["reference"] = ref["command"]
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS))
    ap.add_argument("--sizes", nargs="+", type=int, default=[224, 512], help="square input sides, batch 1")
    ap.add_argument("--tools", nargs="+", default=list(TOOLS))
    ap.add_argument("--cold-models", nargs="+", default=["vovnet39", "densenet201"],
                    help="models whose cold runs (one fresh process per tool) are measured")
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per measurement (median)")
    ap.add_argument("--steady", type=int, default=6, help="steady rounds per shape (a third for real-forward tools)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads in every child (default 1)")
    ap.add_argument("--cli-model", default="vovnet39")
    ap.add_argument("--json", type=Path, default=None, help="also write all raw measurements here")
    ap.add_argument("--child", choices=["cold", "steady"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    shapes = [(1, 3, s, s) for s in args.sizes]
    if args.child == "cold":
        print(json.dumps(_cold_child(args.tools[0], args.models[0], shapes[0], args.threads)))
        return 0
    if args.child == "steady":
        print(json.dumps(_steady_child(args.tools, args.models[0], shapes, args.threads, args.steady)))
        return 0

    import torch

    tools = [t for t in args.tools if t in META_TOOLS or importlib.util.find_spec(t)]
    load = os.getloadavg()
    print(f"# effkit analysis speed: torch {torch.__version__}, {os.cpu_count()} CPUs, {args.threads} torch "
          f"thread(s) per child, repeats {args.repeats}, load average at start {load[0]:.1f}", flush=True)
    print(f"# tools: {', '.join(tools)} (missing: {', '.join(sorted(set(args.tools) - set(tools))) or 'none'})")
    raw: list[dict] = []
    for rep in range(args.repeats):
        for model in args.cold_models:
            for tool in tools:  # alternating: each repeat visits every tool once
                print(f"  run {rep + 1}/{args.repeats}: cold {model} {tool}", file=sys.stderr, flush=True)
                raw.append(_run_child("cold", [tool], model, args.sizes[:1], args.threads, 0))
        for model in args.models:
            print(f"  run {rep + 1}/{args.repeats}: steady {model}", file=sys.stderr, flush=True)
            raw.append(_run_child("steady", tools, model, args.sizes, args.threads, args.steady))
    cli = _cli(args.cli_model, args.repeats)
    load_end = os.getloadavg()
    rows, cold_rows = _summarise(raw, tools, args.models, args.cold_models, shapes)
    _print(rows, cold_rows, cli, load, load_end, shapes)
    if args.json:
        args.json.write_text(json.dumps({"runs": raw, "steady": rows, "cold": cold_rows, "cli": cli,
                                         "load": [load, load_end]}, indent=2, default=str))
    return 0


def _summarise(raw, tools, models, cold_models, shapes):
    rows, cold_rows = [], []
    for model in cold_models:
        for tool in tools:
            runs = [r for r in raw if r["kind"] == "cold" and r["model"] == model and r["tool"] == tool]
            ok = [r for r in runs if "error" not in r]
            if not ok:
                cold_rows.append({"model": model, "tool": tool, "error": runs[0]["error"] if runs else ""})
                continue
            cold_rows.append({"model": model, "tool": tool, "import_cpu_s": _med(ok, "import_cpu_s"),
                              "cold_cpu_s": _med(ok, "cold_cpu_s"), "cold_wall_s": _med(ok, "cold_wall_s"),
                              "rss_rise_mb": _med(ok, "rss_rise_mb")})
    for model in models:
        runs = [r for r in raw if r["kind"] == "steady" and r["model"] == model and "error" not in r]
        if not runs:
            continue
        for shape in shapes:
            key = "x".join(map(str, shape))
            for tool in tools:
                rows.append({"model": model, "size": shape[-1], "tool": tool,
                             "mult_adds": runs[0]["shapes"][key][tool]["mult_adds"],
                             "steady_cpu_s": _med(runs, "shapes", key, tool, "cpu_s"),
                             "steady_wall_s": _med(runs, "shapes", key, tool, "wall_s")})
    for r in rows:
        e = next(x for x in rows if x["model"] == r["model"] and x["size"] == r["size"] and x["tool"] == "effkit")
        r["cpu_vs_effkit"] = r["steady_cpu_s"] / e["steady_cpu_s"]
    return rows, cold_rows


def _print(rows, cold_rows, cli, load, load_end, shapes) -> None:
    print(f"\nLoad average: {load[0]:.1f} at the start, {load_end[0]:.1f} at the end.")
    print("\n## Steady calls (medians; cpu_vs_effkit > 1: effkit is faster)\n")
    print(_md(rows, ["model", "size", "tool", "mult_adds", "steady_cpu_s", "steady_wall_s", "cpu_vs_effkit"]))
    print(f"\n## Cold (fresh process: import + first call at {shapes[0][-1]}), peak RSS rise\n")
    print(_md(cold_rows, ["model", "tool", "import_cpu_s", "cold_cpu_s", "cold_wall_s", "rss_rise_mb", "error"]))
    print("\n## Cold CLI (medians)\n")
    print(_md(cli, ["command", "cpu_s", "wall_s", "reference", "beyond_cpu_s", "beyond_wall_s"]))

    print("\n## Targets\n")
    for model in ("densenet201", "vovnet39"):
        by = {r["tool"]: r for r in rows if r["model"] == model and r["size"] == 224}
        if "effkit" in by and "flop_counter" in by:
            ratio = by["effkit"]["steady_cpu_s"] / by["flop_counter"]["steady_cpu_s"]
            print(f"- {model} at 224: effkit / FlopCounterMode steady CPU = {ratio:.3f} "
                  f"({'met' if ratio <= TARGET_VS_FLOP_COUNTER else 'MISSED'}, target <= {TARGET_VS_FLOP_COUNTER})")
    slower = [f"{r['tool']} on {r['model']} at {r['size']} ({r['cpu_vs_effkit']:.2f})"
              for r in rows if r["tool"] != "effkit" and r["cpu_vs_effkit"] <= 1]
    print(f"- effkit faster than every peer in steady CPU time: {'met' if not slower else 'MISSED: ' + ', '.join(slower)}")
    eff = [r["rss_rise_mb"] for r in cold_rows if r["tool"] == "effkit" and "rss_rise_mb" in r]
    if eff:
        print(f"- cold effkit peak RSS rise: {min(eff):.1f}-{max(eff):.1f} MB "
              f"({'met' if max(eff) <= TARGET_RSS_MB else 'MISSED'}, target <= {TARGET_RSS_MB} MB)")
    for r in cli:
        if "beyond_cpu_s" not in r or "table" in r["command"]:
            continue
        target = TARGET_PROFILE_S if "profile" in r["command"] else TARGET_QUICK_S
        print(f"- {r['command']}: {r['beyond_cpu_s']:.2f} s CPU / {r['beyond_wall_s']:.2f} s wall beyond "
              f"{r['reference']} (target <= {target} s: CPU {'met' if r['beyond_cpu_s'] <= target else 'MISSED'}, "
              f"wall {'met' if r['beyond_wall_s'] <= target else 'MISSED'})")


if __name__ == "__main__":
    sys.exit(main())
