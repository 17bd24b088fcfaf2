"""ImageNet-C made on the fly from ImageNet val (Hendrycks & Dietterich, ICLR 2019).

Follows the original generation: Resize(256) + CenterCrop(224) of the clean val image, corrupt
at severity 1..5, save as JPEG quality 85, then evaluate with no further resize. Corruptions come
from ``corrupt-tta`` (a maintained port of the ImageNet-C code that runs on numpy 2;
``imagecorruptions`` does not). Two things are mended here:
- seeding: corrupt-tta draws from numpy's global RNG, and its impulse noise calls scikit-image's
  ``random_noise`` with no generator at all. Each image is corrupted under a seed derived from
  its pixels, the corruption, the severity and the run seed, and ``random_noise`` is handed a
  generator made from that seed, so the same image always gives the same bytes;
- corrupt-tta's frost silently returns the clean image when its texture files are missing:
  their presence is checked before any image is corrupted.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from typing import Iterator

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

from auditkit.adapters.preprocess import PreprocessConfig, _to_rgb
from auditkit.errors import AuditError

# The 15 corruptions of the benchmark (mCE); the 4 hold-out ones are not generated.
CORRUPTIONS = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
    "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
    "jpeg_compression",
)
HOLD_OUT = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
SEVERITIES = (1, 2, 3, 4, 5)
JPEG_QUALITY = 85

_clean_crop = T.Compose([T.Resize(256), T.CenterCrop(224)])


def condition_name(corruption: str, severity: int) -> str:
    return f"corrupt/{corruption}/{severity}"


def parse_condition(condition: str) -> tuple[str, int]:
    _, corruption, severity = condition.split("/")
    return corruption, int(severity)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    import corrupt_tta.corruptions as module

    state = np.random.get_state()
    original = module.random_noise
    np.random.seed(seed)
    module.random_noise = lambda image, **kwargs: original(image, rng=np.random.default_rng(seed), **kwargs)
    try:
        yield
    finally:
        module.random_noise = original
        np.random.set_state(state)


def corrupt_image(image: Image.Image, corruption: str, severity: int, seed: int = 0) -> Image.Image:
    """The ImageNet-C image of a clean val image: crop, corrupt, JPEG 85, decoded again."""
    try:
        import corrupt_tta
    except ImportError as error:  # corrupt-tta itself, or OpenCV's system libraries
        raise AuditError(
            f"on-the-fly ImageNet-C cannot import corrupt-tta ({error}); pip install corrupt-tta, "
            "and on Debian/Ubuntu apt-get install libgl1 libglib2.0-0 for OpenCV"
        ) from None
    if corruption not in CORRUPTIONS or severity not in SEVERITIES:
        raise AuditError(f"unknown corruption {corruption!r} / severity {severity}")
    if corruption == "frost":
        _check_frost_textures()
    clean = np.asarray(_clean_crop(_to_rgb(image)))
    digest = hashlib.sha256(clean.tobytes() + f"|{corruption}|{severity}|{seed}".encode()).digest()
    with _seeded(int.from_bytes(digest[:4], "little")):
        corrupted = corrupt_tta.corrupt(clean, severity=severity, corruption_name=corruption)
    corrupted = np.uint8(np.clip(np.asarray(corrupted, dtype=np.float64), 0, 255))
    if corrupted.shape != clean.shape:
        raise RuntimeError(f"{corruption} changed the image shape to {corrupted.shape}")
    buffer = io.BytesIO()
    Image.fromarray(corrupted).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def _check_frost_textures() -> None:
    from importlib import resources

    folder = resources.files("corrupt_tta.assets.frost")
    names = [f"frost{i}.{'png' if i <= 3 else 'jpg'}" for i in range(1, 7)]
    if not all(folder.joinpath(name).is_file() for name in names):
        raise AuditError("corrupt-tta's frost textures are missing (it would return clean images); "
                         "reinstall it: pip install --force-reinstall corrupt-tta")


class CorruptionTransform:
    """Clean val image -> ImageNet-C image -> the model's tensor (no further resize)."""

    def __init__(self, preprocess: PreprocessConfig, corruption: str, severity: int, seed: int = 0) -> None:
        self.native = preprocess.native_transform()
        self.corruption, self.severity, self.seed = corruption, severity, seed

    def __call__(self, image: Image.Image) -> torch.Tensor:
        return self.native(corrupt_image(image, self.corruption, self.severity, self.seed))
