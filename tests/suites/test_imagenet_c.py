"""ImageNet-C: seeded on-the-fly generation, released folders, CE / mCE by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from torchvision import transforms as T

from auditkit.cli import main
from auditkit.data.classes import imagenet_wnids
from auditkit.data.corruptions import CORRUPTIONS, corrupt_image
from suites.robustness.suite import ALEXNET_ERROR, corruption_errors
from tests.conftest import standard_val_names
from tests.suites.test_imagenet_x import COLOUR_MODEL, encode


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.fromarray(skimage.data.astronaut())


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_generation_is_deterministic_and_really_corrupts(corruption, photo):
    clean = np.asarray(T.Compose([T.Resize(256), T.CenterCrop(224)])(photo)).astype(float)
    state = np.random.get_state()
    distortion = []
    for severity in range(1, 6):
        first = np.asarray(corrupt_image(photo, corruption, severity))
        np.random.seed(12345)  # unrelated global state must not change the result
        second = np.asarray(corrupt_image(photo, corruption, severity))
        assert first.shape == (224, 224, 3)
        assert np.array_equal(first, second)
        distortion.append(np.abs(first.astype(float) - clean).mean())
        assert distortion[-1] > 3, (corruption, severity)  # more than JPEG noise
    np.random.set_state(state)
    if corruption != "elastic_transform":  # its parameter table is not monotone in pixels (as in ImageNet-C)
        assert distortion[4] > distortion[0]


# AlexNet's corruption errors (mean over severities), typed again from PROTOCOLS.md / Hendrycks &
# Dietterich, independently of the suite's table
PROTOCOL_ALEXNET = {
    "gaussian_noise": 0.886428, "shot_noise": 0.894468, "impulse_noise": 0.922640, "defocus_blur": 0.819880,
    "glass_blur": 0.826268, "motion_blur": 0.785948, "zoom_blur": 0.798360, "snow": 0.866816,
    "frost": 0.826572, "fog": 0.819324, "brightness": 0.564592, "contrast": 0.853204,
    "elastic_transform": 0.646056, "pixelate": 0.717840, "jpeg_compression": 0.606500,
}


def test_corruption_error_by_hand():
    assert ALEXNET_ERROR == PROTOCOL_ALEXNET
    accuracy = {(c, s): 0.5 for c in ALEXNET_ERROR for s in range(1, 6)}
    accuracy[("fog", 5)] = 0.0
    errors, mce = corruption_errors(accuracy)
    assert errors["brightness"] == pytest.approx(0.5 / 0.564592)  # 2.5 / (5 x 0.564592) = 0.885595
    assert errors["fog"] == pytest.approx(0.732311, abs=1e-6)  # (4 x 0.5 + 1) / (5 x 0.819324)
    # mCE by hand: (sum over the 15 of 0.5 / a_c = 9.700886) / 15 = 0.646726, plus fog's extra
    # 0.1 / 0.819324 / 15 = 0.008137
    assert mce == pytest.approx(0.654863, abs=1e-6)
    del accuracy[("snow", 3)]
    errors, mce = corruption_errors(accuracy)
    assert "snow" not in errors and mce is None


def run(root, model, out, *extra):
    main(["run", "--model", f"python:{model}:make", "--suites", "robustness", "--data-root", str(root),
          "--out", str(out), "--cache", str(out.parent / "cache"), "--no-progress", "--workers", "0", *extra])
    return json.loads((out / "results.json").read_text())


def test_on_the_fly_imagenet_c_from_a_val_folder(tmp_path):
    wnids = imagenet_wnids()
    root = tmp_path / "data"
    paths = []
    for index in (0, 1, 2):
        for name in standard_val_names(index, 1):
            paths.append((root / "imagenet-val" / wnids[index] / name, index))
            encode(paths[-1][0], index)
    model_file = tmp_path / "colour_model.py"
    model_file.write_text(COLOUR_MODEL)
    payload = run(root, model_file, tmp_path / "out")
    records = [r for r in payload["records"] if r["dataset"] == "imagenet-c"]
    per_condition = {r["condition"]: r["value"] for r in records if r["metric"] == "top1" and "/" in r["condition"]}
    assert len(per_condition) == 75
    # independent: corrupt each image ourselves and ask the model directly
    namespace: dict = {}
    exec(model_file.read_text(), namespace)
    model = namespace["make"]()
    to_tensor = T.ToTensor()  # the colour model's mean 0 / std 1 and 16 px input: resize only
    for corruption, severity in (("gaussian_noise", 1), ("fog", 5), ("pixelate", 3)):
        batch = torch.stack([to_tensor(corrupt_image(Image.open(p), corruption, severity).resize((16, 16), Image.BILINEAR))
                             for p, _ in paths])
        with torch.no_grad():
            predicted = model(batch).argmax(1).numpy()
        expected = np.mean(predicted == np.array([label for _, label in paths]))
        assert per_condition[f"{corruption}/{severity}"] == pytest.approx(expected)
    mce = [r for r in records if r["metric"] == "mean_corruption_error"][0]["value"]
    # Hendrycks & Dietterich's definition written out: mean over corruptions of
    # sum over severities of (1 - top-1) / (5 x AlexNet's mean error)
    expected = np.mean([sum(1 - per_condition[f"{c}/{s}"] for s in range(1, 6)) / (5 * a)
                        for c, a in PROTOCOL_ALEXNET.items()])
    assert mce == pytest.approx(expected)
    assert payload["header"]["images_forwarded"]["imagenet-val/corrupt/fog/5"] == 3
    # which images: auditkit's implementation, named in the header and in the store's keys
    from auditkit.data.imagenet_c import implementation

    assert payload["header"]["imagenet_c"].startswith(f"made on the fly: {implementation()}")
    metas = [json.loads(p.read_text()) for p in (tmp_path / "out").parent.glob("cache/store/*/*/meta.json")]
    assert sum(m["condition"] == f"corrupt/fog/5@{implementation()}" for m in metas) == 1
    assert not any(s["dataset"] == "imagenet-c" for s in payload["skipped"])


def test_released_imagenet_c_folders(tmp_path):
    wnids = imagenet_wnids()
    root = tmp_path / "data"
    for severity in range(1, 6):
        for index in (0, 1):
            right = not (severity == 5 and index == 1)
            encode(root / "imagenet-c" / "brightness" / str(severity) / wnids[index] / "x.JPEG", index if right else 9)
    encode(root / "imagenet-c" / "fog" / "1" / wnids[3] / "y.JPEG", 3)
    model_file = tmp_path / "colour_model.py"
    model_file.write_text(COLOUR_MODEL)
    payload = run(root, model_file, tmp_path / "out")
    records = {(r["condition"], r["metric"]): r["value"] for r in payload["records"] if r["dataset"] == "imagenet-c"}
    assert records[("brightness/5", "top1")] == 0.5 and records[("brightness/1", "top1")] == 1.0
    assert records[("brightness", "corruption_error")] == pytest.approx(0.5 / (5 * 0.564592))
    assert ("none", "mean_corruption_error") not in records  # 1 of 15 corruptions complete
    assert any("mCE needs all 15" in n["message"] for n in payload["notices"])
    assert "imagenet-c/native" in payload["header"]["images_forwarded"]
    assert payload["header"]["imagenet_c"].startswith("released files")
