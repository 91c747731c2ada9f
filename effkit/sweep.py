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

from __future__ import annotations

import math
import re
import socket
import traceback
from collections import Counter
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

from effkit.errors import BackendUnavailableError, BadInputError, EffkitError
from effkit.measurement.settings import MeasureSettings

ENGINES = ("local", "ray")

#: Keys that shape the grid of configurations.
GRID_KEYS = ("models", "input_sizes", "input_shapes", "batch_sizes", "dtypes", "channels_last")


def _setting_kinds() -> dict[str, str]:
    """Each :class:`MeasureSettings` field a sweep file may set, by the kind its bounds make it."""
    kinds = {}
    bounds = MeasureSettings.bounds()
    for f in fields(MeasureSettings):
        if f.name in ("dtype", "device", "channels_last"):  # grid keys and the device have their own rules
            continue
        b = bounds.get(f.name)
        kinds[f.name] = ("bool" if b is None else "seconds" if not b["integer"]
                         else "count" if b["min"] >= 1 else "count0")
    return kinds


#: Timing and measurement settings passed unchanged to every ``MeasureConfig``: key -> expected kind
#: (``count``: integer >= 1, ``count0``: integer >= 0, ``seconds``: number >= 0), from MeasureSettings' bounds.
SETTING_KEYS: dict[str, str] = _setting_kinds()
#: Every key a sweep file may hold.
SWEEP_KEYS = (*GRID_KEYS, "repeats", "device", *SETTING_KEYS)

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
#: Seconds to wait for a TCP connection to a Ray head before calling it unreachable.
RAY_CONNECT_TIMEOUT_S = 5.0


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

    def configs(self) -> list:
        """Every configuration to measure, repeats included (``len == grid size × repeats``).

        Returns:
            A list of :class:`effkit.measurement.api.MeasureConfig`, round by round.
        """
        from effkit.measurement.api import MeasureConfig

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
        return out


# -- parsing and validation ----------------------------------------------------------------------


class _Where:
    """Line numbers of a sweep file's keys and list items, for messages like ``sweep.yaml:7: ...``."""

    def __init__(self, source: Optional[str], lines: Optional[dict] = None):
        self.source = source
        self.lines = lines or {}
        #: keys whose value came from elsewhere than the file (a CLI flag): key -> what to name in errors
        self.given_by: dict[str, str] = {}

    def at(self, *path) -> str:
        line = None
        while path and line is None:
            line = self.lines.get(tuple(path))
            path = path[:-1]
        if self.source is None:
            return ""
        return f"{self.source}:{line}: " if line else f"{self.source}: "

    def error(self, path: tuple, message: str) -> BadInputError:
        flag = self.given_by.get(path[0]) if path else None
        if flag is not None:
            # The value came from a flag: name the flag instead of the file and of the Python key
            # ("--repeats: expected ...", not "s.yaml: repeats: expected ...").
            key = str(path[0])
            if message.startswith(f"{key}: "):
                return BadInputError(f"{flag}: {message[len(key) + 2:]}")
            if message.startswith(f"{key} "):
                return BadInputError(f"{flag}{message[len(key):]}")
            return BadInputError(f"{flag}: {message}")
        return BadInputError(f"{self.at(*path)}{message}")


