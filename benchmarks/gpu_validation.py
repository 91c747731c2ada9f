#!/usr/bin/env python
"""effkit's measurement against an independent plain loop on a real GPU: one command, about 6 minutes.

    PYTHONUNBUFFERED=1 timeout 540 python benchmarks/gpu_validation.py --out $OUT   # on a CUDA machine
    python benchmarks/gpu_validation.py --out results/   # CSVs elsewhere (default: $OUT if set, else ./gpu-validation)
    python benchmarks/gpu_validation.py --dry-run        # the whole flow on the CPU in seconds (no meter)

It needs torch (with CUDA), nvidia-ml-py, pandas and numpy; torchvision and timm for the adapter checks.
Nothing is installed from this repository: effkit is imported from the checkout around this file, and
fvcore is never imported (checked at the end).

It first prints its own estimate of each section (effkit's estimator for effkit's side, the loop settings for
the plain side) against ``--budget`` (default 360 s), then runs, in one process, on one GPU:

1. VoVNet-39, ResNet-50 and DenseNet-201 at batch 1 and 32, float32, each model as plain loop, ``effkit.compare``
   (effkit's defaults: 5 s energy windows x 3, the idle baseline once for the call), plain loop again. The
   plain loop is written here with no effkit code: CUDA events around N back-to-back forward passes
   (FPS = N x batch / elapsed) and the raw NVML energy counter around the same N passes (J/img = counter
   delta / images, gross). Models come from effkit's zoo: the definitions are the same modules, the measuring
   is not.
2. ``--cuda-graph`` at batch 1: eager vs graph latency, and the graph row's peak memory against the
   eager one (a replay allocates nothing: a peak far below eager means activations were missed).
3. float16 and bfloat16 under autocast at batch 32, bracketed by plain loops the same way.
4. Adapters: ``timm:ese_vovnet39b`` params (24,568,936) and multiply-adds vs ``FlopCounterMode``;
   ``torchvision:resnet50`` the same (25,557,032 params); both measured once through effkit.
5. VoVNet-27-slim, ResNet-101, DenseNet-121/161 in turn, each only while the time spent plus its estimate
   stays within ``--budget`` (a skipped one is a row saying so).

The gate: effkit's FPS within +-3 % of the two plain runs' mean where those agree within 1 %; where they do not,
within their range widened on each side by max(3 %, their spread), so a drifting machine is not blamed on
effkit; J/img the same with 10 %. Each check carries the plain runs' spread. NVML failing in any way (no
driver, a failing device listing, no counter, a read failing mid-run) turns energy off with the reason in
the CSVs; FPS is still compared. Each section's table is printed as it ends and every CSV under ``--out``
(``effkit_rows.csv``: the store's rows with the machine fingerprint; ``plain_loop.csv``; ``checks.csv``) is
rewritten then, so a run cut short keeps what it measured. Exit 1 when a gated check fails: FPS, J/img, the
adapter counts, the graph memory, fvcore imported. ``--quick`` runs are never gated (a shared CPU is too noisy).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

CORE_MODELS = ("vovnet39", "resnet50", "densenet201")
EXTRA_MODELS = ("vovnet27_slim", "resnet101", "densenet121", "densenet161")
QUICK_MODELS = ("vovnet27_slim",)
FPS_TOL = 0.03  # effkit's FPS within +-3 % of the plain loop's ...
AGREE = 0.01  # ... where the plain loop's two runs agree within 1 % (else the gate widens: see band())
J_TOL = 0.10
TIMM_ESE_VOVNET39B_PARAMS = 24_568_936  # timm's ese_vovnet39b, as published in its model card
TORCHVISION_RESNET50_PARAMS = 25_557_032  # torchvision's ResNet-50 documentation
QUICK_EXTRA_MODELS = ("resnet18",)
SETUP_S = 3.0  # per configuration beyond its timing settings: build, analysis, memory passes (H100, rough)
ADAPTERS_S = 25.0  # the adapter section: two analyses, two FlopCounterMode passes, two short measurements
DEFAULT_BUDGET_S = 360.0
MIB = 2 ** 20


# --- the plain loop: nothing from effkit below this line until the next section ---------------------

class RawNvml:
    """The NVML energy counter of the CUDA device, matched by UUID; ``reason`` says why not when absent.

    Everything NVML can do wrong is caught here and turns into ``reason`` with the counter off, the way effkit's
    own meter degrades: no library, no driver, a failing device listing, no device with the CUDA device's UUID,
    and a counter that cannot be read. The counter is read once at start-up to decide, so a GPU without one
    (older boards, some MIG slices) costs the FPS comparisons nothing; a read that fails later switches the
    counter off for the rest of the run, with the reason, instead of failing the loop it was measuring.
    ``nvml`` and ``uuid`` are injected by the tests (a fake module, a made-up UUID).
    """

    def __init__(self, device: torch.device, *, nvml=None, uuid: str | None = None):
        self.nv = self.handle = None
        self.reason = ""
        if device.type != "cuda":
            self.reason = "no NVML energy counter on the CPU"
            return
        try:
            nv = nvml
            if nv is None:
                import pynvml as nv
            nv.nvmlInit()
            want = _uuid(uuid if uuid is not None else str(torch.cuda.get_device_properties(device).uuid))
            handle = next((h for h in map(nv.nvmlDeviceGetHandleByIndex, range(nv.nvmlDeviceGetCount()))
                           if _uuid(nv.nvmlDeviceGetUUID(h)) == want), None)
            if handle is None:
                self.reason = f"no NVML device with the CUDA device's UUID {want}"
                return
            nv.nvmlDeviceGetTotalEnergyConsumption(handle)  # the start-up read that decides
        except Exception as e:  # any NVML failure: energy off with the reason, FPS still compared
            self.reason = f"NVML energy counter unavailable: {_why(e)}"
            return
        self.nv, self.handle = nv, handle

    def mj(self):
        """The counter in millijoules, or None (counter off; ``reason`` says why)."""
        if self.handle is None:
            return None
        try:
            return self.nv.nvmlDeviceGetTotalEnergyConsumption(self.handle)
        except Exception as e:  # a read failing mid-run: energy off from here on, the loop goes on
            self.handle = None
            self.reason = f"NVML energy counter read failed during the run: {_why(e)}"
            return None


def _uuid(u) -> str:
    return (u.decode() if isinstance(u, bytes) else str(u)).lower().removeprefix("gpu-")


def _why(e: BaseException) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


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
    energy = e0 is not None and e1 is not None
    return {
        "iterations": n, "elapsed_s": elapsed, "fps": images / elapsed,
        "energy_j_per_img": (e1 - e0) / 1000.0 / images if energy else None,
        "energy_reason": "" if energy else nvml.reason,
        "peak_mib": torch.cuda.max_memory_allocated(x.device) / MIB if cuda else None,
    }


# --- effkit's side and the comparison -----------------------------------------------------------------

def effkit_settings(quick: bool, device: str) -> dict:
    if quick:
        return dict(device=device, warmup_s=0.0, warmup_iters=1, min_iters=3, min_time_s=0.0, energy=False,
                    input_size=32)
    return dict(device=device)  # effkit's defaults, as a user runs compare


def plain_runs(name: str, batch_sizes, dtype: str, run: int, args, nvml, device) -> list[dict]:
    """One plain-loop pass over ``batch_sizes`` (``run`` 1 before effkit's, 2 after)."""
    from effkit.models import create_model

    rows = []
    # cuDNN autotuning as effkit's default, for these passes only
    with torch.backends.cudnn.flags(enabled=True, benchmark=True):
        for bs in batch_sizes:
            size = 32 if args.quick else 224
            model = create_model(name).eval().to(device)
            x = torch.randn(bs, 3, size, size, device=device)
            r = plain_loop(model, x, dtype, seconds=plain_seconds(args, dtype),
                           warmup=1 if args.quick else 20, nvml=nvml, min_iters=3 if args.quick else 20,
                           warmup_s=0.0 if args.quick else 1.0)
            rows.append({"model": name, "batch_size": bs, "dtype": dtype, "run": run, **r})
            # freed before effkit measures: its peak memory must not count these weights
            del model, x
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


def plain_seconds(args, dtype: str) -> float:
    # energy is compared in float32 only: the other sections need no 5 s counter window
    if args.quick:
        return 0.05
    return args.plain_seconds if dtype == "float32" else min(3.0, args.plain_seconds)


def band(values: list[float], tol: float) -> tuple[float, float, float, float]:
    """The range effkit's figure must fall in, from the plain loop's runs: (mean, low, high, spread).

    ``spread`` = (max - min) / mean of the runs. Runs that agree within :data:`AGREE` (and a single run) give
    mean x (1 +- tol). Runs further apart measured the machine's own noise, so the gate widens to their range
    plus mean x max(tol, spread) on each side: effkit is held to what the plain loop itself reproduces.
    """
    mean = sum(values) / len(values)
    lo, hi = min(values), max(values)
    spread = (hi - lo) / mean if mean else 0.0
    if spread <= AGREE:
        return mean, mean * (1 - tol), mean * (1 + tol), spread
    w = mean * max(tol, spread)
    return mean, lo - w, hi + w, spread


def compare_rows(eff: pd.DataFrame, plain: list[dict], section: str, gated: bool, *, energy: bool) -> list[dict]:
    """Checks of effkit's rows against the plain loop's runs of the same configuration (one or two runs each)."""
    checks = []
    groups: dict = {}
    for p in plain:
        groups.setdefault((p["model"], p["batch_size"], p["dtype"]), []).append(p)
    for (model, bs, dtype), runs in groups.items():
        p = runs[0]
        m = eff[(eff["model"] == model) & (eff["batch_size"] == bs) & (eff["dtype"] == dtype)]
        if m.empty or m.iloc[0]["status"] != "ok":
            err = m.iloc[0]["error"] if len(m) else "no effkit row"
            checks.append(_check(section, p, "fps", None, None, None, False, gated, f"effkit failed: {err}"))
            continue
        e = m.iloc[0]
        mean, lo, hi, spread = band([r["fps"] for r in runs], FPS_TOL)
        peak = [r["peak_mib"] for r in runs if r["peak_mib"] is not None]
        checks.append(_check(section, p, "fps", e["fps"], mean, e["fps"] / mean, lo <= e["fps"] <= hi, gated,
                             extra={"plain_runs": len(runs), "plain_spread": spread, "band_low": lo,
                                    "band_high": hi, "tflops_effkit": e["flops_per_s"] / 1e12,
                                    "tflops_plain": e["flops"] * mean / p["batch_size"] / 1e12,
                                    "peak_mib_effkit": _mib(e.get("peak_memory_bytes")),
                                    "peak_mib_plain": max(peak) if peak else None}))
        if energy:
            checks.append(energy_check(section, p, e, runs, gated))
    return checks


def energy_check(section, p, e, runs, gated) -> dict:
    ej = _num(e.get("energy_j_per_img"))
    pj = [r["energy_j_per_img"] for r in runs if _num(r["energy_j_per_img"]) is not None]
    if ej is None or not pj:
        why = e.get("energy_status") if ej is None else runs[-1]["energy_reason"]
        return _check(section, p, "j_per_img", ej, None, None, None, False, f"not compared: {why}")
    mean, lo, hi, spread = band(pj, J_TOL)
    return _check(section, p, "j_per_img", ej, mean, ej / mean, lo <= ej <= hi, gated,
                  extra={"plain_runs": len(pj), "plain_spread": spread, "band_low": lo, "band_high": hi,
                         "j_per_img_net_effkit": _num(e.get("energy_j_per_img_net")),
                         "idle_power_w": _num(e.get("idle_power_w"))})


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


class Plan:
    """The sections of a run and what each should take, from effkit's own estimator and the plain loop's settings.

    Required sections run whatever the estimate; each optional model runs only while the time already spent
    plus its estimate stays within the budget.
    """

    def __init__(self, args, settings: dict):
        from dataclasses import fields

        from effkit.measurement.estimate import config_estimate
        from effkit.measurement.energy.idle import MIN_WINDOW_S, REST_S
        from effkit.measurement.settings import MeasureSettings

        known = {f.name for f in fields(MeasureSettings)}
        base = MeasureSettings(**{k: v for k, v in settings.items() if k in known})
        self.args = args
        self.core = QUICK_MODELS if args.quick else CORE_MODELS
        self.extra = QUICK_EXTRA_MODELS if args.quick else EXTRA_MODELS
        self.sizes = (1, 2) if args.quick else (1, 32)
        self.big = self.sizes[-1]
        self._config = {on: config_estimate(replace(base, energy=base.energy and on)).total_s + SETUP_S
                        for on in (True, False)}
        self._idle = REST_S + max(MIN_WINDOW_S, base.idle_s) if base.energy and base.idle_s > 0 else 0.0

    def plain_s(self, dtype: str) -> float:
        warm = 0.0 if self.args.quick else 1.0
        return warm + plain_seconds(self.args, dtype)

    def float32_model_s(self) -> float:
        """One model at every batch size: plain loop twice, effkit once (with its idle baseline)."""
        n = len(self.sizes)
        return 2 * n * self.plain_s("float32") + n * self._config[True] + self._idle

    def sections(self) -> dict:
        core = len(self.core)
        autocast = core * (2 * self.plain_s("float16") + self._config[False])
        return {"float32": core * self.float32_model_s(), "cuda_graph": core * self._config[False],
                "float16": autocast, "bfloat16": autocast, "adapters": ADAPTERS_S}

    def text(self) -> str:
        sec = self.sections()
        parts = ", ".join(f"{k} {v:.0f} s" for k, v in sec.items())
        total = sum(sec.values())
        over = " - OVER the budget: no optional model will run" if total > self.args.budget else ""
        return (f"estimate: {parts}; {total:.0f} s of the {self.args.budget:g} s budget{over}; optional models "
                f"({', '.join(self.extra)}) about {self.float32_model_s():.0f} s each while the budget lasts")


class Outputs:
    """The run's files under ``--out``, rewritten after every section so that a run cut short keeps what it measured."""

    def __init__(self, out: Path, store):
        self.out, self.store = out, store
        self.checks: list[dict] = []
        self.plain: list[dict] = []

    def section_done(self, section: str, first: int) -> None:
        frame = pd.DataFrame(self.checks)
        frame.to_csv(self.out / "checks.csv", index=False)
        pd.DataFrame(self.plain).to_csv(self.out / "plain_loop.csv", index=False)
        self.store.rows().to_csv(self.out / "effkit_rows.csv", index=False)
        new = frame.iloc[first:]
        if len(new):
            print(f"--- {section} ---", table_text(new), sep="\n", flush=True)


def table_text(checks: pd.DataFrame) -> str:
    cols = ["section", "model", "batch_size", "dtype", "quantity", "effkit", "plain_loop", "ratio", "plain_spread",
            "passed", "gated", "tflops_effkit", "tflops_plain", "peak_mib_effkit", "peak_mib_plain", "note"]
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        return checks[[c for c in cols if c in checks.columns]].to_string(
            index=False, float_format=lambda v: f"{v:.4g}")


def run(args, clock=time.perf_counter) -> int:  # the sections in order, each guarded and written when it ends
    from effkit.measurement.api import compare, measure
    from effkit.store import Store

    t_start = clock()
    device = torch.device(args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "effkit.sqlite"
    if db.exists():
        db.unlink()  # one run per folder: the CSVs describe this run only
    gated = not args.quick
    settings = effkit_settings(args.quick, str(device))
    plan = Plan(args, settings)
    print(plan.text(), flush=True)
    nvml = RawNvml(device)
    if nvml.reason:
        print(f"energy: not compared ({nvml.reason}); FPS still is", flush=True)
    with Store(db) as store:
        files = Outputs(out, store)
        checks, eager = files.checks, []

        def interleaved(models, sizes, dtype, section, *, energy, keep=None):
            # plain, effkit, plain for each model: the two plain runs bracket effkit's in time, so a machine
            # that drifts (clocks, temperature, a neighbour) shows as their spread instead of as effkit's error
            for name in models:
                before = plain_runs(name, sizes, dtype, 1, args, nvml, device)
                e = compare([name], batch_sizes=list(sizes), dtype=dtype, db=store,
                            **{**settings, "energy": settings.get("energy", True) and energy})
                after = plain_runs(name, sizes, dtype, 2, args, nvml, device)
                files.plain.extend(before + after)
                if keep is not None:
                    keep.append(e)
                checks.extend(compare_rows(e, before + after, section, gated, energy=energy))

        def extras():
            for name in plan.extra:
                if clock() - t_start + plan.float32_model_s() > args.budget:
                    checks.append(simple_check("float32", name, "fps", None, None, None, False,
                                               f"skipped: over the {args.budget:g} s budget"))
                    continue
                interleaved([name], plan.sizes, "float32", "float32", energy=True, keep=eager)

        def cuda_graph():
            if device.type != "cuda":
                checks.append(simple_check("cuda_graph", "-", "latency_ms", None, None, None, False,
                                           "skipped: CUDA graphs need a CUDA device"))
                return
            g = compare(list(plan.core), batch_sizes=[1], cuda_graph=True, db=store, **{**settings, "energy": False})
            checks.extend(graph_checks(pd.concat(eager, ignore_index=True), g, gated))

        def adapters():
            a_checks, measured = adapter_checks(str(device), args.quick)
            checks.extend(a_checks)
            for spec in measured:
                m = measure(spec, batch_sizes=[plan.big], db=store, **{**settings, "energy": False})
                checks.append(simple_check("adapters", spec, "measured", m.iloc[0]["fps"], None,
                                           m.iloc[0]["status"] == "ok", gated, str(m.iloc[0].get("error") or "")))

        sections = [("float32", interleaved, (plan.core, plan.sizes, "float32", "float32"),
                     {"energy": True, "keep": eager}),  # 1. the core models
                    ("cuda_graph", cuda_graph, (), {}),  # 2. graph vs eager at batch 1
                    *[(dt, interleaved, (plan.core, (plan.big,), dt, dt), {"energy": False})
                      for dt in ("float16", "bfloat16")],  # 3. autocast
                    ("adapters", adapters, (), {}),  # 4. timm / torchvision
                    ("optional models", extras, (), {})]  # 5. more models while the budget lasts
        for name, fn, a, k in sections:
            first = len(checks)
            guarded(checks, name, fn, *a, **k)
            files.section_done(name, first)
        stored = store.rows()
    checks.append(simple_check("environment", "-", "fvcore imported", "fvcore" in sys.modules, False,
                               "fvcore" not in sys.modules, True))
    return report(out, stored, pd.DataFrame(files.plain), pd.DataFrame(checks), device, clock() - t_start,
                  args.quick)


def report(out: Path, stored, plain, checks, device, elapsed: float, quick: bool) -> int:
    stored.to_csv(out / "effkit_rows.csv", index=False)
    plain.to_csv(out / "plain_loop.csv", index=False)
    checks.to_csv(out / "checks.csv", index=False)
    machine = stored.iloc[0].get("gpu_name") or stored.iloc[0].get("cpu_model") if len(stored) else "?"
    text = [f"effkit vs plain loop on {machine} ({device}), {elapsed:.0f} s"
            f"{' (quick run: nothing gated)' if quick else ''}", table_text(checks)]
    failed = checks[(checks["gated"]) & (checks["passed"] == False)]  # noqa: E712 - pandas elementwise
    text.append(f"{len(failed)} gated check(s) failed" if len(failed) else "all gated checks passed")
    print("\n".join(text), flush=True)
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
    ap.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                    help="seconds the whole run may take by its own estimate: the required sections always run, "
                         "optional models only while they fit (default: %(default)g)")
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
