"""Scale, shift and resolution views of an image (docs/protocols.md "Invariance").

Every view ends in the model's own mean/std. The paper's public code built these transforms but
never applied them; the tests check that each one changes the input as the protocol says.
- ``scale/<s>``: Resize(round(s * resize)) then CenterCrop(input), where resize = input / crop_pct
  (256 for supervised models, 224 for CLIP): s = 1 is the model's plain preprocessing.
- ``shift/<px>``: the standard center-crop window in ORIGINAL pixels (side = short side * crop_pct),
  moved by px original pixels along x for landscape images and along y otherwise, not clamped
  (outside is black), then Resize((input, input)).
- ``resolution/<r>``: Resize(floor(r / crop_pct)) + CenterCrop(r), and the model run at r.
Interpolation: scale and shift views resize BILINEAR for every model, CLIP included, as the
paper's code does (its CropScale / CropShift use torchvision's default Resize, bilinear; CLIP's
own preprocess is bicubic). So for a model whose preprocessing is bilinear (the supervised presets'
paper preprocessing) scale 1 equals the plain evaluation; for a bicubic one (CLIP, ``--preprocess
timm``) scale 1 differs from it by the interpolation alone, and consistency is measured against
scale 1 / shift 0, never against the plain evaluation. Resolution views use the model's own
preprocessing at size r (the protocol: supervised Resize(r * 256/224) + CenterCrop(r), bilinear;
CLIP the open_clip preprocess at size r, bicubic), so resolution 224 equals the plain evaluation.
"""

from __future__ import annotations

import math
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

# The invariance suite's sweeps (docs/protocols.md "Invariance") and each axis' reference point.
SCALES = (1.0, 1.25, 1.5, 2.0, 3.0)
SHIFTS = (0, 5, 30, 75, 100)
RESOLUTIONS = (112, 224, 336, 512, 640)
REFERENCE = {"scale": "1", "shift": "0", "resolution": "224"}
# docs/protocols.md "Invariance": the paper's scale and shift transforms resize bilinear for all models
GEOMETRY_INTERPOLATION = T.InterpolationMode.BILINEAR
# in the store key of scale / shift predictions: bump on any change of ScaleView / ShiftView
GEOMETRY_VIEWS = "views-2-bilinear"


def _normalise(preprocess: "PreprocessConfig") -> T.Compose:
    return T.Compose([T.ToTensor(), T.Normalize(preprocess.mean, preprocess.std)])


class ScaleView:
    def __init__(self, preprocess: "PreprocessConfig", scale: float) -> None:
        self.geometry = T.Compose([
            T.Resize(round(scale * preprocess.resize_size), interpolation=GEOMETRY_INTERPOLATION),
            T.CenterCrop(preprocess.input_size),
        ])
        self.normalise = _normalise(preprocess)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.normalise(self.geometry(to_rgb(image)))


class ShiftView:
    def __init__(self, preprocess: "PreprocessConfig", offset: int) -> None:
        self.offset = offset
        self.crop_fraction = preprocess.input_size / preprocess.resize_size
        self.size = preprocess.input_size
        self.interpolation = GEOMETRY_INTERPOLATION
        self.normalise = _normalise(preprocess)

    def window(self, width: int, height: int) -> tuple[float, float, float, float]:
        side = min(width, height) * self.crop_fraction
        left, top = (width - side) / 2, (height - side) / 2
        if width > height:
            left += self.offset
        else:
            top += self.offset
        return left, top, left + side, top + side

    def __call__(self, image: Image.Image) -> torch.Tensor:
        image = to_rgb(image)
        box = tuple(round(v) for v in self.window(*image.size))
        moved = image.crop(box)  # PIL fills outside the image with black
        return self.normalise(T.functional.resize(moved, [self.size, self.size], interpolation=self.interpolation))


class ResolutionView:
    def __init__(self, preprocess: "PreprocessConfig", resolution: int) -> None:
        interpolation = INTERPOLATIONS[preprocess.interpolation]
        self.geometry = T.Compose([
            T.Resize(math.floor(resolution / preprocess.crop_pct), interpolation=interpolation),
            T.CenterCrop(resolution),
        ])
        self.normalise = _normalise(preprocess)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.normalise(self.geometry(to_rgb(image)))


@dataclass(frozen=True)
class Scale(Condition):
    kind = "scale"
    template = "scale/{scale}"
    description = ("Resize(round(s * resize)) + CenterCrop(input), bilinear for every model (the paper's "
                   "code), the model's mean/std")
    scale: float = field(metadata={"shown": "s"})

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise AuditError(f"scale condition: the scale must be positive, got {self.scale}")

    def implementation(self) -> dict[str, object]:
        return {"views": GEOMETRY_VIEWS}

    def transform(self, preprocess: "PreprocessConfig") -> ScaleView:
        return ScaleView(preprocess, self.scale)


@dataclass(frozen=True)
class Shift(Condition):
    kind = "shift"
    template = "shift/{offset}"
    description = ("the center-crop window moved px original pixels (x if landscape, else y), black "
                   "outside, Resize((input, input)) bilinear")
    offset: int = field(metadata={"shown": "px"})

    def implementation(self) -> dict[str, object]:
        return {"views": GEOMETRY_VIEWS}

    def transform(self, preprocess: "PreprocessConfig") -> ShiftView:
        return ShiftView(preprocess, self.offset)


@dataclass(frozen=True)
class Resolution(Condition):
    kind = "resolution"
    template = "resolution/{resolution}"
    description = ("Resize(floor(r / crop_pct)) + CenterCrop(r) with the model's interpolation, the model "
                   "run at r (ViT position embeddings resampled)")
    resolution: int = field(metadata={"shown": "r"})

    def __post_init__(self) -> None:
        if self.resolution < 1:
            raise AuditError(f"resolution condition: the resolution must be a positive number of pixels, "
                             f"got {self.resolution}")

    def transform(self, preprocess: "PreprocessConfig") -> ResolutionView:
        return ResolutionView(preprocess, self.resolution)

    def input_resolution(self, preprocess: "PreprocessConfig") -> int | None:
        return self.resolution
