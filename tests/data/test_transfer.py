"""Transfer datasets: the built-in digits export and the three train/val/test layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit.data.catalog import open_dataset, parse_data_overrides
from auditkit.data.transfer import digits_split, read_transfer, split_of, task_of
from auditkit.errors import AuditError
from tests.conftest import write_image


@pytest.fixture(scope="module")
def digits_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    open_dataset("digits", root, {})  # exported on first use, offline
    return root


def test_digits_are_exported_offline_with_the_real_pixels_and_a_fixed_split(digits_root):
    from sklearn.datasets import load_digits

    source = open_dataset("digits", digits_root, {})
    digits = load_digits()
    assert len(source) == 1797
    assert source.describe()["splits"] == {"train": 800, "val": 199, "test": 798}
    assert source.describe()["classes"] == 10
    by_index = {int(s.path.stem.split("-")[1]): s for s in source.samples}
    expected_split = digits_split(digits.target)
    for index in (0, 1, 500, 1796):
        sample = by_index[index]
        assert sample.label == digits.target[index]
        assert split_of(sample) == expected_split[index]
        pixels = np.asarray(Image.open(sample.path))
        np.testing.assert_array_equal(pixels, np.round(digits.images[index] * 255 / 16).astype(np.uint8))
    # stratified: every digit in every split; the split never changes (seeded)
    for split in ("train", "val", "test"):
        assert {s.label for s in source.samples if split_of(s) == split} == set(range(10))
    np.testing.assert_array_equal(digits_split(digits.target), expected_split)
    # a second open reads the exported copy (same manifest)
    assert open_dataset("digits", digits_root, {}).manifest_hash == source.manifest_hash


def _split_tree(root: Path, splits: dict[str, int], classes=("cat", "dog", "eel")) -> Path:
    rng = np.random.default_rng(0)
    for split, count in splits.items():
        for name in classes:
            for i in range(count):
                write_image(root / split / name / f"{name}{i}.png", rng, size=(12, 12))
    return root


def test_split_folders_label_by_sorted_train_classes(tmp_path):
    root = _split_tree(tmp_path / "task", {"train": 3, "validation": 2, "test": 2})
    source = read_transfer(root, "transfer")
    assert source.describe()["splits"] == {"train": 9, "val": 6, "test": 6}
    assert {(split_of(s), s.sample_id.split("/")[1], s.label) for s in source.samples} >= {
        ("train", "cat", 0), ("val", "dog", 1), ("test", "eel", 2)}
    assert source.info["class_names"] == ["cat", "dog", "eel"]


def test_a_test_class_missing_from_train_is_refused(tmp_path):
    root = _split_tree(tmp_path / "task", {"train": 1, "test": 1})
    write_image(root / "test" / "fox" / "fox0.png", np.random.default_rng(1), size=(12, 12))
    with pytest.raises(AuditError, match="'fox' is in test/ but not in train/"):
        read_transfer(root, "transfer")


def test_no_test_split_is_refused_in_one_line(tmp_path):
    root = _split_tree(tmp_path / "task", {"train": 2})
    with pytest.raises(AuditError, match="needs train and test images"):
        read_transfer(root, "transfer")


def _vtab_task(root: Path, offset: int) -> None:
    rng = np.random.default_rng(offset)
    lines = {"train800.txt": [], "val200.txt": [], "test.txt": []}
    for listing in lines:
        for i in range(4):
            relative = f"images/{listing[:4]}_{i}.jpg"
            write_image(root / relative, rng, size=(10, 10))
            lines[listing].append(f"{relative} {i % 2 + offset}")
    for listing, rows in lines.items():
        (root / listing).write_text("\n".join(rows) + "\n")


def test_vtab_1k_lists(tmp_path):
    _vtab_task(tmp_path / "vtab-1k" / "dtd", 0)
    _vtab_task(tmp_path / "vtab-1k" / "cifar", 10)
    (tmp_path / "vtab-1k" / "notes").mkdir()  # not a task: ignored
    source = open_dataset("vtab-1k", tmp_path, {})
    assert source.name == "vtab-1k" and source.info["tasks"] == ["cifar100", "dtd"]
    assert source.info["splits"]["dtd"] == {"train": 4, "val": 4, "test": 4}
    test_labels = sorted(s.label for s in source.samples if split_of(s) == "test" and task_of(s, "") == "dtd")
    assert test_labels == [0, 0, 1, 1]
    assert {s.sample_id.split("/")[0] for s in source.samples} == {"cifar100", "dtd"}
    # a single task folder given as a transfer dataset reads the same lists
    alone = read_transfer(tmp_path / "vtab-1k" / "dtd", "transfer")
    assert alone.info["layout"] == "vtab-1k lists" and alone.describe()["splits"] == {"train": 4, "val": 4, "test": 4}
    (tmp_path / "vtab-1k" / "dtd" / "test.txt").write_text("images/missing.jpg 0\n")
    with pytest.raises(AuditError, match="missing.jpg, which is missing"):
        open_dataset("vtab-1k", tmp_path, {})
    with pytest.raises(AuditError, match="no task folder"):
        open_dataset("vtab-1k", tmp_path / "vtab-1k" / "dtd", {"vtab-1k": str(tmp_path / "vtab-1k" / "dtd")})


def test_hf_dataset_dict_with_train_and_test(tmp_path):
    import datasets

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)) for _ in range(5)]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])})
    splits = datasets.DatasetDict({
        "train": datasets.Dataset.from_dict({"image": images[:3], "label": [0, 1, 1]}, features=features),
        "test": datasets.Dataset.from_dict({"image": images[3:], "label": [1, 0]}, features=features),
    })
    splits.save_to_disk(str(tmp_path / "hf"))
    overrides = parse_data_overrides([f"transfer={tmp_path / 'hf'}"])
    source = open_dataset("transfer", tmp_path / "none", overrides)
    assert source.describe()["splits"] == {"train": 3, "val": 0, "test": 2}
    assert [s.label for s in source.samples if split_of(s) == "test"] == [1, 0]
    assert source.info["class_names"] == ["a", "b"]
    # the table holds the very image bytes of each row
    first_test = next(s for s in source.samples if split_of(s) == "test")
    decoded = np.asarray(Image.open(__import__("io").BytesIO(source.table.read(first_test.row))).convert("RGB"))
    np.testing.assert_array_equal(decoded, np.asarray(images[3]))


def test_digits_where_it_cannot_be_written_is_one_line(tmp_path):
    root = tmp_path / "not-a-folder"
    root.write_text("a file where the data root should be")  # fails for root too, unlike chmod
    with pytest.raises(AuditError, match="digits: cannot write its images .* give a writable --data-root"):
        open_dataset("digits", root, {})
