"""Preprocessing as data: one config per set of weights, turned into a transform in one place.

The config follows timm's ``pretrained_cfg`` fields (input_size, interpolation, crop_pct, mean,
std) so that a timm model's own config, the paper's protocol and open_clip's preprocess are all
expressed the same way and written beside every number they produced (timm ``validate.py``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

import torch
from PIL import Image
from torchvision import transforms as T

from auditkit.errors import AuditError
from auditkit.images import INTERPOLATIONS, to_rgb

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)



@dataclass(frozen=True)
class PreprocessConfig:
    """Resize the short side to ``floor(input_size / crop_pct)``, center-crop ``input_size``,
    convert to RGB, scale to [0, 1], normalise with ``mean``/``std``.

    ``name`` says where the config came from (``paper``, ``timm``, ``open_clip``, ``model``,
    ``custom``) so a report can say which protocol produced a number.
    """

    name: str
    input_size: int = 224
    interpolation: str = "bilinear"
    crop_pct: float = 0.875
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise AuditError(
                f"unknown interpolation {self.interpolation!r}; use one of {sorted(INTERPOLATIONS)}"
            )
        if self.input_size < 1:  # else the transform fails on every image, blaming the image
            raise AuditError(f"input_size must be a positive number of pixels (e.g. 224), got {self.input_size}")
        if not 0 < self.crop_pct <= 1:
            raise AuditError(f"crop_pct must be in (0, 1], got {self.crop_pct}")

    @property
    def resize_size(self) -> int:
        # timm's transforms_factory uses floor(img_size / crop_pct): 224 / 0.875 = 256.
        return math.floor(self.input_size / self.crop_pct)

    def with_overrides(self, **overrides: Any) -> "PreprocessConfig":
        given = {key: value for key, value in overrides.items() if value is not None}
        return replace(self, **given) if given else self

    def transform(self) -> Callable[[Image.Image], torch.Tensor]:
        return T.Compose(
            [
                T.Lambda(to_rgb),
                T.Resize(self.resize_size, interpolation=INTERPOLATIONS[self.interpolation]),
                T.CenterCrop(self.input_size),
                T.ToTensor(),
                T.Normalize(self.mean, self.std),
            ]
        )

    def native_transform(self) -> Callable[[Image.Image], torch.Tensor]:
        """For stimuli already made at the model's input size (cue-conflict is 224x224): no
        resize and no crop, only RGB, [0, 1] and the model's mean/std, as the paper's code
        feeds them. An image of another size is resized to (input_size, input_size)."""
        return _NativeTransform(self.input_size, self.interpolation, self.mean, self.std)

    def describe(self) -> dict[str, Any]:
        described = asdict(self)
        described["resize_size"] = self.resize_size
        described["mean"] = list(self.mean)
        described["std"] = list(self.std)
        return described


class _NativeTransform:
    # A class, not a closure, so DataLoader workers can pickle it under any start method.
    def __init__(self, size: int, interpolation: str, mean: tuple[float, ...], std: tuple[float, ...]):
        self.size = size
        self.interpolation = INTERPOLATIONS[interpolation]
        self.normalize = T.Compose([T.ToTensor(), T.Normalize(mean, std)])

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = to_rgb(image)
        if image.size != (self.size, self.size):
            image = T.functional.resize(image, [self.size, self.size], interpolation=self.interpolation)
        return self.normalize(image)


def paper_supervised() -> PreprocessConfig:
    """The paper's code for supervised models: Resize(256, bilinear) + CenterCrop(224)."""
    return PreprocessConfig(name="paper", input_size=224, interpolation="bilinear", crop_pct=0.875)


def from_pretrained_cfg(cfg: dict[str, Any], name: str = "model") -> PreprocessConfig:
    """A config from a timm-style ``pretrained_cfg`` dict (missing keys take timm's defaults)."""
    crop_mode = cfg.get("crop_mode", "center")
    if crop_mode != "center":
        # timm's 'squash' and 'border' are other protocols (no crop, or padding); a center crop
        # in their place would silently evaluate something else (timm PR #1383).
        raise AuditError(
            f"{name} preprocessing uses crop_mode {crop_mode!r}, but auditkit implements only "
            "timm's 'center' crop: pass --preprocess paper, or give a pretrained_cfg with "
            "crop_mode='center'"
        )
    input_size = cfg.get("input_size", (3, 224, 224))
    size = input_size[-1] if isinstance(input_size, (tuple, list)) else int(input_size)
    return PreprocessConfig(
        name=name,
        input_size=int(size),
        interpolation=str(cfg.get("interpolation", "bicubic")),
        crop_pct=float(cfg.get("crop_pct", 0.875)),
        mean=tuple(float(v) for v in cfg.get("mean", IMAGENET_MEAN)),  # type: ignore[arg-type]
        std=tuple(float(v) for v in cfg.get("std", IMAGENET_STD)),  # type: ignore[arg-type]
    )