def _yaml_mapping(text: str, source: str) -> tuple[dict, dict]:
    """Parse YAML text; returns (data, {key path: line}). Errors name the line PyYAML points at."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        reason = " ".join(str(getattr(e, "problem", None) or e).split())
        context, context_mark = getattr(e, "context", None), getattr(e, "context_mark", None)
        if context and getattr(e, "problem", None):
            # PyYAML notices an unclosed bracket where the next thing fails; say where the bracket opened.
            where = f" that starts on line {context_mark.line + 1}" if context_mark is not None else ""
            reason = f"{reason} ({' '.join(context.split())}{where})"
        line = f":{mark.line + 1}" if mark is not None else ""
        raise BadInputError(f"{source}{line}: malformed YAML: {reason}") from None
    if node is None or data is None:
        raise BadInputError(f"{source}: the sweep file is empty; it needs at least 'models:'")
    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        line = node.start_mark.line + 1
        raise BadInputError(f"{source}:{line}: the top level must be a mapping of settings "
                            "(models:, input_sizes:, batch_sizes: ...)")
    lines: dict = {}
    for knode, vnode in node.value:
        key = knode.value
        if (key,) in lines:
            raise BadInputError(f"{source}:{knode.start_mark.line + 1}: key {key!r} appears twice "
                                f"(first on line {lines[(key,)]})")
        lines[(key,)] = knode.start_mark.line + 1
        if isinstance(vnode, yaml.SequenceNode):
            for i, item in enumerate(vnode.value):
                lines[(key, i)] = item.start_mark.line + 1
    return data, lines


def _toml_mapping(text: str, source: str) -> tuple[dict, dict]:
    """Parse TOML text; returns (data, {key: line}). tomllib has no node positions, so keys are found by text."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise BackendUnavailableError("TOML sweep files need Python 3.11+; use a YAML sweep file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        if m:
            reason = msg[: m.start()].strip()
            raise BadInputError(f"{source}:{m.group(1)}: malformed TOML: {reason}") from None
        if msg.endswith("(at end of document)"):
            last = max(1, len(text.splitlines()))
            reason = msg.removesuffix("(at end of document)").strip()
            raise BadInputError(f"{source}:{last}: malformed TOML: {reason} (at the end of the file)") from None
        raise BadInputError(f"{source}: malformed TOML: {msg}") from None
    lines: dict = {}
    for i, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=", line)
        if m:
            lines.setdefault((m.group(1).strip('"'),), i)
        m = re.match(r"\s*\[+\s*([^\]]+?)\s*\]+", line)
        if m:
            lines.setdefault((m.group(1).strip('"'),), i)
    return data, lines


