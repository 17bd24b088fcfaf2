"""Invariance views do what the protocol says; the suite runs a ViT and a ConvNet offline."""

from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from torchvision import transforms as T

from auditkit.adapters import ModelOptions, load_model
from auditkit.adapters.preprocess import paper_supervised, PreprocessConfig
from auditkit.cli import main
from auditkit.conditions.views import ResolutionView, ScaleView, ShiftView
from tests.conftest import VAL_CLASSES, standard_val_names, write_image

SUPERVISED = paper_supervised()  # Resize 256 + CenterCrop 224
CLIP_LIKE = PreprocessConfig("open_clip", 224, "bilinear", 1.0)
IDENTITY = dict(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def marker_image(width: int, height: int, box: tuple[int, int, int, int]) -> Image.Image:
    """Grey image with a white square marker at box (left, top, right, bottom)."""
    array = np.full((height, width, 3), 60, np.uint8)
    left, top, right, bottom = box
    array[top:bottom, left:right] = 255
    return Image.fromarray(array)


def marker_extent(tensor: torch.Tensor) -> tuple[int, int, int, int]:
    mask = tensor[0] > 0.8  # white, with identity normalisation
    rows, cols = np.where(mask.numpy())
    return cols.min(), rows.min(), cols.max() + 1, rows.max() + 1


@pytest.mark.parametrize("config", [SUPERVISED, CLIP_LIKE])
@pytest.mark.parametrize("scale", [1.0, 1.5, 2.0, 3.0])
def test_scale_enlarges_the_centre_by_the_factor(config, scale):
    config = PreprocessConfig(config.name, config.input_size, "nearest", config.crop_pct, **IDENTITY)
    image = marker_image(512, 512, (246, 246, 266, 266))  # 20 px marker at the centre
    left, top, right, bottom = marker_extent(ScaleView(config, scale)(image))
    expected = 20 * scale * config.resize_size / 512
    assert right - left == pytest.approx(expected, abs=1.5)
    assert (left + right) / 2 == pytest.approx(112, abs=1.5)  # still centred


@pytest.mark.parametrize("offset", [0, 5, 30, 75, 100])
def test_shift_moves_the_window_along_the_long_side(offset):
    config = PreprocessConfig("paper", 224, "nearest", 0.875, **IDENTITY)
    # landscape 600 x 400: window side 400 * 0.875 = 350 px, left edge 125 + offset
    image = marker_image(600, 400, (290, 190, 310, 210))  # marker at the centre
    left, top, right, bottom = marker_extent(ShiftView(config, offset)(image))
    scale = 224 / 350
    assert (left + right) / 2 == pytest.approx((300 - 125 - offset) * scale, abs=1.5)
    assert (top + bottom) / 2 == pytest.approx(112, abs=1.5)  # no vertical move for landscape
    # portrait moves along y; a shift past the edge is black, not clamped
    portrait = marker_image(400, 600, (190, 290, 210, 310))
    left, top, right, bottom = marker_extent(ShiftView(config, offset)(portrait))
    assert (top + bottom) / 2 == pytest.approx((300 - 125 - offset) * scale, abs=1.5)
    far = ShiftView(config, 300)(image)
    assert float(far[:, :, -20:].max()) == 0.0  # beyond the image: black


def test_reference_views_equal_the_plain_preprocessing():
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (300, 420, 3), dtype=np.uint8))
    for config in (SUPERVISED, CLIP_LIKE, PreprocessConfig("timm", 224, "bicubic", 0.9)):
        plain = config.transform()(image)
        torch.testing.assert_close(ResolutionView(config, 224)(image), plain)  # the model's own
        bilinear = PreprocessConfig(config.name, config.input_size, "bilinear", config.crop_pct).transform()(image)
        torch.testing.assert_close(ScaleView(config, 1.0)(image), bilinear)  # the protocol's bilinear
        shifted = ShiftView(config, 0)(image)
        assert shifted.shape == plain.shape


OPEN_CLIP = PreprocessConfig("open_clip", 224, "bicubic", 1.0, mean=(0.48145466, 0.4578275, 0.40821073),
                             std=(0.26862954, 0.26130258, 0.27577711))  # as preprocess_from_open_clip builds it


