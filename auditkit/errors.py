"""The one exception type for user mistakes.

An ``AuditError`` carries a message that says what is wrong and how to fix it. The CLI prints it
as one line and exits non-zero; internal bugs raise ordinary exceptions.
"""


class AuditError(Exception):
    """A user mistake or a missing resource, with a message that names the fix."""


class UserCodeError(AuditError):
    """The user's own code (a ``python:`` model file or factory) failed: the one-line message,
    plus ``where``, a short block of the user's frames (file:line and source) printed above it."""

    def __init__(self, message: str, where: str) -> None:
        super().__init__(message)
        self.where = where
