"""Subjects: whatever answers a suite's requests ("a model is a subject", model-vs-human).

A ``Subject`` answers one ``PredictionRequest`` on one dataset with ``Predictions`` or with
``Unavailable(reason)``. Two kinds:

- a live model (``auditkit.run.live.LiveModel``): a ``ModelAdapter`` forwarding images through the
  prediction store (and the run's ``--reference-model`` for requests with ``model="reference"``);
- recorded observers (``auditkit.adapters.observers``: ``decisions:``, ``predictions:``): answers
  recorded elsewhere; unavailable for any output they do not hold and any condition they were not
  recorded under.

The runner builds the subject in one place (``run.live.make_subject``) and never asks which kind it has:
a request the subject refuses before anything runs (``refuses``) is planned as skipped, one it
cannot answer while running becomes a skip with its reason, and which answers a suite can score
is the suite's ``accepts`` against ``Predictions.answered``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from auditkit.data.source import DatasetSource
from auditkit.distributed import Ranks
from auditkit.suite import PredictionRequest, Predictions


@dataclass(frozen=True)
class Unavailable:
    """A request the subject cannot answer, and why (the run records it as skipped)."""

    reason: str


Answer = Predictions | Unavailable


class Subject(abc.ABC):
    """What the runner audits: a name, an identity, datasets it can be shown, and answers."""

    name: str
    # the torchrun ranks sharing the work: a live model under torchrun; one process otherwise
    ranks: Ranks = Ranks()

    @property
    @abc.abstractmethod
    def fingerprint(self) -> str:
        """Changes whenever anything that changes the answers changes."""

    @abc.abstractmethod
    def describe(self) -> dict[str, Any]:
        """The subject as the run header records it (name, kind, fingerprint, ...)."""

    @abc.abstractmethod
    def open_dataset(self, name: str, data_root: Path, overrides: Mapping[str, str]) -> DatasetSource:
        """The samples of dataset ``name`` this subject answers on; ``AuditError`` (the reason)
        when it is not there."""

    def refuses(self, request: PredictionRequest) -> str | None:
        """Why ``request`` cannot be answered at all, known before anything runs; None: it may be."""
        return None

    def gives(self, request: PredictionRequest) -> tuple[str, ...]:
        """The kinds of answer (``Predictions.answered``) this subject gives to ``request``,
        known before anything runs: the plan skips a suite that scores none of them. A live
        model gives the output asked for."""
        return (request.output,)

    @abc.abstractmethod
    def answer(self, request: PredictionRequest, source: DatasetSource) -> Answer:
        """The answers to ``request`` on ``source``'s samples (rows in its order), or why not."""

    def stored(self, request: PredictionRequest, source: DatasetSource) -> bool | None:
        """Whether the prediction store already holds every answer (True), would forward
        (False), or the subject forwards nothing (None: recorded answers). Reads only."""
        return None

    def training_plan(self, request: PredictionRequest, source: DatasetSource) -> dict[str, Any] | None:
        """What answering a trained request (``finetune``) would cost: its images, the most
        steps, an estimate of the time, whether it is trained or would resume; None for a
        request that trains nothing. Reads only (``audit run --dry-run``)."""
        return None

    def reference(self) -> dict[str, Any] | None:
        """The second model that answers ``model="reference"`` requests, described; None: none."""
        return None

    def facts(self) -> dict[str, Any] | None:
        """The paper's Table 1 facts (parameters, GMACs, images/s); None for recorded answers.
        Asked once the run's answers are in; it forwards nothing when they are known."""
        return None
