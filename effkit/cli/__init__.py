"""The ``effkit`` command: a thin typer shell over the Python API.

Each command module registers its commands on :data:`app`. Errors effkit raises on purpose
(:class:`effkit.errors.EffkitError`) become one line on stderr and exit code 2; ``--debug`` shows the
traceback instead.
"""

from __future__ import annotations

import sys

import typer

app = typer.Typer(
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

    for name in ("profile", "check", "measure", "results", "report", "evaluate", "sweep"):
        try:
            importlib.import_module(f"effkit.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"effkit.cli.{name}":
                raise


_register()


def _parser_exceptions() -> tuple[tuple, tuple, tuple]:
    """(usage errors, exits, aborts) of whichever click the installed typer uses.

    typer >= 0.2x ships its own copy of click (``typer._click``) and no longer needs the click package;
    older typer raises from the click package. Either may be missing, so neither is imported blindly.
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
    return tuple(usage), tuple(exits), tuple(aborts)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
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

        typer.echo(f"effkit: error: {e.render(flag_for)}", err=True)
        sys.exit(e.exit_code)
    except exits as e:
        sys.exit(e.exit_code)
    except usage_errors as e:
        e.show()
        sys.exit(e.exit_code)
    except aborts:
        typer.echo("effkit: interrupted", err=True)
        sys.exit(130)
    sys.exit(rv if isinstance(rv, int) else 0)
