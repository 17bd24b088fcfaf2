"""A fine-tuned copy of a model as a model in its own right (``--model finetuned:PATH``).

The ``finetune`` suite scores its test logits through ``AdaptedModel``; the same trained network,
kept as ``model.pt`` in the store entry of its training (``auditkit.train.finetune``), loads as
``--model finetuned:PATH`` so that every suite whose label space fits the new head (the linear
probe and CKA on its features, any suite on a task with its classes) audits it, and
``audit compare`` pairs parent and child.

Fingerprint: chained to the parent's, the recipe, the training task's manifest and the repeat
(the condition's store key), so a child never shares an answer with its parent or a sibling.
"""

from __future__ import annotations

import contextlib
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import torch

import auditkit.adapters.base as base
import auditkit.adapters.weights as weights
from auditkit.adapters.preprocess import PreprocessConfig
from auditkit.errors import AuditError
from auditkit.train.finetune import MODEL_FORMAT, FineTuned, build_network, load_checkpoint


def child_fingerprint(parent_fingerprint: str, manifest_hash: str, training_key: dict[str, Any]) -> str:
    """The identity of a fine-tuned child: its parent, the task it trained on, the condition."""
    return weights.fingerprint({"adapted_from": parent_fingerprint, "task_manifest": manifest_hash,
                                "training": training_key})


class AdaptedModel(base.ModelAdapter):
    """A ``FineTuned`` network: logits over the task's classes, features from its backbone.
    ``network`` None: its answers are all in the store (a rerun loads no weights)."""

    def __init__(self, network: FineTuned | None, name: str, preprocess: PreprocessConfig, fingerprint: str,
                 described: dict[str, Any]) -> None:
        self._network = network.eval() if network is not None else None
        self.name = name
        self.preprocess = preprocess
        self._fingerprint = fingerprint
        self.described = described
        if network is not None:
            self.device = next(network.parameters()).device

    @property
    def network(self) -> FineTuned:
        if self._network is None:
            raise RuntimeError(f"{self.name}: its answers were all in the store; no weights were loaded")
        return self._network

    def to(self, device: str | torch.device) -> "AdaptedModel":
        super().to(device)
        if self._network is not None:
            self._network.to(self.device)
        return self

    def identity(self) -> dict[str, Any]:
        return self.described

    @cached_property
    def fingerprint(self) -> str:
        return self._fingerprint

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images.to(self.device))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.network.backbone(images.to(self.device)).reshape(len(images), -1)

    def backbone(self) -> torch.nn.Module:
        import copy

        return copy.deepcopy(self.network.backbone)

    @contextlib.contextmanager
    def input_resolution(self, size: int) -> Iterator[None]:
        if size != self.preprocess.input_size:
            raise base.UnsupportedResolution(f"{self.name} was fine-tuned at {self.preprocess.input_size} px")
        yield


def read_model_file(path: Path) -> dict[str, Any]:
    """A fine-tuned model's ``model.pt`` (its folder may be given), checked; one-line errors."""
    path = path.expanduser()
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise AuditError(f"finetuned:{path}: no such file; give the model.pt of a finished fine-tuning "
                         "(its path is in the finetune suite's records folder, see docs/suites/finetune.md)")
    kept = load_checkpoint(path)
    if not isinstance(kept, dict) or kept.get("format") != MODEL_FORMAT or "state_dict" not in kept:
        raise AuditError(f"finetuned:{path} is not a model.pt written by auditkit's finetune suite")
    return kept


def from_model_file(kept: dict[str, Any], parent: base.ModelAdapter, path: Path) -> AdaptedModel:
    """The fine-tuned child of ``parent`` that ``kept`` (``read_model_file``) describes."""
    from auditkit.train.recipes import Recipe

    if parent.fingerprint != kept["parent_fingerprint"]:
        raise AuditError(f"finetuned:{path} was fine-tuned from {kept['parent']['name']} with other weights than "
                         "the ones loaded now (fingerprints differ); load it where its parent's weights are")
    recipe_fields = {k: tuple(v) if isinstance(v, list) else v for k, v in kept["recipe"].items()}
    recipe = Recipe(**recipe_fields)
    network = build_network(parent, int(kept["classes"]), recipe, int(kept["input_size"]))
    network.load_state_dict(kept["state_dict"])
    preprocess = parent.preprocess.with_overrides(input_size=int(kept["input_size"]))
    fingerprint = child_fingerprint(parent.fingerprint, kept["manifest_sha256"], kept["training_key"])
    described = {"adapted_from": parent.fingerprint, "condition": kept["condition"], "dataset": kept["dataset"],
                 "classes": int(kept["classes"]), "head": f"fine-tuned ({kept['classes']} classes)"}
    return AdaptedModel(network, f"{parent.name}+{kept['condition']}", preprocess, fingerprint, described)
