#!/usr/bin/env python
"""effkit's measurement against an independent plain loop on a real GPU: one command, about 6 minutes.

    python benchmarks/gpu_validation.py                  # on a CUDA machine; CSVs under $OUT or ./gpu-validation
    python benchmarks/gpu_validation.py --out results/   # elsewhere
    python benchmarks/gpu_validation.py --dry-run        # the whole flow on the CPU in seconds (no meter)

It needs torch (with CUDA), nvidia-ml-py, pandas and numpy; torchvision and timm for the adapter checks.
Nothing is installed from this repository: effkit is imported from the checkout around this file, and
fvcore is never imported (checked at the end).

What it runs, in one process, on one GPU:

1. ``effkit.compare`` of VoVNet-39, ResNet-50 and DenseNet-201 at batch 1 and 32 (float32, effkit's
   defaults: 5 s energy windows x 3, the idle baseline once for the run), stored in a results database;
   then, time permitting (``--budget``), VoVNet-27-slim, ResNet-101, DenseNet-121/161.
2. The same models in a plain loop written here with no effkit code: CUDA events around N back-to-back
   forward passes (FPS = N x batch / elapsed) and the raw NVML energy counter around the same N passes
   (J/img = counter delta / images, gross). Models are built from effkit's zoo: the definitions are
   the same modules, the measuring is not.
3. ``--cuda-graph`` at batch 1: eager vs graph latency, and the graph row's peak memory against the
   eager one (a replay allocates nothing: a peak far below eager means activations were missed).
4. float16 and bfloat16 under autocast at batch 32, effkit vs the plain loop.
5. Adapters: ``timm:ese_vovnet39b`` params (24,568,936) and multiply-adds vs ``FlopCounterMode``;
   ``torchvision:resnet50`` the same (25,557,032 params); both measured once through effkit.

It prints effkit vs plain-loop FPS and J/img with ratios, TFLOP/s and peak MiB, writes every CSV
(``effkit_rows.csv``: the store's rows with the machine fingerprint; ``plain_loop.csv``; ``checks.csv``)
under ``--out``, and exits 1 when a gated check fails: FPS beyond +-3 %, J/img beyond +-10 %, the
adapter counts, the graph memory, fvcore imported. ``--quick`` runs are never gated (a shared CPU is
too noisy for +-3 %).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

CORE_MODELS = ("vovnet39", "resnet50", "densenet201")
EXTRA_MODELS = ("vovnet27_slim", "resnet101", "densenet121", "densenet161")
QUICK_MODELS = ("vovnet27_slim",)
FPS_TOL = 0.03
J_TOL = 0.10
TIMM_ESE_VOVNET39B_PARAMS = 24_568_936  # timm's ese_vovnet39b, as published in its model card
TORCHVISION_RESNET50_PARAMS = 25_557_032  # torchvision's ResNet-50 documentation
EXTRA_MODEL_S = 70.0  # rough cost of one extra model (effkit with its idle baseline + plain loop, 2 batches)
MIB = 2 ** 20


# --- the plain loop: nothing from effkit below this line until the next section ---------------------

class RawNvml:
    """The NVML energy counter of the CUDA device, matched by UUID; ``reason`` says why not when absent."""

    def __init__(self, device: torch.device):
        self.nv = self.handle = None
        self.reason = ""
        if device.type != "cuda":
            self.reason = "no NVML energy counter on the CPU"
            return
        try:
            import pynvml as nv

            nv.nvmlInit()
        except Exception as e:  # no library, no driver
            self.reason = f"NVML unavailable: {e}"
            return
        want = str(torch.cuda.get_device_properties(device).uuid).lower().removeprefix("gpu-")
        for i in range(nv.nvmlDeviceGetCount()):
            h = nv.nvmlDeviceGetHandleByIndex(i)
            uuid = nv.nvmlDeviceGetUUID(h)
            uuid = (uuid.decode() if isinstance(uuid, bytes) else uuid).lower().removeprefix("gpu-")
            if uuid == want:
                self.nv, self.handle = nv, h
                return
        self.reason = f"no NVML device with the CUDA device's UUID {want}"

    def mj(self):
        return None if self.handle is None else self.nv.nvmlDeviceGetTotalEnergyConsumption(self.handle)


def plain_loop(model, x, dtype: str, *, seconds: float, warmup: int, nvml: RawNvml, min_iters: int = 20,
               warmup_s: float = 1.0) -> dict:
    """FPS from events around N back-to-back passes, J/img from the raw counter around the same passes.

    Warm-up: at least ``warmup`` passes and ``warmup_s`` seconds (power ramps up over the first fraction
    of a second, and cuDNN autotunes on the first passes).
    """
    cuda = x.device.type == "cuda"
    autocast = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(dtype)
    ctx = (lambda: torch.autocast(x.device.type, dtype=autocast)) if autocast else (lambda: torch.no_grad())
    sync = (lambda: torch.cuda.synchronize(x.device)) if cuda else (lambda: None)
    with torch.inference_mode(), ctx():
        t = time.perf_counter()
        done = 0
        while done < warmup or time.perf_counter() - t < warmup_s:
            model(x)
            done += 1
            if done % 16 == 0:
                sync()  # the clock must see the device's progress, not the launch queue's
        sync()
        t = time.perf_counter()
        for _ in range(5):
            model(x)
        sync()
        n = max(min_iters, int(seconds / max((time.perf_counter() - t) / 5, 1e-6)))
        if cuda:
            torch.cuda.reset_peak_memory_stats(x.device)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0 = nvml.mj()
        t0 = time.perf_counter()
        if cuda:
            start.record()
        for _ in range(n):
            model(x)
        if cuda:
            end.record()
            end.synchronize()
        wall = time.perf_counter() - t0
        e1 = nvml.mj()
    elapsed = start.elapsed_time(end) / 1000.0 if cuda else wall
    images = n * x.shape[0]
    return {
        "iterations": n, "elapsed_s": elapsed, "fps": images / elapsed,
        "energy_j_per_img": (e1 - e0) / 1000.0 / images if e0 is not None else None,
        "energy_reason": "" if e0 is not None else nvml.reason,
        "peak_mib": torch.cuda.max_memory_allocated(x.device) / MIB if cuda else None,
    }


# --- effkit's side and the comparison -----------------------------------------------------------------

def effkit_settings(quick: bool, device: str) -> dict:
    if quick:
        return dict(device=device, warmup_s=0.0, warmup_iters=1, min_iters=3, min_time_s=0.0, energy=False,
                    input_size=32)
    return dict(device=device)  # effkit's defaults, as a user runs compare


def run_plain(models, batch_sizes, dtype, args, nvml, device) -> list[dict]:
    from effkit.models import create_model

    rows = []
    for name in models:
        for bs in batch_sizes:
            size = 32 if args.quick else 224
            torch.backends.cudnn.benchmark = True  # as effkit's default
            model = create_model(name).eval().to(device)
            x = torch.randn(bs, 3, size, size, device=device)
            # energy is compared in float32 only: the other sections need no 5 s counter window
            seconds = args.plain_seconds if dtype == "float32" else min(3.0, args.plain_seconds)
            r = plain_loop(model, x, dtype, seconds=0.05 if args.quick else seconds,
                           warmup=1 if args.quick else 20, nvml=nvml, min_iters=3 if args.quick else 20,
                           warmup_s=0.0 if args.quick else 1.0)
            rows.append({"model": name, "batch_size": bs, "dtype": dtype, **r})
            del model, x
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


def compare_rows(eff: pd.DataFrame, plain: list[dict], section: str, gated: bool, *, energy: bool) -> list[dict]:
    checks = []
    for p in plain:
        m = eff[(eff["model"] == p["model"]) & (eff["batch_size"] == p["batch_size"]) & (eff["dtype"] == p["dtype"])]
        if m.empty or m.iloc[0]["status"] != "ok":
            err = m.iloc[0]["error"] if len(m) else "no effkit row"
            checks.append(_check(section, p, "fps", None, None, None, False, gated, f"effkit failed: {err}"))
            continue
        e = m.iloc[0]
        ratio = e["fps"] / p["fps"]
        checks.append(_check(section, p, "fps", e["fps"], p["fps"], ratio, abs(ratio - 1) <= FPS_TOL, gated,
                             extra={"tflops_effkit": e["flops_per_s"] / 1e12,
                                    "tflops_plain": e["flops"] * p["fps"] / p["batch_size"] / 1e12,
                                    "peak_mib_effkit": _mib(e.get("peak_memory_bytes")),
                                    "peak_mib_plain": p["peak_mib"]}))
        if not energy:
            continue
        ej, pj = _num(e.get("energy_j_per_img")), p["energy_j_per_img"]
        if ej is None or pj is None:
            why = e.get("energy_status") if ej is None else p["energy_reason"]
            checks.append(_check(section, p, "j_per_img", ej, pj, None, None, False, f"not compared: {why}"))
            continue
        jr = ej / pj
        checks.append(_check(section, p, "j_per_img", ej, pj, jr, abs(jr - 1) <= J_TOL, gated,
                             extra={"j_per_img_net_effkit": _num(e.get("energy_j_per_img_net")),
                                    "idle_power_w": _num(e.get("idle_power_w"))}))
    return checks


def _num(v):
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _mib(v):
    v = _num(v)
    return None if v is None else v / MIB


def _check(section, p, quantity, effkit, plain, ratio, ok, gated, note="", extra=None) -> dict:
    return {"section": section, "model": p["model"], "batch_size": p["batch_size"], "dtype": p["dtype"],
            "quantity": quantity, "effkit": effkit, "plain_loop": plain, "ratio": ratio,
            "passed": ok, "gated": bool(gated and ok is not None), "note": note, **(extra or {})}


def simple_check(section, name, quantity, value, expected, ok, gated, note="") -> dict:
    return {"section": section, "model": name, "batch_size": None, "dtype": None, "quantity": quantity,
            "effkit": value, "plain_loop": expected, "ratio": None, "passed": ok,
            "gated": bool(gated and ok is not None), "note": note}


def graph_checks(eager: pd.DataFrame, graph: pd.DataFrame, gated: bool) -> list[dict]:
    out = []
    for _, g in graph.iterrows():
        e = eager[(eager["model"] == g["model"]) & (eager["batch_size"] == 1) & (eager["dtype"] == "float32")]
        if e.empty or g["status"] != "ok":
            out.append(simple_check("cuda_graph", g["model"], "latency_ms", None, None, False, gated,
                                    f"graph row failed: {g.get('error')}"))
            continue
        e = e.iloc[0]
        out.append(simple_check("cuda_graph", g["model"], "latency_ms graph vs eager", g["latency_ms"],
                                e["latency_ms"], None, False,
                                f"speed-up x{e['latency_ms'] / g['latency_ms']:.2f}; p99 {g['latency_p99_ms']:.3f} ms"))
        gp, ep = _num(g["peak_memory_bytes"]), _num(e["peak_memory_bytes"])
        ok = None if gp is None or not ep else gp / ep >= 0.8  # weights-only would be far below
        out.append(simple_check("cuda_graph", g["model"], "peak MiB graph / eager", _mib(gp), _mib(ep), ok, gated,
                                str(g["memory_method"])))
    return out


def adapter_checks(device: str, quick: bool) -> tuple[list[dict], list[str]]:
    """Params and multiply-adds of the timm/torchvision adapters vs published counts and FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    from effkit.analysis.profile import profile
    from effkit.models.external import create_external

    out, measured = [], []
    for spec, params in (("timm:ese_vovnet39b", TIMM_ESE_VOVNET39B_PARAMS),
                         ("torchvision:resnet50", TORCHVISION_RESNET50_PARAMS)):
        try:
            p = profile(spec, (1, 3, 224, 224))
            model = create_external(spec).eval()
        except Exception as e:  # the adapter's package is missing here
            out.append(simple_check("adapters", spec, "params", None, params, None, False,
                                    f"skipped: {type(e).__name__}: {str(e).splitlines()[0]}"))
            continue
        out.append(simple_check("adapters", spec, "params", p.totals.params, params, p.totals.params == params,
                                not quick))
        with torch.device("meta"):
            meta = create_external(spec).eval()
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            meta(torch.empty(1, 3, 224, 224, device="meta"))
        fcm = counter.get_total_flops() // 2
        out.append(simple_check("adapters", spec, "mult_adds vs FlopCounterMode/2", p.totals.mult_adds, fcm,
                                p.totals.mult_adds == fcm, not quick, f"flops (effkit) {p.totals.flops}"))
        measured.append(spec)
        del model, meta
    return out, measured


