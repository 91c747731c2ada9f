"""Everything a run can refuse before it measures: names, settings, weights files, and each configuration's
analysis on the meta device (bad input is exit 2 with nothing stored; see :func:`analyse_configs`).
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Optional, Sequence

from torch import nn

from effkit.errors import EffkitError
from effkit.measurement.config import MeasureConfig, check_weights, validate
from effkit.measurement.row import measure_row, run_idle_baselines


def analyse_configs(jobs: Sequence[tuple[MeasureConfig, Optional[nn.Module]]]) -> dict[int, Any]:
    """Analyse every configuration on the meta device, before anything is measured or stored.

    Each distinct (model, input shape, dtype) is analysed once. A model that fails with an
    :class:`EffkitError` at *every* one of its configurations (its factory raises, the input has the wrong
    channel count) is bad input and raised now, named; one that fails at some configurations only keeps
    those errors, which become failed rows while the others are measured. Any other exception (an op the
    meta device cannot run) is left to the measurement, which records it.

    Returns:
        ``{id(config): Profile | EffkitError | None}`` (``None``: analyse while measuring).
    """
    from effkit.analysis.profile import UncountedOpsWarning, profile

    cache: dict = {}
    out: dict[int, Any] = {}
    by_model: dict = {}
    for config, module in jobs:
        model = module if module is not None else config.model
        key = (id(module) if module is not None else config.model, config.shape(), config.dtype,
               config.channels_last)
        if key not in cache:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UncountedOpsWarning)
                    cache[key] = profile(model, key[1], config.dtype, warn=False, channels_last=config.channels_last)
            except EffkitError as e:
                cache[key] = e
            except Exception:  # not bad input as far as we can tell: the measurement will say
                cache[key] = None
        out[id(config)] = cache[key]
        by_model.setdefault(key[0], (config.model, []))[1].append(cache[key])
    for name, outcomes in by_model.values():
        if all(isinstance(o, EffkitError) for o in outcomes):
            e = outcomes[0]
            message = e._message()
            raise type(e)(message if name in message else f"{name}: {message}", field=e.field)
    return out


def preflight(jobs: Sequence[tuple[MeasureConfig, Optional[nn.Module]]]):
    """(devices, analyses): every name, setting, weights file and analysis checked, none of it stored."""
    from effkit.models.registry import check_model_names

    check_model_names(list(dict.fromkeys(config.model for config, module in jobs if module is None)))
    devices = {}
    for config, _ in jobs:
        devices[config.device] = validate(config)
    checked = set()
    for config, module in jobs:
        key = (id(module) if module is not None else config.model, config.weights)
        if config.weights is not None and key not in checked:
            check_weights(module if module is not None else config.model, config.weights)
            checked.add(key)
    return devices, analyse_configs(jobs)


def checked_measure_fn(jobs: Sequence[tuple[MeasureConfig, Optional[nn.Module]]]) -> Callable[[MeasureConfig], dict]:
    """Check and analyse every job now (bad input raises before anything runs or any store opens) and return
    the ``config -> row`` function that measures them: each job's module (``None``: ``config.model`` by
    name), the analyses made here, one fingerprint per device and one idle baseline per device for the run.

    What ``measure()``, ``compare()`` and a local sweep hand to :func:`effkit.measurement.run.run_configs`.
    """
    from effkit.measurement.machine import fingerprint

    devices, analyses = preflight(jobs)
    prints = {name: fingerprint(device) for name, device in devices.items()}
    modules = {id(config): module for config, module in jobs}
    idle = run_idle_baselines([config for config, _ in jobs])

    def measure_checked(config: MeasureConfig) -> dict:
        return measure_row(config, module=modules.get(id(config)), fp=prints[config.device],
                           device=devices[config.device], idle=idle, analysis=analyses.get(id(config)))

    return measure_checked


__all__ = ["analyse_configs", "checked_measure_fn", "preflight"]
