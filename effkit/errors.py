"""One error hierarchy for effkit.

The CLI turns every :class:`EffkitError` into a one-line message on stderr and exit code 2;
anything else escaping the API is a bug and shows a traceback.

The core never names a command-line flag. A message names a *setting* through :func:`setting`
(``f"{setting('cuda_graph')} needs a CUDA device"``); ``str(error)`` renders it as the setting's own
name (``cuda_graph``), which is what a Python caller typed, and the CLI renders the same message
with the flag the user typed through its one field-to-flag table (``effkit/cli/_flags.py``). The setting a
whole error is about goes in ``field=``.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping

# A setting reference inside a message: unit separators around the name, so no character a
# message can legitimately hold (paths, JSON, braces) is ever mistaken for one.
_MARK = "\x1f"
_SETTING = re.compile(_MARK + r"([A-Za-z_][A-Za-z0-9_.]*)" + _MARK)


def setting(name: str) -> str:
    """A reference to the setting ``name`` inside an error message (rendered by :meth:`EffkitError.render`)."""
    return f"{_MARK}{name}{_MARK}"


def render_settings(text: str, names: Mapping[str, str] | Callable[[str], str] | None = None) -> str:
    """``text`` with every :func:`setting` reference replaced by ``names[name]`` (default: the name itself)."""
    if names is None:
        lookup = lambda n: n  # noqa: E731 - Python callers typed the setting's own name
    elif callable(names):
        lookup = names
    else:
        lookup = lambda n: names.get(n, n)  # noqa: E731
    return _SETTING.sub(lambda m: lookup(m.group(1)), text)


class EffkitError(Exception):
    """Base of all errors effkit raises on purpose (bad input, missing backends).

    Args:
        message: one line saying what was wrong and what to do; settings named with :func:`setting`.
        field: the setting this error is about (``"cuda_graph"``), or ``None``.
    """

    exit_code = 2

    def __init__(self, *args, field: str | None = None) -> None:
        super().__init__(*args)
        self.field = field

    def render(self, names: Mapping[str, str] | Callable[[str], str] | None = None) -> str:
        """The message, with settings named by ``names`` (the CLI passes its flag table)."""
        return render_settings(self._message(), names)

    def _message(self) -> str:
        return super().__str__()

    def __str__(self) -> str:
        return self.render()


class UnknownModelError(EffkitError, KeyError):
    """A model name that the zoo or the external resolvers cannot resolve."""

    def _message(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown model"


class BadInputError(EffkitError, ValueError):
    """Malformed user input: shapes, options, files, baselines, sweep files."""


class ModelLoadError(EffkitError):
    """A user model or weights file could not be loaded (import error, factory raised, key mismatch)."""


class BackendUnavailableError(EffkitError):
    """An optional backend (CUDA, NVML, RAPL, torchvision, timm, Ray) is not usable here."""


class StoreError(EffkitError):
    """The results database cannot be opened, read or written."""
