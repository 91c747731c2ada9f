"""Benchmark files in, evidence out: the proxy scoreboard and the predictor's calibration at scale.

:func:`benchmark_calibration` fits the op-class predictor (:mod:`effkit.prediction.benchfit`) to a throughput
file, reports its leave-one-model-out and leave-one-family-out errors beside two baselines fitted in the same
run, and refuses a degenerate fit. :func:`benchmark_proxies` scores each static proxy, and the predictor's
out-of-sample prediction, against time per image over all rows and per family.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Mapping

from effkit.errors import BadInputError
from effkit.prediction.benchfit import COEFFICIENTS
from effkit.prediction.opclasses import OP_CLASSES

#: Proxies scored against time per image (per image where they scale with the batch).
BENCH_PROXIES = ("params", "mult_adds", "flops", "paper_mac", "mac", "mac_fused_bytes", "activations")
#: Fewest models in a family for its own row of the scoreboard.
MIN_FAMILY = 4


def benchmark_rows(benchmark, *, features=None, dtype: str | None = None, device: str | None = None,
                   analyse=True):
    """A benchmark file (path, or a table already read) joined to its features: ``(rows, notes)``.

    Raises:
        BadInputError: a bad file, or no row with features.
    """
    import pandas as pd

    from effkit.prediction.benchmark import check_table, family, read_benchmark
    from effkit.prediction.public import PUBLIC_FILES, attach_features, public_path, timm_row

    if isinstance(benchmark, pd.DataFrame):
        bench = check_table(benchmark)
    else:
        shipped = str(benchmark).lower() in PUBLIC_FILES and not Path(benchmark).is_file()
        bench = read_benchmark(public_path(str(benchmark)) if shipped else benchmark, dtype=dtype, device=device)
    rows, notes, _ = attach_features(bench, features, analyse=timm_row if analyse is True else analyse or None)
    missing = [c for c in (*(f"{c}_{w}" for c in OP_CLASSES for w in ("flops", "bytes", "kernels")), "flops")
               if c not in rows.columns]
    if missing:
        raise BadInputError(f"the features table lacks column(s) {', '.join(missing[:6])}: regenerate it with "
                            "this effkit's experiments/public_benchmarks.py", field="features")
    rows["family"] = [family(m) for m in rows["model"]]
    rows.attrs.update(bench.attrs)
    return rows, notes


def _devices(rows) -> str:
    return rows.attrs.get("device") or ", ".join(sorted(set(rows["device"].astype(str))))


def benchmark_calibration(benchmark, *, features=None, dtype: str | None = None, device: str | None = None,
                          transfer_from=None, analyse=True, db=None) -> tuple[Any, dict[str, Any]]:
    """Fit the predictor to a benchmark file; ``(calibration, summary)``.

    Args:
        benchmark: a benchmark file (see :func:`effkit.prediction.benchmark.read_benchmark`) or its table.
        features: a features table (path or DataFrame; default: the shipped one).
        dtype, device: what the file ran, where its name does not say.
        transfer_from: a second benchmark file (another GPU, same dtype): fitted there, moved here through the
            device table's peaks, and scored on this file's rows (``summary["transfer"]``).
        analyse: analyse rows missing from the features table with timm when it imports.
        db: store the calibration in this results database (nothing is stored without one).

    Returns:
        The :class:`~effkit.prediction.calibration.Calibration` and a summary with ``n_models``, ``n_rows``,
        ``loo_median_abs_error``, ``loo_within_10pct``, ``lofo_median_abs_error``, ``baselines``, ``rates``...

    Raises:
        BadInputError: a bad file, or a degenerate fit (fewer models than coefficients, an op class that
            costs nothing, a fit no better than the FLOPs power law); nothing is stored then.
    """
    import numpy as np

    from effkit.prediction import benchfit as bf

    rows, notes = benchmark_rows(benchmark, features=features, dtype=dtype, device=device, analyse=analyse)
    models = rows["model"].to_numpy()
    n_models = len(set(models))
    check_enough(n_models)
    X, y = bf.design(rows), rows["time_per_img_s"].to_numpy(dtype=float)
    coef = bf.fit_rates(X, y, models)
    fitter = bf.RatesFit()
    loo_pred = bf.cross_validate(fitter, X, y, models)
    loo = bf.error_summary(loo_pred, y, models)
    lofo = bf.error_summary(bf.cross_validate(fitter, X, y, rows["family"].to_numpy(), bf.model_weights(models)),
                            y, models)
    base = bf.baselines(rows, y, models, rows["family"].to_numpy())
    summary: dict[str, Any] = {
        "source": rows.attrs.get("source", ""), "device": _devices(rows), "dtype": _one(rows["dtype"]),
        "n_models": n_models, "n_rows": int(len(rows)), "n_families": int(rows["family"].nunique()),
        "loo_median_abs_error": loo["median_abs_error"], "loo_within_10pct": loo["within_10pct"],
        "loo_rows_median_abs_error": loo["rows_median_abs_error"],
        "lofo_median_abs_error": lofo["median_abs_error"], "lofo_within_10pct": lofo["within_10pct"],
        "in_sample_median_abs_error": bf.error_summary(bf.RatesFit.predict(coef, X), y, models)["median_abs_error"],
        "baselines": base, "rates": achieved_rates(coef), "notes": notes,
    }
    refusal = degenerate(coef, X, loo["median_abs_error"], base["flops_power_law"]["loo_median_abs_error"])
    if refusal:
        raise BadInputError(refusal, field="benchmark")
    free = free_classes(coef, X)
    if free:
        notes.append(f"no cost of their own for {', '.join(free)} ops: they always run beside others (such as a norm "
                     "after each convolution) and the fit charges their time to those")
    if transfer_from is not None:
        summary["transfer"] = transfer_score(transfer_from, rows, X, y, models, features=features, analyse=analyse)
    cal = _calibration(rows, coef, X, summary)
    if db is not None:
        from effkit.store.calibrations import save_calibration

        save_calibration(cal, db)
    return cal, summary


def _one(series) -> str:
    vals = sorted(set(series.astype(str)))
    return vals[0] if len(vals) == 1 else ", ".join(vals)


def check_enough(n_models: int) -> None:
    """Refuse a fit of more coefficients than the file has models, plus some to leave out."""
    need = len(COEFFICIENTS) + 2
    if n_models < need:
        raise BadInputError(
            f"{n_models} model(s) cannot fit the predictor's {len(COEFFICIENTS)} rates and test it on models "
            f"left out: give a benchmark of at least {need} different models (more, and more varied, is better)",
            field="benchmark")


def degenerate(coef, X, loo_error: float, flops_error: float) -> str:
    """Why a fit must not be kept (``""`` when it may): a rate that is not finite, a row predicted to take no
    time, or an out-of-sample error no better than the FLOPs power law's.

    An op class that comes out free is kept: its ops always appear beside others (a batch norm after each
    convolution) and their cost is charged to those; :func:`free_classes` names them.
    """
    import numpy as np

    if not np.isfinite(coef).all() or not (coef > 0).any():
        return ("the fit found no finite, positive rates: effkit's features do not tell the file's times apart; "
                "a benchmark of more, and more varied, models does")
    pred = X @ coef
    if (pred <= 0).any():
        return (f"the fit predicts that {int((pred <= 0).sum())} row(s) take no time (their op classes all came "
                "out free): add models in which those ops take a larger share")
    if not loo_error < flops_error:
        return (f"the fit predicts models it has not seen no better than a FLOPs power law (median error "
                f"{loo_error:.1%} against {flops_error:.1%}): not kept; a benchmark of more, and more varied, "
                "models (different designs, input sizes) lets the rates be told apart")
    return ""


def free_classes(coef, X) -> list[str]:
    """Op classes present in the data to which the fit gave no cost at all (neither per FLOP nor per byte)."""
    n = len(OP_CLASSES)
    return [c for i, c in enumerate(OP_CLASSES)
            if ((X[:, i] > 0).any() or (X[:, n + i] > 0).any()) and coef[i] == 0 and coef[n + i] == 0]


def achieved_rates(coef) -> dict[str, float]:
    """The fitted rates readably: GFLOP/s and GB/s per op class (inf where the fit found no cost), µs per kernel."""
    from effkit.prediction.benchfit import rates_dict

    d = rates_dict(coef)
    out: dict[str, float] = {}
    for c in OP_CLASSES:
        for what, unit in (("flop", "gflops_per_s"), ("byte", "gbs")):
            s = d[f"s_per_{what}_{c}"]
            out[f"{unit}_{c}"] = 1e-9 / s if s > 0 else math.inf
    out["kernel_us"] = d["s_per_kernel"] * 1e6
    return out


def _calibration(rows, coef, X, summary):
    import numpy as np

    from effkit.prediction import benchfit as bf
    from effkit.prediction.calibration import Calibration

    rates = bf.class_rates(coef)
    device = summary["device"]
    flops_img = rows["flops"].to_numpy(dtype=float) / rows["batch_size"].to_numpy(dtype=float)
    seen = [c for i, c in enumerate(OP_CLASSES) if (X[:, len(OP_CLASSES) + i] > 0).any() or (X[:, i] > 0).any()]
    valid = {"flops_per_image": [float(flops_img.min()), float(flops_img.max())],
             "batch_sizes": sorted(int(b) for b in set(rows["batch_size"])),
             "input_sizes": [int(rows["input_size"].min()), int(rows["input_size"].max())], "classes": seen}
    gpu = device if not device.lower().startswith("cpu") else ""
    scores = {k: v for k, v in summary.items() if k not in ("notes",)}
    return Calibration(
        machine_id=machine_slug(device), dtype=summary["dtype"],
        fingerprint={"gpu_name": gpu, "cpu_model": device if not gpu else "", "device": device},
        s_per_flop={"conv": rates["conv"]["s_per_flop"], "matmul": rates["matmul"]["s_per_flop"],
                    "vector": rates["elementwise"]["s_per_flop"]},
        s_per_byte=rates["elementwise"]["s_per_byte"], s_per_kernel=float(coef[-1]),
        models=tuple(sorted(set(rows["model"]))), points=int(len(rows)),
        loo_median_abs_error=summary["loo_median_abs_error"], notes=tuple(summary["notes"]),
        class_rates=rates, valid_range=valid, scores=json_ready(scores), source=summary["source"],
    )


def machine_slug(device: str) -> str:
    """The id a benchmark calibration is stored under: the device's name in lower case without spaces."""
    return re.sub(r"[^a-z0-9.-]+", "", device.lower().replace(" ", "")) or "benchmark"


