"""ObjectNet in its released layout: the 113 overlapping classes, the 2 px border crop, scoring
against each class's ImageNet classes with logits restricted to the 125 of them (the testbed's
src/eval_settings/objectnet.py)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit.data.objectnet import class_sublist, folder_classes, read_objectnet
from auditkit.errors import AuditError
from auditkit.suite import PredictionRequest, Predictions
from suites.robustness.suite import RobustnessSuite


def _framed(path: Path, rng: np.random.Generator, size=(30, 40)) -> np.ndarray:
    """An image with the release's 1 px red frame (and a second ring of noise)."""
    pixels = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
    pixels[0, :] = pixels[-1, :] = pixels[:, 0] = pixels[:, -1] = (255, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return pixels


@pytest.fixture()
def objectnet(tmp_path):
    rng = np.random.default_rng(0)
    images = tmp_path / "objectnet-1.0" / "images"
    pixels = {name: _framed(images / name, rng) for name in
              ("banana/1.png", "banana/2.png", "alarm_clock/1.png", "squeegee/1.png")}
    return tmp_path, pixels


def test_only_the_113_overlapping_classes_are_read_with_their_imagenet_sets(objectnet):
    root, _ = objectnet
    source = read_objectnet(root)
    assert [s.sample_id for s in source.samples] == ["alarm_clock/1.png", "banana/1.png", "banana/2.png"]
    assert source.samples[0].label_set == (409, 530)  # analog clock; digital clock
    assert source.samples[1].label_set == (954,)  # banana
    assert source.info["folders_not_in_imagenet"] == 1  # squeegee: not an ImageNet class
    assert len(folder_classes()) == 113 and len(class_sublist()) == 125
    assert source.class_indices == class_sublist()


def test_the_model_sees_the_image_less_a_2px_border(objectnet):
    root, pixels = objectnet
    source = read_objectnet(root)
    row = source.samples[1].row
    with Image.open(io.BytesIO(source.table.read(row))) as image:
        seen = np.asarray(image.convert("RGB"))
    assert seen.shape == (26, 36, 3)
    assert np.array_equal(seen, pixels["banana/1.png"][2:-2, 2:-2])
    assert not (seen[0] == (255, 0, 0)).all(axis=1).any()  # no frame left


def test_an_answer_counts_when_it_is_any_imagenet_class_of_the_objectnet_class(objectnet):
    root, _ = objectnet
    source = read_objectnet(root)
    logits = np.zeros((3, 1000), np.float32)
    logits[:, 0] = 10  # tench: the unrestricted favourite, outside the 125 classes
    logits[0, 530] = 5  # alarm clock folder -> digital clock: right
    logits[1, 954] = 5  # banana: right
    logits[2, 409] = 5  # banana folder answered analog clock: wrong
    prediction = Predictions(source, "none", logits, np.full(3, ""))
    output = RobustnessSuite().evaluate("m", {PredictionRequest("objectnet"): prediction}, seed=0)
    (top1,) = [r.value for r in output.records if r.dataset == "objectnet" and r.metric == "top1"]
    assert top1 == pytest.approx(2 / 3)


def test_a_folder_without_objectnet_classes_is_one_line(tmp_path):
    (tmp_path / "cats").mkdir()
    with pytest.raises(AuditError, match="objectnet-1.0/images/<class folder>"):
        read_objectnet(tmp_path)
