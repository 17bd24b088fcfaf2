"""Output ``dense_features``: timm ViTs and ConvNets, open_clip towers, a user's module, the
store's flattened rows with their (C, H, W) and stride kept beside them, and the reason when a
model has none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from torch import nn

from auditkit.adapters.base import ClassifierAdapter, DenseSpec, ModelAdapter, UnsupportedOutput
from auditkit.adapters.preprocess import PreprocessConfig
from auditkit.conditions import Squash, parse
from auditkit.data.source import DatasetSource, Sample
from auditkit.run.config import RunConfig
from auditkit.run.executor import ForwardLog, ForwardPasses
from auditkit.store import PredictionStore

PREPROCESS = PreprocessConfig(name="custom", input_size=64, interpolation="bilinear", mean=(0.5,) * 3, std=(0.5,) * 3)


def _vit() -> ClassifierAdapter:
    torch.manual_seed(0)
    module = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64)
    return ClassifierAdapter(module, "vit-tiny", PREPROCESS)


def test_the_output_grammar_round_trips():
    for text in ("dense_features", "dense_features/last4", "dense_features/cls", "dense_features/last4/cls"):
        assert DenseSpec.parse(text).output == text
    assert DenseSpec.parse("logits") is None and DenseSpec.parse("layers") is None
    with pytest.raises(ValueError):
        DenseSpec.parse("dense_features/cls/last4")  # one spelling per output: one store entry


def test_vit_patch_tokens_on_the_grid_and_the_class_token_beside_them():
    adapter = _vit()
    images = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        last = adapter.dense_features(images)
        with_token = adapter.dense_features(images, DenseSpec(class_token=True))
        four = adapter.dense_features(images, DenseSpec(blocks="last4"))
        tokens = adapter.module.forward_features(images)  # after the final norm: (2, 1 + 16, 192)
    assert last.shape == (2, 192, 4, 4) and four.shape == (2, 4 * 192, 4, 4)
    # the patch tokens in raster order are the grid, row by row
    torch.testing.assert_close(last.flatten(2).transpose(1, 2), tokens[:, 1:])
    torch.testing.assert_close(four[:, -192:], last)  # the last block closes the concatenation
    assert with_token.shape == (2, 384, 4, 4)
    torch.testing.assert_close(with_token[:, :192], last)
    torch.testing.assert_close(with_token[:, 192:, 2, 3], tokens[:, 0])  # the class token at every position


def test_convnet_last_stage_and_no_class_token():
    torch.manual_seed(0)
    adapter = ClassifierAdapter(timm.create_model("resnet18", pretrained=False), "resnet18", PREPROCESS)
    with torch.inference_mode():
        maps = adapter.dense_features(torch.randn(1, 3, 64, 64))
        assert maps.shape == (1, 512, 2, 2)
        with pytest.raises(UnsupportedOutput, match="no class token"):
            adapter.dense_features(torch.randn(1, 3, 64, 64), DenseSpec(class_token=True))
        with pytest.raises(UnsupportedOutput, match="one grid"):
            adapter.dense_features(torch.randn(1, 3, 64, 64), DenseSpec(blocks="last4"))


def test_open_clip_vit_tower():
    import open_clip

    from auditkit.adapters.clip import ZeroShotClipAdapter

    model = open_clip.create_model("ViT-B-32", pretrained=None)
    adapter = ZeroShotClipAdapter.__new__(ZeroShotClipAdapter)  # the tower only: no zero-shot head is built
    adapter.model, adapter.name, adapter.device = model.eval(), "clip-test", torch.device("cpu")
    with torch.inference_mode():
        maps = adapter.dense_features(torch.randn(1, 3, 224, 224), DenseSpec(class_token=True))
    assert maps.shape == (1, 2 * 768, 7, 7)
    assert torch.equal(maps[:, 768:, 0, 0], maps[:, 768:, 6, 6])


class UserModel(nn.Module):
    """A user's module that gives its own dense features: 3 channels, stride 8."""

    def forward(self, x):
        return torch.zeros(len(x), 1000)

    def dense_features(self, x):
        return nn.functional.avg_pool2d(x, 8)


