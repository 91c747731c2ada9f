"""How fast and how lean is effkit's static analysis, next to fvcore and PyTorch's FlopCounterMode?

Measured in one run of this script:

* each tool in a fresh subprocess per repeat, so that its import and first call are cold and its peak
  resident memory (``ru_maxrss``) is its own. Every child imports torch and builds the model on the
  CPU first; a ``baseline`` child does only that, and its peak is subtracted from the others
  ("extra peak RSS" = what the tool itself costs);
* warm calls: the same tool called again in the same process after the cold call;
* the cold ``effkit profile MODEL`` command end to end (rich table, and CSV) vs
  ``python -c "import torch"``: wall time, and CPU time (user + sys), which a busy machine distorts less.

The tools, each in its best documented configuration:

* effkit: ``effkit.profile(model, shape)`` (copies the model to the meta device: no real compute);
* fvcore: ``FlopCountAnalysis(model, x).total()`` on a real CPU input, under ``torch.no_grad()``
  (fvcore traces a real forward pass; without ``no_grad`` it would also keep autograd state), with
  its handles set to count what effkit's ``mult_adds`` counts (conv / linear / matmul, no batch
  norm or pooling: ``effkit.analysis.crosscheck.fvcore_handles()``); '/' in module names is replaced (untimed) because fvcore cannot handle it;
* FlopCounterMode: ``torch.utils.flop_counter.FlopCounterMode`` around a forward pass of the model
  moved to the meta device (it works on meta, so it gets the same no-compute advantage as effkit).

Cold measurements are repeated (``--repeats``, default 3) and the medians reported.

Usage::

    python benchmarks/analysis_speed.py                       # vovnet39 at 1x3x224x224 and 8x3x512x512
    python benchmarks/analysis_speed.py --shape 1,3,224,224 --repeats 1
    python benchmarks/analysis_speed.py --model tests/fixtures/seed_vovnet.py:vovnet39 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

TOOLS = ("baseline", "effkit", "fvcore", "flop_counter")
WARM_CALLS = {"effkit": 3, "fvcore": 1, "flop_counter": 3}
# Targets from the analysis-core issue.
TARGET_WARM_SPEEDUP = 100.0  # effkit warm vs fvcore at the largest shape
TARGET_CLI_OVERHEAD_S = 0.8  # cold `effkit profile MODEL` beyond `python -c "import torch"`

REPO = Path(__file__).resolve().parents[1]


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _rename_slashes(model) -> None:
    for mod in list(model.modules()):
        if any("/" in k for k in mod._modules):
            mod._modules = type(mod._modules)((k.replace("/", "__"), v) for k, v in mod._modules.items())


def _child(tool: str, model_name: str, shape: tuple[int, ...]) -> dict:
    """Run one tool once cold (then warm) in this fresh process; return timings and peak RSS."""
    import torch

    from effkit.models import create_model

    model = create_model(model_name).eval()
    result: dict = {"tool": tool, "shape": list(shape), "base_rss_mb": _peak_rss_mb()}
    if tool == "baseline":
        result["peak_rss_mb"] = _peak_rss_mb()
        return result

    if tool == "fvcore":
        # fvcore splits module scopes on '/', which VoVNet's layer names contain; renaming this
        # child's own model is preparation, not part of what fvcore costs, so it happens untimed.
        _rename_slashes(model)
    t0 = time.perf_counter()
    if tool == "effkit":
        from effkit.analysis.profile import profile

        def call() -> int:
            return int(profile(model, shape, warn=False).totals.mult_adds)
    elif tool == "fvcore":
        from fvcore.nn import FlopCountAnalysis

        from effkit.analysis.crosscheck import fvcore_handles

        def call() -> int:
            x = torch.randn(shape)
            with torch.no_grad():
                fca = FlopCountAnalysis(model, x)
                fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
                # Count what effkit's mult_adds counts (conv / linear / matmul), not BN and pooling.
                fca.clear_op_handles().set_op_handle(**fvcore_handles())
                return int(fca.total())
    elif tool == "flop_counter":
        from torch.utils.flop_counter import FlopCounterMode

        model = model.to("meta")  # this child's own model: moving it in place is fine

        def call() -> int:
            x = torch.empty(shape, device="meta")
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                model(x)
            return counter.get_total_flops() // 2  # PyTorch counts 2 flops per multiply-add
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    result["import_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    result["mult_adds"] = call()
    result["cold_call_s"] = time.perf_counter() - t0
    result["peak_rss_mb"] = _peak_rss_mb()

    warm = []
    for _ in range(WARM_CALLS[tool]):
        t0 = time.perf_counter()
        call()
        warm.append(time.perf_counter() - t0)
    result["warm_call_s"] = statistics.median(warm)
    return result


def _run_child(tool: str, model_name: str, shape: tuple[int, ...]) -> dict:
    cmd = [sys.executable, __file__, "--child", tool, "--model", model_name,
           "--shape", ",".join(map(str, shape))]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"{tool} at {shape} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _wall_and_cpu(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + sys) of one command; CPU time suffers less from a busy machine."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def _md(rows: list[dict], columns: list[str]) -> str:
    def cell(v) -> str:
        if isinstance(v, bool):
            return "yes" if v else "NO"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        if isinstance(v, int):
            return f"{v:,}"
        return str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _median_rows(runs: list[dict]) -> dict:
    out = dict(runs[0])
    for key in ("base_rss_mb", "peak_rss_mb", "import_s", "cold_call_s", "warm_call_s"):
        if key in runs[0]:
            out[key] = statistics.median(r[key] for r in runs)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="vovnet39", help="zoo name or external spec (default vovnet39)")
    ap.add_argument("--shape", action="append", default=None,
                    help="input shape N,C,H,W; repeat for several (default 1,3,224,224 and 8,3,512,512)")
    ap.add_argument("--repeats", type=int, default=3, help="cold runs per tool and shape (median taken)")
    ap.add_argument("--json", type=Path, default=None, help="also write all raw measurements here")
    ap.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    shapes = [tuple(int(d) for d in s.split(",")) for s in (args.shape or ["1,3,224,224", "8,3,512,512"])]

    if args.child:
        print(json.dumps(_child(args.child, args.model, shapes[0])))
        return 0

    import torch

    print(f"# effkit analysis speed: {args.model}, torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"GPU: {'yes' if torch.cuda.is_available() else 'no'}, repeats {args.repeats}", flush=True)
    raw: list[dict] = []
    summary: list[dict] = []
    for shape in shapes:
        runs: dict[str, list[dict]] = {t: [] for t in TOOLS}
        for rep in range(args.repeats):
            for tool in TOOLS:  # interleaved, so that drifting machine load hits every tool alike
                print(f"  {'x'.join(map(str, shape))} run {rep + 1}/{args.repeats}: {tool}", file=sys.stderr,
                      flush=True)
                r = _run_child(tool, args.model, shape)
                runs[tool].append(r)
                raw.append(r)
        base = _median_rows(runs["baseline"])["peak_rss_mb"]
        for tool in TOOLS[1:]:
            row = _median_rows(runs[tool])
            row["extra_peak_rss_mb"] = statistics.median(r["peak_rss_mb"] for r in runs[tool]) - base
            row["cold_s"] = statistics.median(r["import_s"] + r["cold_call_s"] for r in runs[tool])
            row["shape"] = "x".join(map(str, shape))
            row["baseline_rss_mb"] = base
            summary.append(row)

    commands = {
        "import torch": [sys.executable, "-c", "import torch"],
        "effkit profile": [sys.executable, "-m", "effkit", "profile", args.model],
        "effkit profile -f csv": [sys.executable, "-m", "effkit", "profile", args.model, "-f", "csv"],
    }
    cli_runs: dict[str, list[tuple[float, float]]] = {k: [] for k in commands}
    for rep in range(args.repeats):
        print(f"  CLI run {rep + 1}/{args.repeats}", file=sys.stderr, flush=True)
        for key, cmd in commands.items():
            cli_runs[key].append(_wall_and_cpu(cmd))
    cli = {k: statistics.median(w for w, _ in v) for k, v in cli_runs.items()}
    cli_cpu = {k: statistics.median(c for _, c in v) for k, v in cli_runs.items()}

    print("\n## Per tool (medians)\n")
    print(_md(summary, ["shape", "tool", "mult_adds", "import_s", "cold_call_s", "cold_s", "warm_call_s",
                        "baseline_rss_mb", "extra_peak_rss_mb"]))

    ratios = []
    for shape in {r["shape"]: None for r in summary}:
        by = {r["tool"]: r for r in summary if r["shape"] == shape}
        e, f, c = by["effkit"], by["fvcore"], by["flop_counter"]
        ratios.append({
            "shape": shape,
            "fvcore/effkit cold": f["cold_s"] / e["cold_s"],
            "fvcore/effkit warm": f["warm_call_s"] / e["warm_call_s"],
            "fvcore cold/effkit warm": f["cold_s"] / e["warm_call_s"],
            "FlopCounterMode/effkit cold": c["cold_s"] / e["cold_s"],
            "FlopCounterMode/effkit warm": c["warm_call_s"] / e["warm_call_s"],
            "effkit/fvcore extra RSS": e["extra_peak_rss_mb"] / f["extra_peak_rss_mb"],
            "counts agree": e["mult_adds"] == f["mult_adds"] == c["mult_adds"],
        })
    print("\n## Ratios (> 1: effkit faster; RSS < 1: effkit leaner)\n")
    print(_md(ratios, list(ratios[0])))

    print("\n## Cold CLI (medians; rich table to a pipe, or CSV)\n")
    overhead = cli["effkit profile"] - cli["import torch"]
    cli_rows = [{"command": " ".join(["python", "-c", "'import torch'"] if k == "import torch"
                                     else ["effkit", *commands[k][3:]]),
                 "wall_s": cli[k], "beyond import torch wall_s": cli[k] - cli["import torch"],
                 "cpu_s": cli_cpu[k], "beyond import torch cpu_s": cli_cpu[k] - cli_cpu["import torch"]}
                for k in commands]
    print(_md(cli_rows, list(cli_rows[0])))

    last = ratios[-1]
    print("\n## Targets\n")
    speedup = last["fvcore/effkit warm"]
    print(f"- effkit warm >= {TARGET_WARM_SPEEDUP:.0f}x faster than fvcore at {last['shape']}: "
          f"{speedup:.0f}x ({'met' if speedup >= TARGET_WARM_SPEEDUP else 'MISSED'})")
    print(f"- effkit extra peak RSS / fvcore's at {last['shape']}: {last['effkit/fvcore extra RSS']:.3f}")
    print(f"- cold `effkit profile {args.model}` <= {TARGET_CLI_OVERHEAD_S} s beyond `import torch`: "
          f"{overhead:.2f} s ({'met' if overhead <= TARGET_CLI_OVERHEAD_S else 'MISSED'})")
    if args.json:
        args.json.write_text(json.dumps({"runs": raw, "summary": summary, "ratios": ratios,
                                         "cli_wall_cpu_s": cli_runs}, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
