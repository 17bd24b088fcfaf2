"""The one exception type for user mistakes.

An ``AuditError`` carries a message that says what is wrong and how to fix it. The CLI prints it
as one line and exits non-zero; internal bugs raise ordinary exceptions.
"""


class AuditError(Exception):
    """A user mistake or a missing resource, with a message that names the fix."""
