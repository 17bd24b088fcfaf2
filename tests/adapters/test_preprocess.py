"""Our preprocessing equals timm's and open_clip's own transforms on the same image."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch
from PIL import Image
from timm.data import create_transform

from auditkit.adapters.clip import preprocess_from_open_clip
from auditkit.adapters.preprocess import PreprocessConfig, paper_supervised


@pytest.fixture
def image() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (300, 410, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "config",
    [
        paper_supervised(),
        PreprocessConfig("timm", 224, "bicubic", 1.0),
        PreprocessConfig("timm", 224, "bicubic", 0.875, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        PreprocessConfig("timm", 384, "bilinear", 0.95),
    ],
)
def test_transform_equals_timm_create_transform(config, image):
    ours = config.transform()(image)
    theirs = create_transform(
        input_size=config.input_size, interpolation=config.interpolation, crop_pct=config.crop_pct,
        mean=config.mean, std=config.std,
    )(image)
    assert ours.shape == (3, config.input_size, config.input_size)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)


def test_paper_preset_is_resize_256_center_crop_224():
    config = paper_supervised()
    assert (config.resize_size, config.input_size, config.interpolation) == (256, 224, "bilinear")


def test_open_clip_config_equals_open_clip_preprocess(image):
    _, _, preprocess = open_clip.create_model_and_transforms("ViT-B-16", pretrained=None)
    model = open_clip.create_model("ViT-B-16", pretrained=None)
    config = preprocess_from_open_clip(model)
    assert (config.input_size, config.interpolation, config.crop_pct) == (224, "bicubic", 1.0)
    torch.testing.assert_close(config.transform()(image), preprocess(image), atol=1e-6, rtol=0)


def test_native_transform_leaves_stimuli_at_input_size_untouched():
    rng = np.random.default_rng(1)
    stimulus = Image.fromarray(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8))
    config = paper_supervised()
    expected = (torch.from_numpy(np.asarray(stimulus)).permute(2, 0, 1) / 255 - torch.tensor(config.mean)[:, None, None]) \
        / torch.tensor(config.std)[:, None, None]
    torch.testing.assert_close(config.native_transform()(stimulus), expected.float(), atol=1e-6, rtol=0)
    # the standard transform would resize 224 -> 256 and crop: not the protocol for stimuli
    assert not torch.allclose(config.transform()(stimulus), expected.float(), atol=1e-3)
