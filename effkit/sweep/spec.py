"""Sweep files: parsing a YAML/TOML file or a mapping into a :class:`SweepSpec`, one validator per key.

Nothing runs until the whole sweep is known to be well-formed; :meth:`SweepSpec.configs` expands the spec into
:class:`effkit.measurement.api.MeasureConfig` objects for :func:`effkit.sweep.run.run_sweep`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from effkit.errors import BadInputError, EffkitError, setting
from effkit.measurement.settings import MEASURE_DTYPES, MeasureSettings
from effkit.sweep.source import Where, read_sweep_file

ENGINES = ("local", "ray")

#: Keys that shape the grid of configurations.
GRID_KEYS = ("models", "input_sizes", "input_shapes", "batch_sizes", "dtypes", "channels_last")


def _setting_kinds() -> dict[str, str]:
    """Each :class:`MeasureSettings` field a sweep file may set, by the kind its bounds make it."""
    kinds = {}
    bounds = MeasureSettings.bounds()
    for f in fields(MeasureSettings):
        if f.name in ("dtype", "device", "channels_last") or f.metadata.get("sweep") is False:
            continue  # grid keys and the device have their own rules; some settings are not a sweep's
        b = bounds.get(f.name)
        kinds[f.name] = ("bool" if b is None else "seconds" if not b["integer"]
                         else "count" if b["min"] >= 1 else "count0")
    return kinds


#: Timing and measurement settings passed unchanged to every ``MeasureConfig``: key -> expected kind
#: (``count``: integer >= 1, ``count0``: integer >= 0, ``seconds``: number >= 0), from MeasureSettings' bounds.
SETTING_KEYS: dict[str, str] = _setting_kinds()
#: Every key a sweep file may hold.
SWEEP_KEYS = (*GRID_KEYS, "repeats", "device", "cpu_half", *SETTING_KEYS)

# -- the spec ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: the grid, the repeat count, the device and the timing settings.

    Attributes:
        models: zoo names or external specs (``"pkg.mod:factory"``, ``"/abs/file.py:factory"``...).
        input_sizes: square input sides; ``None`` means the model's own default (224, 32 for CIFAR).
        input_shapes: full input shapes (batch first), used instead of ``input_sizes`` when given.
        batch_sizes: batch sizes (they replace the batch dimension of ``input_shapes``).
        dtypes: canonical dtype names (``"float32"``, ``"float16"``, ``"bfloat16"``).
        channels_last: memory formats to try.
        repeats: how often each configuration is measured; repeats run in rounds (every configuration
            once, then every one again) so slow drift of the machine spreads over all of them.
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; ``None`` keeps MeasureConfig's default.
        settings: timing settings as sorted ``(name, value)`` pairs (see :data:`SETTING_KEYS`).
        cpu_half: measure float16/bfloat16 when ``device`` auto resolves to a CPU (default: skipped there;
            see :func:`effkit.sweep.half.skip_half_on_cpu`).
        source: the file the spec came from, if any.
    """

    models: tuple[str, ...]
    input_sizes: tuple[Optional[int], ...] = (None,)
    input_shapes: tuple[tuple[int, ...], ...] = ()
    batch_sizes: tuple[int, ...] = (1,)
    dtypes: tuple[str, ...] = ("float32",)
    channels_last: tuple[bool, ...] = (False,)
    repeats: int = 1
    device: Optional[str] = None
    settings: tuple[tuple[str, Any], ...] = ()
    source: Optional[str] = None
    cpu_half: bool = False

    def configs(self) -> list:
        """Every configuration to measure, repeats included (``len == grid size × repeats``).

        Returns:
            A list of :class:`effkit.measurement.api.MeasureConfig`, round by round.
        """
        from effkit.measurement.config import MeasureConfig

        extra = dict(self.settings)
        if self.device is not None:
            extra["device"] = self.device
        shapes: list[tuple[Optional[int], Optional[tuple[int, ...]]]]
        if self.input_shapes:
            shapes = [(None, s) for s in self.input_shapes]
        else:
            shapes = [(s, None) for s in self.input_sizes]
        grid = []
        for model in self.models:
            for size, shape in shapes:
                for batch in self.batch_sizes:
                    for dtype in self.dtypes:
                        for cl in self.channels_last:
                            shape_arg = (batch, *shape[1:]) if shape is not None else None
                            grid.append(MeasureConfig(
                                model=model, input_size=size, input_shape=shape_arg, batch_size=batch,
                                dtype=dtype, channels_last=cl, **extra))
        return [c for _ in range(self.repeats) for c in grid]

    def to_dict(self) -> dict[str, Any]:
        """The spec as a plain mapping, in sweep-file form (``sweep_spec(spec.to_dict())`` round-trips)."""
        out: dict[str, Any] = {"models": list(self.models)}
        if self.input_shapes:
            out["input_shapes"] = [list(s) for s in self.input_shapes]
        elif self.input_sizes != (None,):
            out["input_sizes"] = list(self.input_sizes)
        out.update(batch_sizes=list(self.batch_sizes), dtypes=list(self.dtypes),
                   channels_last=list(self.channels_last), repeats=self.repeats)
        if self.device is not None:
            out["device"] = self.device
        out.update(dict(self.settings))
        if self.cpu_half:
            out["cpu_half"] = True
        return out


