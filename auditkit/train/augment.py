"""The images a recipe trains and evaluates on: its resize, its augmentation, the model's mean/std.

Augmentation is seeded per image and epoch (``SeededImages``): image ``i`` of epoch ``e`` of
repeat ``s`` gets the same crop, angle and flip whichever process, worker or resumed run draws it,
so a run killed and resumed, or split over torchrun ranks, sees exactly the images an
uninterrupted one does.
"""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING, Any, Callable

import torch
from PIL import Image
from torchvision import transforms as T

from auditkit.images import INTERPOLATIONS, to_rgb
from auditkit.data.source import ImageTable, Sample

if TYPE_CHECKING:
    from auditkit.adapters.preprocess import PreprocessConfig
    from auditkit.train.recipes import Recipe


def _resize(recipe: "Recipe", preprocess: "PreprocessConfig", size: int) -> list[Callable[[Any], Any]]:
    interpolation = INTERPOLATIONS[preprocess.interpolation]
    if recipe.resize == "square":  # task_adaptation's tf.image.resize(image, [size, size])
        return [T.Resize((size, size), interpolation=interpolation)]
    if recipe.resize == "deit":  # DeiT / Swin's build_transform: int(256 / 224 * size), bicubic
        return [T.Resize(int(256 / 224 * size), interpolation=T.InterpolationMode.BICUBIC)]
    # the model's own: short side to floor(size / crop_pct), then a size x size crop
    return [T.Resize(preprocess.with_overrides(input_size=size).resize_size, interpolation=interpolation)]


def eval_transform(recipe: "Recipe", preprocess: "PreprocessConfig", size: int) -> Callable[[Image.Image], torch.Tensor]:
    """Val and test images: the recipe's resize, a centre crop, the model's normalisation."""
    return T.Compose([T.Lambda(to_rgb), *_resize(recipe, preprocess, size), T.CenterCrop(size), T.ToTensor(),
                      T.Normalize(preprocess.mean, preprocess.std)])


def train_transform(recipe: "Recipe", preprocess: "PreprocessConfig", size: int) -> Callable[[Image.Image], torch.Tensor]:
    """Train images: ``crop_rotate_flip`` (Zhou et al.: random crop, rotation within
    +-rotation degrees, horizontal flip) after the recipe's resize, or none (``eval_transform``)."""
    if recipe.augment == "none":
        return eval_transform(recipe, preprocess, size)
    if recipe.augment == "timm":
        return TimmTrainTransform(recipe, preprocess, size)
    return T.Compose([
        T.Lambda(to_rgb), *_resize(recipe, preprocess, size), T.RandomCrop(size),
        T.RandomRotation(recipe.rotation, interpolation=INTERPOLATIONS[preprocess.interpolation]),
        T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(preprocess.mean, preprocess.std),
    ])


def sample_seed(*parts: object) -> int:
    """A 63-bit seed from (repeat seed, epoch, image position, ...), the same in any process."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little") >> 1


class SeededImages(torch.utils.data.Dataset):
    """Decoded, transformed images whose random transform draws from a generator seeded by
    (seed, epoch, position): ``set_epoch`` before each epoch. Returns (image, label, position)."""

    def __init__(self, samples: tuple[Sample, ...], labels: list[int], transform: Callable[[Image.Image], torch.Tensor],
                 seed: int, table: ImageTable | None = None) -> None:
        self.samples, self.labels, self.transform, self.seed, self.table = samples, labels, transform, seed, table
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, position: int) -> tuple[torch.Tensor, int, int]:
        sample = self.samples[position]
        data = self.table.read(sample.row) if sample.row >= 0 and self.table else sample.path.read_bytes()
        # torchvision's random transforms draw from torch's global generator: fork it, so the
        # draw is this image's alone and the caller's generator is left as it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed(self.seed, self.epoch, position))
            with Image.open(io.BytesIO(data)) as image:
                tensor = self.transform(image)
        return tensor, self.labels[position], position


class TimmTrainTransform:
    """timm's training pipeline as DeiT and Swin build it (``timm.data.create_transform`` with
    ``is_training=True``): random resized crop (bicubic), horizontal flip, RandAugment
    (``auto_augment``), random erasing (``re_prob``, per-pixel noise), the model's mean / std.
    timm draws from Python's ``random`` and numpy's generators as well as torch's: this image's
    draws from them are seeded from torch's generator (which ``SeededImages`` seeds per image),
    their states restored after."""

    def __init__(self, recipe: "Recipe", preprocess: "PreprocessConfig", size: int) -> None:
        from timm.data import create_transform

        self.pipeline = create_transform(
            input_size=size, is_training=True, color_jitter=recipe.color_jitter or None,
            auto_augment=recipe.auto_augment or None, re_prob=recipe.re_prob, re_mode="pixel", re_count=1,
            interpolation="bicubic", mean=tuple(preprocess.mean), std=tuple(preprocess.std))
        for transform in getattr(self.pipeline, "transforms", []):
            for op in getattr(transform, "ops", []):
                if "Posterize" in getattr(op, "name", ""):
                    op.aug_fn = _posterize_keeping_zero_bits(op.aug_fn)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        import random

        import numpy as np

        seed = int(torch.randint(0, 2**62, (1,)))
        state, numpy_state = random.getstate(), np.random.get_state()
        random.seed(seed)
        np.random.seed(seed % 2**32)
        try:
            return self.pipeline(to_rgb(image))
        finally:
            random.setstate(state)
            np.random.set_state(numpy_state)


def _posterize_keeping_zero_bits(posterize: Callable[..., Image.Image]) -> Callable[..., Image.Image]:
    """timm's RandAugment asks for 0 bits at magnitude 10 (``PosterizeIncreasing``: 4 - 4); the
    Pillow of its time returned a black image (every bit masked off, as TensorFlow's posterize),
    Pillow >= 11 raises. Kept as it was: 0 bits give the black image."""
    def posterize_zero(image: Image.Image, bits: int, **kwargs: Any) -> Image.Image:
        if bits <= 0:
            return Image.new(image.mode, image.size)
        return posterize(image, bits, **kwargs)
    return posterize_zero