def json_ready(obj):
    """``obj`` with NumPy numbers as Python ones and infinities as None (JSON has neither)."""
    import numpy as np

    if isinstance(obj, Mapping):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


# ------------------------------------------------------------------------------------------- transfer


def peak_scale(from_device: str, to_device: str, dtype: str):
    """Per-coefficient factors moving rates from one device to another by their peaks (device table).

    A class's time per FLOP scales with the inverse of the peak it runs on (tensor-core peak of the dtype for
    convolutions, linear layers and attention; float32 for the rest), its time per byte with the inverse of
    the bandwidth; the cost per kernel (host-side) is kept.

    Raises:
        BadInputError: either device is not in the device table.
    """
    import numpy as np

    from effkit.prediction.roofline import device_peaks

    a, b = device_peaks(from_device, dtype=dtype), device_peaks(to_device, dtype=dtype)
    tensor = {"conv", "conv_thin", "matmul", "attention"}
    flop = [(a.tflops["conv"] / b.tflops["conv"]) if c in tensor else (a.tflops["vector"] / b.tflops["vector"])
            for c in OP_CLASSES]
    byte = [a.bandwidth_gbs / b.bandwidth_gbs] * len(OP_CLASSES)
    return np.array([*flop, *byte, 1.0])


def transfer_score(source, rows, X, y, models, *, features=None, analyse=True) -> dict[str, Any]:
    """Fit on ``source`` (another device's file), scale by peaks to this file's device, score on ``rows``."""
    from effkit.prediction import benchfit as bf

    src_rows, _ = benchmark_rows(source, features=features, analyse=analyse)
    src_dev, dst_dev = _devices(src_rows), _devices(rows)
    coef = bf.fit_rates(bf.design(src_rows), src_rows["time_per_img_s"].to_numpy(dtype=float),
                        src_rows["model"].to_numpy())
    moved = coef * peak_scale(src_dev, dst_dev, _one(rows["dtype"]))
    err = bf.error_summary(bf.RatesFit.predict(moved, X), y, models)
    return {"fitted_on": f"{src_dev} ({src_rows.attrs.get('source', '')})", "moved_to": dst_dev,
            "median_abs_error": err["median_abs_error"], "within_10pct": err["within_10pct"],
            "n_models": len(set(models))}


