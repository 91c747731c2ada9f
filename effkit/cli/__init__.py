"""The ``effkit`` command: a thin typer shell over the Python API.

Each command module registers its commands on :data:`app`. Errors effkit raises on purpose
(:class:`effkit.errors.EffkitError`) become one line on stderr and exit code 2; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import inspect
import os
import re
import sys

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


def _reflow(text: str | None) -> str | None:
    """Help text with the source's hard line breaks joined inside each paragraph, so the terminal wraps it.

    Paragraphs (blank-line separated) that click keeps verbatim (``\\b``), indented blocks and lists keep
    their lines.
    """
    if not text:
        return text
    out = []
    for para in inspect.cleandoc(text).split("\n\n"):
        lines = para.splitlines()
        verbatim = para.startswith("\b") or any(re.match(r"\s|[-*] |\d+\. ", ln) for ln in lines)
        out.append(para if verbatim else " ".join(ln.strip() for ln in lines))
    return "\n\n".join(out)


class _Conversion:
    """typer's value conversion, less the values that need none.

    typer (0.2x) converts a value with a pydantic ``TypeAdapter`` that it builds the first time a parameter
    is processed, importing pydantic (~50 ms) even for an option left at ``None`` or a string given for a
    ``str`` parameter, which it returns unchanged. Those two are answered here; every other value (numbers,
    paths, lists, ...) goes to typer's own converter, built as typer builds it.
    """

    def __init__(self, typers) -> None:
        self.typers = typers  # builds (and caches) typer's own conversion, on first need only

    def coerce(self, value, param, ctx):
        multi = param.multiple or param.nargs == -1
        if value is None:  # what typer's conversion returns for None, too
            return () if multi else None
        desc = param.type_descriptor
        if (not multi and type(value) is str and desc.annotation is str and desc.file_annotation is None
                and desc.parameter_info.parser is None):
            return value  # typer's str conversion returns a str unchanged
        return self.typers().coerce(value, param=param, ctx=ctx)


def _item_type(shown):
    """``<list[str]>`` -> ``<str>``: ``MODELS...`` or a repeatable option already says there may be several."""
    if isinstance(shown, str) and shown.startswith("<list[") and shown.endswith("]>"):
        return "<" + shown[len("<list["):-2] + ">"
    return shown


class _ValuesArgument(TyperArgument):
    """An argument whose default ``None`` and plain strings skip typer's converter (:class:`_Conversion`)."""

    def get_runtime_param(self):  # typer's hook: the object whose coerce() converts this parameter's values
        return _Conversion(super().get_runtime_param)


class _Argument(_ValuesArgument):
    """An argument shown as ``MODEL`` in usage lines (typer writes a required one as ``{model}``)."""

    @property
    def display_name_raw(self) -> str:  # MODEL in the usage line, the Arguments panel and error hints
        return super().display_name_raw.upper()

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx):
        return _item_type(super().display_type_rich(ctx))


class _Option(TyperOption):
    """An option whose flags show no ``<bool>`` value (a flag takes none), a repeatable one its item type, and whose default ``None`` and plain
    strings skip typer's converter (:class:`_Conversion`)."""

    def get_runtime_param(self):
        return _Conversion(super().get_runtime_param)

    def display_type_rich(self, ctx):
        if self.is_flag and not self.count:
            return None
        return _item_type(super().display_type_rich(ctx))


def _ours(param):
    """``param`` as one of the parameter classes above, with the help text reflowed.

    typer builds every parameter itself from the signature (``TyperArgument`` / ``TyperOption``) and takes
    no class for them; a command class is what it does take (``cls=``). So each command of effkit's (made by
    :class:`_Command` / :class:`_Group` below) receives typer's parameters and keeps, in their place, an object
    of the subclass holding the same settings. The overridden methods are typer's own help and conversion
    hooks; where a typer version lacks them nothing changes but the looks (or the start-up time).
    """
    kind = {TyperOption: _Option,
            TyperArgument: _Argument if hasattr(TyperArgument, "_usage_display_name") else _ValuesArgument}.get(
        type(param))
    if kind is not None:
        ours = kind.__new__(kind)
        ours.__dict__.update(vars(param))  # the same settings, read by the subclass's hooks
        param = ours
    if isinstance(getattr(param, "help", None), str):
        param.help = _reflow(param.help)
    return param


