"""The ``acytoo`` command line.

:func:`main` is the console-script entry point. It is the one edge where
errors become a single line on stderr and an exit code (see
:mod:`acytoo.cli.exit_codes`); ``--debug`` adds the traceback. Imports stay
light: click here, everything else inside the command that needs it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``) and exit."""
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit code instead of exiting."""
    try:
        import click
    except ModuleNotFoundError as exc:
        return _missing_extra(exc)

    from . import exit_codes
    from .main import cli
    from .render import debug_enabled, error

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args=args, prog_name="acytoo", standalone_mode=False)
        # Output still buffered must reach the reader now, while a closed
        # pipe can still be reported as one.
        sys.stdout.flush()
    except click.exceptions.Abort as exc:
        # click turns Ctrl-C and Ctrl-D outside a stream into Abort.
        if isinstance(exc.__cause__, EOFError):
            return exit_codes.OK
        return exit_codes.INTERRUPTED
    except click.ClickException as exc:
        error(exc.format_message())
        return exc.exit_code
    except KeyboardInterrupt:
        return exit_codes.INTERRUPTED
    except BrokenPipeError:
        return _broken_pipe(exit_codes.BROKEN_PIPE)
    except SystemExit as exc:
        # click catches a closed stdout itself, wraps the streams so that
        # flushing stays quiet and exits 1; the status says otherwise here.
        if exc.code == 1 and type(sys.stdout).__name__.endswith("PacifyFlushWrapper"):
            return _broken_pipe(exit_codes.BROKEN_PIPE)
        raise
    except ModuleNotFoundError as exc:
        if exc.name not in _CLI_EXTRA:
            raise
        return _missing_extra(exc)
    except Exception as exc:
        from ._conversation import describe_error

        error(describe_error(exc, _secrets_in(args)))
        if debug_enabled():
            import traceback

            traceback.print_exc()
        return exit_codes.exit_code_for(exc)
    return result if isinstance(result, int) else exit_codes.OK


# What the [cli] extra installs on top of the library.
_CLI_EXTRA = frozenset({"click", "rich", "prompt_toolkit"})


def _missing_extra(exc: ModuleNotFoundError) -> int:
    if exc.name not in _CLI_EXTRA:
        raise exc
    from .. import __version__

    print(
        f"acytoo: the command line needs the [cli] extra ({exc.name} is missing): "
        f"in a checkout, pip install -e '.[cli]'; from a wheel, "
        f"pip install 'acytoo-{__version__}-py3-none-any.whl[cli]'",
        file=sys.stderr,
    )
    return 1


def _broken_pipe(code: int) -> int:
    # The reader went away (`acytoo logs | head -1`): stop quietly, as other
    # Unix tools do, and keep Python from complaining while flushing stdout at exit.
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return code


def _secrets_in(args: list[str]) -> list[str]:
    """Values of --key/--password (and the environment's) for redaction."""
    import os

    secrets = [os.environ.get("ACYTOO_KEY", ""), os.environ.get("ACYTOO_PASSWORD", "")]
    for index, arg in enumerate(args):
        for flag in ("--key", "--password"):
            if arg == flag and index + 1 < len(args):
                secrets.append(args[index + 1])
            elif arg.startswith(flag + "="):
                secrets.append(arg.split("=", 1)[1])
    return [secret for secret in secrets if secret]
