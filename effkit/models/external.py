"""Models from outside the zoo, and weights from local files.

Specs understood by :func:`create_external` (and so by ``create_model`` / the CLI whenever a name has a ``:``):

* ``torchvision:NAME`` -- ``torchvision.models.get_model(NAME, weights=None)``;
* ``timm:NAME`` -- ``timm.create_model(NAME, pretrained=False)``;
* ``pkg.module:factory`` -- ``import pkg.module`` (from the current folder too, as ``python -m`` would) and
  call ``factory(**kwargs)``;
* ``path/to/file.py:factory`` -- load that file as a fresh module and call ``factory(**kwargs)``.

Nothing is ever downloaded: no pretrained weights, no hub names. Weights come only from a local file given to
:func:`load_weights`, which unpickles with ``weights_only=True``.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import io
import os
import pickle
import re
import sys
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from effkit.errors import BackendUnavailableError, BadInputError, ModelLoadError, UnknownModelError
from effkit.models.resolve import is_file_target

__all__ = ["create_external", "load_weights"]

_BACKENDS = ("torchvision", "timm")
_SHOW = 5  # keys shown per category in a mismatch message


def create_external(spec: str, **kwargs: Any) -> nn.Module:
    """Build a model from a torchvision/timm name, an importable factory or a factory in a ``.py`` file.

    Warning:
        ``pkg.module:factory`` imports that module and ``path/file.py:factory`` **executes the file**
        (its top-level code runs, as with ``python file.py``): only name code you trust. A file is loaded
        as a new module named after a hash of its resolved path, with its folder on ``sys.path`` while
        it runs so it can import its neighbours.

    Args:
        spec: ``"torchvision:NAME"``, ``"timm:NAME"``, ``"pkg.module:factory"`` or ``"path/file.py:factory"``.
            A spec whose left part ends in ``.py`` or contains a path separator is a file.
        **kwargs: passed to the builder or factory (e.g. ``num_classes=10``).

    Returns:
        The model the factory built, on whatever device the caller's context gives (``torch.device("meta")``
        works for factories that allow it).

    Raises:
        BadInputError: the spec is malformed, or asks for pretrained/hub weights.
        BackendUnavailableError: torchvision or timm cannot be imported here.
        UnknownModelError: the backend has no such model, or the module no such attribute.
        ModelLoadError: the file is missing or unreadable, the import or the factory raised, or the
            factory did not return an ``nn.Module``.
    """
    if not isinstance(spec, str) or ":" not in spec:
        raise BadInputError(
            f"expected 'torchvision:NAME', 'timm:NAME', 'pkg.module:factory' or 'path/file.py:factory', got {spec!r}"
        )
    head, _, rest = spec.partition(":")
    if head in _BACKENDS:
        _refuse_downloads(spec, kwargs)
        return _create_torchvision(rest, kwargs) if head == "torchvision" else _create_timm(rest, kwargs)

    # The last ':' splits, so a Windows drive letter stays in the path part.
    target, _, attr = spec.rpartition(":")
    if not target or not attr.isidentifier():
        raise BadInputError(f"malformed model spec {spec!r}: expected 'pkg.module:factory' or 'path/file.py:factory'")
    if is_file_target(target):
        module = _load_file(Path(target).expanduser())
        where = f"file {target}"
    else:
        try:
            with current_folder_importable():
                module = importlib.import_module(target)
        except (Exception, SystemExit) as e:
            hint = ""
            if isinstance(e, ModuleNotFoundError) and e.name and target.split(".")[0] == e.name.split(".")[0]:
                hint = (f" (looked in the current folder {os.getcwd()} and the installed packages: run from the "
                        "folder that holds the package, or install it with `pip install -e .`)")
            raise ModelLoadError(f"could not import {target!r}: {_describe(e)}{hint}") from e
        where = f"module {target!r}"
    return _call_factory(module, attr, where, spec, kwargs)


def load_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Load a local checkpoint into ``model`` in place, after checking that every key and shape fits.

    Accepts a raw state_dict or a dict holding one under ``"state_dict"`` or ``"model"``; a ``module.``
    prefix (``nn.DataParallel``) is stripped, and the old torchvision DenseNet key style
    (``denselayer1.norm.1.weight``) is mapped to the current one. Missing ``num_batches_tracked`` buffers
    are tolerated (older checkpoints lack them). A model on the meta device receives the file's tensors.

    Args:
        model: the module to fill.
        path: a file written by ``torch.save``; it is read with ``weights_only=True`` and never downloaded.

    Raises:
        ModelLoadError: the file is missing, is not a checkpoint, holds no state_dict, or does not fit the
            model (the message counts missing and unexpected keys, names the first few, and lists shape
            mismatches).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        what = "is not a file" if p.exists() else "does not exist"
        raise ModelLoadError(f"weights file {p} {what}")
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols on its way to refusing the file; the refusal says it all.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ModelLoadError(_refusal(p, e)) from e
    state = _state_dict_of(ckpt, p)
    expected = model.state_dict()
    state = _fit_key_style(state, expected)

    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    mismatched = [(k, tuple(expected[k].shape), tuple(v.shape))
                  for k, v in state.items() if k in expected and tuple(v.shape) != tuple(expected[k].shape)]
    if missing or unexpected or mismatched:
        raise ModelLoadError(_mismatch_message(p, model, missing, unexpected, mismatched))

    assign = any(t.is_meta for t in (*model.parameters(), *model.buffers()))
    try:
        model.load_state_dict(state, strict=False, assign=assign)
    except Exception as e:  # e.g. a dtype that cannot be copied into the model's tensors
        raise ModelLoadError(f"could not load weights file {p} into {type(model).__name__}: {_describe(e)}") from e


# --------------------------------------------------------------------------------------------------- helpers


def _describe(e: BaseException) -> str:
    """``ExcType: first line of the message`` -- error messages here stay on one line."""
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0]}" if msg else type(e).__name__


def _refusal(path: Path, e: Exception) -> str:
    """Why a weights file was refused: not a checkpoint at all, or one holding code or objects (named).

    torch's own message ends by suggesting ``weights_only=False`` -- running the file's code -- which effkit
    never does, so it is not repeated.
    """
    found = _globals_in(path, e)
    if found:
        shown = ", ".join(found[:_SHOW]) + (f", ... (+{len(found) - _SHOW} more)" if len(found) > _SHOW else "")
        return (f"could not read weights file {path}: a pickle holding code or objects effkit will not load ({shown}); "
                "effkit loads only tensors and plain containers: save model.state_dict() with torch.save")
    if _starts_with(path, b"PK"):  # a zip archive, as torch.save writes, but not a whole one
        return f"could not read weights file {path}: a damaged or cut-short torch.save archive ({_describe(e)})"
    if isinstance(e, pickle.UnpicklingError) or not _parses_as_pickle(path):
        return (f"could not read weights file {path}: not a PyTorch checkpoint at all (neither a torch.save "
                "archive nor a pickle of tensors); pass the file torch.save(model.state_dict(), ...) wrote")
    detail = "" if "weights_only" in str(e) else f" ({_describe(e)})"
    return f"could not read weights file {path}: not a readable PyTorch checkpoint (damaged or cut short){detail}"


def _starts_with(path: Path, magic: bytes) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(len(magic)) == magic
    except OSError:
        return False


def _globals_in(path: Path, e: Exception) -> list[str]:
    """The globals (importable names: code, classes) a checkpoint would need; read without running it."""
    named = re.findall(r"GLOBAL ([\w.]+)", str(e))
    if named:
        return list(dict.fromkeys(named))
    if zipfile.is_zipfile(path):
        try:
            return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        except Exception:  # a damaged archive names nothing
            return []
    return _pickle_globals(path)


def _pickle_ops(path: Path, limit: int = 1 << 24):
    """The opcodes of the pickles at the start of ``path`` (pickletools only parses: nothing runs)."""
    import pickletools

    with open(path, "rb") as f:
        data = io.BytesIO(f.read(limit))
    for _ in range(8):  # torch's legacy format is a few pickles in a row
        if data.tell() >= len(data.getbuffer()):
            return
        yield from pickletools.genops(data)


def _parses_as_pickle(path: Path) -> bool:
    """Whether the file starts with one whole pickle (text and random bytes fail within a few opcodes)."""
    try:
        return any(op.name == "STOP" for op, _, _ in _pickle_ops(path))
    except Exception:
        return False


def _pickle_globals(path: Path) -> list[str]:
    found: list[str] = []
    strings: list[str] = []
    try:
        for op, arg, _ in _pickle_ops(path):
            if op.name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
    except Exception:  # bytes after the pickle, or not a pickle: what was read so far is the answer
        pass
    # torch's own rebuild helpers and plain containers load fine; name what weights_only refused.
    unsafe = [g for g in dict.fromkeys(found) if not g.startswith(("torch.", "collections.OrderedDict"))]
    return unsafe


def _refuse_downloads(spec: str, kwargs: dict) -> None:
    for key in ("weights", "pretrained", "pretrained_cfg_overlay", "checkpoint_path"):
        if kwargs.get(key):
            raise BadInputError(
                f"{spec}: effkit never downloads or loads weights through {key}=; "
                "build the model without weights and pass a local file as weights= (load_weights)"
            )
        kwargs.pop(key, None)


def _import_backend(pkg: str) -> ModuleType:
    try:
        return importlib.import_module(pkg)
    except Exception as e:  # ImportError, but also e.g. RuntimeError 'operator torchvision::nms does not exist'
        raise BackendUnavailableError(
            f"{pkg} is not importable here ({_describe(e)}); effkit's own zoo names "
            "(see `effkit models`) work without it"
        ) from e


def _unknown(backend: str, name: str, names: list[str]) -> UnknownModelError:
    close = difflib.get_close_matches(name.lower(), names, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return UnknownModelError(f"{backend} has no model {name!r}.{hint}")


def _create_torchvision(name: str, kwargs: dict) -> nn.Module:
    if not name:
        raise BadInputError("expected 'torchvision:NAME', e.g. torchvision:resnet18")
    tv = _import_backend("torchvision")
    models = getattr(tv, "models", None)
    if models is None or not hasattr(models, "list_models") or not hasattr(models, "get_model"):
        raise BackendUnavailableError(
            f"torchvision {getattr(tv, '__version__', '?')} is too old (effkit needs models.get_model, "
            "torchvision 0.14 or newer); effkit's own zoo names work without it"
        )
    names = list(models.list_models())
    if name not in names:
        raise _unknown("torchvision", name, names)
    return _built(f"torchvision:{name}", lambda: models.get_model(name, weights=None, **kwargs))


def _create_timm(name: str, kwargs: dict) -> nn.Module:
    if not name:
        raise BadInputError("expected 'timm:NAME', e.g. timm:vovnet39a")
    if ":" in name:
        raise BadInputError(f"timm:{name}: hub names download weights, which effkit never does")
    timm = _import_backend("timm")
    names = list(timm.list_models())
    base = name.split(".", 1)[0]  # timm allows NAME.pretrained_tag
    if base not in names:
        raise _unknown("timm", base, names)
    return _built(f"timm:{name}", lambda: timm.create_model(name, pretrained=False, **kwargs))


def _built(label: str, create) -> nn.Module:
    """``create()``'s module; whatever it raises is a :class:`ModelLoadError` naming ``label``."""
    try:
        model = create()
    except Exception as e:
        raise ModelLoadError(f"{label} raised {_describe(e)}") from e
    return _check_module(model, label)


