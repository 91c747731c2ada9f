"""Writing output files without losing anything.

Every report, export and baseline effkit writes goes through :func:`write_text`, which

* refuses to write over an SQLite file (an effkit results store or anyone's database: detected by the
  file's header, not its name) and over the files a command is reading from (its results database);
* writes through symbolic links to the real target, so the link stays a link;
* writes special files (``/dev/stdout``, ``/dev/null``, pipes, terminals) directly, never replacing them;
* writes regular files atomically: the text goes to a uniquely named temporary file in the target's
  folder (so no unrelated ``name.tmp`` is ever touched) and is then renamed over the target, so a crash
  leaves either the old file or the new one;
* treats ``-`` as standard output.

:func:`check_output` runs the same refusals without writing, so a command can refuse a bad output path
before minutes of work.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Iterable, Optional

from effkit.errors import BadInputError

#: The first 16 bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"
#: The output path that means standard output.
STDOUT = "-"


def is_stdout(path) -> bool:
    """Whether ``path`` is ``-`` (standard output)."""
    return str(path) == STDOUT


def is_sqlite(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a regular file that starts with the SQLite header (never blocks on a pipe)."""
    p = Path(path)
    try:
        if not p.is_file():
            return False
        with open(p, "rb") as f:
            return f.read(len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False


def _real(path: str | os.PathLike) -> Path:
    # realpath follows every link, including a dangling one to the file it would create.
    return Path(os.path.realpath(Path(path).expanduser()))


def _is_special(p: Path) -> bool:
    """An existing file that is not a regular file or a folder: a device, a pipe, a socket."""
    try:
        mode = os.stat(p).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early (before long work) when ``path`` cannot be written: missing folder, a directory, no permission.

    Links are followed to the real target; special files (``/dev/null``) need only be writable themselves.
    Nothing is created or changed. Returns ``path`` as a :class:`~pathlib.Path`.
    """
    p = Path(path)
    if is_stdout(p):
        return p
    real = _real(p)
    if real.is_dir():
        raise BadInputError(f"cannot write {p}: it is a directory; give a file name")
    if _is_special(real):
        if not os.access(real, os.W_OK):
            raise BadInputError(f"cannot write {p}: permission denied")
        return p
    parent = real.parent
    if not parent.exists():
        raise BadInputError(f"cannot write {p}: folder {parent} does not exist")
    if not parent.is_dir():
        raise BadInputError(f"cannot write {p}: {parent} is not a folder")
    if not os.access(parent, os.W_OK) or (real.exists() and not os.access(real, os.W_OK)):
        raise BadInputError(f"cannot write {p}: permission denied")
    return p


def check_output(path: str | os.PathLike, *, keep: Iterable[Optional[str | os.PathLike]] = ()) -> Path:
    """:func:`check_writable`, and refuse an output that would replace data: an SQLite file, or one of ``keep``.

    Args:
        path: the output file.
        keep: files the same command reads or writes (its results database); ``None`` entries are skipped.
            A path naming the same file (through links or another spelling) is refused even when the file
            does not exist yet.

    Raises:
        BadInputError: the path cannot be written, is an SQLite database, or is one of ``keep``.
    """
    p = check_writable(path)
    if is_stdout(p) or _is_special(_real(p)):
        return p
    real = _real(p)
    for other in keep:
        if other is not None and not is_stdout(other) and _real(other) == real:
            raise BadInputError(f"cannot write {p}: it is the results database this command uses; "
                                "left untouched — choose another output file")
    if is_sqlite(real):
        raise BadInputError(f"cannot write {p}: it is an SQLite database (an effkit results store?); "
                            "left untouched — choose another output file")
    return p


def write_text(path: str | os.PathLike, text: str, *,
               keep: Iterable[Optional[str | os.PathLike]] = ()) -> Path:
    """Write ``text`` to ``path`` (``-``: standard output) as described in the module docstring.

    Raises:
        BadInputError: see :func:`check_output`, or the write itself failed (disk full, say); an
            existing file is then left as it was.
    """
    return write_bytes(path, text.encode(), keep=keep)


def write_bytes(path: str | os.PathLike, data: bytes, *,
                keep: Iterable[Optional[str | os.PathLike]] = ()) -> Path:
    """:func:`write_text` for bytes (figures): the same refusals, links followed, atomic replacement."""
    p = check_output(path, keep=keep)
    if is_stdout(p):
        sys.stdout.buffer.write(data) if hasattr(sys.stdout, "buffer") else sys.stdout.write(data.decode())
        sys.stdout.flush()
        return p
    real = _real(p)
    try:
        if _is_special(real):
            with open(real, "wb") as f:  # a device or a pipe: there is nothing to replace
                f.write(data)
            return p
        _atomic_write(real, data)
    except OSError as e:
        raise BadInputError(f"cannot write {p}: {e.strerror or e}") from e
    return p


def _atomic_write(real: Path, data: bytes) -> None:
    # mkstemp gives a name no other file has, in the target's folder so the rename stays on one disk.
    fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(real))
        os.replace(tmp, real)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _mode_for(real: Path) -> int:
    """The existing file's permissions, else what a plain ``open(..., "w")`` would give (0666 less umask)."""
    try:
        return stat.S_IMODE(os.stat(real).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


__all__ = ["SQLITE_HEADER", "STDOUT", "check_output", "check_writable", "is_sqlite", "is_stdout", "write_bytes",
           "write_text"]