def guarded(checks: list, section: str, fn, *a, **k):
    """Run one section; an exception becomes a failed, gated check, and the other sections still run."""
    try:
        return fn(*a, **k)
    except Exception as e:  # one broken section must not lose the others' numbers
        checks.append(simple_check(section, "-", "section ran", False, True, False, True,
                                   f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"))
        return None


def run(args) -> int:  # the sections in order, each guarded; longer than 60 lines to keep them in one place
    from effkit.measurement.api import compare, measure
    from effkit.store import Store

    t_start = time.perf_counter()
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "effkit.sqlite"
    if db.exists():
        db.unlink()  # one run per folder: the CSVs describe this run only
    gated = not args.quick
    settings = effkit_settings(args.quick, str(device))
    nvml = RawNvml(device)
    core = QUICK_MODELS if args.quick else CORE_MODELS
    sizes = (1, 2) if args.quick else (1, 32)
    big = sizes[-1]
    checks: list[dict] = []
    plain: list[dict] = []
    with Store(db) as store:
        def float32(models):
            # one compare for all of them: one run, so one idle baseline for its rows
            e = compare(list(models), batch_sizes=list(sizes), db=store, **settings)
            eager.append(e)
            r = run_plain(models, sizes, "float32", args, nvml, device)
            plain.extend(r)
            checks.extend(compare_rows(e, r, "float32", gated, energy=True))

        def extras():
            for name in EXTRA_MODELS:
                if time.perf_counter() - t_start + EXTRA_MODEL_S > args.budget:
                    checks.append(simple_check("float32", name, "fps", None, None, None, False,
                                               f"skipped: over the {args.budget:g} s budget"))
                    continue
                float32([name])

        def cuda_graph():
            if device.type != "cuda":
                checks.append(simple_check("cuda_graph", "-", "latency_ms", None, None, None, False,
                                           "skipped: CUDA graphs need a CUDA device"))
                return
            g = compare(list(core), batch_sizes=[1], cuda_graph=True, db=store, **{**settings, "energy": False})
            checks.extend(graph_checks(pd.concat(eager, ignore_index=True), g, gated))

        def autocast(dtype):
            e = compare(list(core), batch_sizes=[big], dtype=dtype, db=store, **{**settings, "energy": False})
            r = run_plain(core, (big,), dtype, args, nvml, device)
            plain.extend(r)
            checks.extend(compare_rows(e, r, dtype, gated, energy=False))

        def adapters():
            a_checks, measured = adapter_checks(str(device), args.quick)
            checks.extend(a_checks)
            for spec in measured:
                m = measure(spec, batch_sizes=[big], db=store, **{**settings, "energy": False})
                checks.append(simple_check("adapters", spec, "measured", m.iloc[0]["fps"], None,
                                           m.iloc[0]["status"] == "ok", gated, str(m.iloc[0].get("error") or "")))

        eager: list = []
        guarded(checks, "float32", float32, core)  # 1. the core models
        if not args.quick:  # ... and the extra models while the budget lasts
            guarded(checks, "float32", extras)
        guarded(checks, "cuda_graph", cuda_graph)  # 3. graph vs eager at batch 1
        for dtype in ("float16", "bfloat16"):  # 4. autocast
            guarded(checks, dtype, autocast, dtype)
        guarded(checks, "adapters", adapters)  # 5. timm / torchvision
        stored = store.rows()
    checks.append(simple_check("environment", "-", "fvcore imported", "fvcore" in sys.modules, False,
                               "fvcore" not in sys.modules, True))
    return report(out, stored, pd.DataFrame(plain), pd.DataFrame(checks), device, time.perf_counter() - t_start,
                  args.quick)


def report(out: Path, stored, plain, checks, device, elapsed: float, quick: bool) -> int:
    stored.to_csv(out / "effkit_rows.csv", index=False)
    plain.to_csv(out / "plain_loop.csv", index=False)
    checks.to_csv(out / "checks.csv", index=False)
    machine = stored.iloc[0].get("gpu_name") or stored.iloc[0].get("cpu_model") if len(stored) else "?"
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    cols = ["section", "model", "batch_size", "dtype", "quantity", "effkit", "plain_loop", "ratio", "passed",
            "gated", "tflops_effkit", "tflops_plain", "peak_mib_effkit", "peak_mib_plain", "note"]
    text = [f"effkit vs plain loop on {machine} ({device}), {elapsed:.0f} s"
            f"{' (quick run: nothing gated)' if quick else ''}",
            checks[[c for c in cols if c in checks.columns]].to_string(index=False, float_format=lambda v: f"{v:.4g}")]
    failed = checks[(checks["gated"]) & (checks["passed"] == False)]  # noqa: E712 - pandas elementwise
    text.append(f"{len(failed)} gated check(s) failed" if len(failed) else "all gated checks passed")
    print("\n".join(text))
    (out / "summary.txt").write_text("\n".join(text) + "\n")
    print(f"CSVs in {out}", file=sys.stderr)
    return 1 if len(failed) else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.environ.get("OUT") or "gpu-validation",
                    help="folder for the CSVs (default: $OUT if set, else ./gpu-validation)")
    ap.add_argument("--device", default="auto", help="auto, cuda, cuda:N or cpu")
    ap.add_argument("--quick", action="store_true", help="tiny models and settings; nothing gated")
    ap.add_argument("--dry-run", action="store_true", help="--device cpu --quick: the whole flow in seconds")
    ap.add_argument("--budget", type=float, default=270.0,
                    help="seconds after which the extra models are skipped (the rest takes about 2 minutes)")
    ap.add_argument("--plain-seconds", type=float, default=5.0, help="length of each plain-loop window")
    args = ap.parse_args(argv)
    if args.dry_run:
        args.device, args.quick = "cpu", True
    if args.quick and args.device == "cpu":
        torch.set_num_threads(1)  # tiny tensors: more threads only contend on a shared machine
    if args.device != "cpu" and not torch.cuda.is_available() and not args.quick:
        print("gpu_validation: no CUDA device here; use --dry-run for the CPU flow", file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
