"""Baseline files: per-model MAC, FLOPs and params recorded in JSON to check against later.

A *baseline* is a JSON file that records, per model, the input shape and dtype it was analysed at, the
whole-model totals and the per-layer counts (``params``, ``mult_adds``, ``flops``, ``mac``,
``mac_bytes``, ``paper_mac``, ``activations``). It is written so that it can live in a repository: keys
in a fixed order and one layer per line, so a change to a model shows as a readable ``git diff``.

This module owns the file format (build, save, update, load, validate); :mod:`effkit.gate` compares a
model with its entry.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from torch import nn

from effkit.errors import BadInputError, setting

#: Version of the baseline file layout; bumped when the layout changes incompatibly.
FORMAT_VERSION = 1
#: Per-layer numbers stored in a baseline, in file order.
LAYER_METRICS = ("params", "mult_adds", "flops", "mac", "mac_bytes", "paper_mac", "activations")
#: Totals stored in a baseline, in file order (the fields of :class:`effkit.analysis.profile.Totals`).
TOTAL_METRICS = ("params", "mult_adds", "flops", "paper_mac", "mac", "mac_bytes", "activations")


def _layer_key(name: str, call: int) -> str:
    # The first call of a module is keyed by its qualified name; a module called again (a shared
    # ReLU, say) gets "#<call index>" so that every call keeps its own line.
    return name if call == 0 else f"{name}#{call}"


def entry_from_profile(prof, spec: str | None) -> dict[str, Any]:
    """A model's baseline entry (totals, uncounted ops, per-layer counts) from its :class:`Profile`."""
    from effkit.analysis.profile import display_name

    layers: dict[str, dict[str, Any]] = {}
    # Keyed by the module's qualified name (not the row's name, which says "(own ops)" for a module with
    # submodules), so that baselines stay comparable whatever the tables call a row.
    for rec in prof.layers[["path", "call", "type", *LAYER_METRICS]].itertuples(index=False):
        row = {"type": rec.type}
        row.update({m: int(getattr(rec, m)) for m in LAYER_METRICS})
        layers[_layer_key(display_name(rec.path), int(rec.call))] = row
    totals = prof.totals.as_dict()
    return {
        "spec": spec,
        "input_shape": [int(d) for d in prof.input_shape],
        "dtype": prof.dtype,
        "totals": {m: int(totals[m]) for m in TOTAL_METRICS},
        "uncounted": {k: int(v) for k, v in sorted(prof.uncounted.items())},
        "layers": layers,
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def baseline_text(data: Mapping[str, Any]) -> str:
    """Serialise a baseline: fixed key order, one model field and one layer per line."""
    out = ["{"]
    head = [k for k in data if k != "models"]
    for k in head:
        out.append(f"  {_dumps(k)}: {_dumps(data[k])},")
    out.append('  "models": {')
    models = list(data["models"].items())
    for i, (name, entry) in enumerate(models):
        out.append(f"    {_dumps(name)}: {{")
        for k in ("spec", "input_shape", "dtype", "totals", "uncounted"):
            out.append(f"      {_dumps(k)}: {_dumps(entry[k])},")
        out.append('      "layers": {')
        layers = list(entry["layers"].items())
        for j, (lname, row) in enumerate(layers):
            comma = "," if j < len(layers) - 1 else ""
            out.append(f"        {_dumps(lname)}: {_dumps(row)}{comma}")
        out.append("      }")
        out.append("    }" + ("," if i < len(models) - 1 else ""))
    out.append("  }")
    out.append("}")
    return "\n".join(out) + "\n"


def versions() -> dict[str, str]:
    """The effkit and torch versions a baseline records (a changed count may come from either)."""
    import torch

    from effkit._version import __version__

    return {"effkit_version": __version__, "torch_version": torch.__version__.split("+")[0]}


def _named_models(models) -> list[tuple[str, str | nn.Module]]:
    from effkit.models.resolve import model_name

    if isinstance(models, (str, nn.Module)):
        models = [models]
    if isinstance(models, Mapping):
        pairs = [(str(k), v) for k, v in models.items()]
    else:
        pairs = [(model_name(m), m) for m in models]
    if not pairs:
        raise BadInputError("no model given; name at least one model to put in the baseline")
    seen: set[str] = set()
    for name, m in pairs:
        model_name(m)  # refuses anything but a module or a string (a dict's values too)
        if name in seen:
            raise BadInputError(
                f"model {name!r} is given twice; pass a dict {{name: model}} to name models of the same class apart")
        seen.add(name)
    return pairs


def _profile_entry(name, model, input_shape, input_size, batch_size, dtype, warn=True):
    from effkit.analysis.profile import profile
    from effkit.models.resolve import resolve_input_shape

    shape = resolve_input_shape(model, input_size, input_shape, batch_size)
    prof = profile(model, shape, dtype, warn=warn)
    return entry_from_profile(prof, model if isinstance(model, str) else None)


def build_baseline(
    models,
    *,
    input_shape: str | Sequence[int] | None = None,
    input_size: int | None = None,
    batch_size: int | None = None,
    dtype: str = "float32",
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The baseline of ``models`` as a dict (what :func:`save_baseline` writes), without writing it.

    Args: as :func:`save_baseline`; ``progress`` is called with each model's name before it is analysed.
    """
    data: dict[str, Any] = {"effkit_baseline": FORMAT_VERSION, **versions(), "models": {}}
    for name, model in _named_models(models):
        if progress is not None:
            progress(name)
        data["models"][name] = _profile_entry(name, model, input_shape, input_size, batch_size, dtype)
    return data


def save_baseline(
    models,
    path: str | Path,
    *,
    input_shape: str | Sequence[int] | None = None,
    input_size: int | None = None,
    batch_size: int | None = None,
    dtype: str = "float32",
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Analyse models and write their baseline (totals and per-layer counts) to a JSON file.

    Args:
        models: zoo names, external specs (``"pkg.mod:factory"``, ``"file.py:factory"``, stored as
            given so that :func:`effkit.gate.check` can rebuild them) or ``nn.Module`` objects (stored under
            their class name); a dict ``{name: model}`` chooses the names.
        path: the JSON file to write.
        input_shape: full input shape ``N,C,H,W`` for every model (wins over ``input_size``).
        input_size: square input side; default each zoo model's own (224, or 32 for CIFAR models).
        batch_size: batch size (default 1).
        dtype: dtype analysed; sets ``mac_bytes``.
        force: overwrite ``path`` if it exists.
        progress: called with each model's name before it is analysed (for progress bars).

    Returns:
        The baseline as written (a dict).

    Raises:
        BadInputError: ``path`` exists and ``force`` is false, or bad models / shapes / dtype.
    """
    from effkit.files import check_output, write_text

    p = check_output(path)  # a directory or a missing folder is refused before force is suggested
    if p.exists() and not force:
        raise BadInputError(
            f"baseline {p} already exists; use {setting('update_baseline')} or {setting('force')} to replace it")
    data = build_baseline(models, input_shape=input_shape, input_size=input_size, batch_size=batch_size,
                          dtype=dtype, progress=progress)
    write_text(p, baseline_text(data))
    return data


def update_baseline(
    path: str | Path,
    models=None,
    *,
    input_shape: str | Sequence[int] | None = None,
    input_size: int | None = None,
    batch_size: int | None = None,
    dtype: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Accept the current state of models deliberately: re-analyse them and rewrite their entries.

    Entries of other models in the file are kept. With ``models=None`` every model in the file is
    re-analysed from its stored spec. Unless shape options or ``dtype`` are given, each model keeps the
    input shape and dtype it already has in the file; a file that does not exist yet is created.

    Args:
        path: the baseline file.
        models: names, specs or modules as for :func:`save_baseline`; default: all in the file.
        input_shape, input_size, batch_size, dtype: as for :func:`save_baseline`.
        progress: called with each model's name before it is analysed.

    Returns:
        The baseline as written.

    Raises:
        BadInputError: a corrupt file, or an entry saved from a Python object with no spec to rebuild it.
    """
    from effkit.files import check_output, write_text

    p = check_output(path)
    old = load_baseline(p) if p.exists() else None
    if models is None:
        if old is None:
            raise BadInputError(
                f"baseline {p} does not exist; name the models to put in it")
        pairs = []
        for name, entry in old["models"].items():
            if entry.get("spec") is None:
                raise BadInputError(
                    f"model {name!r} in {p} was saved from a Python object, so it cannot be rebuilt by name; "
                    "update it from Python with effkit.update_baseline(path, {name: model})")
            pairs.append((name, entry["spec"]))
    else:
        pairs = _named_models(models)
    custom_shape = input_shape is not None or input_size is not None or batch_size is not None
    data: dict[str, Any] = {"effkit_baseline": FORMAT_VERSION, **versions(),
                            "models": dict(old["models"]) if old else {}}
    for name, model in pairs:
        if progress is not None:
            progress(name)
        prev = data["models"].get(name)
        shape = input_shape
        if not custom_shape and prev is not None:
            shape = prev["input_shape"]
        dt = dtype or (prev["dtype"] if prev is not None else "float32")
        data["models"][name] = _profile_entry(name, model, shape, input_size, batch_size, dt)
    write_text(p, baseline_text(data))
    return data


def load_baseline(baseline: str | Path | Mapping[str, Any]) -> dict[str, Any]:
    """Read and validate a baseline file (or validate an already loaded dict).

    Raises:
        BadInputError: missing or unreadable file, corrupt JSON, or JSON that is not an effkit baseline.
    """
    if isinstance(baseline, Mapping):
        data, where = dict(baseline), "the baseline given"
    else:
        p = Path(baseline)
        where = str(p)
        if not p.exists():
            raise BadInputError(
                f"baseline file {p} does not exist; create it with {setting('save_baseline')}")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise BadInputError(f"cannot read baseline {p}: {getattr(e, 'strerror', None) or e}") from e
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise BadInputError(
                f"baseline {p} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
                f"regenerate it with {setting('save_baseline')} and {setting('force')}") from None
    _validate(data, where)
    return data


def _validate(data: Any, where: str) -> None:
    hint = f"; make one with {setting('save_baseline')}"
    if not isinstance(data, dict) or "effkit_baseline" not in data:
        raise BadInputError(f"{where} is not an effkit baseline (no 'effkit_baseline' key){hint}")
    version = data["effkit_baseline"]
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION or version < 1:
        raise BadInputError(
            f"{where} has baseline format {version!r}, which this effkit (format {FORMAT_VERSION}) cannot read; "
            "upgrade effkit or regenerate the baseline")
    models = data.get("models")
    if not isinstance(models, dict):
        raise BadInputError(f"{where} is not an effkit baseline ('models' is missing or not an object){hint}")
    for name, entry in models.items():
        problem = _entry_problem(entry)
        if problem:
            raise BadInputError(f"{where} is not a valid effkit baseline: model {name!r} {problem}{hint}")


def _is_count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "is not an object"
    shape = entry.get("input_shape")
    if not isinstance(shape, list) or not shape or not all(_is_count(d) and d > 0 for d in shape):
        return "has no valid 'input_shape'"
    if not isinstance(entry.get("dtype"), str):
        return "has no 'dtype'"
    totals = entry.get("totals")
    if not isinstance(totals, dict) or not all(_is_count(totals.get(m)) for m in TOTAL_METRICS):
        return f"has no valid 'totals' (needs integer {', '.join(TOTAL_METRICS)})"
    layers = entry.get("layers")
    if not isinstance(layers, dict):
        return "has no 'layers' object"
    for lname, row in layers.items():
        if not isinstance(row, dict) or not all(_is_count(row.get(m)) for m in LAYER_METRICS):
            return f"has a malformed layer {lname!r}"
    if entry.get("spec") is not None and not isinstance(entry["spec"], str):
        return "has a 'spec' that is not a string"
    return None


def baseline_models(baseline: str | Path | Mapping[str, Any]) -> list[str]:
    """Names of the models a baseline holds, in file order."""
    return list(load_baseline(baseline)["models"])
