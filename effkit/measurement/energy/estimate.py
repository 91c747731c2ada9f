"""A labelled energy ESTIMATE for where no meter measures energy: a given power (a board's TDP, say) times
the timed span, per image.

Asked for explicitly (setting ``tdp_estimate_w``), never a measurement: it has its own column,
:data:`ESTIMATE_COLUMN`, and never fills ``energy_j_per_img`` or the other measured energy columns. A board
rarely draws its TDP for a whole run, so the estimate is an upper bound more than a figure.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Union

from effkit.errors import BadInputError, setting

#: The row column the estimate goes in, J per image.
ESTIMATE_COLUMN = "energy_estimate_j_per_img"
#: What a table calls that column.
ESTIMATE_LABEL = "estimate (TDP × time)"
#: One line saying what the column is, for notes under tables.
ESTIMATE_NOTE = (f"{ESTIMATE_COLUMN} is an ESTIMATE (TDP × time): the given watts × timed span / images, "
                 "not a measurement")


def energy_estimate(row: Mapping[str, Any], watts: Optional[float]) -> dict[str, float]:
    """The estimate column of a finished row: ``{ESTIMATE_COLUMN: watts × timed_span_s / images}``.

    ``images`` = ``iterations × batch_size``. Empty without ``watts``; NaN for a row that was not timed
    (failed, or no span recorded).
    """
    if watts is None:
        return {}
    try:
        span = float(row.get("timed_span_s"))
        images = float(row.get("iterations")) * float(row.get("batch_size"))
    except (TypeError, ValueError):
        return {ESTIMATE_COLUMN: math.nan}
    if row.get("status", "ok") != "ok" or not (math.isfinite(span) and span > 0 and images > 0):
        return {ESTIMATE_COLUMN: math.nan}
    return {ESTIMATE_COLUMN: float(watts) * span / images}


def parse_tdp(value: Union[str, float, int]) -> Union[float, str]:
    """A watts value (a positive finite number) or ``"auto"`` (the device's board power from the device table)."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        watts = float(value)
    except (TypeError, ValueError):
        watts = math.nan
    if not (math.isfinite(watts) and watts > 0):
        raise BadInputError(f"{setting('tdp_estimate_w')} takes watts (a positive number such as 300) or auto, "
                            f"got {value!r}", field="tdp_estimate_w")
    return watts


def tdp_of_gpu(gpu_name: str) -> float:
    """The board power (W) the device table (``effkit/data/device_specs.csv``) gives for a GPU by its name."""
    from effkit.devices import device_spec

    try:
        tdp = device_spec(gpu_name=gpu_name).tdp_w
    except BadInputError:
        tdp = math.nan
    if not math.isfinite(tdp):
        raise BadInputError(f"no board power (TDP) is known for {gpu_name!r}; give the watts: "
                            f"{setting('tdp_estimate_w')} W", field="tdp_estimate_w")
    return float(tdp)


def tdp_of_device(device: str) -> float:
    """The board power (W) of the device a measurement on ``device`` (``auto``, ``cpu``, ``cuda:N``) would use.

    Raises:
        BadInputError: a CPU (the table holds GPUs only), or a GPU the table does not know: give the watts.
    """
    import torch

    from effkit.devices import resolve_device

    dev = resolve_device(device)
    if dev.type != "cuda":
        raise BadInputError(f"no board power (TDP) is known for a CPU; give the watts: "
                            f"{setting('tdp_estimate_w')} W (e.g. the CPU's TDP)", field="tdp_estimate_w")
    return tdp_of_gpu(torch.cuda.get_device_name(dev))


__all__ = ["ESTIMATE_COLUMN", "ESTIMATE_LABEL", "ESTIMATE_NOTE", "energy_estimate", "parse_tdp", "tdp_of_device",
           "tdp_of_gpu"]
