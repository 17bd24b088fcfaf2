"""The runs a comparison reads: folders of `audit run`, found from paths, globs or parent folders.

Only ``results.json`` and ``per_sample/`` are read (STYLE.md: comparisons are views of records
and per-sample arrays, never of models).
"""

from __future__ import annotations

import glob
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from auditkit.errors import AuditError
from auditkit.records import RESULTS_FILE, MetricRecord, RunResults, read_results

PER_SAMPLE_DIR = "per_sample"
IDENTITY_ARRAYS = ("sample_id", "content_sha1")


def per_sample_name(dataset: str, condition: str) -> str:
    """The file the runner writes a (dataset, condition)'s per-sample arrays to."""
    return f"{dataset}__{condition.replace('/', '_')}.npz"


@dataclass
class Run:
    """One run folder; ``name`` is the model's name, made unique within a comparison."""

    directory: Path
    results: RunResults
    name: str
    letter: str = ""
    _samples: dict[tuple[str, str, str], dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    @property
    def model(self) -> dict:
        model = self.results.header.get("model")
        return model if isinstance(model, dict) else {"name": str(model)}

    @property
    def shown_path(self) -> str:
        """The folder relative to the working directory when inside it (pages travel), else absolute."""
        try:
            return str(self.directory.relative_to(Path.cwd()))
        except ValueError:
            return str(self.directory)

    @property
    def records(self) -> list[MetricRecord]:
        return self.results.records

    def sample_files(self) -> dict[tuple[str, str, str], Path]:
        """(suite, dataset, request condition) -> its per-sample .npz.

        The file name flattens '/' to '_', so the condition is taken from the run header's list
        of requested (dataset, condition) pairs, never guessed from the name."""
        files = {}
        requested = [key.split("/", 1) for key in (self.results.header.get("conditions") or {})]
        for dataset, condition in requested:
            for suite in self.results.header.get("suites") or {}:
                path = self.directory / PER_SAMPLE_DIR / suite / per_sample_name(dataset, condition)
                if path.is_file():
                    files[(suite, dataset, condition)] = path
        return files

    def samples(self, suite: str, dataset: str, condition: str) -> dict[str, np.ndarray]:
        key = (suite, dataset, condition)
        if key not in self._samples:
            path = self.sample_files()[key]
            with np.load(path, allow_pickle=False) as archive:
                self._samples[key] = {name: archive[name] for name in archive.files}
        return self._samples[key]


def find_runs(paths: list[str]) -> list[Path]:
    """Run folders from paths, globs (``runs/*``) or parent folders holding runs, in order given."""
    found: list[Path] = []
    for given in paths:
        matches = sorted(glob.glob(given)) if glob.has_magic(given) else [given]
        if not matches:
            raise AuditError(f"{given} matches no folder; give run folders (the --out of `audit run`) or a glob")
        for match in map(Path, matches):
            if (match / RESULTS_FILE).is_file():
                found.append(match)
            elif match.is_dir() and (children := sorted(p.parent for p in match.glob(f"*/{RESULTS_FILE}"))):
                found.extend(children)
            elif glob.has_magic(given):
                continue  # a glob may also match other files beside the runs
            else:
                raise AuditError(f"no {RESULTS_FILE} in {match} nor in its subfolders; give the --out folder of an `audit run`")
    return list(dict.fromkeys(p.resolve() for p in found))


def load_runs(paths: list[str]) -> list[Run]:
    folders = find_runs(paths)
    if len(folders) < 2:
        raise AuditError(
            f"compare needs at least two runs, got {len(folders)} ({', '.join(map(str, folders)) or 'none'}); "
            "give two or more run folders, a glob or a folder of runs"
        )
    runs = []
    seen: dict[str, int] = {}
    for index, folder in enumerate(folders):
        results = read_results(folder)
        model = results.header.get("model")
        name = str(model.get("name") if isinstance(model, dict) else model or folder.name)
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:  # the same model twice (other settings): keep the columns apart
            name = f"{name} ({folder.name})"
        runs.append(Run(folder, results, name, letter=_letter(index)))
    return runs


def _letter(index: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[index] if index < len(letters) else f"{letters[index // 26 - 1]}{letters[index % 26]}"