# -- parsing and validation ----------------------------------------------------------------------


def load_sweep(path: str | Path, overrides: Optional[Mapping[str, Any]] = None,
               override_names: Optional[Mapping[str, str]] = None) -> SweepSpec:
    """Read and validate a sweep file (YAML or TOML).

    Args:
        path: a ``.yaml``, ``.yml`` or ``.toml`` file with the keys of :data:`SWEEP_KEYS`.
        overrides: values that replace the file's (what a caller typed instead: models, batch sizes...); ``None``
            values are ignored.
        override_names: how to name an overridden key in error messages (the CLI passes its flag for each key),
            so a bad flag value is not blamed on the file.

    Returns:
        The validated :class:`SweepSpec`. Relative ``file.py:factory`` paths are taken relative to the
        sweep file's folder and made absolute.

    Raises:
        BadInputError: unreadable or malformed file (with file and line), unknown keys, wrong types,
            unknown models (with suggestions) — all before anything runs.
    """
    data, lines = read_sweep_file(path)
    where = Where(str(path), lines)
    for key, value in (overrides or {}).items():
        if value is not None:
            data[key] = value
            # An overridden key's line no longer describes the value; drop it so errors don't point there.
            where.lines = {k: v for k, v in where.lines.items() if k[0] != key}
            if override_names and key in override_names:
                where.given_by[key] = override_names[key]
    return _build(data, where, base_dir=Path(path).resolve().parent)


def sweep_spec(mapping: Optional[Mapping[str, Any]] = None, *,
               override_names: Optional[Mapping[str, str]] = None, **kwargs) -> SweepSpec:
    """Validate a sweep given as a mapping and/or keyword arguments (the keys of a sweep file).

    Example::

        spec = sweep_spec(models=["vovnet39", "densenet121"], input_sizes=[224, 320], batch_sizes=[1, 8])

    Args:
        mapping: the keys of a sweep file; keys set to ``None`` are treated as not given.
        override_names: how to name a key in error messages (the CLI passes its flag for each key), for values
            that came from command-line flags.
        **kwargs: more keys, replacing the mapping's.

    Raises:
        BadInputError: as :func:`load_sweep`, without file positions.
    """
    data = dict(mapping or {})
    data.update({k: v for k, v in kwargs.items() if v is not None})
    where = Where(None)
    where.given_by = {k: n for k, n in (override_names or {}).items() if data.get(k) is not None}
    return _build(data, where, base_dir=Path.cwd())


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _as_list(where: Where, key: str, value) -> list:
    if isinstance(value, (list, tuple)):
        if not value:
            raise where.error((key,), f"{setting(key)} is an empty list; give at least one value or leave the key "
                              "out")
        return list(value)
    return [value]


def _positive_ints(where: Where, key: str, value) -> tuple[int, ...]:
    out = []
    for i, v in enumerate(_as_list(where, key, value)):
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if not _is_int(v) or v <= 0:
            raise where.error((key, i), f"{setting(key)}: expected a positive integer, got {v!r}")
        out.append(v)
    return _unique(where, key, out)


def _unique(where: Where, key: str, values: list) -> tuple:
    seen: dict = {}
    for i, v in enumerate(values):
        if v in seen:
            hint = f" (to measure a configuration several times set {setting('repeats')})" if key == "models" else ""
            raise where.error((key, i), f"{setting(key)} lists {v!r} twice{hint}")
        seen[v] = i
    return tuple(values)


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _bool(where: Where, path: tuple, v) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
        return v.strip().lower() in _TRUE
    raise where.error(path, f"{setting(path[0])}: expected true or false, got {v!r}")