class NoDenseModel(nn.Module):
    def forward(self, x):
        return torch.zeros(len(x), 1000)


def _source(tmp_path: Path, n: int = 5) -> DatasetSource:
    rng = np.random.default_rng(0)
    samples = []
    for k in range(n):
        path = tmp_path / f"img{k}.png"
        Image.fromarray(rng.integers(0, 255, (30 + k, 41, 3), dtype=np.uint8)).save(path)
        samples.append(Sample(path=path, label=-1, sample_id=path.name))
    return DatasetSource("dense-test", tmp_path, tuple(samples))


def test_stored_flat_with_the_shape_and_stride_kept_and_served_again(tmp_path):
    adapter = ClassifierAdapter(UserModel(), "user", PREPROCESS)
    source = _source(tmp_path)
    config = RunConfig(suites=(), out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path,
                       workers=0, progress=False, batch_size=2, shard_size=3)
    store = PredictionStore(tmp_path / "cache" / "store")
    log = ForwardLog()
    first = ForwardPasses(adapter, store, config, log).predict(source, Squash(48), "dense_features")
    dense = first.dense
    assert first.answered == ("dense_features",)
    assert dense.shape == (3, 6, 6) and dense.stride == 8.0 and dense.values.shape == (5, 3 * 36)
    # the rows are the maps of the squashed images, exactly as float16 rounds them (the store's format for them)
    view = Squash(48).transform(PREPROCESS)
    with Image.open(source.samples[3].path) as image:
        expected = nn.functional.avg_pool2d(view(image)[None], 8)[0].numpy()
    assert dense.values.dtype == np.float16
    np.testing.assert_array_equal(dense.maps([3])[0], expected.astype(np.float16).astype(np.float32))
    assert (dense.entry / "layout.json").is_file() and dense.entry.parent.parent == store.root
    log = ForwardLog()
    again = ForwardPasses(adapter, store, config, log).predict(source, parse("squash/48"), "dense_features")
    assert log.forwarded["dense-test/squash/48 [dense_features]"] == 0
    np.testing.assert_array_equal(again.dense.values, dense.values)
    # another resolution is another entry
    other = ForwardPasses(adapter, store, config, ForwardLog()).predict(source, Squash(64), "dense_features")
    assert other.dense.shape == (3, 8, 8) and other.dense.entry != dense.entry


def test_a_model_without_dense_features_is_unavailable_with_the_reason(tmp_path):
    from auditkit.run.live import LiveModel
    from auditkit.subjects import Unavailable
    from auditkit.suite import PredictionRequest

    config = RunConfig(suites=(), out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path,
                       workers=0, progress=False, batch_size=2)
    live = LiveModel(ClassifierAdapter(NoDenseModel(), "plain", PREPROCESS), config,
                     PredictionStore(tmp_path / "cache" / "store"), ForwardLog())
    answer = live.answer(PredictionRequest("dense-test", Squash(32), "dense_features"), _source(tmp_path))
    assert isinstance(answer, Unavailable) and "dense_features(images)" in answer.reason


class OwnAdapter(ModelAdapter):
    """A user's adapter that gives dense features with the one-argument signature."""

    name = "own"
    preprocess = PREPROCESS

    def logits(self, images):
        return torch.zeros(len(images), 1000)

    def identity(self):
        return {"kind": "own"}

    def dense_features(self, images):
        return images[:, :2, ::4, ::4]


def test_a_users_adapter_with_dense_features_of_images_alone(tmp_path):
    config = RunConfig(suites=(), out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path,
                       workers=0, progress=False, batch_size=2)
    passes = ForwardPasses(OwnAdapter(), PredictionStore(tmp_path / "cache" / "store"), config, ForwardLog())
    dense = passes.predict(_source(tmp_path), Squash(64), "dense_features").dense  # its native size
    assert dense.shape == (2, 16, 16) and dense.stride == 4.0
    with pytest.raises(UnsupportedOutput, match="accept a DenseSpec"):
        passes.predict(_source(tmp_path), Squash(64), "dense_features/last4")
