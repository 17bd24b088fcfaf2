"""Where auditkit reads data and keeps its cache, resolved in one documented order."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

DEFAULT_ROOT = Path("~/.cache/auditkit")


def data_root(given: str | Path | None = None) -> Path:
    """``--data-root`` if given, else ``$AUDITKIT_DATA``, else ``~/.cache/auditkit``."""
    chosen = given or os.environ.get("AUDITKIT_DATA") or DEFAULT_ROOT
    return Path(chosen).expanduser()


def cache_root(given: str | Path | None = None) -> Path:
    """``--cache DIR`` if given, else ``$AUDITKIT_CACHE``, else ``~/.cache/auditkit``.

    Holds the prediction store (``store/``) and cached zero-shot heads (``heads/``).
    """
    chosen = given or os.environ.get("AUDITKIT_CACHE") or DEFAULT_ROOT
    return Path(chosen).expanduser()


def open_temporary(directory: Path, prefix: str, suffix: str = ".tmp") -> tuple[int, Path]:
    """A new file in ``directory`` for write-then-rename, created with mode 0666 less the umask.

    ``tempfile.mkstemp`` makes 0600 files: renamed into place they would be unreadable to the
    colleagues the umask lets read every other file of a run (results.json, compare.json, a
    shared cache's shards)."""
    while True:
        path = directory / f"{prefix}{secrets.token_hex(6)}{suffix}"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path
        except FileExistsError:
            continue
