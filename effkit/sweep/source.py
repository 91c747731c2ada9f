"""Reading a sweep file: YAML or TOML text into a plain mapping, with the line of every key and list item, so
that :mod:`effkit.sweep.spec`'s validators can say ``sweep.yaml:7: ...``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from effkit.errors import BackendUnavailableError, BadInputError, render_settings, setting


class Where:
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
        """The error about the value at ``path`` (its key first), ``field`` set to that key.

        ``message`` names the key as ``setting(key)``. A value that came from a flag is named by that flag,
        with no file position, so neither the file nor the Python key is blamed for it (a message that does
        not name its key is put after the flag); a value from the file or a mapping is named by its key,
        after the file position. Other settings a message names are left for the caller to render.
        """
        key = str(path[0]) if path else None
        flag = self.given_by.get(key) if key is not None else None
        named = render_settings(message, lambda n: (flag or key) if n == key else setting(n))
        if flag is not None:
            return BadInputError(named if setting(key) in message else f"{flag}: {named}", field=key)
        return BadInputError(f"{self.at(*path)}{named}", field=key)


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
