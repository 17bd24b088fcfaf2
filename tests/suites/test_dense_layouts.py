"""ADE20K, Pascal VOC 2012 and NYU Depth V2 (labeled) read in their released layouts, written
here by the tests (tiny PNG / JPEG files, an HDF5 .mat with h5py), and the bad inputs each gets
one line for. The writers are shared with the dense suite's tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit.data.catalog import open_dataset
from auditkit.data.dense_targets import IGNORE_INDEX, TargetReader, dense_labels, split_of
from auditkit.errors import AuditError

VOC_PALETTE = [value for k in range(256) for value in ((k * 37) % 256, (k * 91) % 256, (k * 53) % 256)]


def write_ade20k(root: Path, pairs: dict[str, list[tuple[np.ndarray, np.ndarray]]], names: bool = True) -> Path:
    """``pairs``: folder (``training`` / ``validation``) -> (image HxWx3 uint8, label HxW uint8 0 .. 150)."""
    for folder, items in pairs.items():
        (root / "images" / folder).mkdir(parents=True, exist_ok=True)
        (root / "annotations" / folder).mkdir(parents=True, exist_ok=True)
        for k, (image, label) in enumerate(items):
            stem = f"ADE_{'train' if folder == 'training' else 'val'}_{k + 1:08d}"
            Image.fromarray(image).save(root / "images" / folder / f"{stem}.jpg", quality=95)
            Image.fromarray(label).save(root / "annotations" / folder / f"{stem}.png")
    if names:
        rows = ["Idx\tRatio\tTrain\tVal\tName"] + [f"{k + 1}\t0.01\t10\t1\tthing{k}, other name" for k in range(150)]
        (root / "objectInfo150.txt").write_text("\n".join(rows) + "\n")
    return root


def write_voc2012(root: Path, splits: dict[str, list[tuple[np.ndarray, np.ndarray]]]) -> Path:
    """``splits``: split -> (image, label HxW uint8 0 .. 20 or 255); labels as palette PNGs."""
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for split, items in splits.items():
        ids = []
        for k, (image, label) in enumerate(items):
            image_id = f"2007_{split}{k:04d}"
            Image.fromarray(image).save(root / "JPEGImages" / f"{image_id}.jpg", quality=95)
            palette = Image.fromarray(label, mode="P")
            palette.putpalette(VOC_PALETTE)
            palette.save(root / "SegmentationClass" / f"{image_id}.png")
            ids.append(image_id)
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root


def write_nyu(root: Path, images: np.ndarray, depths: np.ndarray, labels: np.ndarray, train: list[int],
              test: list[int], mapping: np.ndarray | None = None) -> Path:
    """images (n, H, W, 3) uint8, depths (n, H, W) metres, labels (n, H, W) in 0 .. 894, stored as
    MATLAB v7.3 does (HDF5, dimensions reversed); splits 1-based."""
    import h5py  # a test dependency (the test extra): a missing one fails, never skips
    from scipy.io import savemat

    root.mkdir(parents=True, exist_ok=True)
    with h5py.File(root / "nyu_depth_v2_labeled.mat", "w") as mat:
        mat["images"] = images.transpose(0, 3, 2, 1)
        mat["depths"] = depths.transpose(0, 2, 1).astype(np.float32)
        mat["labels"] = labels.transpose(0, 2, 1).astype(np.uint16)
    savemat(root / "splits.mat", {"trainNdxs": np.array(train)[:, None], "testNdxs": np.array(test)[:, None]})
    if mapping is None:
        mapping = np.arange(894) % 40 + 1
    names = np.empty((1, 40), dtype=object)
    names[0, :] = [f"nyu{k}" for k in range(40)]
    savemat(root / "classMapping40.mat", {"mapClass": mapping[None, :].astype(np.float64), "className": names})
    return root


def _pair(rng: np.random.Generator, size: tuple[int, int], classes: int) -> tuple[np.ndarray, np.ndarray]:
    return (rng.integers(0, 255, (*size, 3), dtype=np.uint8), rng.integers(0, classes, size, dtype=np.uint8))


def test_ade20k_layout_labels_shifted_and_zero_ignored(tmp_path):
    rng = np.random.default_rng(0)
    pairs = {"training": [_pair(rng, (20, 30), 151) for _ in range(3)], "validation": [_pair(rng, (24, 18), 151)]}
    pairs["validation"][0][1][0, :3] = [0, 1, 150]
    root = write_ade20k(tmp_path / "ADEChallengeData2016", pairs)
    source = open_dataset("ade20k", tmp_path, {})
    assert [s.sample_id for s in source.samples] == [
        "training/ADE_train_00000001", "training/ADE_train_00000002", "training/ADE_train_00000003",
        "validation/ADE_val_00000001"]
    assert [split_of(s) for s in source.samples] == ["train"] * 3 + ["val"]
    labels = dense_labels(source)
    assert len(labels.classes) == 150 and labels.classes[:2] == ("thing0", "thing1")
    with TargetReader(source) as targets:
        label = targets.segmentation(source.samples[3])
    raw = pairs["validation"][0][1]
    assert label.shape == (24, 18) and list(label[0, :3]) == [IGNORE_INDEX, 0, 149]
    np.testing.assert_array_equal(label, np.where(raw == 0, IGNORE_INDEX, raw.astype(int) - 1))
    assert root.is_dir()


def test_ade20k_bad_inputs_are_one_line(tmp_path):
    rng = np.random.default_rng(1)
    root = write_ade20k(tmp_path / "ADEChallengeData2016", {"training": [_pair(rng, (20, 30), 151)],
                                                           "validation": [_pair(rng, (20, 30), 151)]})
    label = root / "annotations" / "validation" / "ADE_val_00000001.png"
    Image.fromarray(np.zeros((21, 30), np.uint8)).save(label)
    with pytest.raises(AuditError, match=r"label map of 30x21 for an image of 30x20") as error:
        open_dataset("ade20k", tmp_path, {})
    assert "\n" not in str(error.value)
    Image.fromarray(np.full((20, 30), 151, np.uint8)).save(label)  # class 151 of 150
    source = open_dataset("ade20k", tmp_path, {})
    with TargetReader(source) as targets, pytest.raises(AuditError, match="label 151 is outside the 150 classes"):
        targets.segmentation(source.samples[1])
    label.unlink()
    with pytest.raises(AuditError, match="has no label map"):
        open_dataset("ade20k", tmp_path, {})


def test_voc2012_palette_labels_and_split_files(tmp_path):
    rng = np.random.default_rng(2)
    splits = {"train": [_pair(rng, (16, 20), 21) for _ in range(2)], "val": [_pair(rng, (16, 20), 21)]}
    splits["val"][0][1][:2] = IGNORE_INDEX
    write_voc2012(tmp_path / "VOCdevkit" / "VOC2012", splits)
    source = open_dataset("voc2012", tmp_path, {})
    assert [(s.sample_id, split_of(s)) for s in source.samples] == [
        ("2007_train0000", "train"), ("2007_train0001", "train"), ("2007_val0000", "val")]
    assert dense_labels(source).classes[0] == "background" and len(dense_labels(source).classes) == 21
    with TargetReader(source) as targets:
        np.testing.assert_array_equal(targets.segmentation(source.samples[2]), splits["val"][0][1])


def test_voc2012_bad_inputs_are_one_line(tmp_path):
    rng = np.random.default_rng(3)
    root = write_voc2012(tmp_path / "voc", {"train": [_pair(rng, (16, 20), 21)], "val": [_pair(rng, (16, 20), 21)]})
    with (root / "ImageSets" / "Segmentation" / "val.txt").open("a") as listing:
        listing.write("2008_000099\n")
    with pytest.raises(AuditError, match=r"val.txt names 1 images missing from JPEGImages/ \(first: 2008_000099.jpg\)"):
        open_dataset("voc2012", tmp_path, {"voc2012": str(root)})
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("2007_val0000\n")
    Image.fromarray(np.zeros((16, 20, 3), np.uint8)).save(root / "SegmentationClass" / "2007_val0000.png")
    source = open_dataset("voc2012", tmp_path, {"voc2012": str(root)})
    with TargetReader(source) as targets, pytest.raises(AuditError, match="single-channel .* not RGB"):
        targets.segmentation(source.samples[1])


def _nyu_arrays(rng: np.random.Generator, n: int = 4, size: tuple[int, int] = (12, 16)):
    images = rng.integers(0, 255, (n, *size, 3), dtype=np.uint8)
    depths = rng.uniform(0.5, 9.0, (n, *size)).astype(np.float32)
    labels = rng.integers(0, 895, (n, *size))
    return images, depths, labels


def test_nyu_mat_images_depths_and_forty_classes(tmp_path):
    rng = np.random.default_rng(4)
    images, depths, labels = _nyu_arrays(rng)
    labels[2, 0, :2] = [0, 894]
    write_nyu(tmp_path / "nyu-depth-v2", images, depths, labels, train=[1, 2], test=[3, 4])
    source = open_dataset("nyu-depth-v2", tmp_path, {})
    assert [(s.sample_id, split_of(s)) for s in source.samples] == [
        ("0001", "train"), ("0002", "train"), ("0003", "val"), ("0004", "val")]
    assert dense_labels(source).tasks == ("segmentation", "depth") and dense_labels(source).classes[3] == "nyu3"
    import io

    with Image.open(io.BytesIO(source.table.read(2))) as image:  # what the model sees: the RGB of image 3
        np.testing.assert_array_equal(np.asarray(image), images[2])
    with TargetReader(source) as targets:
        np.testing.assert_array_equal(targets.depth(source.samples[2]), depths[2])
        label = targets.segmentation(source.samples[2])
    expected = np.where(labels[2] == 0, IGNORE_INDEX, (labels[2] - 1) % 40)  # mapClass k -> k % 40 + 1
    np.testing.assert_array_equal(label, expected)
    assert label[0, 0] == IGNORE_INDEX and label[0, 1] == 893 % 40
    assert len(source.manifest_hash) == 64


def test_nyu_bad_inputs_are_one_line(tmp_path):
    import h5py

    rng = np.random.default_rng(5)
    root = write_nyu(tmp_path / "nyu", *_nyu_arrays(rng), train=[1, 2], test=[3, 9])
    with pytest.raises(AuditError, match=r"names image 9, but nyu_depth_v2_labeled.mat holds images 1 .. 4"):
        open_dataset("nyu-depth-v2", tmp_path, {"nyu-depth-v2": str(root)})
    with h5py.File(root / "nyu_depth_v2_labeled.mat", "a") as mat:
        del mat["depths"]
    with pytest.raises(AuditError, match="holds no 'depths'") as error:
        open_dataset("nyu-depth-v2", tmp_path, {"nyu-depth-v2": str(root)})
    assert "\n" not in str(error.value)
    (root / "nyu_depth_v2_labeled.mat").write_bytes(b"MATLAB 5.0 MAT-file, not HDF5")
    with pytest.raises(AuditError, match="is not an HDF5"):
        open_dataset("nyu-depth-v2", tmp_path, {"nyu-depth-v2": str(root)})


def test_nyu_without_h5py_is_one_line_naming_the_install(tmp_path, monkeypatch):
    root = write_nyu(tmp_path / "nyu-depth-v2", *_nyu_arrays(np.random.default_rng(6)), train=[1, 2], test=[3, 4])
    monkeypatch.setitem(__import__("sys").modules, "h5py", None)  # what `import h5py` meets when it is not installed
    with pytest.raises(AuditError, match=r"needs h5py: pip install h5py") as error:
        open_dataset("nyu-depth-v2", tmp_path, {"nyu-depth-v2": str(root)})
    assert "\n" not in str(error.value)