@contextmanager
def current_folder_importable() -> Iterator[None]:  # also used by the checks made before any work
    """The current folder first on ``sys.path`` while a ``pkg.module`` is imported, as ``python -m`` puts it:
    a package in the folder a command runs from imports without being installed. Removed again after."""
    with _first_on_path(os.getcwd(), add="" not in sys.path):  # "": the current folder is on it already
        yield


@contextmanager
def _first_on_path(folder: str, add: bool = True) -> Iterator[None]:
    """``folder`` first on ``sys.path`` for the block, unless ``add`` is false or it is there already; removed
    after (unless the block removed it itself)."""
    added = add and folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    try:
        yield
    finally:
        if added:
            try:
                sys.path.remove(folder)
            except ValueError:
                pass


def _load_file(path: Path) -> ModuleType:
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise ModelLoadError(f"model file {path} {what}")
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise ModelLoadError(f"cannot read model file {path}: {_describe(e)}") from e

    resolved = path.resolve()
    # One module name per path: two files both called model.py must not replace each other.
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:12]
    stem = re.sub(r"\W", "_", path.stem)
    mod_name = f"_effkit_user_{stem}_{digest}"
    spec = importlib.util.spec_from_file_location(mod_name, resolved)
    if spec is None or spec.loader is None:
        raise ModelLoadError(f"cannot load model file {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module  # dataclasses and pickling look the module up while it runs
    try:
        with _first_on_path(str(resolved.parent)):  # the file's own imports of its neighbours
            spec.loader.exec_module(module)
    except (Exception, SystemExit) as e:
        sys.modules.pop(mod_name, None)
        raise ModelLoadError(f"could not import {path}: {_describe(e)}") from e
    return module


def _callables(module: ModuleType) -> list[str]:
    public = {n: v for n, v in vars(module).items() if not n.startswith("_") and callable(v)}
    own = [n for n, v in public.items() if getattr(v, "__module__", None) == module.__name__]
    return sorted(own or public)


def _call_factory(module: ModuleType, attr: str, where: str, spec: str, kwargs: dict) -> nn.Module:
    try:
        factory = getattr(module, attr)
    except AttributeError:
        names = _callables(module)
        listed = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        close = difflib.get_close_matches(attr, names, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise UnknownModelError(
            f"{where} has no {attr!r}.{hint} Callables there: {listed or 'none'}"
        ) from None
    if not callable(factory):
        raise ModelLoadError(f"{attr!r} in {where} is a {type(factory).__name__}, not a callable factory")
    with _user_code(f"factory {spec}", spec.rpartition(":")[0]):
        try:
            model = factory(**kwargs)
        except Exception as e:
            raise ModelLoadError(f"factory {spec} raised {_describe(e)}") from e
    return _check_module(model, f"factory {spec}")


@contextmanager
def _user_code(what: str, prog: str) -> Iterator[None]:
    """Run user code (a factory, a model file's top level) as a guest: its ``SystemExit`` is an error, not an exit.

    A factory that calls ``sys.exit`` or parses the command line with argparse would otherwise end effkit
    itself -- ``effkit check`` exiting 0 without comparing anything. While it runs, ``sys.argv`` holds only a
    program name (effkit's own arguments are not the factory's) and its stderr is held back: on a
    ``SystemExit`` its last line (argparse's "error: ...") goes into the one-line error; otherwise it is
    passed on unchanged.
    """
    import io
    from contextlib import redirect_stderr

    saved_argv = sys.argv
    held = io.StringIO()
    sys.argv = [prog]
    try:
        with redirect_stderr(held):
            yield
    except SystemExit as e:
        said = [ln.strip() for ln in held.getvalue().splitlines() if ln.strip()]
        code = 0 if e.code is None else e.code
        detail = f": {said[-1]}" if said else ""
        raise ModelLoadError(f"{what} exited (code {code}){detail}; effkit needs it to return a model") from None
    else:
        sys.stderr.write(held.getvalue())
    finally:
        sys.argv = saved_argv


def _check_module(model: Any, what: str) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise ModelLoadError(f"{what} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _state_dict_of(ckpt: Any, path: Path) -> dict[str, torch.Tensor]:
    state = ckpt
    if isinstance(ckpt, Mapping) and not _is_state_dict(ckpt):
        for key in ("state_dict", "model"):
            if isinstance(ckpt.get(key), Mapping):
                state = ckpt[key]
                break
    if not isinstance(state, Mapping) or not _is_state_dict(state):
        if isinstance(state, Mapping):
            found = f"a dict with keys {', '.join(map(str, list(state)[:_SHOW]))}"
        else:
            found = type(state).__name__
        raise ModelLoadError(
            f"weights file {path} holds no state_dict (found {found}); expected a state_dict or a dict "
            "with one under 'state_dict' or 'model'"
        )
    state = dict(state)
    if state and all(k.startswith("module.") for k in state):  # saved from nn.DataParallel
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def _is_state_dict(d: Mapping) -> bool:
    return bool(d) and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in d.items())


# torchvision's DenseNet checkpoints were saved when layers were named "norm.1"; torchvision remaps them too.
_OLD_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)


def _fit_key_style(state: dict[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        if k not in expected:
            m = _OLD_DENSENET_KEY.match(k)
            if m and m.group(1) + m.group(2) in expected:
                k = m.group(1) + m.group(2)
        out[k] = v
    return out


def _first(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW])
    return shown + (f", ... (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else "")


def _mismatch_message(path: Path, model: nn.Module, missing, unexpected, mismatched) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing key{'s' * (len(missing) != 1)} ({_first(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key{'s' * (len(unexpected) != 1)} ({_first(unexpected)})")
    if mismatched:
        shown = ", ".join(f"{k}: model {list(a)}, file {list(b)}" for k, a, b in mismatched[:_SHOW])
        more = f", ... (+{len(mismatched) - _SHOW} more)" if len(mismatched) > _SHOW else ""
        parts.append(f"{len(mismatched)} shape mismatch{'es' * (len(mismatched) != 1)} ({shown}{more})")
    return f"weights file {path} does not fit {type(model).__name__}: " + "; ".join(parts)
