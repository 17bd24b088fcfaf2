"""Recorded observers: "a model is a subject" (model-vs-human).

An observer forwards nothing: it holds answers recorded elsewhere (another lab's model, human
subjects), and the same suites score them as they score a live model.

- ``decisions:PATH``: trial-level decisions in model-vs-human's CSV schema (subj, session,
  trial, rt, object_response, category, condition, imagename) on any of model-vs-human's 17
  datasets (``cue-conflict``, ``mvh-colour``, ...); a folder of CSVs is one pooled observer
  (e.g. ten human subjects), a folder of per-dataset folders one observer on several datasets.
- ``predictions:PATH``: ImageNet val top-1 predictions in the imagenet_x CSV format
  (file_name, predicted_class, predicted_probability); a folder of CSVs is one model whose
  predictions are split over files. Usable by every suite that needs only top-1 classes.
"""

from __future__ import annotations

import abc
import csv
import gzip
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from auditkit.data.source import DatasetSource, Sample
from auditkit.errors import AuditError

DECISION_COLUMNS = ("subj", "session", "trial", "rt", "object_response", "category", "condition", "imagename")
PREDICTION_COLUMNS = ("file_name", "predicted_class", "predicted_probability")


def to_csv(columns: tuple[str, ...], rows: Iterable[Iterable[object]]) -> str:
    """Rows in one of the schemas above, as CSV text (the export twin of the readers here)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def _csv_files(path: Path, kind: str) -> list[Path]:
    if not path.exists():
        raise AuditError(f"{kind} {path} does not exist; give a CSV file or a folder of CSVs")
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files and kind == "decisions":  # one subfolder per dataset: model-vs-human's raw-data layout
        files = sorted(path.glob("*/*.csv"))
    if not files:
        raise AuditError(f"{kind} folder {path} holds no .csv files")
    return files


def _rows(file: Path, required: tuple[str, ...], schema: tuple[str, ...]) -> list[dict[str, str]]:
    opened = gzip.open(file, "rt", newline="") if file.suffix == ".gz" else file.open(newline="")
    with opened as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise AuditError(f"{file} lacks columns {missing}; expected the columns {', '.join(schema)}")
        return list(reader)


class RecordedObserver(abc.ABC):
    """Answers recorded in files; ``datasets`` says which datasets they cover."""

    name: str
    path: Path
    files: tuple[Path, ...]
    datasets: tuple[str, ...]
    # the inputs were shown as released: plain preprocessing, or stimuli at their own size
    conditions: tuple[str, ...] = ("none", "native")

    @property
    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for file in self.files:
            digest.update(file.read_bytes())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "adapter": type(self).__name__,
            "fingerprint": self.fingerprint,
            "files": [str(f) for f in self.files],
        }

    def source(self, dataset: str) -> DatasetSource:
        if dataset not in self.datasets:
            raise AuditError(
                f"{self.name} holds recorded answers only for {', '.join(self.datasets)}, not {dataset}"
            )
        return self._source(dataset)

    @abc.abstractmethod
    def _source(self, dataset: str) -> DatasetSource:
        """The recorded samples as a dataset (no image files behind them)."""

    @abc.abstractmethod
    def answers(self, source: DatasetSource, condition: str) -> dict[str, np.ndarray]:
        """Recorded answers for ``source`` rows: ``decisions`` or ``top1``/``top1_probability``."""


@dataclass(frozen=True)
class Trials:
    """One row per trial: which stimulus, which answer, which subject, which dataset."""

    sample_ids: np.ndarray  # released stimulus file names where the name gives them (see read_decisions)
    responses: np.ndarray  # the 16-class answer, or "na"
    subjects: np.ndarray
    files: tuple[Path, ...]
    datasets: np.ndarray | None = None  # catalog name per row (cue-conflict, mvh-colour, ...)


class DecisionsObserver(RecordedObserver):
    """Decisions on any of model-vs-human's 17 datasets; each file's dataset is the prefix of its
    name as model-vs-human writes them (``colour_resnet50_session-1.csv``), else what its image
    names say. A folder may hold the CSVs, or one subfolder of CSVs per dataset (its
    ``raw-data/<dataset>/`` layout)."""

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = Path(path).expanduser()
        files = _csv_files(self.path, "decisions")
        self.trials = read_decisions(files)
        self.files = self.trials.files
        self.datasets = tuple(dict.fromkeys(self.trials.datasets.tolist()))
        subjects = sorted(set(self.trials.subjects.tolist()))
        self.name = name or (subjects[0] if len(subjects) == 1 else f"{self.path.name} ({len(subjects)} subjects)")

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "source": f"decisions:{self.path}", "datasets": list(self.datasets),
                "subjects": sorted(set(self.trials.subjects.tolist())), "trials": len(self.trials.sample_ids)}

    def _rows_of(self, dataset: str) -> np.ndarray:
        return np.flatnonzero(self.trials.datasets == dataset)

    def _source(self, dataset: str) -> DatasetSource:
        # one sample per trial: a pooled observer has each stimulus once per subject
        samples = tuple(Sample(path=self.files[0], label=-1, sample_id=str(i))
                        for i in self.trials.sample_ids[self._rows_of(dataset)])
        return DatasetSource(dataset, self.path, samples, info={"labels": "recorded decisions", "trials": len(samples)})

    def answers(self, source: DatasetSource, condition: str) -> dict[str, np.ndarray]:
        return {"decisions": self.trials.responses[self._rows_of(source.name)][: len(source)]}


def _decision_dataset(file: Path, rows: list[dict[str, str]]):
    """The model-vs-human dataset a decisions file holds: its name's prefix, else its image names."""
    from auditkit.data.cue_conflict import STIMULUS
    from auditkit.data.model_vs_human import BY_NAME, SESSION_NAME

    prefix = file.name.split("_")[0]
    if prefix in BY_NAME:
        return BY_NAME[prefix]
    names = [row["imagename"] for row in rows]
    if names and all(STIMULUS.match(n.rsplit("_", 1)[-1]) for n in names):
        return BY_NAME["cue-conflict"]  # cue-conflict names say so whatever the file is called
    matches = [SESSION_NAME.match(n) for n in names]
    if names and all(matches):
        found = {d.name for d in BY_NAME.values() for m in matches if m["code"] == d.code
                 and (not d.parametric or m["condition"] in d.conditions)}
        if len(found) == 1:
            return BY_NAME[found.pop()]
    raise AuditError(f"{file}: cannot tell which model-vs-human dataset it holds; name it "
                     "<dataset>_<observer>_session-1.csv as model-vs-human does (e.g. colour_resnet50_session-1.csv)")


