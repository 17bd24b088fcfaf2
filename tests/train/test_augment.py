"""The training images' augmentation: seeded by (repeat seed, epoch, position) alone, so an image
gets the same crop, angle and flip whichever order, process or worker draws it, and exactly the
images torchvision's random transforms give under that seed (the numbers trained before the
images were kept decoded)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from auditkit.adapters.preprocess import PreprocessConfig
from auditkit.data.source import Sample
from auditkit.images import INTERPOLATIONS, to_rgb
from auditkit.train.augment import SeededImages, eval_pipeline, eval_transform, sample_seed, train_pipeline
from auditkit.train.recipes import ZHOU2021

PREPROCESS = PreprocessConfig("custom", input_size=24, crop_pct=0.875, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3))


def _photos(folder: Path, count: int, same: bool = False) -> tuple[Sample, ...]:
    """``count`` JPEGs of 40 x 32 noise (one picture ``count`` times when ``same``)."""
    rng = np.random.default_rng(0)
    samples = []
    picture = rng.integers(0, 255, (32, 40, 3), dtype=np.uint8)
    for n in range(count):
        path = folder / f"{n}.jpg"
        Image.fromarray(picture if same else rng.integers(0, 255, (32, 40, 3), dtype=np.uint8)).save(path)
        samples.append(Sample(path, n % 2, path.name))
    return tuple(samples)


def _torchvision_reference(chosen, size: int):
    """The transform as torchvision spells it, its draws from torch's global generator."""
    interpolation = INTERPOLATIONS[PREPROCESS.interpolation]
    resize = (T.Resize((size, size), interpolation=interpolation) if chosen.resize == "square"
              else T.Resize(PREPROCESS.with_overrides(input_size=size).resize_size, interpolation=interpolation))
    return T.Compose([T.Lambda(to_rgb), resize, T.RandomCrop(size),
                      T.RandomRotation(chosen.rotation, interpolation=interpolation), T.RandomHorizontalFlip(),
                      T.ToTensor(), T.Normalize(PREPROCESS.mean, PREPROCESS.std)])


@pytest.mark.parametrize("changes", [{}, {"rotation": "0"}])
@pytest.mark.parametrize("resize", ["model", "square"])  # square: the crop draws nothing
@pytest.mark.parametrize("kept", [False, True])
def test_each_image_is_exactly_torchvisions_transform_under_its_own_seed(tmp_path, changes, resize, kept):
    chosen = ZHOU2021.with_changes({**changes, "input_size": "24", "resize": resize})
    samples = _photos(tmp_path, 6)
    images = SeededImages(samples, [s.label for s in samples], train_pipeline(chosen, PREPROCESS, 24), seed=3)
    if kept:
        images.keep_decoded()
        assert len(images.decoded) == len(samples)
    reference = _torchvision_reference(chosen, 24)
    for epoch in (0, 2):
        images.set_epoch(epoch)
        for position, sample in enumerate(samples):
            torch.manual_seed(sample_seed(3, epoch, position))
            with Image.open(io.BytesIO(sample.path.read_bytes())) as photo:
                expected = reference(photo)
            tensor, label, at = images[position]
            assert (label, at) == (sample.label, position)
            assert torch.equal(tensor, expected), (epoch, position)


def test_val_images_are_the_eval_transform(tmp_path):
    samples = _photos(tmp_path, 3)
    images = SeededImages(samples, [0, 1, 0], eval_pipeline(ZHOU2021, PREPROCESS, 24), seed=0)
    images.keep_decoded()
    for position, sample in enumerate(samples):
        with Image.open(sample.path) as photo:
            assert torch.equal(images[position][0], eval_transform(ZHOU2021, PREPROCESS, 24)(photo))


def test_augmentation_is_seeded_by_position_alone_whoever_draws_it(tmp_path):
    """One picture at eight positions: each position its own draw, the same in any order, in a
    DataLoader worker, in a fresh dataset (a resumed run), after any use of torch's generator;
    another epoch draws anew."""
    samples = _photos(tmp_path, 8, same=True)
    pipeline = train_pipeline(ZHOU2021.with_changes({"input_size": "24"}), PREPROCESS, 24)

    def drawn(order, epoch=1, keep=True, workers=0):
        images = SeededImages(samples, [0] * 8, pipeline, seed=5)
        if keep:
            images.keep_decoded()
        images.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(images, batch_sampler=[order[:3], order[3:]], num_workers=workers)
        return {int(p): t for batch, _, positions in loader for t, p in zip(batch, positions)}

    forward = drawn(list(range(8)))
    assert len({t.numpy().tobytes() for t in forward.values()}) == 8  # positions draw apart
    torch.manual_seed(123)  # whatever torch's own generator holds
    for other in (drawn([7, 2, 5, 0, 1, 6, 3, 4]), drawn(list(range(8)), keep=False),
                  drawn([3, 1, 4, 0, 5, 2, 6, 7], workers=1)):
        assert all(torch.equal(forward[p], other[p]) for p in range(8))
    images = SeededImages(samples, [0] * 8, pipeline, seed=5)
    images.set_epoch(1)
    before = torch.get_rng_state()
    assert torch.equal(images[6][0], forward[6])
    assert torch.equal(torch.get_rng_state(), before)  # torch's generator neither used nor moved
    later = drawn(list(range(8)), epoch=2)
    assert not any(torch.equal(forward[p], later[p]) for p in range(8))


def test_images_beyond_the_memory_budget_are_decoded_when_drawn(tmp_path):
    samples = _photos(tmp_path, 4)
    pipeline = train_pipeline(ZHOU2021.with_changes({"input_size": "24"}), PREPROCESS, 24)
    everything = SeededImages(samples, [0] * 4, pipeline, seed=0)
    some = SeededImages(samples, [0] * 4, pipeline, seed=0)
    everything.keep_decoded()
    width, height = everything.decoded[0].size
    some.keep_decoded(budget=2 * 3 * width * height)
    assert sorted(some.decoded) == [0, 1]
    assert all(torch.equal(everything[p][0], some[p][0]) for p in range(4))
