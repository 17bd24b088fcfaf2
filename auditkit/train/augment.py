"""The images a recipe trains and evaluates on: its resize, its augmentation, the model's mean/std.

Augmentation is seeded per image and epoch (``SeededImages``): image ``i`` of epoch ``e`` of
repeat ``s`` gets the same crop, angle and flip whichever process, worker or resumed run draws it,
so a run killed and resumed, or split over torchrun ranks, sees exactly the images an
uninterrupted one does.

An image's way to a tensor has three parts (``Pipeline``): the fixed part (decode, RGB, the
recipe's resize; for val also the centre crop), the same every epoch, so it is done once and
kept in memory while the images fit (``SeededImages.keep_decoded``); the random part
(``CropRotateFlip``), drawn from the image's own ``torch.Generator``; and the finish (to a
tensor, the model's mean/std). The result is exactly what torchvision's ``RandomCrop``,
``RandomRotation`` and ``RandomHorizontalFlip`` give after ``torch.manual_seed`` of that seed
(tests/train/test_augment.py holds it to that), so trained numbers are unchanged.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import torch
from PIL import Image
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F

from auditkit.images import INTERPOLATIONS, to_rgb
from auditkit.data.source import ImageTable, Sample

if TYPE_CHECKING:
    from auditkit.adapters.preprocess import PreprocessConfig
    from auditkit.train.recipes import Recipe

DECODED_BYTES = 2 * 2**30  # decoded images kept in memory at most (and at most a quarter of what is free)


def _resize(recipe: "Recipe", preprocess: "PreprocessConfig", size: int) -> list[Callable[[Any], Any]]:
    interpolation = INTERPOLATIONS[preprocess.interpolation]
    if recipe.resize == "square":  # task_adaptation's tf.image.resize(image, [size, size])
        return [T.Resize((size, size), interpolation=interpolation)]
    if recipe.resize == "deit":  # DeiT / Swin's build_transform: int(256 / 224 * size), bicubic
        return [T.Resize(int(256 / 224 * size), interpolation=T.InterpolationMode.BICUBIC)]
    # the model's own: short side to floor(size / crop_pct), then a size x size crop
    return [T.Resize(preprocess.with_overrides(input_size=size).resize_size, interpolation=interpolation)]


def _finish(preprocess: "PreprocessConfig") -> list[Callable[[Any], Any]]:
    return [T.ToTensor(), T.Normalize(preprocess.mean, preprocess.std)]


def eval_transform(recipe: "Recipe", preprocess: "PreprocessConfig", size: int) -> Callable[[Image.Image], torch.Tensor]:
    """Val and test images: the recipe's resize, a centre crop, the model's normalisation."""
    return T.Compose([*_eval_fixed(recipe, preprocess, size), *_finish(preprocess)])


def _eval_fixed(recipe: "Recipe", preprocess: "PreprocessConfig", size: int) -> list[Callable[[Any], Any]]:
    return [T.Lambda(to_rgb), *_resize(recipe, preprocess, size), T.CenterCrop(size)]


@dataclass(frozen=True)
class CropRotateFlip:
    """Zhou et al.'s augmentation: a random ``size`` crop, a rotation within +-``degrees``, a
    horizontal flip half the time, drawn from the generator it is given. The draws (their
    order and distributions) are torchvision's ``RandomCrop`` (no padding), ``RandomRotation``
    (fill 0, no expand) and ``RandomHorizontalFlip`` (p 0.5), which draw from torch's global
    generator only; an explicit generator spares forking and reseeding that one per image."""

    size: int
    degrees: float
    interpolation: InterpolationMode

    def __call__(self, image: Image.Image, generator: torch.Generator) -> Image.Image:
        width, height = image.size
        if width < self.size or height < self.size:
            raise ValueError(f"Required crop size {(self.size, self.size)} is larger than input image size {(height, width)}")
        top = left = 0
        if (height, width) != (self.size, self.size):  # RandomCrop draws nothing for an image of its size
            top = int(torch.randint(0, height - self.size + 1, size=(1,), generator=generator).item())
            left = int(torch.randint(0, width - self.size + 1, size=(1,), generator=generator).item())
        image = F.crop(image, top, left, self.size, self.size)
        angle = float(torch.empty(1).uniform_(float(-self.degrees), float(self.degrees), generator=generator).item())
        image = F.rotate(image, angle, self.interpolation, False, None, 0)
        if torch.rand(1, generator=generator) < 0.5:
            image = F.hflip(image)
        return image


@dataclass(frozen=True)
class Pipeline:
    """A decoded image to a tensor: ``fixed`` (deterministic, may be kept between epochs), then
    ``random`` (seeded per image; None: no augmentation), then ``finish``."""

    fixed: Callable[[Image.Image], Image.Image]
    random: Callable[[Image.Image, torch.Generator], Any] | None  # CropRotateFlip, TimmRandom
    finish: Callable[[Any], torch.Tensor]

    def after_fixed(self, image: Image.Image, generator: torch.Generator | None) -> torch.Tensor:
        if self.random is not None:
            if generator is None:
                raise ValueError("a random pipeline needs the image's generator")
            image = self.random(image, generator)
        return self.finish(image)


def eval_pipeline(recipe: "Recipe", preprocess: "PreprocessConfig", size: int) -> Pipeline:
    """``eval_transform`` in parts: everything but the finish is fixed."""
    return Pipeline(T.Compose(_eval_fixed(recipe, preprocess, size)), None, T.Compose(_finish(preprocess)))


def train_pipeline(recipe: "Recipe", preprocess: "PreprocessConfig", size: int) -> Pipeline:
    """Train images: ``crop_rotate_flip`` (Zhou et al.: random crop, rotation within
    +-rotation degrees, horizontal flip) after the recipe's resize, or none (``eval_pipeline``)."""
    if recipe.augment == "none":
        return eval_pipeline(recipe, preprocess, size)
    if recipe.augment == "timm":  # random resized crop of the whole image: nothing fixed but RGB
        return Pipeline(T.Lambda(to_rgb), TimmRandom(recipe, preprocess, size), _as_it_is)
    return Pipeline(T.Compose([T.Lambda(to_rgb), *_resize(recipe, preprocess, size)]),
                    CropRotateFlip(size, recipe.rotation, INTERPOLATIONS[preprocess.interpolation]),
                    T.Compose(_finish(preprocess)))


