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
