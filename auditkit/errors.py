"""The one exception type for user mistakes.

An ``AuditError`` carries a message that says what is wrong and how to fix it. The CLI prints it
as one line and exits non-zero; internal bugs raise ordinary exceptions.
"""

from __future__ import annotations

import sysconfig
import traceback
from pathlib import Path


class AuditError(Exception):
    """A user mistake or a missing resource, with a message that names the fix."""


class DamagedDataError(AuditError):
    """A dataset that is present but damaged (a truncated webdataset shard): the run refuses it
    rather than skipping the dataset, since a skip reads like a dataset that is simply absent."""


class UserCodeError(AuditError):
    """The user's own code (a ``python:`` model file or factory) failed: the one-line message,
    plus ``where``, a short block of the user's frames (file:line and source) printed above it."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where

    @classmethod
    def from_exception(cls, error: Exception, label: str) -> "UserCodeError":
        """``error`` raised while importing or calling ``label``'s code: the user's frames only
        (not auditkit's, importlib's, the standard library's or installed packages'), then one line."""
        if isinstance(error, SyntaxError):
            where = f'  File "{error.filename}", line {error.lineno}'
            if error.text:
                where += f"\n    {error.text.strip()}"
            return cls(f"{label}: {error.msg} in {error.filename} line {error.lineno}; fix the file", where)
        frames = _user_frames(traceback.extract_tb(error.__traceback__))
        lines = "".join(traceback.format_list(frames)).splitlines()
        where = "\n".join(line for line in lines if line.strip(" ^~"))  # no caret lines: short
        text = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        return cls(f"{label} raised {type(error).__name__}{': ' + text if text else ''}; "
                   "fix the model code (its frames are above)", where)


_MAX_USER_FRAMES = 5


def _user_frames(frames: traceback.StackSummary) -> list[traceback.FrameSummary]:
    """The frames after auditkit's last one that lie in the user's files; if all of them are in
    installed packages (a user's package installed into site-packages), the first one (the call
    into their code)."""
    package = Path(__file__).resolve().parent
    library = {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib", "purelib", "platlib")}

    def under(path: Path, roots: set[Path]) -> bool:
        return any(path == root or root in path.parents for root in roots)

    called = list(frames)
    last_ours = max((i for i, f in enumerate(called) if under(Path(f.filename).resolve(), {package})), default=-1)
    called = [f for f in called[last_ours + 1:] if not f.filename.startswith("<")]
    mine = [f for f in called if not under(Path(f.filename).resolve(), library)]
    return (mine or called[:1])[-_MAX_USER_FRAMES:]
