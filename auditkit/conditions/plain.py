"""The model's own preprocessing (``none``) and stimuli fed at their size (``native``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch

from auditkit.conditions.base import Condition

if TYPE_CHECKING:
    from auditkit.adapters.preprocess import PreprocessConfig


@dataclass(frozen=True)
class Plain(Condition):
    kind = "none"
    template = "none"
    description = "the model's preprocessing (resize, center crop, normalise)"

    def transform(self, preprocess: "PreprocessConfig") -> Callable[[Any], torch.Tensor]:
        return preprocess.transform()


@dataclass(frozen=True)
class Native(Condition):
    kind = "native"
    template = "native"
    description = "no resize or crop (stimuli at the input size), the model's mean/std"

    def transform(self, preprocess: "PreprocessConfig") -> Callable[[Any], torch.Tensor]:
        return preprocess.native_transform()