class _Polished:
    """What effkit's commands and groups share: their help reflowed, their parameters :func:`_ours`, -h too."""

    def __init__(self, *args, params=None, help=None, **kwargs) -> None:
        super().__init__(*args, params=[_ours(p) for p in params or ()], help=_reflow(help), **kwargs)

    def get_help_option(self, ctx):  # click makes -h/--help per context, outside self.params
        option = super().get_help_option(ctx)
        return None if option is None else _ours(option)


class _Command(_Polished, TyperCommand):
    """Every effkit command (see :class:`Typer`)."""


class _Group(_Polished, TyperGroup):
    """Every effkit command group (see :class:`Typer`)."""


class Typer(typer.Typer):
    """A typer app whose commands are :class:`_Command` and whose groups are :class:`_Group` unless told otherwise:
    the classes typer is given through its ``cls`` parameters."""

    def __init__(self, *args, cls=None, **kwargs) -> None:
        super().__init__(*args, cls=cls or _Group, **kwargs)

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or _Command, **kwargs)


app = Typer(
    name="effkit",
    help="Shows what FLOPs hide about CNN efficiency: per-layer memory access cost (MAC), FLOPs, "
    "latency, achieved FLOP/s and energy per image, after the VoVNet paper (arXiv 1904.09730).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        from effkit._version import __version__

        typer.echo(f"effkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
    version: bool = typer.Option(False, "--version", help="Print the effkit version and exit.",
                                 callback=_print_version, is_eager=True),
) -> None:
    """Options that apply to every command (``--debug`` is read in :func:`main`)."""


def fail(message: str, code: int = 2) -> "typer.Exit":
    """Print ``effkit: error: message`` on stderr and return the Exit to raise."""
    typer.echo(f"effkit: error: {message}", err=True)
    return typer.Exit(code)


def _register() -> None:
    import importlib

    for name in ("profile", "check", "measure", "results", "report", "evaluate", "sweep", "predict"):
        try:
            importlib.import_module(f"effkit.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"effkit.cli.{name}":
                raise


_register()


def _parser_exceptions() -> tuple[tuple, tuple, tuple]:
    """(usage errors, exits, aborts) of whichever click the installed typer uses.

    typer >= 0.2x ships its own copy of click (``typer._click``) and no longer needs the click package;
    older typer raises from the click package. Either may be missing, so neither is imported blindly, and
    the click package (8 ms to import, on every command) only where typer has no copy of its own.
    """
    import importlib

    usage: list = []
    exits: list = [typer.Exit]
    aborts: list = [typer.Abort, KeyboardInterrupt]
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        usage.append(mod.ClickException)
        # typer's copy keeps Exit and Abort in typer itself; the click package has its own.
        exits.extend([mod.Exit] if hasattr(mod, "Exit") else [])
        aborts.extend([mod.Abort] if hasattr(mod, "Abort") else [])
        break
    return tuple(usage), tuple(exits), tuple(aborts)


def main(argv: list[str] | None = None) -> None:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); exits through ``SystemExit``."""
    from effkit.errors import EffkitError

    usage_errors, exits, aborts = _parser_exceptions()
    args = list(sys.argv[1:] if argv is None else argv)
    # --debug is accepted anywhere on the line (before or after the command), so take it out here.
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        rv = app(args=args, prog_name="effkit", standalone_mode=False)
    except EffkitError as e:
        if debug:
            raise
        from effkit.cli._flags import flag_for

        typer.echo(f"effkit: error: {e.render(lambda name: flag_for(name, args))}", err=True)
        sys.exit(e.exit_code)
    except exits as e:
        sys.exit(e.exit_code)
    except usage_errors as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # `effkit` or `effkit results` alone: the help is the answer
            e.show()
            sys.exit(e.exit_code)
        typer.echo(f"effkit: error: {_usage_line(e)}", err=True)
        sys.exit(2 if e.exit_code in (0, 1) else e.exit_code)
    except BrokenPipeError:  # the reader went away (`effkit models | head -1`): nothing more to say, to anyone
        _quiet_stdout()
        sys.exit(1)
    except SystemExit as e:
        if isinstance(e.__context__, BrokenPipeError):
            # rich turns a closed pipe into sys.exit(1) (Console.on_broken_pipe): the reader stopped reading.
            sys.exit(e.code)
        # Only code effkit runs on the user's behalf (a factory, a library) exits this way: never a success.
        if debug:
            raise
        typer.echo(f"effkit: error: stopped by sys.exit({e.code!r}) in code effkit was running; "
                   "nothing after it was done", err=True)
        sys.exit(2)
    except aborts:
        typer.echo("effkit: interrupted", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of a closed pipe raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured in tests): nothing to redirect
        pass


def _usage_line(e) -> str:
    """A parser error as one line: the command, click's message, and the fix (closest name, or the usage)."""
    import difflib
    import re

    ctx = getattr(e, "ctx", None)
    where = ctx.command_path if ctx is not None else "effkit"
    # click lists every near option in parentheses; one closest name (below) reads better.
    message = re.sub(r"\s*\(Possible options:[^)]*\)", "", " ".join(e.format_message().split())).rstrip(".")
    fix = ""
    wrong = getattr(e, "option_name", None)
    if wrong is None and message.startswith("No such command"):
        wrong = message.split("'")[1] if message.count("'") >= 2 else None
    if wrong is not None and "Did you mean" not in message:
        close = difflib.get_close_matches(wrong, _names_in(ctx), n=1, cutoff=0.6)
        fix = f"; did you mean {close[0]}?" if close else ""
    if type(e).__name__ == "MissingParameter" and ctx is not None:
        fix = f"; usage: {where} {' '.join(ctx.command.collect_usage_pieces(ctx))}"
    command = where.partition(" ")[2]
    return f"{command + ': ' if command else ''}{message}{fix} (see {where} -h)"


def _names_in(ctx) -> list[str]:
    """The subcommands and flags a command knows (for typo suggestions)."""
    if ctx is None:
        return []
    command = ctx.command
    names: list[str] = []
    if hasattr(command, "list_commands"):
        names.extend(command.list_commands(ctx))
    for param in getattr(command, "params", []):
        if getattr(param, "hidden", False):  # old spellings: accepted, never suggested
            continue
        names.extend(o for o in (*param.opts, *param.secondary_opts) if o.startswith("-"))
    return names
# Commands whose output is complete once main() returns and which leave nothing to clean up
# (no store, no child processes): after them the interpreter's teardown (0.5 s with torch loaded)
# is skipped.
_QUICK_EXIT = {"profile", "models"}


def entry() -> None:
    """Console-script entry point: :func:`main`, then a quick exit after the quick commands.

    Only here, never in :func:`main`: tests and embedding programs call ``main(argv)`` in-process.
    """
    args = [a for a in sys.argv[1:] if a != "--debug"]
    words = [a for a in args if not a.startswith("-")]
    quick = not args or "-h" in args or "--help" in args or (words[:1] and words[0] in _QUICK_EXIT)
    code: int | str | None = 0
    try:
        main()
    except SystemExit as e:
        code = e.code
    if not quick:
        sys.exit(code)
    if isinstance(code, str):  # sys.exit("message") prints the message and exits 1
        print(code, file=sys.stderr)
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader went away (`| head`): nothing more can be written
        code = code or 1
    os._exit(code or 0)
