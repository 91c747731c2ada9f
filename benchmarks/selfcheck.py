"""Benchmark of effkit's own measurements against the simplest independent ones, for a GPU machine.

Run it as ``python benchmarks/selfcheck.py --model resnet50 --batch-size 32``.

* FPS: effkit's timing loop (:mod:`effkit.measurement.timing`) against a plain CUDA-event loop over back-to-back
  forward passes in the same process (they should agree within ~3 % at batch 32).
* Energy: J/img from :func:`effkit.measurement.energy.meter.measure_energy` against the raw NVML counter
  delta around a plain loop (gross, no idle subtraction on either side).

Nothing here runs without CUDA.
"""

from __future__ import annotations

import time
from typing import Optional

import torch

from effkit.errors import BackendUnavailableError


def crosscheck(model: str = "resnet50", batch_size: int = 32, *, device: str = "cuda", iters: int = 200,
               energy_s: float = 5.0, nvml=None) -> dict:
    """Measure ``model`` both ways and return the numbers side by side.

    Returns:
        ``{"fps_effkit", "fps_plain", "fps_ratio", "j_per_img_effkit", "j_per_img_raw", "j_ratio",
        "energy_method", "device"}``; energy fields are ``None`` without an NVML energy counter.

    Raises:
        BackendUnavailableError: no CUDA device.
    """
    from effkit.devices import resolve_device
    from effkit.measurement.timing import (
        Runner, cudnn_benchmark, device_context, plain_event_loop_fps, prepare, time_step, warm_up,
    )
    from effkit.models import create_model

    dev = resolve_device(device)
    if dev.type != "cuda":
        raise BackendUnavailableError("the self-check compares against CUDA events; it needs --device cuda")
    net, x = prepare(create_model(model), (batch_size, 3, 224, 224), dev)
    runner = Runner(net, x)
    out: dict = {"device": torch.cuda.get_device_name(dev), "model": model, "batch_size": batch_size}
    with device_context(dev), cudnn_benchmark(True):
        warm_up(runner, runner.sync, warmup_s=2.0, warmup_iters=20)
        t = time_step(runner, dev, batch_size, min_iters=iters, min_time_s=2.0)
        plain = plain_event_loop_fps(net, x, iters=iters, warmup=10)
        out.update(fps_effkit=t.fps, fps_plain=plain, fps_ratio=t.fps / plain,
                   j_per_img_effkit=None, j_per_img_raw=None, j_ratio=None, energy_method=None)

        from effkit.measurement.energy.meter import measure_energy
        from effkit.measurement.energy.nvml import NvmlMeter

        meter = NvmlMeter(dev.index or 0, nvml=nvml)
        try:
            if meter.probe().method != "nvml_energy_counter":
                return out
            res = measure_energy(meter, runner, batch_size, sync=runner.sync, trials=1, min_window_s=energy_s,
                                 min_window_iters=32, idle_s=0)
            nv, h = meter.gpu.nvml, meter.gpu.handle
            n = 0
            runner.sync()
            e0 = nv.nvmlDeviceGetTotalEnergyConsumption(h)
            t0 = time.perf_counter()
            while n < 32 or time.perf_counter() - t0 < energy_s:
                runner()
                n += 1
            runner.sync()
            e1 = nv.nvmlDeviceGetTotalEnergyConsumption(h)
            raw = (e1 - e0) / 1000.0 / (n * batch_size)
            out.update(j_per_img_effkit=res.energy_j_per_img, j_per_img_raw=raw,
                       j_ratio=res.energy_j_per_img / raw, energy_method=res.method)
        finally:
            meter.close()
    return out


def main(argv: Optional[list[str]] = None) -> None:  # pragma: no cover - GPU only
    import argparse
    import json

    ap = argparse.ArgumentParser(description="Check effkit's FPS and J/img against plain CUDA-event / NVML loops.")
    ap.add_argument("--model", default="resnet50")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args(argv)
    print(json.dumps(crosscheck(args.model, args.batch_size, device=args.device), indent=2))


if __name__ == "__main__":  # pragma: no cover
    main()
