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
from auditkit.records import PER_SAMPLE_DIR, RESULTS_FILE, MetricRecord, RunResults, read_per_sample, read_results, sample_path_key
from auditkit.records_v1 import v1_sample_files


@dataclass
class Run:
    """One run folder; ``name`` is the model's name, made unique within a comparison."""

    directory: Path
    results: RunResults
    name: str
    letter: str = ""
    _samples: dict[tuple[str, str, str], dict[str, np.ndarray]] = field(default_factory=dict, repr=False)
    _files: dict[str, dict[tuple[str, str, str], Path]] = field(default_factory=dict, repr=False)

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

    @property
    def reference(self) -> bool:
        """A published row (``--with``): records without per-sample data, never paired."""
        return bool(self.results.header.get("reference"))

    def sample_files(self) -> dict[tuple[str, str, str], Path]:
        """(suite, dataset, condition) of the records -> their per-sample .npz: the files under
        ``per_sample/`` named by ``records.per_sample_path`` (version 1 runs: by the header's
        requests, ``records_v1.v1_sample_files``)."""
        if "files" not in self._files:
            if self.results.read_from_version == 1:
                found = v1_sample_files(self.directory, self.results.header)
            else:
                found = {}
                for path in sorted((self.directory / PER_SAMPLE_DIR).rglob("*.npz")):
                    key = sample_path_key(path.relative_to(self.directory).as_posix())
                    if key is not None:
                        found[key] = path
            self._files["files"] = found
        return self._files["files"]

    def samples(self, suite: str, dataset: str, condition: str) -> dict[str, np.ndarray]:
        key = (suite, dataset, condition)
        if key not in self._samples:
            self._samples[key] = read_per_sample(self.sample_files()[key], self.directory)
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


@dataclass(frozen=True)
class Setting:
    """One setting of the run headers (precision, a preprocessing field, the weights'
    fingerprint, ...) as each run recorded it; ``differs`` when the runs disagree."""

    name: str
    values: dict[str, str]  # run name -> value as shown

    @property
    def differs(self) -> bool:
        return len(set(self.values.values())) > 1


def _flat(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(_flat, value))
    if isinstance(value, dict):
        return ", ".join(f"{k}={_flat(v)}" for k, v in value.items())
    return str(value)


def header_settings(header: dict) -> dict[str, str]:
    """What changes a run's numbers, flattened to (name, text): the model's identity and
    fingerprint, precision, every preprocessing field, the data's limit and the versions."""
    model = header.get("model") if isinstance(header.get("model"), dict) else {}
    settings = {
        "model": _flat(model.get("source") or model.get("spec") or model.get("name")),
        "adapter": _flat(model.get("adapter")),
        "weights fingerprint": _flat(model.get("fingerprint"))[:16],
        "precision": _flat(header.get("precision", "fp32")),
    }
    preprocess = model.get("preprocess") if isinstance(model.get("preprocess"), dict) else {}
    # recorded answers have none: one row says so beside the live models' preprocessing names
    settings["preprocessing: name"] = "none (recorded answers)" if not preprocess else "—"
    settings.update({f"preprocessing: {key}": _flat(value) for key, value in preprocess.items()})
    settings.update({
        "device": _flat(header.get("device")),
        "limit (samples per dataset)": _flat(header.get("limit")),
        "datasets": _flat(sorted((header.get("datasets") or {}))),
        "suites": _flat(header.get("suites")),
        "seed": _flat(header.get("seed")),
        "auditkit": _flat(header.get("auditkit_version")),
        **{name: _flat(version) for name, version in (header.get("versions") or {}).items()},
    })
    return settings


def run_settings(runs: list[Run]) -> list[Setting]:
    """Every setting any run recorded, those that differ between runs first."""
    per_run = {run.name: header_settings(run.results.header) for run in runs}
    names = list(dict.fromkeys(name for settings in per_run.values() for name in settings))
    found = [Setting(name, {run: settings.get(name, "—") for run, settings in per_run.items()}) for name in names]
    return sorted(found, key=lambda setting: not setting.differs)


