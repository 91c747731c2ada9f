"""Sweeps: many measurement configurations from one file, run locally or on a Ray cluster.

A sweep is the product models × input sizes (or shapes) × batch sizes × dtypes × channels-last, each
measured ``repeats`` times with the same timing settings. Three steps, each usable on its own:

1. :func:`load_sweep` (a YAML or TOML file) or :func:`sweep_spec` (a mapping) validate everything and
   give a :class:`SweepSpec`; nothing runs until the whole sweep is known to be well-formed.
2. :meth:`SweepSpec.configs` expands it into :class:`effkit.measurement.api.MeasureConfig` objects.
3. :func:`run_sweep` measures them with an engine: ``"local"`` (in-process, one at a time) or ``"ray"``
   (one Ray task per configuration). Every finished row is committed to the results store at once, so an
   interrupted sweep keeps what it finished and ``resume=True`` picks up where it stopped.
"""

from effkit.measurement.failed import failed_row
from effkit.measurement.run import SweepEvent, SweepInterrupted, measure_one
from effkit.sweep.ray import gpu_remote
from effkit.sweep.run import check_run_options, run_sweep
from effkit.sweep.spec import (
    ENGINES, GRID_KEYS, SETTING_KEYS, SWEEP_KEYS, SweepSpec, configs_table, load_sweep, read_sweep_file, sweep_spec,
)

__all__ = ["ENGINES", "GRID_KEYS", "SETTING_KEYS", "SWEEP_KEYS", "SweepEvent", "SweepInterrupted", "SweepSpec",
           "check_run_options", "configs_table", "failed_row", "gpu_remote", "load_sweep", "measure_one",
           "read_sweep_file", "run_sweep", "sweep_spec"]
