"""Subjects: whatever answers a suite's requests ("a model is a subject", model-vs-human).

A ``Subject`` answers one ``PredictionRequest`` on one dataset with ``Predictions`` or with
``Unavailable(reason)``. Two kinds:

- ``LiveModel``: a ``ModelAdapter`` forwarding images through the prediction store (and the run's
  ``--reference-model`` for requests with ``model="reference"``); a model that cannot run at a
  resolution or give an output (``UnsupportedResolution``, ``UnsupportedOutput``) is unavailable
  for that request, with the adapter's reason.
- recorded observers (``auditkit.adapters.observers``: ``decisions:``, ``predictions:``): answers
  recorded elsewhere; unavailable for any output they do not hold and any condition they were not
  recorded under.

The runner builds the subject in one place (``make_subject``) and never asks which kind it has:
a request the subject refuses before anything runs (``refuses``) is planned as skipped, one it
cannot answer while running becomes a skip with its reason, and which answers a suite can score
is the suite's ``accepts`` against ``Predictions.answered``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from auditkit.data.source import DatasetSource
from auditkit.distributed import Ranks
from auditkit.suite import PredictionRequest, Predictions

if TYPE_CHECKING:  # adapters import this module (observers are subjects): no import cycle at run time
    from auditkit.adapters.base import ModelAdapter
    from auditkit.run.config import RunConfig
    from auditkit.run.executor import ForwardLog
    from auditkit.store import PredictionStore


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

    def reference(self) -> dict[str, Any] | None:
        """The second model that answers ``model="reference"`` requests, described; None: none."""
        return None

    def facts(self, config: RunConfig, log: ForwardLog) -> dict[str, Any] | None:
        """The paper's Table 1 facts (parameters, GMACs, images/s); None for recorded answers."""
        return None


def make_subject(model: ModelAdapter | Subject, config: RunConfig, store: PredictionStore, log: ForwardLog) -> Subject:
    """The one place a loaded model becomes a subject: recorded observers are subjects already;
    a ``ModelAdapter`` is wrapped with the store, the device, the ranks and the reference model."""
    if isinstance(model, Subject):
        return model
    return LiveModel(model, config, store, log)


class LiveModel(Subject):
    """A ``ModelAdapter`` answering through the prediction store: each (dataset, condition,
    output) is read from the store, its missing shards forwarded first (``run.executor.predict``)."""

    def __init__(self, adapter: ModelAdapter, config: RunConfig, store: PredictionStore, log: ForwardLog) -> None:
        from auditkit.distributed import rank_device, ranks_from_environment
        from auditkit.run.config import check_device

        self.adapter = adapter
        self.name = adapter.name
        self.config = config
        self.store = store
        self.log = log
        self.ranks = ranks_from_environment(config.device)
        device = check_device(rank_device(config.device, self.ranks))
        adapter.to(device)
        self.second = _load_reference(config)
        if self.second is not None:
            self.second.to(device)

    @property
    def fingerprint(self) -> str:
        return self.adapter.fingerprint

    def describe(self) -> dict[str, Any]:
        return self.adapter.describe()

    def open_dataset(self, name: str, data_root: Path, overrides: Mapping[str, str]) -> DatasetSource:
        from auditkit.data.catalog import open_dataset

        return open_dataset(name, data_root, dict(overrides))

    def refuses(self, request: PredictionRequest) -> str | None:
        if request.model != "subject" and self.second is None:
            return "needs a second model: pass --reference-model SPEC"
        return None

    def _answering(self, request: PredictionRequest) -> ModelAdapter:
        return self.adapter if request.model == "subject" else self.second  # type: ignore[return-value]

    def answer(self, request: PredictionRequest, source: DatasetSource) -> Answer:
        from auditkit.adapters.base import UnsupportedOutput, UnsupportedResolution
        from auditkit.run.executor import predict

        refused = self.refuses(request)
        if refused is not None:
            return Unavailable(refused)
        answering = self._answering(request)
        try:
            return predict(answering, source, request.condition, self.store, self.config, self.log, self.ranks,
                           output=request.output, reference=answering is not self.adapter)
        except (UnsupportedResolution, UnsupportedOutput) as reason:
            return Unavailable(str(reason))

    def stored(self, request: PredictionRequest, source: DatasetSource) -> bool | None:
        from auditkit.run.executor import stored_entry

        if self.refuses(request) is not None:
            return None
        entry = stored_entry(self._answering(request), source, request.condition, self.store, self.config,
                             request.output)
        return entry is not None and not entry.missing()

    def reference(self) -> dict[str, Any] | None:
        return None if self.second is None else self.second.describe()

    def facts(self, config: RunConfig, log: ForwardLog) -> dict[str, Any] | None:
        """Parameters, GMACs at the evaluated size, and the images/s the plain forward passes took
        in this run on this device and precision (model time only, decoding excluded; None when
        every image came from the store)."""
        from auditkit.adapters.facts import model_facts

        try:
            facts: dict[str, Any] = model_facts(self.adapter).describe()
        except Exception as error:  # a user's adapter may not run on a zero batch; the run does not depend on it
            facts = {"unavailable": f"{type(error).__name__}: {error}"}
        measured = log.forward_images / log.forward_seconds if log.forward_seconds > 0 else None
        return {**facts, "images_per_second": None if measured is None else round(measured, 1),
                "measured_on": {"device": config.device, "precision": config.precision,
                                "batch_size": config.batch_size, "images": log.forward_images}}


def _load_reference(config: RunConfig) -> ModelAdapter | None:
    if config.reference_model is None:
        return None
    from auditkit.adapters.base import ModelAdapter
    from auditkit.adapters.specs import ModelOptions, load_model
    from auditkit.errors import AuditError

    reference = load_model(config.reference_model, ModelOptions(head_cache=config.cache_dir / "heads"))
    if not isinstance(reference, ModelAdapter):
        raise AuditError(f"--reference-model {config.reference_model} holds recorded answers; give a live model")
    return reference