def _build(data: Mapping[str, Any], where: Where, base_dir: Path) -> SweepSpec:
    """The spec a sweep mapping describes, each key checked by its own validator (errors point at the key)."""
    _check_keys(data, where)
    models = _models(data, where, base_dir)  # checked in this order: the first bad key is the one reported
    sizes, shapes = _inputs(data, where)
    batches = _positive_ints(where, "batch_sizes", data["batch_sizes"]) if data.get("batch_sizes") is not None \
        else (1,)
    dtypes, channels_last = _dtypes(data, where), _channels_last(data, where)
    repeats, device, settings = _repeats(data, where), _device(data, where), _settings(data, where)
    return SweepSpec(models=models, input_sizes=sizes, input_shapes=shapes, batch_sizes=batches, dtypes=dtypes,
                     channels_last=channels_last, repeats=repeats, device=device,
                     settings=tuple(sorted(settings.items())), source=where.source,
                     cpu_half=_bool(where, ("cpu_half",), data["cpu_half"]) if data.get("cpu_half") is not None
                     else False)


def _check_keys(data: Mapping[str, Any], where: Where) -> None:
    import difflib

    unknown = [k for k in data if k not in SWEEP_KEYS]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(str(k), SWEEP_KEYS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(SWEEP_KEYS)}"
        raise where.error((k,), f"unknown key {k!r}{hint}")


def _models(data: Mapping[str, Any], where: Where, base_dir: Path) -> tuple:
    if "models" not in data or data["models"] is None:
        raise where.error((), f"no models to sweep; list them under 'models:' or pass {setting('models')}")
    models = []
    for i, m in enumerate(_as_list(where, "models", data["models"])):
        if not isinstance(m, str) or not m.strip():
            raise where.error(("models", i),
                              f"{setting('models')}: expected a model name or spec string, got {m!r}")
        models.append(_check_model(where, i, m.strip(), base_dir))
    return _unique(where, "models", models)


def _inputs(data: Mapping[str, Any], where: Where) -> tuple[tuple, tuple]:
    """(input_sizes, input_shapes): one of them given, or neither (the models' own sizes)."""
    from effkit.units import parse_shape

    if data.get("input_sizes") is not None and data.get("input_shapes") is not None:
        raise where.error(("input_shapes",), "give input_sizes or input_shapes, not both")
    sizes: tuple[Optional[int], ...] = (None,)
    if data.get("input_sizes") is not None:
        sizes = _positive_ints(where, "input_sizes", data["input_sizes"])
    shapes: tuple[tuple[int, ...], ...] = ()
    if data.get("input_shapes") is not None:
        raw = data["input_shapes"]
        # One shape written as a list of ints is a single shape, not a list of shapes.
        if isinstance(raw, (list, tuple)) and raw and all(_is_int(d) for d in raw):
            raw = [raw]
        parsed = []
        for i, s in enumerate(_as_list(where, "input_shapes", raw)):
            try:
                parsed.append(parse_shape(s if isinstance(s, str) else [int(d) for d in s]))
            except (BadInputError, TypeError, ValueError):
                raise where.error(("input_shapes", i), f"{setting('input_shapes')}: malformed shape {s!r}; "
                                  "write N,C,H,W such as '1,3,224,224'") from None
        shapes = _unique(where, "input_shapes", parsed)
    return sizes, shapes


def _dtypes(data: Mapping[str, Any], where: Where) -> tuple[str, ...]:
    from effkit.units import dtype_name, parse_dtype

    if data.get("dtypes") is None:
        return ("float32",)
    names = []
    for i, d in enumerate(_as_list(where, "dtypes", data["dtypes"])):
        try:
            names.append(dtype_name(parse_dtype(str(d))))
        except BadInputError as e:
            raise where.error(("dtypes", i), f"{setting('dtypes')}: {e._message()}") from None
        if names[-1] not in MEASURE_DTYPES:  # float64 is a dtype, but not one a measurement runs in
            raise where.error(("dtypes", i), f"{setting('dtypes')}: {d!r} cannot be measured; use "
                              f"{', '.join(MEASURE_DTYPES)}")
    return _unique(where, "dtypes", names)


