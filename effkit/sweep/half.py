"""Half precision in a sweep that runs on a CPU: skipped unless asked for.

A CPU only emulates float16/bfloat16 (autocast runs slow reference kernels), so such rows say nothing about
what a GPU would do and cost minutes each. A sweep whose ``device`` is ``auto`` (or not given) and resolves to
a CPU on this machine skips those configurations unless its ``cpu_half`` key is true; an explicit ``device:
cpu`` is measured as asked (its rows carry the warning). On Ray the device resolves on each worker, so nothing
is skipped there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from effkit.errors import render_settings, setting
from effkit.trust import HALF_DTYPES


@dataclass(frozen=True)
class HalfSkip:
    """The configurations a sweep runs and those it skips (float16/bfloat16 on an ``auto`` CPU).

    Attributes:
        configs: every configuration of the sweep, in order.
        skipped: the configurations left out, in order (repeats counted one by one).
    """

    configs: list
    skipped: list = field(default_factory=list)

    @property
    def run(self) -> list:
        """The configurations to measure, in order."""
        left_out = {id(c) for c in self.skipped}
        return [c for c in self.configs if id(c) not in left_out]

    def message(self, names=None) -> Optional[str]:
        """One line saying how many were skipped and why (settings named by ``names``); ``None`` if none."""
        if not self.skipped:
            return None
        dtypes = "/".join(d for d in HALF_DTYPES if any(c.dtype == d for c in self.skipped))
        text = (f"skipped {len(self.skipped)} {dtypes} configuration(s): device auto is a CPU here, where half "
                f"precision is emulated and slow (not what a GPU would do); set {setting('cpu_half')} to "
                "measure them anyway")
        return render_settings(text, names)


def _is_auto(device: Optional[str]) -> bool:
    return device is None or str(device).strip().lower() == "auto"


def skip_half_on_cpu(configs: Sequence, *, allow: bool = False,
                     resolve: Optional[Callable[[str], object]] = None) -> HalfSkip:
    """Split ``configs`` into those to run and the float16/bfloat16 ones on an ``auto`` device that is a CPU.

    Args:
        configs: ``MeasureConfig`` objects.
        allow: keep them all (the sweep's ``cpu_half`` key).
        resolve: ``device -> torch.device`` (default :func:`effkit.devices.resolve_device`).
    """
    if allow:
        return HalfSkip(list(configs))
    if resolve is None:
        from effkit.devices import resolve_device as resolve
    cpu_here = resolve("auto").type == "cpu"
    skipped = [c for c in configs if cpu_here and _is_auto(c.device) and c.dtype in HALF_DTYPES]
    return HalfSkip(list(configs), skipped)


def sweep_configs(spec, engine: str = "local", *, resolve=None) -> HalfSkip:
    """The configurations of a :class:`~effkit.sweep.spec.SweepSpec` a run measures on ``engine`` (see the
    module docstring: on the local engine half precision on an ``auto`` CPU is skipped unless ``cpu_half``)."""
    return skip_half_on_cpu(spec.configs(), allow=spec.cpu_half or engine != "local", resolve=resolve)