def read_sweep_file(path: str | Path) -> tuple[dict, dict]:
    """The raw mapping of a ``.yaml``/``.yml``/``.toml`` sweep file and its key lines (no validation)."""
    p = Path(path)
    if not p.exists():
        raise BadInputError(f"sweep file {p} does not exist")
    if p.is_dir():
        raise BadInputError(f"sweep file {p} is a folder; give a .yaml or .toml file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BadInputError(f"cannot read sweep file {p}: {getattr(e, 'strerror', None) or e}") from None
    suffix = p.suffix.lower()
    if suffix == ".toml":
        return _toml_mapping(text, str(p))
    if suffix in (".yaml", ".yml"):
        return _yaml_mapping(text, str(p))
    raise BadInputError(f"sweep file {p}: unknown extension {p.suffix!r}; use .yaml, .yml or .toml")


def load_sweep(path: str | Path, overrides: Optional[Mapping[str, Any]] = None,
               override_names: Optional[Mapping[str, str]] = None) -> SweepSpec:
    """Read and validate a sweep file (YAML or TOML).

    Args:
        path: a ``.yaml``, ``.yml`` or ``.toml`` file with the keys of :data:`SWEEP_KEYS`.
        overrides: values that replace the file's (the CLI's ``--model``, ``--batch-size``...); ``None``
            values are ignored.
        override_names: how to name an overridden key in error messages (``{"repeats": "--repeats"}``),
            so a bad flag value is not blamed on the file.

    Returns:
        The validated :class:`SweepSpec`. Relative ``file.py:factory`` paths are taken relative to the
        sweep file's folder and made absolute.

    Raises:
        BadInputError: unreadable or malformed file (with file and line), unknown keys, wrong types,
            unknown models (with suggestions) — all before anything runs.
    """
    data, lines = read_sweep_file(path)
    where = _Where(str(path), lines)
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
        override_names: how to name a key in error messages (``{"repeats": "--repeats"}``), for values
            that came from command-line flags.
        **kwargs: more keys, replacing the mapping's.

    Raises:
        BadInputError: as :func:`load_sweep`, without file positions.
    """
    data = dict(mapping or {})
    data.update({k: v for k, v in kwargs.items() if v is not None})
    where = _Where(None)
    where.given_by = {k: n for k, n in (override_names or {}).items() if data.get(k) is not None}
    return _build(data, where, base_dir=Path.cwd())


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _as_list(where: _Where, key: str, value) -> list:
    if isinstance(value, (list, tuple)):
        if not value:
            raise where.error((key,), f"{key} is an empty list; give at least one value or leave the key out")
        return list(value)
    return [value]


def _positive_ints(where: _Where, key: str, value) -> tuple[int, ...]:
    out = []
    for i, v in enumerate(_as_list(where, key, value)):
        if isinstance(v, str) and v.strip().isdigit():
            v = int(v)
        if not _is_int(v) or v <= 0:
            raise where.error((key, i), f"{key}: expected a positive integer, got {v!r}")
        out.append(v)
    return _unique(where, key, out)


def _unique(where: _Where, key: str, values: list) -> tuple:
    seen: dict = {}
    for i, v in enumerate(values):
        if v in seen:
            hint = " (to measure a configuration several times use repeats: or --repeats)" if key == "models" else ""
            raise where.error((key, i), f"{key} lists {v!r} twice{hint}")
        seen[v] = i
    return tuple(values)


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _bool(where: _Where, path: tuple, v) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
        return v.strip().lower() in _TRUE
    raise where.error(path, f"{path[0]}: expected true or false, got {v!r}")


def _build(data: Mapping[str, Any], where: _Where, base_dir: Path) -> SweepSpec:
    import difflib

    from effkit.units import dtype_name, parse_dtype, parse_shape

    unknown = [k for k in data if k not in SWEEP_KEYS]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(str(k), SWEEP_KEYS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(SWEEP_KEYS)}"
        raise where.error((k,), f"unknown key {k!r}{hint}")

    if "models" not in data or data["models"] is None:
        raise where.error((), "no models to sweep; list them under 'models:' or pass --model")
    models = []
    for i, m in enumerate(_as_list(where, "models", data["models"])):
        if not isinstance(m, str) or not m.strip():
            raise where.error(("models", i), f"models: expected a model name or spec string, got {m!r}")
        models.append(_check_model(where, i, m.strip(), base_dir))
    models_t = _unique(where, "models", models)

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
                raise where.error(("input_shapes", i), f"input_shapes: malformed shape {s!r}; write N,C,H,W "
                                  "such as '1,3,224,224'") from None
        shapes = _unique(where, "input_shapes", parsed)

    batches = (1,)
    if data.get("batch_sizes") is not None:
        batches = _positive_ints(where, "batch_sizes", data["batch_sizes"])

    dtypes = ("float32",)
    if data.get("dtypes") is not None:
        names = []
        for i, d in enumerate(_as_list(where, "dtypes", data["dtypes"])):
            try:
                names.append(dtype_name(parse_dtype(str(d))))
            except BadInputError as e:
                raise where.error(("dtypes", i), f"dtypes: {e}") from None
        dtypes = _unique(where, "dtypes", names)

    cl: tuple[bool, ...] = (False,)
    if data.get("channels_last") is not None:
        cl = _unique(where, "channels_last", [_bool(where, ("channels_last", i), v)
                                              for i, v in enumerate(_as_list(where, "channels_last",
                                                                             data["channels_last"]))])

    repeats = 1
    if data.get("repeats") is not None:
        r = data["repeats"]
        if not _is_int(r) or r <= 0:
            raise where.error(("repeats",), f"repeats: expected a positive integer, got {r!r}")
        repeats = r

    device = None
    if data.get("device") is not None:
        d = data["device"]
        if not isinstance(d, str) or not _DEVICE_RE.match(d.strip().lower()):
            raise where.error(("device",), f"device: expected auto, cpu, cuda or cuda:N, got {d!r}")
        device = d.strip().lower()

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
                raise where.error((key,), f"{key}: expected {what}, got {v!r}")
            settings[key] = v
        else:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise where.error((key,), f"{key}: expected a number of seconds >= 0, got {v!r}")
            settings[key] = float(v)

    return SweepSpec(models=models_t, input_sizes=sizes, input_shapes=shapes, batch_sizes=batches,
                     dtypes=dtypes, channels_last=cl, repeats=repeats, device=device,
                     settings=tuple(sorted(settings.items())), source=where.source)


def _check_model(where: _Where, i: int, spec: str, base_dir: Path) -> str:
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
    target, _, factory = spec.rpartition(":")
    if not target or not factory:
        raise where.error(("models", i), f"model spec {spec!r} needs the form 'module:factory' or "
                          "'path/file.py:factory'")
    if target.endswith(".py"):
        path = Path(target).expanduser()
        if not path.is_absolute():
            path = base_dir / path
        if not path.is_file():
            raise where.error(("models", i), f"model file {target} (of {spec!r}) does not exist"
                              + (f" (looked in {base_dir})" if not Path(target).is_absolute() else ""))
        # Absolute, so the spec means the same file whatever folder a worker (or a Ray node) runs in.
        return f"{path.resolve()}:{factory}"
    if target in ("torchvision", "timm"):
        if importlib.util.find_spec(target) is None:
            raise where.error(("models", i), f"{spec!r} needs the {target} package, which is not installed "
                              f"here; pip install {target} or choose another model")
        return spec
    top = target.split(".", 1)[0]
    try:
        found = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise where.error(("models", i), f"module {top!r} of model spec {spec!r} is not importable; "
                          "install it or give 'path/file.py:factory'")
    return spec


# -- describing configurations -------------------------------------------------------------------


def configs_table(configs: Sequence):
    """One row per configuration (what ``effkit sweep --dry-run`` shows).

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


# -- running -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepEvent:
    """What a sweep reports to its ``progress`` callback.

    Attributes:
        kind: ``"start"`` (once, when the number to run is known), ``"begin"`` (a configuration starts;
            local engine only — on Ray many run at once) or ``"done"`` (a row was stored).
        done: configurations finished in this run so far.
        total: configurations this run will measure (after resume skips).
        skipped: configurations skipped because they were already stored (``resume=True``).
        config: the configuration that began or finished (``None`` for ``"start"``).
        row: the stored row (``"done"`` only).
    """

    kind: str
    done: int
    total: int
    skipped: int = 0
    config: Any = None
    row: Optional[dict] = None


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep. Finished rows are already in the store; ``rows`` holds them.

    It is a :class:`KeyboardInterrupt`, so code that does not know about sweeps still stops as usual.
    """

    def __init__(self, rows, total: int, db: Optional[str]):
        self.rows = rows
        self.finished = len(rows)
        self.total = total
        self.db = db
        super().__init__(f"sweep interrupted: {self.finished} of {total} configurations finished and stored")


def failed_row(config, error: str, machine: Optional[Mapping[str, Any]] = None) -> dict:
    """A result row for a configuration that could not be measured (``status="failed"``, ``error`` set)."""
    from effkit.measurement.api import ROW_COLUMNS

    try:
        shape = "x".join(map(str, config.shape()))
    except Exception:  # the shape may be exactly what is wrong; the row must still be written
        shape = None
    row: dict[str, Any] = dict.fromkeys(ROW_COLUMNS)
    row.update(model=config.model, status="failed", error=error, device=config.device,
               batch_size=config.batch_size, input_shape=shape, dtype=config.dtype,
               channels_last=config.channels_last, cuda_graph=config.cuda_graph,
               energy_status="not measured")
    row.update(dict(machine or {}))
    row["config_key"] = config.key()
    row["timestamp"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return row


def _error_text(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return f"{type(e).__name__}: {msg}" if not isinstance(e, EffkitError) else msg


def measure_one(config, measure_fn: Optional[Callable] = None) -> dict:
    """Measure one configuration, never raising for a failure of the configuration itself.

    Runs where it is called (this process, or the Ray node a task landed on), so the row carries that
    machine's fingerprint either way.

    Args:
        config: a ``MeasureConfig``.
        measure_fn: ``config -> row dict``; default :func:`effkit.measurement.api.measure_config`.

    Returns:
        The row; when ``measure_fn`` raised, a :func:`failed_row` with the error text and this
        machine's fingerprint.
    """
    if measure_fn is None:
        from effkit.measurement.api import measure_config as measure_fn
    try:
        row = dict(measure_fn(config))
    except KeyboardInterrupt:
        raise
    except Exception as e:  # one bad configuration must not stop the sweep
        row = failed_row(config, _error_text(e), _machine(config))
        row["traceback"] = traceback.format_exc(limit=20)
        return row
    row.setdefault("status", "ok")
    row.setdefault("config_key", config.key())
    return row


def _machine(config) -> dict:
    try:
        from effkit.measurement.machine import fingerprint

        return fingerprint(config.device)
    except Exception:  # e.g. the device itself is unusable; the failed row still needs writing
        try:
            from effkit.measurement.machine import fingerprint

            return fingerprint("cpu")
        except Exception:
            return {}


def _open_store(db):
    """(store, owned, label): a path opens an effkit Store; a store-like object is used as given."""
    if db is None or isinstance(db, (str, Path)):
        from effkit.store import Store, default_db_path

        path = Path(db) if db is not None else default_db_path()
        if db is None:
            path.parent.mkdir(parents=True, exist_ok=True)
        return Store(path), True, str(path)
    if not all(hasattr(db, a) for a in ("add", "rows")):
        raise BadInputError(f"db must be a path or a store with add() and rows(), got {type(db).__name__}")
    return db, False, str(getattr(db, "path", "the store"))


def _stored_counts(store, machine_ids: Iterable[str]) -> Counter:
    """{config_key: successful rows} over the given machines."""
    counts: Counter = Counter()
    for mid in set(machine_ids):
        df = store.rows(machine_id=mid)
        if len(df) and "config_key" in df.columns:
            if "status" in df.columns:
                df = df[df["status"] == "ok"]
            counts.update(df["config_key"].dropna().tolist())
    return counts


def _pending(configs: list, stored: Counter) -> list:
    """Drop as many copies of each configuration as are already stored (repeats count one each)."""
    left = Counter(stored)
    out = []
    for c in configs:
        k = c.key()
        if left[k] > 0:
            left[k] -= 1
        else:
            out.append(c)
    return out


def run_sweep(
    spec_or_configs,
    *,
    engine: str = "local",
    db=None,
    resume: bool = False,
    address: Optional[str] = None,
    measure_fn: Optional[Callable] = None,
    progress: Optional[Callable[[SweepEvent], None]] = None,
    ray_num_cpus: Optional[float] = None,
):
    """Measure every configuration of a sweep and commit each row to the results store as it finishes.

    Args:
        spec_or_configs: a :class:`SweepSpec` or a list of ``MeasureConfig``.
        engine: ``"local"`` (in this process, one configuration at a time) or ``"ray"`` (one Ray task per
            configuration; ``num_gpus=1`` when the cluster has GPUs and the device is not ``cpu``).
        db: results database path (default :func:`effkit.store.default_db_path`) or an open store.
        resume: skip configurations already stored successfully for the same settings (config key) and
            machine (``machine_id``); on Ray, "the same machine" means any node of the cluster. Failed
            rows do not count, so failures are retried. Each stored row counts as one repeat.
        address: Ray cluster address (``"auto"``, ``"HOST:6379"``, ``"ray://HOST:10001"``); ``None``
            starts a local Ray instance, or uses the one this process already joined.
        measure_fn: ``config -> row``; default :func:`effkit.measurement.api.measure_config`. On Ray it must
            be importable on the nodes (or picklable by value).
        progress: called with a :class:`SweepEvent` at start, as configurations begin (local) and
            whenever a row is stored.
        ray_num_cpus: CPUs each Ray task reserves when it runs on the CPU (default 1). Reserve a whole
            node's cores for CPU latencies that are not disturbed by neighbouring tasks.

    Returns:
        A DataFrame of the rows stored by this run (``id`` = their row id in the store), failures included.

    Raises:
        BadInputError: unknown engine, bad configurations, CUDA asked for on a cluster without GPUs.
        BackendUnavailableError: Ray missing or the cluster unreachable; CUDA missing (local engine).
        SweepInterrupted: Ctrl-C; the rows finished so far are stored and attached.
    """
    if engine not in ENGINES:
        raise BadInputError(f"unknown engine {engine!r}; use {' or '.join(ENGINES)}")
    if address is not None and engine != "ray":
        raise BadInputError("--address is for the Ray engine; add --engine ray")
    if ray_num_cpus is not None and not (ray_num_cpus > 0):
        raise BadInputError(f"ray_num_cpus must be positive, got {ray_num_cpus}")
    configs = spec_or_configs.configs() if isinstance(spec_or_configs, SweepSpec) else list(spec_or_configs)
    for c in configs:
        if not hasattr(c, "key"):
            raise BadInputError(f"expected a SweepSpec or MeasureConfig objects, got {type(c).__name__}")
    emit = progress or (lambda event: None)
    if engine == "local":
        for dev in sorted({c.device for c in configs}):
            from effkit.devices import resolve_device

            resolve_device(dev)  # no CUDA here -> one clear error now, not N failed rows
        return _run_local(configs, db, resume, measure_fn, emit)
    ray = _import_ray()
    return _run_ray(ray, configs, db, resume, address, measure_fn, emit, ray_num_cpus)


def _frame(rows: list[dict]):
    import pandas as pd

    return pd.DataFrame(rows)


def _run_local(configs, db, resume, measure_fn, emit):
    store, owned, label = _open_store(db)
    rows: list[dict] = []
    try:
        todo = configs
        if resume:
            machine_ids = {dev: _machine_id(dev) for dev in {c.device for c in configs}}
            stored = _stored_counts(store, machine_ids.values())
            todo = _pending(configs, stored)
        skipped = len(configs) - len(todo)
        emit(SweepEvent("start", 0, len(todo), skipped))
        try:
            for c in todo:
                emit(SweepEvent("begin", len(rows), len(todo), skipped, config=c))
                row = measure_one(c, measure_fn)
                row["id"] = store.add(row)
                rows.append(row)
                emit(SweepEvent("done", len(rows), len(todo), skipped, config=c, row=row))
        except KeyboardInterrupt:
            raise SweepInterrupted(_frame(rows), len(todo), label) from None
    finally:
        if owned:
            store.close()
    return _frame(rows)


def _machine_id(device: str) -> str:
    from effkit.measurement.machine import fingerprint

    return fingerprint(device)["machine_id"]


# -- the Ray engine ------------------------------------------------------------------------------


def _import_ray():
    try:
        import ray
    except ImportError:
        raise BackendUnavailableError(
            "the Ray engine needs Ray, which is not installed: pip install 'effkit[ray]' "
            "(or run without --engine ray)") from None
    return ray


def _check_reachable(address: str) -> None:
    """Fail fast on a Ray address nothing (or nothing Ray) listens on; ray.init itself retries for a long time."""
    if address in ("auto", "local"):
        return
    client = address.startswith("ray://")
    target = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise BadInputError(f"malformed Ray address {address!r}; use HOST:PORT, ray://HOST:PORT or auto")
    host = host.strip("[]") or "127.0.0.1"
    hint = "check the address (`ray status` on the head node) and that this machine can connect to it"
    try:
        with socket.create_connection((host, int(port)), timeout=RAY_CONNECT_TIMEOUT_S):
            pass
    except OSError as e:
        reason = "timed out" if isinstance(e, socket.timeout) else (e.strerror or str(e))
        raise BackendUnavailableError(f"cannot reach the Ray cluster at {address} ({reason}); {hint}") from None
    if not client:
        _probe_gcs(address, f"{host}:{port}", hint)


def _probe_gcs(address: str, target: str, hint: str) -> None:
    """Ask the head's GCS for its cluster id, so that an address ray.init would retry for a long time
    (a port that is not Ray, a cluster that wants a token we lack) fails in seconds with the reason."""
    import os

    try:
        import grpc
        from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc
    except ImportError:  # Ray's internals moved: skip the probe, ray.init will still tell
        return

    def ask(metadata=()) -> "grpc.StatusCode | None":
        channel = grpc.insecure_channel(target)
        try:
            stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
            stub.GetClusterId(gcs_service_pb2.GetClusterIdRequest(), timeout=RAY_CONNECT_TIMEOUT_S,
                              metadata=metadata)
            return None
        except grpc.RpcError as e:
            return e.code()
        finally:
            channel.close()

    code = ask()
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        raise BackendUnavailableError(f"cannot reach the Ray cluster at {address} (no answer); {hint}")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        raise BackendUnavailableError(
            f"{address} answers but is not a Ray head node (GCS, default port 6379); {hint}")
    if code != grpc.StatusCode.UNAUTHENTICATED:
        return
    token_help = ("provide the cluster's token as RAY_AUTH_TOKEN, in a file named by RAY_AUTH_TOKEN_PATH, "
                  "or in ~/.ray/auth_token")
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
        raise BackendUnavailableError(
            f"the Ray cluster at {address} requires token authentication: set RAY_AUTH_MODE=token and "
            f"{token_help}")
    try:
        from ray._private.authentication.grpc_authentication_client_interceptor import (
            _get_authentication_metadata_tuple,
        )

        metadata = _get_authentication_metadata_tuple()
    except Exception:  # private helper gone: ray.init will check the token itself
        return
    if ask(metadata) == grpc.StatusCode.UNAUTHENTICATED:
        raise BackendUnavailableError(f"the Ray cluster at {address} rejected this machine's token; {token_help}")


def _connect(ray, address: Optional[str]) -> bool:
    """Join or start Ray; returns whether this call started it (and must shut it down)."""
    if ray.is_initialized():
        if address not in (None, "auto"):
            current = ray.get_runtime_context().gcs_address
            if address.split("://", 1)[-1] != current:
                raise BadInputError(f"this process is already connected to the Ray cluster at {current}; "
                                    f"leave out the address {address!r}, or call ray.shutdown() first")
        return False
    import os

    # ray.init() with no address joins $RAY_ADDRESS when it is set: check that one just the same.
    target = address if address is not None else os.environ.get("RAY_ADDRESS") or None
    if target is not None:
        _check_reachable(target)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 **({"configure_logging": False} if address is None else {}))
    except Exception as e:  # Ray raises many types here (ConnectionError, RuntimeError, its own); all mean "no cluster"
        where = f"at {target}" if target else "(local)"
        raise BackendUnavailableError(f"cannot start or join the Ray cluster {where}: {_error_text(e)}") from e
    return True


def _cluster_machine_ids(ray, device: str) -> set[str]:
    """Every machine_id a task of this sweep could record: per node, and per GPU on GPU nodes.

    Computed on the nodes themselves, since a fingerprint hashes host name, CPU and GPU UUID.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    want_gpu = device != "cpu"
    refs = []
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        gpus = node.get("Resources", {}).get("GPU", 0) if want_gpu else 0
        opts: dict = {"num_cpus": 0, "max_retries": 0,
                      "scheduling_strategy": NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)}
        if gpus:
            opts["num_gpus"] = gpus  # all of them, so each one's UUID can be read
        refs.append(ray.remote(_node_machine_ids).options(**opts).remote(bool(gpus)))
    ids: set[str] = set()
    for ref in refs:
        try:
            ids.update(ray.get(ref, timeout=120))
        except Exception:  # a node that cannot answer (busy, lost) simply contributes nothing to skip
            pass
    return ids