@pytest.mark.parametrize("scale", [1.0, 1.5, 3.0])
def test_clip_scale_views_resize_bilinear_as_the_protocol(scale):
    """docs/protocols.md "Invariance": the paper's CropScale resizes with torchvision's default,
    bilinear, for CLIP too, although CLIP's own preprocess is bicubic."""
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 255, (300, 420, 3), dtype=np.uint8))
    normalise = T.Compose([T.ToTensor(), T.Normalize(OPEN_CLIP.mean, OPEN_CLIP.std)])

    def reference(mode):
        resized = image.resize(_short_side(image.size, round(scale * 224)), mode)  # PIL directly
        left, top = (resized.width - 224) // 2, (resized.height - 224) // 2
        return normalise(resized.crop((left, top, left + 224, top + 224)))

    view = ScaleView(OPEN_CLIP, scale)(image)
    assert torch.allclose(view, reference(Image.BILINEAR), atol=1e-6)
    assert not torch.allclose(view, reference(Image.BICUBIC), atol=1e-2)


def test_clip_shift_views_resize_bilinear_as_the_protocol():
    rng = np.random.default_rng(2)
    image = Image.fromarray(rng.integers(0, 255, (300, 420, 3), dtype=np.uint8))
    normalise = T.Compose([T.ToTensor(), T.Normalize(OPEN_CLIP.mean, OPEN_CLIP.std)])
    # CLIP: the window is the full short side (300 px), centred, moved 30 px along x
    window = image.crop((60 + 30, 0, 60 + 30 + 300, 300))
    view = ShiftView(OPEN_CLIP, 30)(image)
    assert torch.allclose(view, normalise(window.resize((224, 224), Image.BILINEAR)), atol=1e-6)
    assert not torch.allclose(view, normalise(window.resize((224, 224), Image.BICUBIC)), atol=1e-2)


def test_stale_geometry_views_are_not_reused_from_the_store():
    from auditkit.conditions import parse
    from auditkit.conditions.views import GEOMETRY_VIEWS

    assert parse("scale/1.5").store_key()["views"] == GEOMETRY_VIEWS
    assert parse("shift/30").store_key()["views"] == GEOMETRY_VIEWS
    # resolution views are the model's own preprocessing at r: no geometry code of ours
    assert "views" not in parse("resolution/336").store_key() and "views" not in parse("none").store_key()


def _short_side(size: tuple[int, int], short: int) -> tuple[int, int]:
    width, height = size
    return (int(short * width / height), short) if width > height else (short, int(short * height / width))


def test_resolution_view_sizes():
    image = Image.new("RGB", (500, 375))
    assert ResolutionView(SUPERVISED, 336)(image).shape == (3, 336, 336)  # Resize 384 + crop 336
    assert ResolutionView(CLIP_LIKE, 112)(image).shape == (3, 112, 112)


def test_timm_vit_really_sees_21x21_patches_at_336(tmp_path):
    model = timm.create_model("vit_tiny_patch16_224")
    path = tmp_path / "vit.safetensors"
    save_file(model.state_dict(), path)
    adapter = load_model("timm:vit_tiny_patch16_224", ModelOptions(weights=str(path)))
    seen = []
    with adapter.input_resolution(336):
        handle = adapter.module.patch_embed.register_forward_hook(lambda m, i, o: seen.append(o.shape))
        adapter.logits(torch.zeros(1, 3, 336, 336))
        handle.remove()
    assert seen[0][1] == 21 * 21
    # the original model is untouched afterwards
    assert adapter.module.patch_embed.grid_size == (14, 14)
    torch.testing.assert_close(adapter.module.pos_embed, model.pos_embed)


