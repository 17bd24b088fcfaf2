"""The ``--out`` folder of a run, end to end: what ``audit run`` leaves there, for any caller.

``audit_into(folder, config, model)`` is ``audit run``'s product for a Python caller: the run
(``auditkit.run.audit.run_audit``) written into a staging folder, then report.html and
model_card.html built from it, then swapped in whole; ``audit_many`` runs several models, one
folder each, and adds their comparison page. The command line only parses and prints what these
return.

The folder is written whole or not at all, by one run at a time. A run writes into a hidden
folder beside ``--out`` and renames it into place at the end, so a reused folder never mixes the
previous run's figures, per-sample files or CSVs with the new ones, and a run that fails or is
killed leaves the previous results untouched. A run that computed nothing (every dataset
skipped: a shard or a category folder gone since the last run) is a failed run too when
``--out`` holds a run's records: those stay exactly as they were and the staging folder is
dropped (issue 27). Into a new or empty ``--out`` (or over a run that computed nothing either)
it is still written, results.json and a report listing every skip with its fix: that folder
is how the user learns what to fix, and nothing is lost by writing it. A lock beside the folder
(``held_lock``, removed when the run ends) stops a second run from writing the same ``--out`` at
the same time. A folder holding another run's
results (another model, or the same model under another command) is replaced only with
``--overwrite``; re-running the same command replaces its own results.

Under torchrun every rank forwards its shards; only rank 0 (``RANK``) evaluates, locks and
writes the folder.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import secrets
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from auditkit.adapters.base import ModelAdapter
from auditkit.adapters.specs import ModelOptions, load_model
from auditkit.errors import AuditError
from auditkit.records import RESULTS_FILE, RunResults, Skipped
from auditkit.run.audit import run_audit
from auditkit.run.config import RunConfig
from auditkit.subjects import Subject

OVERWRITE_FLAG = "--overwrite"
_PARTIAL = "partial"  # a run being written
_REPLACED = "replaced"  # the previous results, between the two renames of the swap


def _beside(out_dir: Path, kind: str, token: str = "*") -> Path:
    return out_dir.parent / f".{out_dir.name}.{kind}-{token}"


def lock_path(out_dir: Path) -> Path:
    """The lock file, beside the folder (the folder itself is swapped, so it cannot hold it)."""
    return out_dir.parent / f".{out_dir.name}.lock"


@contextlib.contextmanager
def held_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``, created for the run and removed when it ends (every
    --out once left a zero-byte lock file behind, issue 27). Removing it is safe because a lock
    counts only while ``path`` still names the locked file: a run that locked a file another
    run has just removed tries again on the new one. Busy: ``AuditError`` naming the lock."""
    import fcntl

    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            folder = path.parent / path.name[1:].removesuffix(".lock")
            raise AuditError(f"another audit run is writing {folder} (lock {path} is held); "
                             "wait for it to finish or give another --out") from None
        try:
            if os.stat(path).st_ino == os.fstat(handle).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(handle)  # removed by the run that held it while we waited: lock the new file
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # while still held: no other run can hold this file
        os.close(handle)


# words of a command that change nothing in its results: a rerun that adds or drops them is the
# same run (--no-progress on a resume, issue 27; --dry-run when a dry run checks the folder)
NOT_IDENTITY = (OVERWRITE_FLAG, "--dry-run", "--progress", "--no-progress")


def _same_command(recorded: str, command: str) -> bool:
    def words(text: str) -> list[str]:
        return [w for w in text.split() if w not in NOT_IDENTITY]

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
    with staged_folder(out_dir, lambda folder: check_replaceable(folder, model, command, overwrite)) as staging:
        yield staging