def _node_machine_ids(gpu: bool) -> list[str]:
    if not gpu:
        return [_machine_id("cpu")]
    import torch

    return [_machine_id(f"cuda:{i}") for i in range(torch.cuda.device_count())]


def _run_ray(ray, configs, db, resume, address, measure_fn, emit, ray_num_cpus):
    started = _connect(ray, address)
    store = None
    try:
        cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
        devices = {c.device for c in configs}
        if any(d.startswith("cuda:") for d in devices):
            raise BadInputError("on Ray each task is given one GPU of its node, so use device cuda or auto, "
                                "not cuda:N")
        if cluster_gpus == 0 and "cuda" in devices:
            raise BadInputError("the sweep asks for device cuda but the Ray cluster has no GPUs; "
                                "use device: cpu (or auto)")
        store, owned, label = _open_store(db)
        todo = configs
        if resume:
            ids: set[str] = set()
            for dev in devices:
                ids |= _cluster_machine_ids(ray, "cpu" if dev == "cpu" or not cluster_gpus else dev)
            todo = _pending(configs, _stored_counts(store, ids))
        skipped = len(configs) - len(todo)
        remote = ray.remote(_ray_task)
        pending: dict = {}
        for c in todo:
            if cluster_gpus and c.device != "cpu":
                opts = {"num_gpus": 1, "num_cpus": 1}
            else:
                opts = {"num_cpus": ray_num_cpus or 1}
            # Failures are recorded, never retried: a retry would hide flaky configurations.
            pending[remote.options(max_retries=0, **opts).remote(c, measure_fn)] = c
        rows: list[dict] = []
        emit(SweepEvent("start", 0, len(todo), skipped))
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                for ref in ready:
                    c = pending.pop(ref)
                    try:
                        row = ray.get(ref)
                    except Exception as e:  # the task itself died (worker crash, node lost, OOM)
                        row = failed_row(c, f"Ray task failed: {_error_text(e)}"[:2000])
                    row["id"] = store.add(row)
                    rows.append(row)
                    emit(SweepEvent("done", len(rows), len(todo), skipped, config=c, row=row))
        except KeyboardInterrupt:
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:
                    pass
            raise SweepInterrupted(_frame(rows), len(todo), label) from None
        finally:
            if owned:
                store.close()
        return _frame(rows)
    finally:
        if started:
            ray.shutdown()


def _ray_task(config, measure_fn):
    """Body of one Ray task: measure on this node, with this node's fingerprint in the row."""
    return measure_one(config, measure_fn)
