"""Dataset readers on generated fixtures in the released layouts."""

from __future__ import annotations

import csv
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from auditkit.data import open_dataset, parse_data_overrides
from auditkit.data.classes import imagenet_wnids, subset_indices
from auditkit.errors import AuditError
from tests.conftest import VAL_CLASSES, write_image


def standard_val_labels() -> dict[str, int]:
    table = resources.files("imagenet_x") / "annotations" / "filename_label.csv"
    with table.open() as handle:
        return {row["file_name"]: int(row["label"]) for row in csv.DictReader(handle)}


def test_image_folder_labels_are_wnid_indices_not_folder_order(val_folder: Path, tmp_path: Path):
    source = open_dataset("imagenet-val", tmp_path, {"imagenet-val": str(val_folder)})
    assert len(source) == 24
    for sample in source.samples:
        assert sample.label == VAL_CLASSES[sample.path.parent.name]
        assert sample.sample_id == sample.path.name  # the original val file name
    # a subset of the class folders scores the same labels (n02085620 stays 151, not 1)
    subset = tmp_path / "subset"
    (subset / "n02085620").mkdir(parents=True)
    for path in (val_folder / "n02085620").iterdir():
        (subset / "n02085620" / path.name).write_bytes(path.read_bytes())
    only = open_dataset("imagenet-val", tmp_path, {"imagenet-val": str(subset)})
    assert {s.label for s in only.samples} == {151}


def test_real_val_file_in_the_wrong_class_folder_is_refused(val_folder: Path, tmp_path: Path):
    moved = next((val_folder / "n01440764").iterdir())
    moved.rename(val_folder / "n01443537" / moved.name)
    with pytest.raises(AuditError, match="wrong class folder"):
        open_dataset("imagenet-val", tmp_path, {"imagenet-val": str(val_folder)})


def test_imagenet_root_with_val_folder_is_found(val_folder: Path):
    root = val_folder.parent
    source = open_dataset("imagenet-val", root / "nowhere", {"imagenet-val": str(root)})
    assert len(source) == 24


def test_flat_val_folder_uses_standard_labels(tmp_path: Path):
    labels = standard_val_labels()
    rng = np.random.default_rng(0)
    names = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in (1, 2, 3, 50000)]
    for name in names:
        write_image(tmp_path / "flat" / name, rng)
    source = open_dataset("imagenet-val", tmp_path, {"imagenet-val": str(tmp_path / "flat")})
    assert [s.label for s in source.samples] == [labels[n] for n in names]
    assert source.info["labels"] == "imagenet-x filename_label.csv"
    assert labels["ILSVRC2012_val_00000001.JPEG"] == 65  # the well-known first val label


def test_flat_val_folder_with_devkit_maps_ilsvrc_ids_through_meta(tmp_path: Path):
    # The devkit's ILSVRC2012_IDs follow its own order, not the sorted wnids: give the fixture a
    # permuted order so a reader that used the ID as the class index would be caught.
    rng = np.random.default_rng(0)
    wnids = list(imagenet_wnids())
    permuted = [wnids[i] for i in rng.permutation(1000)]
    synsets = np.zeros(1000, dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("num_children", "O")])
    for position, wnid in enumerate(permuted):
        synsets[position] = (position + 1, wnid, 0)
    devkit = tmp_path / "ILSVRC2012_devkit_t12" / "data"
    devkit.mkdir(parents=True)
    savemat(devkit / "meta.mat", {"synsets": synsets})
    ground_truth = [7, 1, 999]
    (devkit / "ILSVRC2012_validation_ground_truth.txt").write_text("\n".join(map(str, ground_truth)))
    for i in range(1, 4):
        write_image(tmp_path / "val" / f"ILSVRC2012_val_{i:08d}.JPEG", rng)
    source = open_dataset("imagenet-val", tmp_path, {"imagenet-val": str(tmp_path / "val")})
    expected = [wnids.index(permuted[i - 1]) for i in ground_truth]
    assert [s.label for s in source.samples] == expected
    assert source.info["labels"].startswith("devkit")


def test_imagenet_r_restricts_to_its_200_classes(tmp_path: Path):
    classes = subset_indices("imagenet_r")
    assert len(classes) == 200
    rng = np.random.default_rng(0)
    wnids = imagenet_wnids()
    for index in classes[:3]:
        for j in range(2):
            write_image(tmp_path / "imagenet-r" / wnids[index] / f"art_{j}.jpg", rng)
    source = open_dataset("imagenet-r", tmp_path, {})
    assert source.class_indices == classes
    assert len(source) == 6 and len({s.sample_id for s in source.samples}) == 6
    assert {s.label for s in source.samples} == set(classes[:3])


def test_imagenet_r_rejects_a_class_outside_its_200(tmp_path: Path):
    outside = next(w for i, w in enumerate(imagenet_wnids()) if i not in subset_indices("imagenet_r"))
    write_image(tmp_path / "imagenet-r" / outside / "x.jpg", np.random.default_rng(0))
    with pytest.raises(AuditError, match="not one of the dataset's classes"):
        open_dataset("imagenet-r", tmp_path, {})


def test_missing_dataset_says_where_and_how(tmp_path: Path):
    with pytest.raises(AuditError) as error:
        open_dataset("imagenet-val", tmp_path, {})
    message = str(error.value)
    assert str(tmp_path / "imagenet-val") in message and "--data imagenet-val=PATH" in message
    assert "\n" not in message


def test_manifest_changes_when_a_file_changes(val_folder: Path, tmp_path: Path):
    first = open_dataset("imagenet-val", tmp_path, {"imagenet-val": str(val_folder)}).manifest_hash
    target = next((val_folder / "n01440764").iterdir())
    target.write_bytes(target.read_bytes() + b"\0")
    second = open_dataset("imagenet-val", tmp_path, {"imagenet-val": str(val_folder)}).manifest_hash
    assert first != second


def test_data_override_typos_get_did_you_mean():
    with pytest.raises(AuditError, match="did you mean 'imagenet-val'"):
        parse_data_overrides(["imagenet-vall=/x"])
    with pytest.raises(AuditError, match="NAME=PATH"):
        parse_data_overrides(["imagenet-val"])