def load_runs(paths: list[str], references: tuple[str, ...] = ()) -> list[Run]:
    """The runs found from ``paths``, then the reference rows of each collection in ``references``
    (``auditkit.field.reference``: ``testbed``, ``beyond-inet``)."""
    from auditkit.field.reference import reference_rows

    folders = find_runs(paths)
    published = [(collection, rows) for collection in references for rows in reference_rows(collection)]
    if len(folders) + len(published) < 2 or not folders:
        raise AuditError(
            f"compare needs at least two runs, got {len(folders)} ({', '.join(map(str, folders)) or 'none'}); "
            "give two or more run folders, a glob or a folder of runs (or one run and --with testbed / beyond-inet)"
        )
    runs = []
    for folder in folders:
        results = read_results(folder)
        model = results.header.get("model")
        name = str(model.get("name") if isinstance(model, dict) else model or folder.name)
        runs.append(Run(folder, results, name))
    _tell_apart(runs)
    taken = {run.name for run in runs}
    for collection, results in published:
        name = results.header["model"]["name"]
        name = name if name not in taken else f"{name} ({collection})"
        taken.add(name)
        runs.append(Run(Path(f"published: {collection}"), results, name))
    for index, run in enumerate(runs):
        run.letter = _letter(index)
    return runs


def _tell_apart(runs: list[Run]) -> None:
    """The same model twice gets column names that say how its runs differ ("lite0 (bf16)" vs
    "lite0 (fp32)"), from the settings that differ; the folder name when none does."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.name, []).append(run)
    for name, group in groups.items():
        if len(group) < 2:
            continue
        settings = {id(run): header_settings(run.results.header) for run in group}
        telling = [k for k in dict.fromkeys(k for s in settings.values() for k in s)
                   if k in ("precision", "weights fingerprint") or k.startswith("preprocessing: ")]
        keys = [k for k in telling if len({settings[id(run)].get(k) for run in group}) > 1][:3]
        if len(keys) > 1 and "weights fingerprint" in keys:  # it also hashes the preprocessing named
            keys.remove("weights fingerprint")
        labels = [", ".join(_short(k, settings[id(run)].get(k, "—")) for k in keys) for run in group]
        if not keys or len(set(labels)) < len(group):
            labels = [run.directory.name for run in group]
        for run, label in zip(group, labels):
            run.name = f"{name} ({label})"


def _short(setting: str, value: str) -> str:
    if setting == "precision":
        return value
    if setting == "weights fingerprint":
        return f"fingerprint {value[:8]}"
    return f"{setting.removeprefix('preprocessing: ')} {value}"


def _letter(index: int) -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return letters[index] if index < len(letters) else f"{letters[index // 26 - 1]}{letters[index % 26]}"


def unpaired_reason(runs: list[Run]) -> str | None:
    """Why a comparison has no paired test, in words (it once said "0 paired tests" and no
    more): the runs whose records lack their per-sample files, or that no two runs share a
    (suite, dataset, condition) with per-sample files. None when the pages' notices say it."""
    audited = [run for run in runs if not run.reference]
    lacking = []
    for run in audited:
        keys = {(r.suite, r.dataset, r.condition) for r in run.records}
        if keys and not keys & set(run.sample_files()):
            lacking.append(run)
    if lacking:
        shown = ", ".join(f"{run.name} ({run.directory / PER_SAMPLE_DIR})" for run in lacking[:3])
        return (f"no per-sample files in {shown}, and paired tests need them in both runs; rerun "
                "`audit run` into that folder to write them (from the store, no forward pass)")
    files = [set(run.sample_files()) for run in audited]
    if len(files) >= 2 and not any(a & b for i, a in enumerate(files) for b in files[i + 1:]):
        return "no two runs share a suite, dataset and condition with per-sample files; audit them on the same data"
    if len(audited) < 2:
        return "paired tests need two audited runs (published rows have no per-sample data)"
    return None
