"""The measuring options of ``measure``, ``compare`` and ``sweep``: one typed flag each, and the objects they fill.

Each flag is an ``Annotated`` type (typer's own way to share an option between commands): a command lists the
ones it takes in its signature, so its options stay visible where it is defined, and hands its parameters to
:meth:`SettingFlags.of` / :meth:`MeasureOptions.of`, which keep them together, typed, for the code after the
parser.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Optional

import typer

from effkit.cli._flags import ALIASES
from effkit.measurement.settings import MeasureSettings

_DEFAULTS = {f.name: f.default for f in fields(MeasureSettings)}


def _number(name: str, flag: str, help: str):
    return typer.Option(flag, help=f"{help}; default {_DEFAULTS[name]:g}.")


# The shared measurement settings, one flag each. Not given (None): `measure` and `compare` use the setting's
# default (named in the help), `sweep` the sweep file's value, else that default.
Device = Annotated[Optional[str], typer.Option(
    "--device", help="auto (CUDA when available), cpu, cuda or cuda:N (default auto).")]
CudaGraph = Annotated[Optional[bool], typer.Option(
    "--cuda-graph", help="Time the replay of a captured CUDA graph (removes launch cost; batch 1 is launch-bound).")]
# Only the negative flag (the setting is on by default): a --cudnn-benchmark/--no-cudnn-benchmark pair would take
# 20 columns of every help line's width at 80. Given, it sets cudnn_benchmark to False.
NoCudnnBenchmark = Annotated[Optional[bool], typer.Option(
    "--no-cudnn-benchmark", help="Do not let cuDNN autotune its kernels (it does by default).")]
WarmupS = Annotated[Optional[float], _number(
    "warmup_s", "--warmup-s", "Warm-up seconds, at least; also at least --warmup-iters iterations")]
WarmupIters = Annotated[Optional[int], _number(
    "warmup_iters", "--warmup-iters", "Warm-up iterations, at least; also at least --warmup-s seconds")]
MinIters = Annotated[Optional[int], _number(
    "min_iters", "--min-iters", "Timed iterations, at least; also at least --min-time-s seconds")]
MinTimeS = Annotated[Optional[float], _number("min_time_s", "--min-time-s", "Seconds of timed iterations, at least")]
Energy = Annotated[Optional[bool], typer.Option(
    "--energy/--no-energy", help="Measure energy per image where a meter works (default on; --no-energy saves "
    "~20 s per configuration).")]
EnergyTrials = Annotated[Optional[int], _number(
    "energy_trials", "--energy-trials", "Energy windows per configuration (mean and std reported)")]
EnergyWindowS = Annotated[Optional[float], _number(
    "energy_window_s", "--energy-window-s", "Seconds per energy window, at least (>= 5 s for NVML)")]
IdleS = Annotated[Optional[float], _number(
    "idle_s", "--idle-s", "Seconds of idle power (raised to 3), measured once per device per run after a 5 s rest, "
    "for the net J/img; 0: none")]
Tf32 = Annotated[Optional[bool], typer.Option(
    "--tf32/--no-tf32", help="TF32 for float32 convolutions and matmuls on CUDA (default: torch's settings, "
    "recorded in every row).")]
MigEnergy = Annotated[Optional[bool], typer.Option(
    "--mig-energy", help="On a MIG instance, measure the whole board's energy anyway (it includes other tenants).")]
PerLayer = Annotated[Optional[bool], typer.Option(
    "--per-layer", help="Also time every leaf module in a separate pass (per-layer FLOP/s).")]
# The old spellings (see effkit.cli._flags.ALIASES): accepted, not shown in the help.
OldWarmup = Annotated[Optional[float], typer.Option("--warmup", hidden=True)]
OldMinTime = Annotated[Optional[float], typer.Option("--min-time", hidden=True)]
OldEnergyWindow = Annotated[Optional[float], typer.Option("--energy-window", hidden=True)]
OldIdle = Annotated[Optional[float], typer.Option("--idle", hidden=True)]

# The options of `measure` and `compare` besides the settings.
BatchSizes = Annotated[Optional[str], typer.Option(
    "--batch-size", "-b", help="Batch sizes to sweep, comma-separated (e.g. 1,8,32); default: N of --input-shape, "
    "else 1.")]
InputSize = Annotated[Optional[int], typer.Option(
    "--input-size", "-s", help="Square input side; default: the model's own (224, 32 for CIFAR).")]
InputShape = Annotated[Optional[str], typer.Option(
    "--input-shape", help="Full input shape N,C,H,W; N is the batch size (with -b, they must agree).")]
Dtype = Annotated[str, typer.Option(
    "--dtype", help="float32 (the paper's), float16 or bfloat16 (via autocast); nothing else.")]
ChannelsLast = Annotated[bool, typer.Option("--channels-last", help="Use the NHWC memory format for model and input.")]
TdpEstimate = Annotated[Optional[str], typer.Option(
    "--tdp-estimate", metavar="W|auto",
    help="Also give an ESTIMATE of energy where no meter measures it: W watts x timed span / images, in the column "
    "energy_estimate_j_per_img (auto: the GPU's board power from effkit's device table). Never fills the "
    "measured energy columns; off by default.")]
Db = Annotated[Optional[Path], typer.Option(
    "--db", help="Results database file (default: effkit's file in your user data folder, or $EFFKIT_DB).")]
NoStore = Annotated[bool, typer.Option("--no-store", help="Do not store the results.")]
Format = Annotated[str, typer.Option("--format", "-f", help="table, csv, json or markdown.")]
Columns = Annotated[Optional[str], typer.Option(
    "--columns", metavar="A,B,...|all",
    help="Columns to show, by their result names (e.g. model,batch_size,latency_ms,fps), or all; csv/json then "
    "hold just these. Default: a compact set fitted to the terminal.")]
Output = Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file instead of stdout.")]


def _declared(cls, name: str) -> str:
    """The flag declared for field ``name`` of ``cls``, as written (``--energy/--no-energy``)."""
    option = typing.get_args(typing.get_type_hints(cls, include_extras=True)[name])[1]
    return option.default  # in Annotated, typer.Option's first argument is the flag


def _flag(cls, name: str) -> str:
    """The flag of field ``name`` of ``cls`` (the first name: ``--energy`` of ``--energy/--no-energy``)."""
    return _declared(cls, name).split("/")[0]


class CommandOptions:
    """Base of a dataclass gathering options that commands list one by one in their signatures (typer reads
    options from a signature only): ``of(locals())`` picks each field by its name."""

    @classmethod
    def of(cls, params: dict, **made):
        """The options from a command's parameters (``locals()`` of a command that lists them all); ``made``:
        fields built otherwise."""
        return cls(**{f.name: params[f.name] for f in fields(cls) if f.name not in made}, **made)


@dataclass(frozen=True)
class SettingFlags(CommandOptions):
    """The shared measurement settings as given on the command line (``None``: not given), old spellings apart."""

    device: Device = None
    cuda_graph: CudaGraph = None
    cudnn_benchmark: NoCudnnBenchmark = None  # True when --no-cudnn-benchmark is given: see given()
    warmup_s: WarmupS = None
    warmup_iters: WarmupIters = None
    min_iters: MinIters = None
    min_time_s: MinTimeS = None
    energy: Energy = None
    energy_trials: EnergyTrials = None
    energy_window_s: EnergyWindowS = None
    idle_s: IdleS = None
    tf32: Tf32 = None
    mig_energy: MigEnergy = None
    per_layer: PerLayer = None
    old_warmup_s: OldWarmup = None
    old_min_time_s: OldMinTime = None
    old_energy_window_s: OldEnergyWindow = None
    old_idle_s: OldIdle = None

    @staticmethod
    def names() -> list[str]:
        """The settings (of :class:`MeasureSettings`) these flags set."""
        return [f.name for f in fields(SettingFlags) if not f.name.startswith("old_")]

    def given(self) -> dict:
        """``{setting: value}`` of the settings given, the old spellings folded in (refused where they disagree)."""
        given = {name: getattr(self, name) for name in self.names() if getattr(self, name) is not None}
        if "cudnn_benchmark" in given:  # the one negative flag: given means off
            given["cudnn_benchmark"] = not given["cudnn_benchmark"]
        for flag, name in ALIASES.items():
            value = getattr(self, f"old_{name}")
            if value is None:
                continue
            if name in given and given[name] != value:
                from effkit.cli import fail

                raise fail(f"{flag} (the old name of {SETTING_FLAGS[name]}) and {SETTING_FLAGS[name]} disagree; "
                           "give one")
            given[name] = value
        return given

    def alias_flags(self) -> dict[str, str]:
        """``{setting: old flag}`` for each old spelling given, to name it in messages."""
        return {name: flag for flag, name in ALIASES.items() if getattr(self, f"old_{name}") is not None}


#: The flag of each shared setting.
SETTING_FLAGS = {name: _flag(SettingFlags, name) for name in SettingFlags.names()}


@dataclass(frozen=True)
class MeasureOptions(CommandOptions):
    """The options of ``measure`` and ``compare``, as given."""

    batch_size: BatchSizes = None
    input_size: InputSize = None
    input_shape: InputShape = None
    dtype: Dtype = "float32"
    channels_last: ChannelsLast = False
    tdp_estimate: TdpEstimate = None
    db: Db = None
    no_store: NoStore = False
    fmt: Format = "table"
    columns: Columns = None
    output: Output = None
    settings: SettingFlags = field(default_factory=SettingFlags)

    @classmethod
    def of(cls, params: dict) -> "MeasureOptions":
        """The options from a command's parameters, the shared settings among them gathered in ``settings``."""
        return super().of(params, settings=SettingFlags.of(params))

    def given(self) -> dict[str, str]:
        """``{option: flag as declared}`` of the options given a value other than their default, in the help's order
        (the settings after --channels-last; old spellings by their old flag)."""
        own = [(f.name, _declared(MeasureOptions, f.name)) for f in fields(self)
               if f.name != "settings" and getattr(self, f.name) != f.default]
        settings = [(f.name, _declared(SettingFlags, f.name)) for f in fields(self.settings)
                    if getattr(self.settings, f.name) is not None]
        first = [pair for pair in own if pair[0] in _BEFORE_SETTINGS]
        return dict(first + settings + [pair for pair in own if pair[0] not in _BEFORE_SETTINGS])


_BEFORE_SETTINGS = ("batch_size", "input_size", "input_shape", "dtype", "channels_last")