def read_decisions(files: list[Path]) -> Trials:
    """Trials of model-vs-human decision files. Sample ids are the released file names where the
    recorded name gives them: cue-conflict, edge and silhouette names end in the released name
    (human sessions prefix it); a model's session name is the released one (``..._dnn_...``); a
    human's session name is kept as recorded (its trial number is the subject's own)."""
    from auditkit.data.model_vs_human import image_id, parse_name

    ids, responses, subjects, datasets = [], [], [], []
    for file in files:
        rows = _rows(file, ("subj", "object_response", "category", "imagename"), DECISION_COLUMNS)
        dataset = _decision_dataset(file, rows)
        for line, row in enumerate(rows, 2):
            name = row["imagename"]
            category = parse_name(dataset, name).category
            if row["category"] != category:
                raise AuditError(f"{file}:{line}: category {row['category']!r} but the image is a {category}")
            ids.append(image_id(name) if not dataset.sessions else name)
            responses.append(row["object_response"].strip())
            subjects.append(row["subj"])
            datasets.append(dataset.catalog_name)
    return Trials(np.array(ids), np.array(responses), np.array(subjects), tuple(files), np.array(datasets))


class PredictionsObserver(RecordedObserver):
    """Top-1 predictions on ImageNet val, labelled with the standard val labels."""

    datasets = ("imagenet-val",)

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.files = tuple(_csv_files(self.path, "predictions"))
        predictions: dict[str, tuple[int, float]] = {}
        for file in self.files:
            for line, row in enumerate(_rows(file, PREDICTION_COLUMNS, PREDICTION_COLUMNS), 2):
                try:
                    value = (int(row["predicted_class"]), float(row["predicted_probability"]))
                except ValueError:
                    raise AuditError(f"{file}:{line}: predicted_class must be an integer and "
                                     "predicted_probability a number") from None
                if not 0 <= value[0] < 1000:
                    raise AuditError(f"{file}:{line}: predicted_class {value[0]} is not an ImageNet class")
                if row["file_name"] in predictions:
                    raise AuditError(f"{file}:{line}: {row['file_name']} is predicted twice")
                predictions[row["file_name"]] = value
        self.predictions = predictions
        self.name = name or (self.path.stem if self.path.is_file() else self.path.name)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "source": f"predictions:{self.path}", "images": len(self.predictions)}

    def _source(self, dataset: str) -> DatasetSource:
        from auditkit.data.imagenet import imagenet_x_val_labels

        labels = imagenet_x_val_labels()
        unknown = [name for name in self.predictions if name not in labels]
        if unknown:
            raise AuditError(f"{self.name}: {unknown[0]} is not an ImageNet val file name "
                             f"({len(unknown)} such rows); file_name must be the val file's basename")
        samples = tuple(
            Sample(path=self.files[0], label=labels[name], sample_id=name) for name in sorted(self.predictions)
        )
        return DatasetSource(dataset, self.path, samples,
                             info={"labels": "imagenet-x filename_label.csv", "recorded_predictions": len(samples)})

    def answers(self, source: DatasetSource, condition: str) -> dict[str, np.ndarray]:
        rows = [self.predictions[s.sample_id] for s in source.samples]
        return {"top1": np.array([r[0] for r in rows]), "top1_probability": np.array([r[1] for r in rows])}
