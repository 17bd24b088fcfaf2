"""The model adapter: a batch of preprocessed images -> logits over the 1000 ImageNet classes.

An adapter carries its own preprocessing (``preprocess``) and a ``fingerprint`` that changes
whenever anything that changes its answers changes (weights, preprocessing, classifier head), so
the prediction store never hands one model's predictions to another.

To audit your own model, either return an ``nn.Module`` from a factory (``python:pkg.mod:make``;
preprocessing from its timm-style ``pretrained_cfg``) or subclass ``ModelAdapter``.
"""

from __future__ import annotations

import abc
from functools import cached_property
from typing import Any

import torch
from torch import nn

from auditkit.adapters.preprocess import PreprocessConfig
from auditkit.adapters.weights import fingerprint, hash_state_dict

NUM_IMAGENET_CLASSES = 1000


class ModelAdapter(abc.ABC):
    """Subclass and implement ``logits`` and ``identity``; set ``name`` and ``preprocess``."""

    name: str
    preprocess: PreprocessConfig
    device: torch.device = torch.device("cpu")

    @abc.abstractmethod
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (batch, 1000) for a batch already transformed by ``preprocess``."""

    @abc.abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything besides preprocessing that changes the answers (weights hash, head, ...)."""

    def to(self, device: str | torch.device) -> "ModelAdapter":
        self.device = torch.device(device)
        return self

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint(
            {
                "adapter": f"{type(self).__module__}.{type(self).__qualname__}",
                "identity": self.identity(),
                "preprocess": self.preprocess.describe(),
            }
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "adapter": type(self).__qualname__,
            "fingerprint": self.fingerprint,
            "preprocess": self.preprocess.describe(),
            **self.identity(),
        }


class ClassifierAdapter(ModelAdapter):
    """An ``nn.Module`` whose forward already returns 1000 ImageNet logits."""

    def __init__(
        self,
        module: nn.Module,
        name: str,
        preprocess: PreprocessConfig,
        source: dict[str, Any] | None = None,
    ) -> None:
        self.module = module.eval()
        self.name = name
        self.preprocess = preprocess
        self.source = source or {}

    def to(self, device: str | torch.device) -> "ClassifierAdapter":
        super().to(device)
        # channels_last doubles CPU throughput of depthwise ConvNets (measured: EfficientNet-
        # Lite0 22 -> 44 img/s on 2 cores) and is neutral for ViTs.
        self.module.to(self.device, memory_format=torch.channels_last)
        return self

    @cached_property
    def _weights_sha256(self) -> str:
        return hash_state_dict(self.module)

    def identity(self) -> dict[str, Any]:
        return {"weights_sha256": self._weights_sha256, "head": "classifier", **self.source}

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        output = self.module(images.to(self.device, memory_format=torch.channels_last))
        if output.ndim != 2 or output.shape[1] != NUM_IMAGENET_CLASSES:
            raise _head_error(self.name, tuple(output.shape))
        return output


def _head_error(name: str, shape: tuple[int, ...]) -> Exception:
    from auditkit.errors import AuditError

    return AuditError(
        f"model {name} returned logits of shape {shape}; auditkit needs (batch, "
        f"{NUM_IMAGENET_CLASSES}) ImageNet logits: give the model a 1000-class ImageNet head"
    )
