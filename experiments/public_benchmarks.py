"""Regenerate effkit/data/public/features.csv: effkit's analysis at every setup of the shipped timm benchmarks.

One row per (model, input size, batch size, dtype) found in any shipped benchmark file: float16 for the
two AMP GPU files, float32 for the CPU file, NCHW, each at that file's batch size. Each model is built
with ``timm.create_model(name, pretrained=False)`` on the meta device and traced at batch 2 and 3 (and
1 for batch-1 rows); the batch's numbers follow exactly (see :mod:`effkit.analysis.op_kinds`). Needs timm and torchvision, which
effkit itself never does (see docs/public-benchmarks.md for the venv)::

    . /work/timmvenv/bin/activate && PYTHONPATH=$PWD python experiments/public_benchmarks.py

Prints every model that failed or left ops uncounted, then how effkit's multiply-adds and parameters
agree with the GMACs and parameter counts timm published beside its throughput.

``--models a,b`` (or ``--family PREFIX``) recomputes only those models and keeps every other row of the
existing table; ``--check-linearity N`` traces N models at their real benchmark batch as well and
reports any difference from the scaled numbers.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from effkit._version import __version__ as EFFKIT_VERSION  # noqa: E402
from effkit.analysis.op_kinds import KIND_COLUMNS, TOTALS, at_batch, trace_pair, trace_sums  # noqa: E402

DATA = ROOT / "effkit" / "data" / "public"
OUT = DATA / "features.csv"
AGREEMENT = ROOT / "experiments" / "results" / "public_benchmarks_gmacs.csv"
#: The benchmark files, their short name and the dtype their runs used.
BENCHMARKS = {
    "timm-benchmark-infer-amp-nchw-pt291-cu128-4090.csv": ("rtx4090", "float16"),
    "timm-benchmark-infer-amp-nchw-pt240-cu124-rtx3090.csv": ("rtx3090", "float16"),
    "timm-benchmark-infer-fp32-nchw-pt240-cpu-i7_12700h-dynamo.csv": ("i7_12700h", "float32"),
}
KEY = ["model", "img_size", "batch_size", "dtype"]
COLUMNS = [
    *KEY, "benchmarks", "params",
    *[f"{t}_{s}" for t in TOTALS for s in ("per_image", "fixed", "per_batch")],
    "kernels", "kernels_fused", *KIND_COLUMNS,
    "uncounted", "built_with", "effkit_version", "timm_version", "torch_version",
]


def setups() -> dict[tuple, set[str]]:
    """(model, size, batch, dtype) -> the short names of the benchmark files that ran it."""
    found: dict[tuple, set[str]] = defaultdict(set)
    for name, (short, dtype) in BENCHMARKS.items():
        with open(DATA / name, newline="") as f:
            for row in csv.DictReader(f):
                found[(row["model"], int(row["infer_img_size"]), int(row["infer_batch_size"]), dtype)].add(short)
    return found


#: Models that re-parameterisation changed (their multi-branch training form folded for inference).
REPARAMETERISED: set[str] = set()


def _build(name: str, **kwargs):
    """The model as timm's benchmark runs it: built without weights, in eval mode, re-parameterised.

    timm's benchmark re-parameterises models for inference (RepVGG's, MobileOne's and GhostNetV3's
    branches folded into one conv, conv + batch norm fused in LeViT, RepViT...): its published parameter
    counts and GMACs are those of the folded form. For most models this changes nothing.
    """
    import timm
    from timm.utils.model import reparameterize_model

    with torch.device("meta"):  # modules made while folding land on meta too
        model = timm.create_model(name, pretrained=False, **kwargs).eval()
        before = sum(p.numel() for p in model.parameters())
        n_modules = len(list(model.modules()))
        model = reparameterize_model(model, inplace=True)
    if sum(p.numel() for p in model.parameters()) != before or len(list(model.modules())) != n_modules:
        REPARAMETERISED.add(name)
    return model.eval()


#: Models whose first forward differs from the later ones: they cache something made on the first call
#: (EfficientFormer's and EfficientViT's attention-bias lookups in eval mode). A benchmark times the later
#: ones, so these are traced once more, warm.
STATEFUL: set[str] = set()


def analyse(name: str, size: int, dtype: str, batch_one: bool, need_pair: bool,
            cache: dict) -> tuple[tuple | None, dict | None, str]:
    """(trace pair or None, batch-1 trace or None, how the model was built) of ``name`` at ``size``.

    Batch-1 rows (the CPU file) need only their own trace; larger batches the pair at batch 2 and 3.
    Each dtype gets its own instance (a cache made in float16 must not serve a float32 trace).

    A model with a fixed input size (ViT, Swin) fails at another size and is rebuilt for it, as timm's
    benchmark builds it for a pretrained configuration of that size.
    """
    def traces(model, fresh):
        pair = None
        if need_pair:
            two, three = trace_pair(model, size, dtype)
            if two["kernels"] != three["kernels"]:  # the first call made a cache: trace batch 2 again, warm
                STATEFUL.add(name)
                two = trace_sums(model, size, 2, dtype)
                print(f"WARM {name} {size} {dtype}: the first trace differed; traced again", flush=True)
            pair, fresh = (two, three), False
        one = None
        if batch_one:
            one = trace_sums(model, size, 1, dtype)
            if fresh and name in STATEFUL:
                one = trace_sums(model, size, 1, dtype)
        return pair, one

    key = (name, dtype)
    fresh = key not in cache
    model = cache[key] if not fresh else cache.setdefault(key, _build(name))
    try:
        return (*traces(model, fresh), "reparameterised" if name in REPARAMETERISED else "")
    except Exception:  # noqa: BLE001 - a fixed-size model at another size: build it for that size
        key = (name, dtype, size)
        fresh = key not in cache
        model = cache[key] if not fresh else cache.setdefault(key, _build(name, img_size=size))
        return (*traces(model, fresh), ";".join([*(["reparameterised"] if name in REPARAMETERISED else []),
                                                 f"img_size={size}"]))


def _uncounted_text(d: dict) -> str:
    return ";".join(f"{k}:{v}" for k, v in sorted(d.items()))


def run(keys: dict[tuple, set[str]], check_linearity: int) -> tuple[list[dict], list[str], dict]:
    import timm

    rows, failures, uncounted = [], [], {}
    by_model: dict[tuple, list[tuple]] = defaultdict(list)
    for key in keys:
        by_model[(key[0], key[1], key[3])].append(key)
    start = time.perf_counter()
    cache: dict = {}
    checked = 0
    last_model = None
    for i, ((model, size, dtype), group) in enumerate(sorted(by_model.items())):
        if model != last_model:
            cache.clear()  # one model's instances at a time: a large one holds many meta tensors
            last_model = model
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pair, one, built_with = analyse(model, size, dtype, any(k[2] == 1 for k in group),
                                                any(k[2] > 1 for k in group), cache)
        except Exception as e:  # noqa: BLE001 - reported and counted, the run goes on
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            failures.append(model)
            print(f"FAILED {model} {size} {dtype}: {type(e).__name__}: {first[:200]}", flush=True)
            continue
        first = pair[0] if pair else one
        missing = {**first["uncounted"], **(one["uncounted"] if one else {})}
        if missing and model not in uncounted:
            uncounted[model] = missing
            print(f"UNCOUNTED {model} {size}: {_uncounted_text(missing)}", flush=True)
        others = sorted({*first["other_ops"], *(one["other_ops"] if one else ())})
        if others:
            print(f"OTHER-KIND {model}: {', '.join(others)}", flush=True)
        for key in sorted(group):
            feats = at_batch(pair, key[2], one)
            if not feats["affine"]:
                print(f"NOT AFFINE {model} {size}: the batch-2 and batch-3 traces ran different kernels", flush=True)
            # Spread over the run (alphabetical: many families), not the first few models.
            if check_linearity and key[2] > 2 and i % max(1, len(by_model) // check_linearity) == 0 \
                    and checked < check_linearity:
                checked += 1
                _check_linearity(model, size, key[2], dtype, pair, cache, built_with)
            rows.append({
                "model": model, "img_size": size, "batch_size": key[2], "dtype": dtype,
                "benchmarks": ";".join(sorted(keys[key])),
                **{c: feats[c] for c in COLUMNS if c in feats},
                "uncounted": _uncounted_text(feats["uncounted"]), "built_with": built_with,
                "effkit_version": EFFKIT_VERSION, "timm_version": timm.__version__,
                "torch_version": torch.__version__,
            })
        if (i + 1) % 100 == 0:
            print(f"... {i + 1}/{len(by_model)} setups, {time.perf_counter() - start:.0f} s", flush=True)
    return rows, failures, uncounted


def _check_linearity(model, size, batch, dtype, pair, cache, built_with) -> None:
    """Trace at the real batch (at most 64, to stay quick) and compare with the scaled numbers."""
    m = cache[(model, dtype, size)] if "img_size" in built_with else cache[(model, dtype)]
    batch = min(batch, 64)
    scaled, direct = at_batch(pair, batch), trace_sums(m, size, batch, dtype)
    cols = [*(f"{k}_per_batch" for k in TOTALS), *KIND_COLUMNS]
    diffs = {c: (scaled[c], direct[c.removesuffix("_per_batch")]) for c in cols
             if scaled[c] != direct[c.removesuffix("_per_batch")]}
    print(f"LINEARITY {model} {size} batch {batch} {dtype}: "
          + ("scaled numbers equal a direct trace" if not diffs else f"DIFFERENT {diffs}"), flush=True)


def gmacs_agreement(rows: list[dict]) -> list[tuple]:
    """Compare multiply-adds and parameters per model with timm's published figures (the RTX 4090 file)."""
    ours = {(r["model"], int(r["img_size"])): r for r in rows if r["dtype"] == "float16"}
    out = []
    with open(DATA / "timm-benchmark-infer-amp-nchw-pt291-cu128-4090.csv", newline="") as f:
        for b in csv.DictReader(f):
            r = ours.get((b["model"], int(b["infer_img_size"])))
            if r is None or not b["infer_gmacs"]:
                continue
            g, p = float(b["infer_gmacs"]), float(b["param_count"])
            mine = float(r["mult_adds_per_image"]) / 1e9
            # fvcore, which timm's benchmark uses, also counts 2 per element of an inference batch norm
            # and 5 per element of a layer/group norm: effkit's norm flops (no fixed part: / batch)
            norm = float(r["norm_flops"]) / int(r["batch_size"]) / 1e9
            out.append((b["model"], int(b["infer_img_size"]), mine, g, float(r["params"]) / 1e6, p, norm))
    n = len(out)
    if not n:
        return out

    def within(a, b, rel):  # timm rounds to 0.01: half of that is rounding, whatever the size
        return abs(a - b) <= max(rel * b, 0.005)

    for rel in (0.01, 0.05, 0.10):
        k = sum(within(m, g, rel) for _, _, m, g, *_ in out)
        kn = sum(within(m + nf, g, rel) for _, _, m, g, _, _, nf in out)
        print(f"within {rel:.0%} (or 0.005 G) of timm's infer_gmacs: mult_adds {k}/{n}; "
              f"mult_adds + norm flops (fvcore's convention) {kn}/{n}")
    k = sum(within(mp, p, 0.01) for *_, mp, p, _ in out)
    print(f"params within 1% (or 0.005 M) of timm's param_count: {k}/{n}")
    rel = sorted(abs(m - g) / g for _, _, m, g, *_ in out if g > 0)
    reln = sorted(abs(m + nf - g) / g for _, _, m, g, _, _, nf in out if g > 0)
    print(f"median |relative difference| over {len(rel)} rows: mult_adds {rel[len(rel) // 2]:.2%}, "
          f"with norm flops {reln[len(reln) // 2]:.2%}")
    bad = sorted((x for x in out if not within(x[2], x[3], 0.05) and not within(x[2] + x[6], x[3], 0.05)),
                 key=lambda x: x[0])
    print(f"more than 5% apart by both counts: {len(bad)} rows")
    for name, size, m, g, mp, p, nf in bad:
        print(f"  {name} {size}: effkit {m:.3f} G (+norms {m + nf:.3f}), timm {g:.2f} G ({(m - g) / g:+.1%}); "
              f"params {mp:.2f} M vs {p:.2f} M")
    return out


