"""Scale, shift and resolution views of an image (PROTOCOLS.md "Invariance").

Every view ends in the model's own mean/std. The paper's public code built these transforms but
never applied them; the tests here check that each one changes the input as the protocol says.
- scale s: Resize(round(s * resize)) then CenterCrop(input), where resize = input / crop_pct
  (256 for supervised models, 224 for CLIP): s = 1 is the model's plain preprocessing.
- shift d px: the standard center-crop window in ORIGINAL pixels (side = short side * crop_pct),
  moved by d original pixels along x for landscape images and along y otherwise, not clamped
  (outside is black), then Resize((input, input)).
- resolution r: Resize(floor(r / crop_pct)) + CenterCrop(r), and the model run at r.
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

import torch
from PIL import Image
from torchvision import transforms as T

from auditkit.adapters.preprocess import _INTERPOLATIONS, PreprocessConfig, _to_rgb

SCALES = (1.0, 1.25, 1.5, 2.0, 3.0)
# PROTOCOLS.md "Invariance": the paper's scale and shift transforms resize bilinear for all models
GEOMETRY_INTERPOLATION = T.InterpolationMode.BILINEAR
GEOMETRY_VIEWS = "views-2-bilinear"  # in the store key of scale / shift predictions: bump on any change
SHIFTS = (0, 5, 30, 75, 100)
RESOLUTIONS = (112, 224, 336, 512, 640)
REFERENCE = {"scale": "1", "shift": "0", "resolution": "224"}


def _normalise(preprocess: PreprocessConfig) -> T.Compose:
    return T.Compose([T.ToTensor(), T.Normalize(preprocess.mean, preprocess.std)])


class ScaleView:
    def __init__(self, preprocess: PreprocessConfig, scale: float) -> None:
        self.geometry = T.Compose([
            T.Resize(round(scale * preprocess.resize_size), interpolation=GEOMETRY_INTERPOLATION),
            T.CenterCrop(preprocess.input_size),
        ])
        self.normalise = _normalise(preprocess)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.normalise(self.geometry(_to_rgb(image)))


class ShiftView:
    def __init__(self, preprocess: PreprocessConfig, offset: int) -> None:
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
        image = _to_rgb(image)
        box = tuple(round(v) for v in self.window(*image.size))
        moved = image.crop(box)  # PIL fills outside the image with black
        return self.normalise(T.functional.resize(moved, [self.size, self.size], interpolation=self.interpolation))


class ResolutionView:
    def __init__(self, preprocess: PreprocessConfig, resolution: int) -> None:
        interpolation = _INTERPOLATIONS[preprocess.interpolation]
        self.geometry = T.Compose([
            T.Resize(math.floor(resolution / preprocess.crop_pct), interpolation=interpolation),
            T.CenterCrop(resolution),
        ])
        self.normalise = _normalise(preprocess)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.normalise(self.geometry(_to_rgb(image)))


def view_for(preprocess: PreprocessConfig, condition: str):  # -> callable PIL -> tensor
    axis, value = condition.split("/")
    if axis == "scale":
        return ScaleView(preprocess, float(value))
    if axis == "shift":
        return ShiftView(preprocess, int(value))
    if axis == "resolution":
        return ResolutionView(preprocess, int(value))
    raise ValueError(f"no view {condition!r}")
