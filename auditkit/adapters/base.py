"""The model adapter: a batch of preprocessed images -> logits over the 1000 ImageNet classes.

An adapter carries its own preprocessing (``preprocess``) and a ``fingerprint`` that changes
whenever anything that changes its answers changes (weights, preprocessing, classifier head), so
the prediction store never hands one model's predictions to another.

To audit your own model, either return an ``nn.Module`` from a factory (``python:pkg.mod:make``;
preprocessing from its timm-style ``pretrained_cfg``) or subclass ``ModelAdapter``.
"""

from __future__ import annotations

import abc
import contextlib
import copy
from functools import cached_property
from typing import Any, Iterator

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

    @contextlib.contextmanager
    def input_resolution(self, size: int) -> Iterator[None]:
        """Run the model on size x size inputs inside the block; raise
        ``UnsupportedResolution`` (with the reason) if it cannot. The base: native size only."""
        if size != self.preprocess.input_size:
            raise UnsupportedResolution(f"{self.name} gives no way to run at {size} px")
        yield

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

    @contextlib.contextmanager
    def input_resolution(self, size: int) -> Iterator[None]:
        """ConvNets run natively; timm ViTs get a copy with position embeddings resampled
        (``set_input_size``: bicubic, antialiased), so the original weights stay untouched."""
        original = self.module
        if size != self.preprocess.input_size:
            self.module = resized_module(original, size, self.name)
        try:
            yield
        finally:
            self.module = original

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        output = self.module(images.to(self.device, memory_format=torch.channels_last))
        if output.ndim != 2 or output.shape[1] != NUM_IMAGENET_CLASSES:
            raise _head_error(self.name, tuple(output.shape))
        return output


class UnsupportedResolution(Exception):
    """A model that cannot be run at a requested input size; the message is the reason."""


def resized_module(module: nn.Module, size: int, name: str) -> nn.Module:
    """``module`` for size x size inputs: itself if it takes any size, a resampled copy of a timm
    ViT, or ``UnsupportedResolution``."""
    if hasattr(module, "set_input_size"):
        resized = copy.deepcopy(module)
        resized.set_input_size(img_size=(size, size))
        return resized
    if getattr(module, "pretrained_cfg", {}).get("fixed_input_size"):
        raise UnsupportedResolution(f"{name} has a fixed input size and no set_input_size to resample it")
    return module


def _head_error(name: str, shape: tuple[int, ...]) -> Exception:
    from auditkit.errors import AuditError

    return AuditError(
        f"model {name} returned logits of shape {shape}; auditkit needs (batch, "
        f"{NUM_IMAGENET_CLASSES}) ImageNet logits: give the model a 1000-class ImageNet head"
    )