def _write_agreement(out: list[tuple], path: Path) -> None:
    """The comparison with timm's published numbers, one row per RTX 4090 benchmark row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["model", "img_size", "effkit_gmacs", "effkit_gmacs_with_norms", "timm_gmacs", "relative_diff",
                    "relative_diff_with_norms", "effkit_params_m", "timm_params_m"])
        for name, size, m, g, mp, p, nf in out:
            w.writerow([name, size, f"{m:.4f}", f"{m + nf:.4f}", g, f"{(m - g) / g:.4f}" if g else "",
                        f"{(m + nf - g) / g:.4f}" if g else "", f"{mp:.3f}", p])
    print(f"wrote {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--models", default="", help="comma-separated models to recompute (others kept)")
    parser.add_argument("--family", default="", help="recompute the models whose name starts with this")
    parser.add_argument("--check-linearity", type=int, default=0, metavar="N",
                        help="trace N setups at their real batch too and compare")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    parser.add_argument("--agreement-out", type=Path, default=AGREEMENT,
                        help=f"the comparison with timm's GMACs, written after a full run (default {AGREEMENT})")
    parser.add_argument("--agreement-only", action="store_true",
                        help="only compare the existing table with timm's published numbers (no timm needed)")
    args = parser.parse_args(argv)
    if args.agreement_only:
        with open(args.out, newline="") as f:
            _write_agreement(gmacs_agreement(list(csv.DictReader(f))), args.agreement_out)
        return 0
    try:
        import timm  # noqa: F401
    except ImportError:
        print("public_benchmarks.py needs timm and torchvision (see docs/public-benchmarks.md)", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    keys = setups()
    chosen = {m for m in args.models.split(",") if m}
    keep: list[dict] = []
    if chosen or args.family:
        want = lambda m: m in chosen or bool(args.family and m.startswith(args.family))  # noqa: E731
        unknown = chosen - {k[0] for k in keys}
        if unknown:
            print(f"not in any shipped benchmark file: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
        if args.out.exists():
            with open(args.out, newline="") as f:
                keep = [r for r in csv.DictReader(f) if not want(r["model"])]
        keys = {k: v for k, v in keys.items() if want(k[0])}
    print(f"{len(keys)} rows, {len({k[0] for k in keys})} models", flush=True)
    start = time.perf_counter()
    rows, failures, uncounted = run(keys, args.check_linearity)
    print(f"analysed in {time.perf_counter() - start:.0f} s: {len(failures)} models failed, "
          f"{len(uncounted)} left ops uncounted", flush=True)
    if uncounted:
        ops: dict[str, int] = defaultdict(int)
        for d in uncounted.values():
            for op in d:
                ops[op] += 1
        print("uncounted ops (models): " + ", ".join(f"{k} ({v})" for k, v in sorted(ops.items())))
    agreement = gmacs_agreement(rows)
    if not (chosen or args.family):
        _write_agreement(agreement, args.agreement_out)
    everything = keep + rows
    everything.sort(key=lambda r: (r["model"], int(r["img_size"]), int(r["batch_size"]), r["dtype"]))
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(everything)
    print(f"wrote {args.out} ({len(everything)} rows)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
