"""Where auditkit reads data and keeps its cache, resolved in one documented order."""

from __future__ import annotations

import os
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
