"""What a suite is: the (dataset, condition) predictions it needs and a protocol over arrays.

A suite never touches a torch module. It declares ``requests``; the runner hands it
``Predictions`` (logits, labels, ids) and it returns tidy records, figures and per-sample arrays.
Add a suite by subclassing ``Suite`` in ``suites/<name>/suite.py`` and adding one registry line
in ``suites/__init__.py``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from auditkit.data.source import DatasetSource
from auditkit.records import MetricRecord, Notice, Skipped
from auditkit.stats import log_softmax


OUTPUTS = {
    "logits": "the 1000 ImageNet logits (or the zero-shot head's)",
    "features": "the penultimate / pooled embedding (CLIP: the image embedding), ModelAdapter.features",
    "layers": "globally pooled outputs of the model's stages or blocks, ModelAdapter.layer_features",
}


@dataclass(frozen=True)
class PredictionRequest:
    """What a suite needs: a dataset under a condition, as logits or features (``OUTPUTS``),
    from the audited model ("subject") or the run's second model ("reference",
    ``--reference-model``; e.g. CKA between two models). Adversarial inputs are conditions
    (``pgd/eps2/steps10/seed0``, ``auditkit.attacks``): the runner attacks through the adapter."""

    dataset: str
    condition: str = "none"
    output: str = "logits"
    model: str = "subject"


@dataclass(frozen=True)
class Predictions:
    """One model's answers on one (dataset, condition), rows in ``source.samples`` order.

    A live model gives ``logits``; a recorded observer (``decisions:PATH``) gives ``decisions``
    in the dataset's own label space (e.g. the 16 cue-conflict categories) and no logits.
    """

    source: DatasetSource
    condition: str
    logits: np.ndarray | None  # (n, 1000) float32
    content_sha1: np.ndarray  # (n,) hex digests of the image files ("" for recorded answers)
    decisions: np.ndarray | None = None  # (n,) recorded answers, strings
    top1: np.ndarray | None = None  # (n,) recorded top-1 ImageNet classes (imported predictions)
    top1_probability: np.ndarray | None = None  # (n,) their recorded softmax probability
    features: np.ndarray | None = None  # (n, d) output "features"
    layers: dict[str, np.ndarray] | None = None  # output "layers": name -> (n, d_layer), in depth order
    model_name: str = ""  # the model that answered (the reference model's name for "reference")

    @property
    def predicted_class(self) -> np.ndarray:
        """Top-1 ImageNet class: argmax of the logits, or the recorded prediction."""
        if self.logits is not None:
            return self.logits.argmax(axis=1)
        if self.top1 is None:
            raise ValueError("these predictions hold neither logits nor top-1 classes")
        return self.top1

    @property
    def predicted_probability(self) -> np.ndarray:
        """Softmax probability of the top-1 class (over all 1000 logits)."""
        if self.logits is not None:
            return np.exp(log_softmax(self.logits).max(axis=1))
        if self.top1_probability is None:
            raise ValueError("these predictions hold no probabilities")
        return self.top1_probability

    @cached_property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.source.samples], dtype=np.int64)

    @cached_property
    def sample_ids(self) -> np.ndarray:
        return np.array([s.sample_id for s in self.source.samples])


@dataclass
class SuiteFigure:
    dataset: str
    name: str
    figure: Any  # matplotlib.figure.Figure
    caption: str


@dataclass
class SuiteOutput:
    records: list[MetricRecord] = field(default_factory=list)
    figures: list[SuiteFigure] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # per (dataset, condition): named per-sample arrays, saved beside results.json
    per_sample: dict[tuple[str, str], dict[str, np.ndarray]] = field(default_factory=dict)
    # extra files for the run folder, e.g. decisions.csv in another benchmark's schema
    files: dict[str, str] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)  # warnings the report must show


class Suite(abc.ABC):
    name: str
    version: str  # bump when the protocol changes a number
    description: str
    datasets: tuple[str, ...]

    def requests(self) -> list[PredictionRequest]:
        return [PredictionRequest(dataset) for dataset in self.datasets]

    def fallback_requests(self, missing_dataset: str) -> list[PredictionRequest]:
        """What to request instead when ``missing_dataset`` is absent (e.g. ImageNet-C made on
        the fly from val); empty: the dataset is reported as skipped."""
        return []

    @abc.abstractmethod
    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        """Metrics for the requests whose data is present (the runner reports the rest)."""