# ------------------------------------------------------------------------------------------- proxies


def benchmark_proxies(benchmark, *, features=None, dtype: str | None = None, device: str | None = None,
                      analyse=True, min_family: int = MIN_FAMILY):
    """Spearman and Pearson of time per image against each proxy and the predictor, over all rows and per family.

    The predictor's numbers are leave-one-model-out (each row predicted by a fit that never saw its model),
    so it is scored on the same footing as a static proxy. Families with fewer than ``min_family`` models
    get no row of their own.

    Returns:
        A DataFrame (``scope``, ``proxy``, ``spearman``, ``pearson``, ``n``); ``attrs`` holds ``notes``,
        ``source`` and ``device``.
    """
    import numpy as np
    import pandas as pd

    from effkit.prediction import benchfit as bf
    from effkit.prediction.correlation import correlations

    rows, notes = benchmark_rows(benchmark, features=features, dtype=dtype, device=device, analyse=analyse)
    y = rows["time_per_img_s"].to_numpy(dtype=float)
    models = rows["model"].to_numpy()
    cols = {p: bf.proxy_matrix(rows, [p])[:, 0] for p in BENCH_PROXIES if p in rows.columns}
    if len(set(models)) >= len(COEFFICIENTS) + 2:
        cols["predicted (leave-one-model-out)"] = bf.cross_validate(bf.RatesFit(), bf.design(rows), y, models)
    else:
        notes.append(f"no predicted column: fitting it needs at least {len(COEFFICIENTS) + 2} models")
    out = []
    scopes = [("all", np.ones(len(rows), dtype=bool))]
    counts = rows.groupby("family")["model"].nunique()
    scopes += [(f, (rows["family"] == f).to_numpy()) for f in counts[counts >= min_family].sort_values(
        ascending=False).index]
    for scope, mask in scopes:
        for proxy, x in cols.items():
            rho, r, n = correlations(x[mask], y[mask])
            out.append({"scope": scope, "proxy": proxy, "spearman": rho, "pearson": r, "n": n,
                        "models": int(len(set(models[mask])))})
    df = pd.DataFrame(out)
    df.attrs.update(notes=notes, source=rows.attrs.get("source", ""), device=_devices(rows))
    return df

