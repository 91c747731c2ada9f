"""How long a cold `effkit` command takes next to the Python it cannot avoid: the CLI targets of issue 14.

Each pair runs alternately (effkit command, its reference, effkit command, ...) in fresh processes, so drifting
machine load hits both alike; the medians of ``--repeats`` runs are reported, in CPU time (user + sys of the
child, the figure to trust on a shared machine) and wall time, with the load average before and after:

* ``effkit profile vovnet39 -f csv`` vs ``python -c "import torch"`` (target: within 0.6 s);
* ``effkit models`` vs ``python -c "import torch"`` (target: within 0.3 s);
* ``effkit --help`` vs ``python -c pass`` (target: within 0.3 s).

Every command runs as ``python -m effkit`` (the console entry, with its quick exit), output into a pipe. Usage::

    python benchmarks/cli_speed.py                 # 7 runs of each
    python benchmarks/cli_speed.py --repeats 11 --json cli.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

PY = sys.executable
TORCH = [PY, "-c", "import torch"]
PAIRS = [  # (name, effkit command, reference name, reference command, target seconds beyond the reference)
    ("effkit profile vovnet39 -f csv", [PY, "-m", "effkit", "profile", "vovnet39", "-f", "csv"],
     'python -c "import torch"', TORCH, 0.6),
    ("effkit models", [PY, "-m", "effkit", "models"], 'python -c "import torch"', TORCH, 0.3),
    ("effkit --help", [PY, "-m", "effkit", "--help"], "python -c pass", [PY, "-c", "pass"], 0.3),
]


def _run(cmd: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one fresh process running ``cmd``, its output into a pipe."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.decode()[-500:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def measure(repeats: int) -> list[dict]:
    """One row per pair: the medians of both commands and the differences."""
    rows = []
    for name, cmd, ref_name, ref_cmd, target in PAIRS:
        _run(cmd), _run(ref_cmd)  # one untimed round: the files in the page cache for both
        mine, ref = [], []
        for i in range(repeats):
            print(f"  {name}: run {i + 1}/{repeats}", file=sys.stderr, flush=True)
            mine.append(_run(cmd))
            ref.append(_run(ref_cmd))
        cpu, wall = (statistics.median(v[k] for v in mine) for k in (0, 1))
        ref_cpu, ref_wall = (statistics.median(v[k] for v in ref) for k in (0, 1))
        rows.append({"command": name, "cpu_s": cpu, "wall_s": wall, "reference": ref_name, "ref_cpu_s": ref_cpu,
                     "ref_wall_s": ref_wall, "beyond_cpu_s": cpu - ref_cpu, "beyond_wall_s": wall - ref_wall,
                     "target_s": target, "runs": repeats})
    return rows


def _markdown(rows: list[dict]) -> str:
    head = ("| command | cpu_s | wall_s | reference | ref cpu_s | ref wall_s | beyond cpu_s | beyond wall_s "
            "| target |\n|---|---|---|---|---|---|---|---|---|\n")
    return head + "".join(
        f"| `{r['command']}` | {r['cpu_s']:.3f} | {r['wall_s']:.3f} | `{r['reference']}` | {r['ref_cpu_s']:.3f} "
        f"| {r['ref_wall_s']:.3f} | {r['beyond_cpu_s']:+.3f} | {r['beyond_wall_s']:+.3f} | {r['target_s']} |\n"
        for r in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="runs of each command (median; default 7)")
    ap.add_argument("--json", help="also write the rows (and the machine) to this file")
    args = ap.parse_args(argv)
    load_before = os.getloadavg()
    rows = measure(args.repeats)
    load_after = os.getloadavg()
    import torch  # only for the record of the versions

    # Without the bytecode cache (PYTHONDONTWRITEBYTECODE, a read-only checkout) every effkit module is compiled
    # from source on every run: tens of ms more for the same command, so the record says which it was.
    bytecode = "not written (PYTHONDONTWRITEBYTECODE)" if sys.dont_write_bytecode else "written"
    machine = {"cpus": os.cpu_count(), "machine": platform.machine(), "python": platform.python_version(),
               "torch": torch.__version__, "load_before": load_before, "load_after": load_after,
               "bytecode_cache": bytecode}
    print(f"{os.cpu_count()} CPUs, {platform.machine()}, Python {machine['python']}, torch {torch.__version__}; "
          f"load average (1/5/15 min) {'/'.join(f'{x:.1f}' for x in load_before)} before, "
          f"{'/'.join(f'{x:.1f}' for x in load_after)} after; bytecode cache {bytecode}; "
          f"medians of {args.repeats} runs each\n")
    print(_markdown(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
