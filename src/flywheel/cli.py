"""The `flywheel` command line: one console script, the runbook's commands as subcommands.

Each command group lives in its own module under `flywheel.commands` and registers itself here.
`main()` is the only place that turns errors into exit codes, so every command behaves the same:
0 success, 1 the work failed, 2 bad configuration or usage, never a traceback for either.
"""

from __future__ import annotations

import functools
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from flywheel import __version__
from flywheel.errors import ConfigError, FlywheelError

app = typer.Typer(
    name="flywheel",
    help="Run a Solana token's fee flywheel: detect fees, buy back and burn, fund X ads.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_stderr = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"flywheel {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Run a Solana token's fee flywheel: detect fees, buy back and burn, fund X ads."""


@functools.cache
def _register_commands() -> None:
    # Imported here, not at the top, so a broken optional group cannot stop `--help`.
    # Once per process: `main` called again (in-process tests) must not add every group again.
    from flywheel.commands import register_all

    register_all(app)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    _register_commands()
    try:
        # Not standalone: click hands back the code of a `typer.Exit` instead of raising it.
        code = app(args=argv, standalone_mode=False)
    except ConfigError as exc:
        for problem in exc.problems:
            _stderr.print(
                f"[bold red]config:[/] {escape(problem)}", highlight=False, soft_wrap=True
            )
        return 2
    except FlywheelError as exc:
        _stderr.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        _stderr.print("Aborted.")
        return 1
    except KeyboardInterrupt:
        _stderr.print("Interrupted.")
        return 130
    except typer.TyperException as exc:  # usage errors: unknown command, bad option value
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        return int(getattr(exc, "exit_code", 2))
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
