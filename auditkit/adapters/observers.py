"""Recorded observers: "a model is a subject" (model-vs-human).

An observer forwards nothing: it holds answers recorded elsewhere (another lab's model, human
subjects), and the same suites score them as they score a live model.

- ``decisions:PATH``: trial-level decisions in model-vs-human's CSV schema (subj, session,
  trial, rt, object_response, category, condition, imagename) on any of model-vs-human's 17
  datasets (``cue-conflict``, ``mvh-colour``, ...); a folder of CSVs is one pooled observer
  (e.g. ten human subjects), a folder of per-dataset folders one observer on several datasets.
- ``predictions:PATH``: ImageNet val top-1 predictions in the imagenet_x CSV format
  (file_name, predicted_class, predicted_probability); a folder of CSVs is one model whose
  predictions are split over files. Usable by every suite that accepts top-1 classes.

Both are ``Subject``s (``auditkit.subjects``); the CSV schemas and their readers live in the data
layer (``auditkit.data.answer_files``), where suites and export read them too.
"""

from __future__ import annotations

import abc
import hashlib
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from auditkit.data.answer_files import csv_files, read_decisions, read_predictions
from auditkit.data.source import DatasetSource, Sample
from auditkit.errors import AuditError
from auditkit.subjects import Answer, Subject, Unavailable
from auditkit.suite import PredictionRequest, Predictions


class RecordedObserver(Subject):
    """Answers recorded in files; ``datasets`` says which datasets they cover, ``conditions``
    which inputs they were recorded under. Unavailable for anything else: another output
    (features, layers), the reference model, a transformed input (ImageNet-C made from val, a
    rescaled view, an attack): recorded val answers never stand in for those."""

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

    def open_dataset(self, name: str, data_root: Path, overrides: Mapping[str, str]) -> DatasetSource:
        return self.source(name)  # the recorded samples, wherever the images are

    answer_kinds: tuple[str, ...] = ()  # what the recorded files hold (Predictions.answered)

    def gives(self, request: PredictionRequest) -> tuple[str, ...]:
        return self.answer_kinds

    def refuses(self, request: PredictionRequest) -> str | None:
        if request.output != "logits" or request.model != "subject":
            return f"recorded answers hold no {request.output} of a {request.model} model"
        if request.condition.format() not in self.conditions:
            return (f"{self.name} was recorded on the inputs as released ({', '.join(self.conditions)}), "
                    f"not under {request.condition}")
        return None

    def answer(self, request: PredictionRequest, source: DatasetSource) -> Answer:
        refused = self.refuses(request)
        if refused is not None:
            return Unavailable(refused)
        condition = request.condition.format()
        return Predictions(source=source, condition=condition, logits=None,
                           content_sha1=np.full(len(source), ""), model_name=self.name,
                           **self.answers(source, condition))

    @abc.abstractmethod
    def _source(self, dataset: str) -> DatasetSource:
        """The recorded samples as a dataset (no image files behind them)."""

    @abc.abstractmethod
    def answers(self, source: DatasetSource, condition: str) -> dict[str, np.ndarray]:
        """Recorded answers for ``source`` rows: ``decisions`` or ``top1``/``top1_probability``."""


class DecisionsObserver(RecordedObserver):
    """Decisions on any of model-vs-human's 17 datasets; each file's dataset is the prefix of its
    name as model-vs-human writes them (``colour_resnet50_session-1.csv``), else what its image
    names say. A folder may hold the CSVs, or one subfolder of CSVs per dataset (its
    ``raw-data/<dataset>/`` layout)."""

    answer_kinds = ("decisions",)

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = Path(path).expanduser()
        files = csv_files(self.path, "decisions")
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
        return DatasetSource(dataset, self.path, samples, info={"labels": "recorded decisions", "trials": len(samples)},
                             notices=self.trials.notices_for(dataset))

    def answers(self, source: DatasetSource, condition: str) -> dict[str, np.ndarray]:
        return {"decisions": self.trials.responses[self._rows_of(source.name)][: len(source)]}


class PredictionsObserver(RecordedObserver):
    """Top-1 predictions on ImageNet val, labelled with the standard val labels."""

    answer_kinds = ("top1",)

    datasets = ("imagenet-val",)

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = Path(path).expanduser()
        self.files = tuple(csv_files(self.path, "predictions"))
        self.predictions = read_predictions(self.files)
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
