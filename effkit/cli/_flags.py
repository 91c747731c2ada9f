"""The one table from core setting names to the flags the CLI spells them with.

The core names settings in its messages (:func:`effkit.errors.setting`); :func:`flag_for` renders
each as the flag a user of the command line typed. A setting missing from the table is spelt the
usual way (``min_iters`` -> ``--min-iters``), so the table lists only the exceptions.
"""

from __future__ import annotations

#: Settings whose flag is not ``--`` plus the name with dashes.
FIELD_FLAGS: dict[str, str] = {
    "db": "--db",
    "models": "--model",
    "input_shape": "--input-shape",
    "inputs": "--input",
    "batch_size": "--batch-size",
    "batch_sizes": "--batch-size",
    "output": "--output",
    "fmt": "--format",
    "format": "--format",
    "cudnn_benchmark": "--no-cudnn-benchmark",
    "energy": "--no-energy",
    "idle_s": "--idle",
    "warmup_s": "--warmup",
    "min_time_s": "--min-time",
    "energy_window_s": "--energy-window",
    "allow_other_device": "--any-device",
    "ray_num_cpus": "--ray-cpus",
    # API functions a message points to, spelt as the command that does the same
    "save_baseline": "`effkit baseline save MODEL... --output FILE`",
    "update_baseline": "`effkit baseline update`",
}


def flag_for(name: str) -> str:
    """The flag that sets ``name`` on the command line."""
    return FIELD_FLAGS.get(name) or "--" + name.replace("_", "-")
