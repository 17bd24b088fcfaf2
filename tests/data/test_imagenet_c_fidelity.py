"""ImageNet-C corruptions (auditkit.data.imagenet_c) against Hendrycks' own functions.

Oracles (test-only installs, see tests/data/imagenet_c_oracles.py): the ``imagenet-c`` package
(``make_imagenet_c.py``'s corruptions), run with numpy's global generator seeded as ours seeds
each image; ImageMagick through Wand for motion blur and snow (the reference calls it);
``imagecorruptions`` as a second, independent check of the shimmed oracle.

Images: 10 real photos, Resize(256) + CenterCrop(224) as the release: scikit-image photos and
cue-conflict stimuli (``../shared``; in CI they must be there, elsewhere more scikit-image
photos stand in). Every corruption and severity is compared on all 10, as uint8 before the JPEG
of the release (``np.uint8`` of the float image, as the reference saves it), except glass blur,
whose reference loop costs 2-6 s per image: 2 images per severity, all 10 images in all.

Targets (issue 16): identical bytes for every corruption; defocus blur (the reference filters
with OpenCV's DFT, we with torch's FFT: float order differs) within 1 grey level on at most
0.01 % of pixels; motion blur and snow within 1 grey level of ImageMagick on >= 99 % of pixels
(measured: identical). Spatter 1-3 run OpenCV's Canny, distance transform, equalisation and
filters on both sides (the reference's own steps, called by ours): there the comparison checks
the draws, the liquid layer fed to OpenCV and the float32 arithmetic around it (measured:
identical).
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from torchvision import transforms as T

from auditkit.data.corruptions import CORRUPTIONS, HOLD_OUT, corrupt_crops
from auditkit.data.imagenet_c import corrupt_batch, motion_blur_uint8
from auditkit.errors import AuditError
from tests.conftest import SHARED
from tests.data import imagenet_c_oracles as oracles

ALL = CORRUPTIONS + HOLD_OUT
IN_CI = os.environ.get("CI", "").strip().lower() in ("true", "1")
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "camera")
SPARE_PHOTOS = ("colorwheel", "coins", "moon")
STIMULI = ("airplane/airplane1-bicycle2.png", "bear/bear1-airplane3.png", "clock/clock1-boat3.png")
# (max grey levels, max fraction of pixels that may differ) where the floats are not the reference's
TOLERANCE = {"defocus_blur": (1, 1e-4), "motion_blur": (1, 0.01), "snow": (1, 0.01)}

_crop = T.Compose([T.Resize(256), T.CenterCrop(224)])


def _oracle(loader):
    try:
        return loader()
    except ImportError as error:
        if IN_CI:
            pytest.fail(f"ImageNet-C oracle missing ({error}); CI=true: make install-test installs it")
        pytest.skip(f"ImageNet-C oracle not installed ({error}); see tests/data/imagenet_c_oracles.py")


@lru_cache(maxsize=None)
def _images() -> tuple[np.ndarray, ...]:
    photos = [Image.fromarray(getattr(skimage.data, name)()).convert("RGB") for name in PHOTOS]
    folder = SHARED / "data" / "cue-conflict"
    if folder.is_dir():
        photos += [Image.open(folder / name).convert("RGB") for name in STIMULI]
    elif IN_CI:
        pytest.fail(f"cue-conflict stimuli absent at {folder}; CI=true: missing test data is a failure")
    else:
        photos += [Image.fromarray(getattr(skimage.data, name)()).convert("RGB") for name in SPARE_PHOTOS]
    return tuple(np.asarray(_crop(photo)) for photo in photos)


@pytest.fixture(scope="module")
def reference():
    return _oracle(oracles.hendrycks)


def _compare(ours: np.ndarray, theirs: np.ndarray, corruption: str, severity: int) -> None:
    difference = np.abs(ours.astype(int) - theirs.astype(int))
    levels, fraction = TOLERANCE.get(corruption, (0, 0.0))
    assert difference.max() <= levels and (difference > 0).mean() <= fraction, (
        f"{corruption} {severity}: max {difference.max()} grey levels, "
        f"{(difference > 0).mean():.5%} of pixels differ (allowed {levels}, {fraction:.3%})")


@pytest.mark.oracle
@pytest.mark.parametrize("corruption", ALL)
def test_identical_to_hendrycks_given_the_same_draws(corruption, reference):
    images = _images()
    assert len(images) >= 10
    for severity in range(1, 6):
        chosen = list(range(len(images)))
        if corruption == "glass_blur":  # 2 s per image and pass in the reference's pixel loop
            chosen = [(2 * (severity - 1) + k) % len(images) for k in (0, 1)]
        crops = np.stack([images[i] for i in chosen])
        seeds = [1000 * severity + i for i in chosen]
        ours = corrupt_batch(crops, corruption, severity, seeds).numpy()
        theirs = np.stack([oracles.run_reference(reference, corruption, crop, severity, seed)
                           for crop, seed in zip(crops, seeds)])
        _compare(ours, theirs, corruption, severity)


@pytest.mark.parametrize("corruption", ALL)
def test_identical_to_hendrycks_on_one_image_and_severity(corruption, reference):
    """The fast tier's sample of the grid above (``make check``): one image and one severity per
    corruption, both chosen by the corruption's place in the list, so all 5 severities and
    10 images are met across the 19 corruptions. Full coverage: the oracle-marked test."""
    index = ALL.index(corruption)
    severity, chosen = index % 5 + 1, index % len(_images())
    seed = 1000 * severity + chosen
    ours = corrupt_batch(_images()[chosen][None], corruption, severity, [seed]).numpy()
    theirs = oracles.run_reference(reference, corruption, _images()[chosen], severity, seed)[None]
    _compare(ours, theirs, corruption, severity)


@pytest.mark.oracle
@pytest.mark.parametrize("radius, sigma", [(10, 3), (20, 15), (12, 4)])
def test_motion_blur_kernel_equals_imagemagick(radius, sigma):
    """The kernel on its own at fixed angles (an axis, a diagonal, odd ones), through Wand."""
    _oracle(lambda: __import__("wand.image"))
    images = _images()[:1]
    for angle in (-135.0, -90.0, -7.5, 33.3):
        ours = motion_blur_uint8(torch.as_tensor(np.stack(images)), radius, sigma, [angle]).numpy()
        theirs = np.stack([oracles.imagemagick_motion_blur(image, radius, sigma, angle) for image in images])
        _compare(ours, theirs, "motion_blur", angle)


@pytest.mark.oracle
def test_oracle_shims_agree_with_imagecorruptions(reference):
    """The shimmed Hendrycks oracle against a second packaging of the same functions."""
    package = _oracle(oracles.imagecorruptions)
    crop = _images()[1]
    for name in ("gaussian_noise", "shot_noise", "contrast", "brightness", "pixelate", "fog"):
        for severity in (1, 5):
            with oracles.seeded(7):
                theirs = np.uint8(np.asarray(getattr(package, name)(Image.fromarray(crop), severity)))
            assert np.array_equal(oracles.run_reference(reference, name, crop, severity, 7), theirs), (name, severity)


@pytest.mark.parametrize("corruption", ALL)
def test_the_five_severities_differ(corruption):
    crops = np.stack(_images()[:2])
    severities = range(1, 6)
    made = {s: corrupt_batch(crops, corruption, s, [3, 4]).numpy() for s in severities}
    for i, a in enumerate(severities):
        for b in severities[i + 1:]:
            for k in range(len(crops)):
                assert not np.array_equal(made[a][k], made[b][k]), (corruption, a, b, k)


def test_same_image_same_bytes_in_any_batch():
    images = _images()
    for corruption in ("glass_blur", "motion_blur", "frost", "elastic_transform"):
        alone = corrupt_crops(images[0][None], corruption, 3)[0]
        batched = corrupt_crops(np.stack([images[2], images[0], images[1]]), corruption, 3)[1]
        assert np.array_equal(np.asarray(alone), np.asarray(batched)), corruption


def test_spatter_1_to_3_without_opencv_names_the_install(monkeypatch):
    assert len(corrupt_crops(_images()[0][None], "spatter", 2)) == 1  # no longer refused
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(AuditError, match=r'^spatter severities 1-3 need OpenCV: pip install "opencv-python-headless<5"$'):
        corrupt_crops(_images()[0][None], "spatter", 2)
    corrupt_crops(_images()[0][None], "spatter", 4)  # mud (4-5) needs no OpenCV
