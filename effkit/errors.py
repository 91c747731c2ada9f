"""One error hierarchy for effkit.

The CLI turns every :class:`EffkitError` into a one-line message on stderr and exit code 2;
anything else escaping the API is a bug and shows a traceback.
"""

from __future__ import annotations


class EffkitError(Exception):
    """Base of all errors effkit raises on purpose (bad input, missing backends)."""

    exit_code = 2


class UnknownModelError(EffkitError, KeyError):
    """A model name that the zoo or the external resolvers cannot resolve."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown model"


class BadInputError(EffkitError, ValueError):
    """Malformed user input: shapes, options, files, baselines, sweep files."""


class ModelLoadError(EffkitError):
    """A user model or weights file could not be loaded (import error, factory raised, key mismatch)."""


class BackendUnavailableError(EffkitError):
    """An optional backend (CUDA, NVML, RAPL, torchvision, timm, Ray) is not usable here."""


class StoreError(EffkitError):
    """The results database cannot be opened, read or written."""
