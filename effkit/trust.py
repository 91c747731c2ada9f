"""When a measured row cannot be trusted, said in words a person reads.

Every measured row stores how busy the machine was (``load_1m_before``/``load_1m_after``: the 1-minute
load average before and after the row was measured), ``torch_threads``, ``cpu_count`` (the CPUs this
process may use) and ``latency_iqr_ratio`` (latency IQR / median). :func:`trust_warnings` reads those
columns (and the device and dtype) and says what makes the numbers doubtful; it is pure, so rows stored
before these columns existed are judged on what they hold (their IQR and median).

The load average counts effkit's own threads too; those alone never exceed the usable CPUs unless torch
runs more threads than there are CPUs, which is its own warning.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Optional

#: Latency IQR / median above this makes the timing "noisy" (a quiet machine stays well under 5 %).
NOISY_IQR_RATIO = 0.10
#: The dtypes a CPU only emulates (autocast to float16/bfloat16 runs slow reference kernels there).
HALF_DTYPES = ("float16", "bfloat16")


def _number(row: Mapping[str, Any], key: str) -> Optional[float]:
    try:
        value = float(row.get(key))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _dtype(row: Mapping[str, Any]) -> str:
    return str(row.get("dtype") or "").removeprefix("torch.")


def iqr_ratio(row: Mapping[str, Any]) -> Optional[float]:
    """``latency_iqr_ratio`` of the row, or latency IQR / median from its latencies (older rows); ``None``
    without a positive median."""
    stored = _number(row, "latency_iqr_ratio")
    if stored is not None:
        return stored
    iqr, median = _number(row, "latency_iqr_ms"), _number(row, "latency_ms")
    return iqr / median if iqr is not None and median else None


def half_on_cpu_message(dtype: str) -> str:
    """What a float16/bfloat16 measurement on a CPU means."""
    return f"{dtype} on a CPU is emulated and slow; not what a GPU would do"


def is_half_on_cpu(dtype: str, device_type: str) -> bool:
    """Whether ``dtype`` on a device of ``device_type`` (``"cpu"``, ``"cuda"``) is emulated half precision."""
    return str(dtype).removeprefix("torch.") in HALF_DTYPES and str(device_type).startswith("cpu")


def _checks(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(short tag, sentence) for each reason the row cannot be trusted."""
    if row.get("status") == "failed":  # no numbers to doubt; the error says what happened
        return []
    found = []
    cpus = _number(row, "cpu_count")
    loads = [x for x in (_number(row, "load_1m_before"), _number(row, "load_1m_after")) if x is not None]
    if cpus and loads and max(loads) > cpus:
        found.append(("busy", f"machine busy: load {max(loads):.1f} on {cpus:.0f} CPUs"))
    ratio = iqr_ratio(row)
    if ratio is not None and ratio > NOISY_IQR_RATIO:
        found.append(("noisy", f"noisy timing: IQR {ratio * 100:.0f} % of the median "
                               f"(above {NOISY_IQR_RATIO * 100:.0f} %)"))
    threads = _number(row, "torch_threads")
    if cpus and threads and threads > cpus:
        found.append(("threads", f"{threads:.0f} torch threads on {cpus:.0f} usable CPUs: they compete for cores"))
    if is_half_on_cpu(_dtype(row), str(row.get("device") or "")):
        found.append(("emulated", half_on_cpu_message(_dtype(row))))
    return found


def trust_warnings(row: Mapping[str, Any]) -> list[str]:
    """Why this result row cannot be trusted, one sentence per reason; ``[]`` for a clean row.

    Reasons: the 1-minute load average (before or after) above the usable CPU count, latency IQR above
    :data:`NOISY_IQR_RATIO` of the median, more torch threads than usable CPUs, float16/bfloat16 on a CPU.
    Missing or empty columns (older rows, NaN in a DataFrame) are simply not judged.
    """
    return [sentence for _, sentence in _checks(row)]


def trust_tags(row: Mapping[str, Any]) -> list[str]:
    """One short word per warning (``busy``, ``noisy``, ``threads``, ``emulated``), for a status cell."""
    return [tag for tag, _ in _checks(row)]


def warnings_text(row: Mapping[str, Any]) -> Optional[str]:
    """The row's ``warnings`` column: :func:`trust_warnings` joined by ``"; "``, ``None`` when clean."""
    return "; ".join(trust_warnings(row)) or None


def shown_status(row: Mapping[str, Any]) -> str:
    """The status as tables show it: ``"ok"``, or ``"ok (busy, noisy)"`` with warnings (stored ``status``
    stays ``"ok"``, so code filtering on it is unaffected)."""
    status = row.get("status")
    status = "" if status is None or (isinstance(status, float) and math.isnan(status)) else str(status)
    tags = trust_tags(row)
    return f"{status} ({', '.join(tags)})" if tags else status


def trust_notes(rows: Iterable[Mapping[str, Any]] | Any) -> list[str]:
    """One line per row with warnings: ``"vovnet39 batch 1 (id 7): machine busy: load 3.4 on 2 CPUs"``.

    ``rows``: a DataFrame or an iterable of row mappings.
    """
    if hasattr(rows, "to_dict"):
        rows = rows.to_dict(orient="records")
    lines = []
    for row in rows:
        found = trust_warnings(row)
        if not found:
            continue
        rid = _number(row, "id")
        batch = _number(row, "batch_size")
        where = f"{row.get('model')}" + (f" batch {batch:.0f}" if batch is not None else "")
        where += f" (id {rid:.0f})" if rid is not None else ""
        lines.append(f"{where}: {'; '.join(found)}")
    return lines


def untrusted(rows) -> list[bool]:
    """Per row of ``rows`` (a DataFrame or an iterable of row mappings): whether it has a trust warning."""
    if hasattr(rows, "to_dict"):
        rows = rows.to_dict(orient="records")
    return [bool(_checks(row)) for row in rows]


def trusted_rows(rows, *, include_untrusted: bool = False):
    """``(rows kept, notes)``: ``rows`` (a DataFrame) without those :func:`trust_warnings` doubts, and a note
    saying how many were left out and why; with ``include_untrusted`` every row is kept and the note says how
    many doubtful ones are in. Failed rows are never judged here (they have nothing to doubt)."""
    from effkit.errors import setting

    flags = untrusted(rows)
    n = sum(flags)
    if not n:
        return rows, []
    tags = sorted({t for row, bad in zip(rows.to_dict(orient="records"), flags) if bad for t in trust_tags(row)})
    why = ", ".join(tags)
    if include_untrusted:
        return rows, [f"kept {n} row(s) effkit does not trust ({why}), as asked"]
    kept = rows[[not bad for bad in flags]]
    return kept, [f"left out {n} of {len(flags)} row(s) effkit does not trust ({why}; see the status column); "
                  f"keep them with {setting('include_untrusted')}"]


def half_on_cpu_warning(dtype: str, device: str) -> Optional[str]:
    """The sentence for measuring ``dtype`` on ``device`` (``auto`` resolved here) when that is emulated
    half precision on a CPU, else ``None``. Never raises: a bad device is reported where it is used."""
    from effkit.devices import resolve_device
    from effkit.errors import EffkitError

    try:
        kind = resolve_device(device).type
    except EffkitError:
        return None
    return half_on_cpu_message(str(dtype).removeprefix("torch.")) if is_half_on_cpu(dtype, kind) else None
