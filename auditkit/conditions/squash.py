"""The whole image squashed to r x r (``squash/<r>``): the input of dense heads.

Dense probes score every pixel of the label map, so the image must not be cropped: it is resized
to (r, r) whole (timm's ``crop_mode='squash'``; the aspect ratio is not kept) with the model's
interpolation and normalised with its mean/std, and the model is run at r (ViT position
embeddings resampled). The heads upsample their logits back to the label map's own size, so the
label map is never resized. DINOv2's segmentation probes run at 512 (Oquab et al. 2023, 7.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from PIL import Image
from torchvision import transforms as T

from auditkit.conditions.base import Condition
from auditkit.errors import AuditError
from auditkit.images import INTERPOLATIONS, to_rgb

if TYPE_CHECKING:
    from auditkit.adapters.preprocess import PreprocessConfig


class SquashView:
    # A class, not a closure, so DataLoader workers can pickle it under any start method.
    def __init__(self, preprocess: "PreprocessConfig", resolution: int) -> None:
        self.size = resolution
        self.interpolation = INTERPOLATIONS[preprocess.interpolation]
        self.normalise = T.Compose([T.ToTensor(), T.Normalize(preprocess.mean, preprocess.std)])

    def __call__(self, image: Image.Image) -> torch.Tensor:
        squashed = T.functional.resize(to_rgb(image), [self.size, self.size], interpolation=self.interpolation)
        return self.normalise(squashed)


@dataclass(frozen=True)
class Squash(Condition):
    kind = "squash"
    template = "squash/{resolution}"
    description = ("the whole image resized to (r, r), no crop, the model's interpolation and mean/std, the "
                   "model run at r (dense probes)")
    resolution: int = field(metadata={"shown": "r"})

    def __post_init__(self) -> None:
        if self.resolution < 1:
            raise AuditError(f"squash condition: the resolution must be a positive number of pixels, "
                             f"got {self.resolution}")

    def transform(self, preprocess: "PreprocessConfig") -> SquashView:
        return SquashView(preprocess, self.resolution)

    def input_resolution(self, preprocess: "PreprocessConfig") -> int | None:
        return self.resolution