def _channels_last(data: Mapping[str, Any], where: Where) -> tuple[bool, ...]:
    if data.get("channels_last") is None:
        return (False,)
    values = _as_list(where, "channels_last", data["channels_last"])
    return _unique(where, "channels_last", [_bool(where, ("channels_last", i), v) for i, v in enumerate(values)])


def _repeats(data: Mapping[str, Any], where: Where) -> int:
    r = data.get("repeats")
    if r is None:
        return 1
    if not _is_int(r) or r <= 0:
        raise where.error(("repeats",), f"{setting('repeats')}: expected a positive integer, got {r!r}")
    return r


def _device(data: Mapping[str, Any], where: Where) -> Optional[str]:
    d = data.get("device")
    if d is None:
        return None
    from effkit.devices import parse_device

    try:
        parse_device(d)
    except BadInputError as e:
        raise where.error(("device",), e._message()) from None
    return str(d).strip().lower()


def _settings(data: Mapping[str, Any], where: Where) -> dict[str, Any]:
    """The MeasureSettings keys given, each checked against its kind (its bounds in MeasureSettings)."""
    settings = {}
    for key, kind in SETTING_KEYS.items():
        if data.get(key) is None:
            continue
        v = data[key]
        if kind == "bool":
            settings[key] = _bool(where, (key,), v)
        elif kind in ("count", "count0"):
            low = 1 if kind == "count" else 0
            if not _is_int(v) or v < low:
                what = "a positive integer" if low else "an integer >= 0"
                raise where.error((key,), f"{setting(key)}: expected {what}, got {v!r}")
            settings[key] = v
        else:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise where.error((key,), f"{setting(key)}: expected a number of seconds >= 0, got {v!r}")
            settings[key] = float(v)
    return settings


def _check_model(where: Where, i: int, spec: str, base_dir: Path) -> str:
    """Check that a model can be found without building (or executing) it; returns its canonical spec."""
    import importlib.util

    if ":" not in spec:
        from effkit.errors import UnknownModelError
        from effkit.models.registry import get_entry

        try:
            get_entry(spec)
        except UnknownModelError as e:
            raise where.error(("models", i), str(e)) from None
        return spec
    from effkit.models.resolve import BACKENDS, is_file_target, split_spec

    target, factory = split_spec(spec)
    if not target or not factory:
        raise where.error(("models", i), f"model spec {spec!r} needs the form 'module:factory' or "
                          "'path/file.py:factory'")
    if target not in BACKENDS and is_file_target(target):
        path = Path(target).expanduser()
        if not path.is_absolute():
            path = base_dir / path
        if not path.is_file():
            raise where.error(("models", i), f"model file {target} (of {spec!r}) does not exist"
                              + (f" (looked in {base_dir})" if not Path(target).is_absolute() else ""))
        # Absolute, so the spec means the same file whatever folder a worker (or a Ray node) runs in.
        return f"{path.resolve()}:{factory}"
    if target in BACKENDS:
        if importlib.util.find_spec(target) is None:
            raise where.error(("models", i), f"{spec!r} needs the {target} package, which is not installed "
                              f"here; pip install {target} or choose another model")
        return spec
    top = target.split(".", 1)[0]
    from effkit.models.external import current_folder_importable

    try:
        with current_folder_importable():  # as the model will be imported, `python -m` style
            found = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise where.error(("models", i), f"module {top!r} of model spec {spec!r} is not importable; "
                          "install it or give 'path/file.py:factory'")
    return spec


# -- describing configurations -------------------------------------------------------------------


def configs_table(configs: Sequence):
    """One row per configuration (what a dry run of a sweep shows).

    Columns: ``config`` (1-based position), ``model``, ``input_shape``, ``batch_size``, ``dtype``,
    ``channels_last``, ``device``, ``repeat`` (1-based round) and ``config_key``.
    """
    import pandas as pd

    seen: Counter = Counter()
    rows = []
    for n, c in enumerate(configs, 1):
        key = c.key()
        seen[key] += 1
        try:
            shape = "x".join(map(str, c.shape()))
        except EffkitError:
            shape = ""
        rows.append({"config": n, "model": c.model, "input_shape": shape, "batch_size": c.batch_size,
                     "dtype": c.dtype, "channels_last": bool(c.channels_last), "device": c.device,
                     "repeat": seen[key], "config_key": key})
    return pd.DataFrame(rows, columns=["config", "model", "input_shape", "batch_size", "dtype",
                                       "channels_last", "device", "repeat", "config_key"])
