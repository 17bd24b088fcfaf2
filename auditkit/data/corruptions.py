"""ImageNet-C made on the fly from ImageNet val (Hendrycks & Dietterich, ICLR 2019).

Follows the original generation: Resize(256) + CenterCrop(224) of the clean val image, corrupt
at severity 1..5, save as JPEG quality 85, then evaluate with no further resize. The corruptions
are auditkit's own (``auditkit.data.imagenet_c``), faithful to Hendrycks' ``make_imagenet_c.py``
and measured against it (docs/decisions.md, "ImageNet-C: fidelity to the reference").

Seeding: each image is corrupted with its own generator, seeded from its clean crop's pixels,
the corruption, the severity and the run seed, so the same image always gives the same bytes,
whatever batch it is in and whatever else runs in the process.

The condition ``corrupt/<name>/<severity>`` is ``auditkit.conditions.corruption.Corruption``, the
only place its string form is defined. In a run, the dataset yields clean crops (``CleanCrop``) and one batch is corrupted in one call
(``CorruptedBatch``) on the model's device, before the model's mean/std; ``corrupt_image`` is the
same for one PIL image.
"""

from __future__ import annotations

import hashlib
import io
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

from auditkit.data.imagenet_c import SIZE, corrupt_batch, implementation
from auditkit.errors import AuditError
from auditkit.images import to_rgb

# The 15 corruptions of the benchmark (mCE) and the 4 hold-out ones (not generated in runs).
CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
    "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
    "jpeg_compression",
)
HOLD_OUT = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
SEVERITIES = (1, 2, 3, 4, 5)
JPEG_QUALITY = 85

_clean_crop = T.Compose([T.Resize(256), T.CenterCrop(SIZE)])

__all__ = ["CORRUPTIONS", "HOLD_OUT", "SEVERITIES", "JPEG_QUALITY", "implementation", "image_seed",
           "corrupt_crops", "corrupt_image", "CleanCrop", "CorruptedBatch"]


def _check(corruption: str, severity: int) -> None:
    if corruption not in CORRUPTIONS + HOLD_OUT or severity not in SEVERITIES:
        raise AuditError(f"unknown corruption {corruption!r} / severity {severity}; "
                         f"choose one of {', '.join(CORRUPTIONS + HOLD_OUT)} and a severity 1-5")


def image_seed(crop: np.ndarray, corruption: str, severity: int, seed: int = 0) -> int:
    """The generator seed of one clean 224 x 224 crop: a hash of its pixels and the condition."""
    digest = hashlib.sha256(np.ascontiguousarray(crop).tobytes() + f"|{corruption}|{severity}|{seed}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def _jpeg_round_trip(image: np.ndarray) -> Image.Image:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def corrupt_crops(
    crops: np.ndarray | torch.Tensor, corruption: str, severity: int, seed: int = 0,
    device: str | torch.device = "cpu",
) -> list[Image.Image]:
    """ImageNet-C images of clean crops (B, 224, 224, 3) uint8: corrupted in one batch, then
    each saved as JPEG 85 and decoded again, as the release was made."""
    _check(corruption, severity)
    array = crops.cpu().numpy() if isinstance(crops, torch.Tensor) else np.asarray(crops)
    seeds = [image_seed(crop, corruption, severity, seed) for crop in array]
    corrupted = corrupt_batch(array, corruption, severity, seeds, device=device).cpu().numpy()
    return [_jpeg_round_trip(image) for image in corrupted]


def corrupt_image(image: Image.Image, corruption: str, severity: int, seed: int = 0) -> Image.Image:
    """The ImageNet-C image of a clean val image: crop, corrupt, JPEG 85, decoded again."""
    clean = np.asarray(_clean_crop(to_rgb(image)))
    return corrupt_crops(clean[None], corruption, severity, seed)[0]


class CleanCrop:
    """Dataset transform of a corruption condition: the clean Resize(256) + CenterCrop(224) crop
    as a uint8 (224, 224, 3) tensor; ``CorruptedBatch`` does the rest per batch."""

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return torch.from_numpy(np.array(_clean_crop(to_rgb(image)), dtype=np.uint8))


class CorruptedBatch:
    """A batch of clean crops -> ImageNet-C images -> the model's tensors (no further resize:
    the model's native transform, i.e. [0, 1] and its mean/std)."""

    def __init__(self, native: Callable[[Image.Image], torch.Tensor], corruption: str, severity: int, seed: int = 0,
                 device: str | torch.device = "cpu") -> None:
        _check(corruption, severity)
        self.native = native  # the model's native transform: [0, 1] and its mean/std, no resize
        self.corruption, self.severity, self.seed, self.device = corruption, severity, seed, device

    def __call__(self, crops: torch.Tensor) -> torch.Tensor:
        images = corrupt_crops(crops, self.corruption, self.severity, self.seed, self.device)
        return torch.stack([self.native(image) for image in images])


def describe() -> str:
    return f"{implementation()} (Hendrycks' make_imagenet_c.py, seeded per image)"