@contextlib.contextmanager
def staged_folder(out_dir: Path, check: Callable[[Path], None]) -> Iterator[Path]:
    """``staged_run_folder`` for any command's output folder (``audit compare`` too): ``check``
    refuses what is not the caller's to replace, before and again under the lock."""
    out_dir = Path(out_dir).absolute()
    check(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with held_lock(lock_path(out_dir)):
        _recover(out_dir)
        check(out_dir)  # the folder may have changed while we waited
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


COMPARE_FILE = "compare.json"


def check_compare_replaceable(out_dir: Path, overwrite: bool) -> None:
    """``audit compare --out``: the rule of ``audit run`` (issue 27, item 9). A new or empty folder,
    or an earlier comparison's (its compare.json), is written; a run's folder only with
    ``--overwrite`` (its records would otherwise sit beside the comparison, and a later ``audit
    export`` export the comparison); a folder of other files never."""
    if out_dir.exists() and not out_dir.is_dir():
        raise AuditError(f"--out {out_dir} is a file, not a folder; give a folder (it is created if missing)")
    if not out_dir.is_dir() or not any(out_dir.iterdir()) or (out_dir / COMPARE_FILE).is_file():
        return
    if (out_dir / RESULTS_FILE).is_file():
        if overwrite:
            return
        model, _ = _previous_run(out_dir)
        raise AuditError(f"--out {out_dir} holds an audit run's results ({model}); give another --out for the "
                         f"comparison, or pass {OVERWRITE_FLAG} to replace them with it")
    raise AuditError(f"--out {out_dir} holds files but no {COMPARE_FILE} (not a comparison's folder); "
                     "give a new or empty folder")


def write_comparison(out_dir: Path, write: Callable[[Path], Path], overwrite: bool = False) -> Path:
    """The comparison page ``write(folder)`` builds, swapped into ``out_dir`` whole (no figure of
    an earlier comparison of other runs is left in it); returns the page's path there."""
    out_dir = Path(out_dir).absolute()
    with staged_folder(out_dir, lambda folder: check_compare_replaceable(folder, overwrite)) as staging:
        page = write(staging)
    return out_dir / page.relative_to(staging)


def output_folder(path: Path, option: str = "--out") -> Path:
    """An output folder that can exist or be made: not a file, and not under one (refused before
    any model loads, naming ``option``)."""
    path = Path(path)
    for folder in (path, *path.parents):
        if folder.exists() and not folder.is_dir():
            if folder == path:
                raise AuditError(f"{option} {path} is a file, not a folder; give a folder (it is created if missing)")
            raise AuditError(f"{option} {path}: {folder} is a file, so no folder can be made under it; "
                             "give another folder")
        if folder.is_dir():
            break
    return path


def folder_name(spec: str) -> str:
    """A model spec as a folder name: ``audit-out/<this>`` by default, one per model under ``--out``
    for several models."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", spec).strip("_")


def check_several(specs: list[str]) -> None:
    """Several ``--model``: each once, each its own folder (one line naming the fix)."""
    folders: dict[str, str] = {}
    for spec in specs:
        if spec in folders.values():
            raise AuditError(f"--model {spec} is given twice; give each model once")
        name = folder_name(spec)
        if name in folders:
            raise AuditError(f"--model {folders[name]} and --model {spec} would share the folder {name}; "
                             "audit one of them on its own")
        folders[name] = spec


def check_several_folder(folder: Path, overwrite: bool) -> None:
    """A run of several models writes one folder per model (and compare/) under ``folder``:
    refused where ``folder`` is one run's folder, whose records and report would then sit
    beside the models' folders (``--overwrite`` does not merge the two layouts either)."""
    if (Path(folder) / RESULTS_FILE).is_file():
        model, _ = _previous_run(Path(folder))
        raise AuditError(f"--out {folder} holds the results of one run ({model}); a run of several models "
                         "writes a folder per model under --out: give another --out")


def writes_the_folder() -> bool:
    """Whether this process writes ``--out``: always, except a torchrun rank other than 0."""
    return int(os.environ.get("RANK", "0")) == 0


def holds_records(out_dir: Path) -> bool:
    """Whether ``out_dir`` holds results a run that computed nothing must not replace: a
    results.json with records, or one that cannot be read (kept rather than guessed at)."""
    import json

    results = out_dir / RESULTS_FILE
    if not results.is_file():
        return False
    try:
        return json.loads(results.read_text()).get("records") != []
    except (OSError, ValueError, AttributeError):
        return True


def nothing_computed(results: RunResults, named: tuple[str, ...] = (), listed: str = "each in the report") -> AuditError | None:
    """The error a run that computed no record ends with (into a new folder it is written all
    the same: the report lists every skip with its fix; over a run's records it is not written,
    ``audit_into``); None when it computed something.

    The one line leads with the skips of the datasets the user ``named`` (``--data``,
    ``--datasets``: ``RunConfig.named_datasets``), the first in full with its fix: the real
    reason (a damaged shard of the dataset given) must not hide behind an unrelated one (a
    missing imagenet-val another suite reads) or a "not requested" one (issue 27, item 6)."""
    if results.records or not writes_the_folder():
        return None
    if not results.skipped:
        return AuditError("nothing could be computed (no suite produced a metric)")
    from auditkit.report.html import skipped_by_dataset
    from auditkit.run.plan import NOT_REQUESTED

    not_requested = NOT_REQUESTED.split("(")[0]

    def rank(skip: Skipped) -> int:
        return 0 if skip.dataset in named else 2 if skip.reason.startswith(not_requested) else 1

    ordered = sorted(results.skipped, key=rank)  # stable: the run's order within each rank
    lead = ordered[0]
    others = [s for s in skipped_by_dataset(ordered[1:]) if s.dataset != lead.dataset
              and (s.dataset in named or lead.dataset not in named)][:2]
    also = "".join(f"; also {s.line()}" for s in others)
    return AuditError(f"nothing could be computed ({len(results.skipped)} skipped, {listed}): "
                      f"{lead.dataset} ({lead.suite}): {lead.reason}{also}")


def audit_into(
    folder: Path, config: RunConfig, model: ModelAdapter | Subject | str, *, options: ModelOptions | None = None,
    overwrite: bool = False,
) -> RunResults:
    """Audit ``model`` into ``folder`` as ``audit run --out folder`` does: results.json, figures,
    per-sample files, report.html and model_card.html, swapped in whole (module docstring).

    ``model`` is a loaded adapter or subject, or a spec (``load_model``, with ``options``; by
    default the run's cache holds the zero-shot heads). ``config.out_dir`` is replaced by
    ``folder``. Returns the run's results (a torchrun rank other than 0: its follower header and
    no records, and nothing written). A run that computed nothing still writes a new (or empty)
    folder, whose report lists every skip, and the caller decides whether that is an error
    (``nothing_computed``); over a folder holding a run's records it raises that error instead,
    naming the folder as kept, and leaves the folder exactly as it was (a dataset that lost a
    shard since must not wipe the results computed when it was whole)."""
    from auditkit.report import build_report
    from auditkit.report.html import build_model_card

    if isinstance(model, str):
        model = load_model(model, options or ModelOptions(head_cache=config.cache_dir / "heads"))
    folder = Path(folder)
    if not writes_the_folder():  # under torchrun only rank 0 writes (and locks) the folder
        return run_audit(model, replace(config, out_dir=folder))
    with staged_run_folder(folder, model.name, config.command, overwrite) as staging:
        results = run_audit(model, replace(config, out_dir=staging))
        error = nothing_computed(results, config.named_datasets())
        if error is not None and holds_records(folder):  # under the lock: the folder cannot change now
            raise AuditError(f"{error}; {folder} keeps its previous results, unchanged")
        build_report(staging)
        build_model_card(staging)  # the run on one printable page, beside the report
    return results


@dataclass
class ModelRun:
    """One model of ``audit_many``: its folder, and its results or the error that stopped it
    (both when it ran but computed nothing: ``nothing_computed``)."""

    spec: str
    folder: Path
    results: RunResults | None = None
    error: AuditError | None = None


@dataclass
class ManyRuns:
    """What ``audit_many`` did: each model's run, and the comparison page of those that ran."""

    folder: Path
    runs: list[ModelRun] = field(default_factory=list)
    comparison: Path | None = None

    @property
    def failed(self) -> list[ModelRun]:
        return [run for run in self.runs if run.error is not None]

    def failure(self) -> AuditError | None:
        """The one-line error naming the models that failed; None when every model ran."""
        if not self.failed:
            return None
        return AuditError(f"{len(self.failed)} of {len(self.runs)} models failed "
                          f"({', '.join(r.spec for r in self.failed)}); the others' runs are in {self.folder}")


def audit_many(
    folder: Path, config: RunConfig, specs: list[str], *, options: ModelOptions | None = None,
    overwrite: bool = False, starting: Callable[[ModelRun], None] = lambda run: None,
    finished: Callable[[ModelRun], None] = lambda run: None,
) -> ManyRuns:
    """``audit run --model A --model B ...``: each model audited into ``folder/<folder_name(spec)>``
    (``audit_into``), one at a time, its weights released before the next loads; a model that
    fails is recorded with its error and the others still run (fault isolation, timm's
    ``bulk_runner.py``); then ``folder/compare`` holds the comparison page of those that ran (two
    or more). ``starting`` and ``finished`` are called around each model (the CLI prints there)."""
    from auditkit.compare import compare as compare_runs, load_runs
    from auditkit.compare.page import build_compare_page

    options = options or ModelOptions(head_cache=config.cache_dir / "heads")
    check_several(specs)
    check_several_folder(folder, overwrite)
    many = ManyRuns(Path(folder))
    for spec in specs:
        run = ModelRun(spec, many.folder / folder_name(spec))
        many.runs.append(run)
        starting(run)
        try:
            run.results = audit_into(run.folder, config, load_model(spec, options), overwrite=overwrite)
            run.error = nothing_computed(run.results, config.named_datasets())
        except AuditError as error:  # one model's mistake does not stop the others
            run.error = error
        finished(run)
        gc.collect()  # the last model's weights go before the next one loads
    done = [run.folder for run in many.runs if run.error is None]
    if not writes_the_folder():
        return many
    compare_dir = many.folder / "compare"
    if len(done) >= 2:
        comparison = compare_runs(load_runs([str(f) for f in done]), seed=config.seed)
        many.comparison = write_comparison(compare_dir, lambda staging: build_compare_page(comparison, staging))
    elif (compare_dir / COMPARE_FILE).is_file():  # an earlier model list's: it no longer compares these runs
        with held_lock(lock_path(compare_dir.absolute())):
            shutil.rmtree(compare_dir)
    return many
