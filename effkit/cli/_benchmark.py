"""Rendering of ``proxies --benchmark`` and ``calibrate --benchmark``: the scoreboard of a throughput file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Optional

from effkit.cli._shared import emit

BENCHMARK_HELP = ("A throughput file (timm's benchmark CSV, a generic CSV with model, input_size, batch_size, "
                  "dtype, images_per_s or latency_ms and device, or `effkit results export`) to score against "
                  "instead of stored measurements.")
FEATURES_HELP = "Features table of the benchmark's models (default: the one shipped in effkit/data/public)."
DEVICE_HELP = "The device the benchmark ran on, where the file does not say (a name from the device table)."


def show_proxies(scores, fmt: str, output: Optional[Path], say) -> None:
    """The benchmark scoreboard: every (scope, proxy) row in csv/json; two tables otherwise."""
    notes = list(scores.attrs.get("notes", []))
    where = f"{scores.attrs.get('device', '?')} ({scores.attrs.get('source', '')})"
    if fmt in ("csv", "json"):
        emit(scores, title="proxies", fmt=fmt, output=output, notes=notes)
    else:
        overall = scores[scores["scope"] == "all"]
        fam = scores[scores["scope"] != "all"].pivot_table(index=["scope", "models"], columns="proxy",
                                                           values="spearman", sort=False).reset_index()
        proxies = list(overall["proxy"])
        fam = fam[["scope", "models", *[p for p in proxies if p in fam.columns]]]
        n = int(overall["models"].max()) if len(overall) else 0
        emit(overall, title=f"what predicts time per image on {where}: all {n} models", fmt=fmt, output=output,
             columns=["proxy", "spearman", "pearson", "n"], notes=[],
             extra=[("Spearman per family (name prefix)", fam, list(fam.columns))] if len(fam) else ())
    for n in notes:
        say(n)


def summary_json(summary: dict[str, Any]) -> str:
    from effkit.prediction.scoreboard import json_ready

    return json.dumps(json_ready(summary), indent=2, allow_nan=False)


def show_calibration(cal, fmt: str, stored: Path, say) -> None:
    """A benchmark calibration's scores (JSON object in json; tables otherwise), then its notes and where it is."""
    emit(_CalibrationScores(cal), fmt=fmt)
    for n in cal.notes:
        say(n)
    say(f"stored in {stored}; use it with: effkit predict MODEL --calibration {cal.machine_id} --dtype {cal.dtype}")


class _CalibrationScores:
    """A benchmark calibration's scores in each format (see :func:`effkit.cli._shared.emit`): its JSON object, or
    the errors of the predictor and its baselines and the achieved rates as tables."""

    _COLUMNS = ["predictor", "n_models", "loo_median_abs_error", "loo_within_10pct", "lofo_median_abs_error"]

    def __init__(self, cal) -> None:
        self.scores = {**(cal.scores or {}), "notes": list(cal.notes)}

    def json(self) -> str:
        return summary_json(self.scores)

    def rich(self, width=None) -> list:
        return self._frames(self._COLUMNS).rich(width)

    def text(self) -> str:
        return self._frames(self._COLUMNS).text()

    def csv(self) -> str:  # csv and markdown keep the column the terminal's table leaves out for width
        return self._frames([*self._COLUMNS, "lofo_within_10pct"]).csv()

    def markdown(self) -> str:
        return self._frames([*self._COLUMNS, "lofo_within_10pct"]).markdown()

    def _frames(self, columns: list[str]):
        import pandas as pd

        from effkit.report.tables import FrameTable  # torch, through the cells' units: not at `effkit --help`

        s = self.scores
        head = ["n_models", "n_rows", "n_families", "loo_median_abs_error", "loo_within_10pct",
                "lofo_median_abs_error", "lofo_within_10pct"]
        rows = [{"predictor": "effkit: rates per op kind", **{k: s.get(k) for k in head}}]
        for key, b in (s.get("baselines") or {}).items():
            rows.append({"predictor": f"baseline: {b['name']}", "n_models": s.get("n_models"),
                         "n_rows": s.get("n_rows"), "n_families": s.get("n_families"),
                         "loo_median_abs_error": b["loo_median_abs_error"],
                         "loo_within_10pct": b["loo_within_10pct"],
                         "lofo_median_abs_error": b["lofo_median_abs_error"]})
        t = s.get("transfer")
        if t:
            rows.append({"predictor": f"fitted on {t['fitted_on']}, moved by peaks", "n_models": t["n_models"],
                         "loo_median_abs_error": t["median_abs_error"], "loo_within_10pct": t["within_10pct"]})
        r = {k: (v if v is not None else math.inf) for k, v in (s.get("rates") or {}).items()}
        kinds = [k[len("gbs_"):] for k in r if k.startswith("gbs_")]
        rates = pd.DataFrame([{"op kind": k, "GFLOP/s": r[f"gflops_per_s_{k}"], "GB/s": r[f"gbs_{k}"]} for k in kinds]
                             + [{"op kind": "per kernel (us)", "GFLOP/s": r.get("kernel_us", math.nan)}])
        return FrameTable(pd.DataFrame(rows), columns=columns,
                          title=f"predictor fitted to {s.get('device')} ({s.get('source')}, {s.get('dtype')})",
                          notes=["loo: leave one model out (all its input sizes leave together); lofo: leave one "
                                 "family out; errors are medians over models of |predicted / published - 1|"],
                          extra=[("achieved rates per op kind (inf: no cost of its own)", rates,
                                  ["op kind", "GFLOP/s", "GB/s"])])