def _as_it_is(tensor: torch.Tensor) -> torch.Tensor:
    """The finish of a random part that ends in a tensor already (timm's pipeline)."""
    return tensor


def sample_seed(*parts: object) -> int:
    """A 63-bit seed from (repeat seed, epoch, image position, ...), the same in any process."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little") >> 1


class SeededImages(torch.utils.data.Dataset):
    """Decoded, transformed images whose random part draws from a generator seeded by
    (seed, epoch, position): ``set_epoch`` before each epoch. Returns (image, label, position).
    ``keep_decoded`` (in the main process, before the DataLoader forks its workers) does the
    fixed part once for the images that fit in memory; the others are decoded when drawn."""

    def __init__(self, samples: tuple[Sample, ...], labels: list[int], pipeline: Pipeline,
                 seed: int, table: ImageTable | None = None) -> None:
        self.samples, self.labels, self.pipeline, self.seed, self.table = samples, labels, pipeline, seed, table
        self.epoch = 0
        self.decoded: dict[int, Image.Image] | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def keep_decoded(self, budget: int = DECODED_BYTES) -> None:
        """The fixed part of every image, kept while the total stays within ``budget`` bytes
        and a quarter of the free memory (the rest stay files, decoded each time)."""
        if self.decoded is not None:
            return
        self.decoded = {}
        room = min(budget, _free_bytes() // 4)
        for position in range(len(self.samples)):
            image = self._fixed(position)
            room -= len(image.getbands()) * image.width * image.height
            if room < 0:
                break
            self.decoded[position] = image

    @property
    def all_kept(self) -> bool:
        """Every image held decoded (``keep_decoded`` found room for all)."""
        return self.decoded is not None and len(self.decoded) == len(self.samples)

    def _fixed(self, position: int) -> Image.Image:
        sample = self.samples[position]
        data = self.table.read(sample.row) if sample.row >= 0 and self.table else sample.path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            fixed = self.pipeline.fixed(image)
            return image.copy() if fixed is image else fixed  # closing the file empties the opened image

    def __getitem__(self, position: int) -> tuple[torch.Tensor, int, int]:
        kept = self.decoded.get(position) if self.decoded is not None else None
        image = kept if kept is not None else self._fixed(position)
        generator = None
        if self.pipeline.random is not None:
            generator = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch, position))
        return self.pipeline.after_fixed(image, generator), self.labels[position], position


def _free_bytes() -> int:
    """The memory the system can give without swapping (Linux's MemAvailable; elsewhere, assume
    the budget fits)."""
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return DECODED_BYTES * 4


class TimmRandom:
    """timm's training pipeline as DeiT and Swin build it (``timm.data.create_transform`` with
    ``is_training=True``): random resized crop (bicubic), horizontal flip, RandAugment
    (``auto_augment``), random erasing (``re_prob``, per-pixel noise), the model's mean / std.
    timm draws from Python's ``random``, numpy's and torch's global generators: each is seeded
    for this image from the image's own generator (``SeededImages``: by seed, epoch, position)
    and restored after, so the draw is the image's alone."""

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

    def __call__(self, image: Image.Image, generator: torch.Generator) -> torch.Tensor:
        import random

        import numpy as np

        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        state, numpy_state = random.getstate(), np.random.get_state()
        random.seed(seed)
        np.random.seed(seed % 2**32)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                return self.pipeline(image)
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
