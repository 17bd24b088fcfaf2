"""The ``--out`` folder of a run: written whole or not at all, by one run at a time.

A run writes into a hidden folder beside ``--out`` and renames it into place at the end, so a
reused folder never mixes the previous run's figures, per-sample files or CSVs with the new
ones, and a run that fails or is killed leaves the previous results untouched. A lock beside the
folder (``filelock``) stops a second run from writing the same ``--out`` at the same time. A
folder holding another run's results (another model, or the same model under another command) is
replaced only with ``--overwrite``; re-running the same command replaces its own results.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from auditkit.errors import AuditError
from auditkit.records import RESULTS_FILE

OVERWRITE_FLAG = "--overwrite"
_PARTIAL = "partial"  # a run being written
_REPLACED = "replaced"  # the previous results, between the two renames of the swap


def _beside(out_dir: Path, kind: str, token: str = "*") -> Path:
    return out_dir.parent / f".{out_dir.name}.{kind}-{token}"


def lock_path(out_dir: Path) -> Path:
    """The lock file, beside the folder (the folder itself is swapped, so it cannot hold it)."""
    return out_dir.parent / f".{out_dir.name}.lock"


def _same_command(recorded: str, command: str) -> bool:
    def words(text: str) -> list[str]:
        return [w for w in text.split() if w != OVERWRITE_FLAG]

    return bool(recorded) and words(recorded) == words(command)


def _previous_run(out_dir: Path) -> tuple[str, str] | None:
    """(model name, command) of the results in ``out_dir``; None when it holds none."""
    import json

    try:
        header = json.loads((out_dir / RESULTS_FILE).read_text()).get("header") or {}
    except (OSError, ValueError, AttributeError):
        return ("an unreadable results.json", "")
    model = header.get("model")
    name = model.get("name") if isinstance(model, dict) else model
    return str(name), str(header.get("command") or "")


def check_replaceable(out_dir: Path, model: str, command: str, overwrite: bool) -> None:
    """Refuse, in one line naming the fix, to replace what is not this run's to replace."""
    if out_dir.exists() and not out_dir.is_dir():
        raise AuditError(f"--out {out_dir} is a file, not a folder; give a folder (it is created if missing)")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if not (out_dir / RESULTS_FILE).is_file():
        raise AuditError(f"--out {out_dir} holds files but no {RESULTS_FILE} (not an audit run's folder); "
                         "give a new or empty folder")
    previous_model, previous_command = _previous_run(out_dir)
    if overwrite or (previous_model == model and _same_command(previous_command, command)):
        return
    what = (f"results of another model ({previous_model})" if previous_model != model
            else f"another run of {model} ({previous_command or 'command not recorded'})")
    raise AuditError(f"--out {out_dir} holds {what}; pass {OVERWRITE_FLAG} to replace them, or give another --out")


def _recover(out_dir: Path) -> None:
    """Under the lock: undo what a killed run left beside the folder."""
    replaced = sorted(out_dir.parent.glob(_beside(out_dir, _REPLACED).name), key=lambda p: p.stat().st_mtime)
    if replaced and not out_dir.exists():  # killed between the two renames: the old results come back
        os.rename(replaced.pop(), out_dir)
    for leftover in [*replaced, *out_dir.parent.glob(_beside(out_dir, _PARTIAL).name)]:
        shutil.rmtree(leftover, ignore_errors=True)


@contextlib.contextmanager
def staged_run_folder(out_dir: Path, model: str, command: str, overwrite: bool = False) -> Iterator[Path]:
    """Lock ``out_dir``, yield an empty folder beside it to write the run into, and on success
    swap it in place of ``out_dir``; on any failure (or Ctrl-C) drop it and keep ``out_dir``."""
    out_dir = Path(out_dir).absolute()
    check_replaceable(out_dir, model, command, overwrite)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(lock_path(out_dir)))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise AuditError(f"another audit run is writing {out_dir} (lock {lock_path(out_dir)} is held); "
                         "wait for it to finish or give another --out") from None
    try:
        _recover(out_dir)
        check_replaceable(out_dir, model, command, overwrite)  # the folder may have changed while we waited
        token = secrets.token_hex(4)
        staging = _beside(out_dir, _PARTIAL, token)
        staging.mkdir()
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        old = _beside(out_dir, _REPLACED, token)
        if out_dir.exists():
            os.rename(out_dir, old)
        os.rename(staging, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        lock.release()
