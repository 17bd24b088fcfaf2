"""The ``audit`` command (also ``python -m auditkit``): one module per command, each a thin parser
that calls the engine (``auditkit.run.folder.audit_into`` for ``audit run``) and prints what it
returns.

User mistakes print one line (``audit: error: ...``) and exit 2; Ctrl-C exits 130 and SIGTERM
(``kill``, a batch scheduler's time limit) 143, both saying how to resume; nothing prints a
traceback unless it is a bug in auditkit. That handling is ``main``'s,
here, shared by every command.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

import typer

# each module registers its command on ``app``; imported in the order `audit --help` lists them
from auditkit.cli import run, demo, report, card, compare, export, fetch, ls  # noqa: F401, I001
from auditkit.cli.app import app
from auditkit.errors import AuditError, UserCodeError

# typer >= 0.2x ships its own copy of click (typer._click) and no longer raises click's classes:
# take the exception classes from the module typer's own BadParameter lives in, whichever it is.
_CLICK_ERRORS = sys.modules[typer.BadParameter.__module__]
# click < 8.2 has no NoArgsIsHelpError (it prints the help and exits 0 itself); () matches nothing
_NO_ARGS_IS_HELP = getattr(_CLICK_ERRORS, "NoArgsIsHelpError", ())
INTERRUPTED = "audit: interrupted; rerun the same command to resume"
TERMINATED_EXIT = 128 + signal.SIGTERM  # 143, what a shell reports for a process killed by SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, as Ctrl-C is: the same clean-up (the staging folder
    dropped, the store's finished shards kept for the resume) and the same "interrupted" line."""


def main(argv: list[str] | None = None) -> None:
    terminated: list[int] = []  # typer turns Ctrl-C's exception into the code 130: remember which it was

    def terminate(signum: int, frame: FrameType | None) -> None:
        terminated.append(signum)
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:  # not the main thread (a caller's worker thread): SIGTERM keeps its default
        previous = None
    try:
        _main(argv, terminated)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None, terminated: list[int]) -> None:
    try:
        code = app(args=argv, standalone_mode=False, prog_name="audit")
    except UserCodeError as error:
        if error.where:
            typer.echo(error.where, err=True)  # the user's own frames, then the one line
        typer.echo(f"audit: error: {error}", err=True)
        sys.exit(2)
    except AuditError as error:
        typer.echo(f"audit: error: {error}", err=True)
        sys.exit(2)
    except _NO_ARGS_IS_HELP as help_:
        typer.echo(help_.format_message())  # `audit` alone: the help (its message), not an error
        sys.exit(0)
    except _CLICK_ERRORS.ClickException as error:
        typer.echo(f"audit: error: {error.format_message()} (see `audit --help`)", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):  # older typer / click turn Ctrl-C into Abort
        typer.echo(INTERRUPTED, err=True)
        sys.exit(TERMINATED_EXIT if terminated else 130)
    except OSError as error:
        import errno

        # a read-only or full output / cache folder is a user's fix, not a bug: one line
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            raise
        typer.echo(f"audit: error: cannot write {error.filename or 'output'}: {error.strerror}; "
                   "free space or give a writable --out / --cache", err=True)
        sys.exit(2)
    except typer.Exit as exit_:
        code = exit_.exit_code
    if code == 130 and terminated:  # typer returns Ctrl-C (and so SIGTERM's Terminated) as 130
        code = TERMINATED_EXIT
    # Without standalone mode typer returns an Exit's code instead of exiting; Ctrl-C is Exit(130).
    if code in (130, TERMINATED_EXIT):
        typer.echo(INTERRUPTED, err=True)
    if isinstance(code, int) and code != 0:
        sys.exit(code)
