"""Recorded observers: "a model is a subject" (model-vs-human).

``decisions:PATH`` imports trial-level decisions in model-vs-human's CSV schema (subj, session,
trial, rt, object_response, category, condition, imagename); a folder of CSVs is one pooled
observer (e.g. ten human subjects). An observer forwards nothing: the runner asks it for the
decisions it holds on a dataset, and the same suites score them as they score a live model.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from auditkit.data.source import DatasetSource, Sample
from auditkit.errors import AuditError

DECISION_COLUMNS = ("subj", "session", "trial", "rt", "object_response", "category", "condition", "imagename")


@dataclass(frozen=True)
class Trials:
    """One row per trial: which stimulus, which answer, which subject."""

    sample_ids: np.ndarray  # stimulus file names (experiment prefixes stripped)
    responses: np.ndarray  # the 16-class answer, or "na"
    subjects: np.ndarray
    files: tuple[Path, ...]


class DecisionsObserver:
    """Decisions from model-vs-human CSV files; covers the ``cue-conflict`` dataset."""

    datasets = ("cue-conflict",)

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = Path(path).expanduser()
        files = sorted(self.path.glob("*.csv")) if self.path.is_dir() else [self.path]
        if not self.path.exists():
            raise AuditError(f"decisions {self.path} does not exist; give a CSV file or a folder of CSVs")
        if not files:
            raise AuditError(f"decisions folder {self.path} holds no .csv files")
        self.trials = read_decisions(files)
        subjects = sorted(set(self.trials.subjects))
        self.name = name or (subjects[0] if len(subjects) == 1 else f"{self.path.name} ({len(subjects)} subjects)")

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for file in self.trials.files:
            digest.update(file.read_bytes())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "adapter": "DecisionsObserver",
            "source": f"decisions:{self.path}",
            "fingerprint": self.fingerprint,
            "files": [str(f) for f in self.trials.files],
            "subjects": sorted(set(self.trials.subjects.tolist())),
            "trials": len(self.trials.sample_ids),
        }

    def source(self, dataset: str) -> DatasetSource:
        """The observer's trials as a dataset (one sample per trial, ids may repeat)."""
        if dataset not in self.datasets:
            raise AuditError(f"observer {self.name} holds decisions only for {', '.join(self.datasets)}, not {dataset}")
        samples = tuple(
            Sample(path=self.trials.files[0], label=-1, sample_id=str(sample_id))
            for sample_id in self.trials.sample_ids
        )
        return DatasetSource(dataset, self.path, samples, info={"labels": "recorded decisions",
                                                                  "trials": len(samples)})


def read_decisions(files: list[Path]) -> Trials:
    from auditkit.data.cue_conflict import parse_stimulus

    ids, responses, subjects = [], [], []
    for file in files:
        with file.open(newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in ("subj", "object_response", "category", "imagename") if c not in (reader.fieldnames or [])]
            if missing:
                raise AuditError(
                    f"{file} lacks columns {missing}; decisions must use model-vs-human's columns "
                    f"({', '.join(DECISION_COLUMNS)})"
                )
            for line, row in enumerate(reader, start=2):
                shape, _ = parse_stimulus(row["imagename"])
                if row["category"] != shape:
                    raise AuditError(f"{file}:{line}: category {row['category']!r} but the image is a {shape}")
                ids.append(row["imagename"].rsplit("_", 1)[-1])
                responses.append(row["object_response"].strip())
                subjects.append(row["subj"])
    return Trials(np.array(ids), np.array(responses), np.array(subjects), tuple(files))
