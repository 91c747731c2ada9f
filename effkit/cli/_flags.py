"""The one table from core setting names to the flags the CLI spells them with.

The core names settings in its messages (:func:`effkit.errors.setting`); :func:`flag_for` renders
each as the flag a user of the command line typed. A setting missing from the table is spelt the
usual way (``min_iters`` -> ``--min-iters``), so the table lists only the exceptions.
"""

from __future__ import annotations

from typing import Sequence

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
    "tdp_estimate_w": "--tdp-estimate",
    "allow_other_device": "--any-device",
    "ray_num_cpus": "--ray-cpus",
    # API functions a message points to, spelt as the command that does the same
    "save_baseline": "`effkit baseline save MODEL... --output FILE`",
    "update_baseline": "`effkit baseline update`",
}


#: Old spellings of setting flags, still accepted (hidden from the help): flag -> setting. A message about the
#: setting names the old flag when that is the one the user typed.
ALIASES: dict[str, str] = {
    "--warmup": "warmup_s",
    "--min-time": "min_time_s",
    "--energy-window": "energy_window_s",
    "--idle": "idle_s",
}


def flag_for(name: str, typed: Sequence[str] = ()) -> str:
    """The flag that sets ``name`` on the command line: an old spelling of it if ``typed`` (the command line's
    words) holds one, else its current flag."""
    for word in typed:
        flag = word.split("=", 1)[0]
        if ALIASES.get(flag) == name:
            return flag
    return FIELD_FLAGS.get(name) or "--" + name.replace("_", "-")
