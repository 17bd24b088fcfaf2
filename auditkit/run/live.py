"""A live model: a ``ModelAdapter`` answering a suite's requests through the prediction store.

``make_subject`` is the one place a loaded model becomes a ``Subject`` (``auditkit.subjects``):
recorded observers are subjects already; a ``ModelAdapter`` becomes a ``LiveModel`` with the
run's store, device, torchrun ranks and ``--reference-model``. Its forward passes are those of
``ForwardPasses`` (``run.executor``), one for the audited model and one for the reference model.
A model that cannot run at a resolution or give an output (``UnsupportedResolution``,
``UnsupportedOutput``) is unavailable for that request, with the adapter's reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from auditkit.adapters.base import ModelAdapter, UnsupportedOutput, UnsupportedResolution
from auditkit.adapters.specs import ModelOptions, load_model
from auditkit.data.source import DatasetSource
from auditkit.distributed import rank_device, ranks_from_environment
from auditkit.errors import AuditError
from auditkit.run.config import RunConfig, check_device
from auditkit.run.executor import ForwardLog, ForwardPasses
from auditkit.store import PredictionStore
from auditkit.subjects import Answer, Subject, Unavailable
from auditkit.suite import PredictionRequest


def make_subject(model: ModelAdapter | Subject, config: RunConfig, store: PredictionStore, log: ForwardLog) -> Subject:
    """The one place a loaded model becomes a subject: recorded observers are subjects already;
    a ``ModelAdapter`` is wrapped with the store, the device, the ranks and the reference model."""
    if isinstance(model, Subject):
        return model
    return LiveModel(model, config, store, log)


class LiveModel(Subject):
    """A ``ModelAdapter`` answering through the prediction store: each (dataset, condition,
    output) is read from the store, its missing shards forwarded first (``ForwardPasses``)."""

    def __init__(self, adapter: ModelAdapter, config: RunConfig, store: PredictionStore, log: ForwardLog) -> None:
        self.adapter = adapter
        self.name = adapter.name
        self.ranks = ranks_from_environment(config.device)
        device = check_device(rank_device(config.device, self.ranks))
        adapter.to(device)
        self.passes = ForwardPasses(adapter, store, config, log, self.ranks)
        self.second: ForwardPasses | None = None  # the --reference-model's passes, neither counted nor timed
        second = load_reference(config)
        if second is not None:
            second.to(device)
            self.second = ForwardPasses(second, store, config, log, self.ranks, measured=False)

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

    def _answering(self, request: PredictionRequest) -> ForwardPasses:
        return self.passes if request.model == "subject" else self.second  # type: ignore[return-value]

    def answer(self, request: PredictionRequest, source: DatasetSource) -> Answer:
        refused = self.refuses(request)
        if refused is not None:
            return Unavailable(refused)
        from auditkit.train.finetune import UntrainableTask

        try:
            return self._answering(request).predict(source, request.condition, request.output)
        except (UnsupportedResolution, UnsupportedOutput, UntrainableTask) as reason:
            return Unavailable(str(reason))

    def stored(self, request: PredictionRequest, source: DatasetSource) -> bool | None:
        if self.refuses(request) is not None:
            return None
        from auditkit.train.finetune import UntrainableTask

        try:
            entry = self._answering(request).stored_entry(source, request.condition, request.output)
        except UntrainableTask:
            return False
        return entry is not None and not entry.missing()

    def training_plan(self, request: PredictionRequest, source: DatasetSource) -> dict[str, Any] | None:
        from auditkit.train.finetune import UntrainableTask

        if not getattr(request.condition, "trains", False) or self.refuses(request) is not None:
            return None
        try:
            return self._answering(request).training_plan(source, request.condition)
        except UntrainableTask as reason:
            return {"refused": str(reason)}

    def reference(self) -> dict[str, Any] | None:
        return None if self.second is None else self.second.adapter.describe()

    def facts(self) -> dict[str, Any] | None:
        """Parameters, GMACs at the evaluated size and images/s (``ForwardPasses.facts``)."""
        return self.passes.facts()


def load_reference(config: RunConfig) -> ModelAdapter | None:
    """The ``--reference-model`` of the run, loaded; None without one."""
    if config.reference_model is None:
        return None
    reference = load_model(config.reference_model, ModelOptions(head_cache=config.cache_dir / "heads"))
    if not isinstance(reference, ModelAdapter):
        raise AuditError(f"--reference-model {config.reference_model} holds recorded answers; give a live model")
    return reference