@pytest.mark.parametrize("name", ["vit_tiny_patch16_224", "resnet18"])
def test_suite_runs_all_axes_offline(name, tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "val"
    for wnid, index in VAL_CLASSES.items():
        for file in standard_val_names(index, 1):
            write_image(root / wnid / file, rng, size=(120, 160))
    torch.manual_seed(0)
    weights = tmp_path / "w.safetensors"
    save_file(timm.create_model(name).state_dict(), weights)
    out = tmp_path / "out"
    main(["run", "--model", f"timm:{name}", "--weights", str(weights), "--suites", "invariance,calibration",
          "--data", f"imagenet-val={root}", "--data-root", str(tmp_path / "none"), "--out", str(out),
          "--cache", str(tmp_path / "c"), "--no-progress", "--workers", "0", "--batch-size", "4"])
    payload = json.loads((out / "results.json").read_text())
    records = {(r["condition"], r["metric"]): r["value"] for r in payload["records"] if r["suite"] == "invariance"}
    assert {c for c, _ in records} >= {"scale/3", "shift/100", "resolution/112", "resolution/640"}
    for axis, reference in (("scale", "1"), ("shift", "0"), ("resolution", "224")):
        assert records[(f"{axis}/{reference}", "consistency")] == 1.0
    # resolution 224 is the plain evaluation: same top-1 as calibration's (scale 1 too, but only
    # for bilinear preprocessing: scale and shift views resize bilinear, timm's configs are bicubic)
    plain = [r["value"] for r in payload["records"] if r["suite"] == "calibration" and r["metric"] == "top1"
             and r["dataset"] == "imagenet-val"][0]
    assert records[("resolution/224", "top1")] == plain
    assert payload["header"]["images_forwarded"]["imagenet-val/resolution/640"] == 4


def test_evaluate_records_every_point_and_sample_metrics_equal_them():
    """Schema v2 without the runner: records at each point's condition (``scale/1.5`` ...),
    subset ``all``; consistency against the axis' reference (1 at the reference itself, by hand
    elsewhere); ``sample_metrics`` of the saved arrays equal the records (``point_metrics``)."""
    from pathlib import Path

    from auditkit.data.source import DatasetSource, Sample
    from auditkit.stats import log_softmax
    from auditkit.suite import PredictionRequest, Predictions
    from suites.invariance.suite import AXES, REFERENCE_POINTS, InvarianceSuite

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 1000, 60)
    source = DatasetSource("imagenet-val", Path("/nowhere"),
                           tuple(Sample(Path(f"{i}.JPEG"), int(y), f"{i}.JPEG") for i, y in enumerate(labels)))
    answers, logits_of = {}, {}
    for points in AXES.values():
        for point in points:
            logits = rng.normal(size=(60, 1000)).astype(np.float32)
            logits[np.arange(60), labels] += rng.uniform(0, 8, 60).astype(np.float32)
            logits_of[point.format()] = logits
            answers[PredictionRequest("imagenet-val", point.format())] = Predictions(
                source=source, condition=point.format(), logits=logits, content_sha1=np.array(["0" * 40] * 60))
    suite = InvarianceSuite()
    output = suite.evaluate("m", answers, seed=0)
    values = {(r.condition, r.subset, r.metric): r.value for r in output.records}
    assert len(values) == 15 * 3 and {s for _, s, _ in values} == {"all"} and "scale/1.25" in {c for c, _, _ in values}
    for axis, reference in REFERENCE_POINTS.items():
        assert values[(reference.format(), "all", "consistency")] == 1.0
    shifted, plain = logits_of["shift/30"], logits_of["shift/0"]
    assert values[("shift/30", "all", "consistency")] == pytest.approx((shifted.argmax(1) == plain.argmax(1)).mean())
    probability = np.exp(log_softmax(shifted.astype(np.float64)))[np.arange(60), labels].mean()
    assert values[("shift/30", "all", "true_class_probability")] == pytest.approx(probability, rel=1e-6)
    for (dataset, condition), arrays in output.per_sample.items():
        assert suite.sample_metrics(dataset, condition, arrays) == {
            (s, m): v for (c, s, m), v in values.items() if c == condition}


def test_v1_invariance_records_migrate():
    from auditkit.records import read_results
    from tests.suites.test_calibration import V1_RUN, v1_samples_reproduce

    rows = [r for r in read_results(V1_RUN).records if r.suite == "invariance"]
    assert {r.subset for r in rows} == {"all"} and "resolution/336" in {r.condition for r in rows}
    assert v1_samples_reproduce("invariance") == 45  # 15 points x (top1, true_class_probability, consistency)
