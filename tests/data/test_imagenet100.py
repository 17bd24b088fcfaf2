"""ImageNet-100 (CMC's subset, Liu et al. 2021's small dataset) from an ImageNet train / val folder
in the released layouts: labels are positions in the shipped list, train -> train, val -> test."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit.data.catalog import open_dataset, parse_data_overrides
from auditkit.data.classes import imagenet_wnids
from auditkit.data.imagenet import imagenet_x_val_labels
from auditkit.data.imagenet100 import imagenet100_wnids
from auditkit.data.transfer import split_of
from auditkit.errors import AuditError
from auditkit.train.finetune import task_splits
from auditkit.train.recipes import recipe

OUTSIDE = "n01440764"  # tench: an ImageNet class not in the subset


def _jpeg(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (10, 10, 3), dtype=np.uint8)).save(path)


def _val_files() -> dict[str, str]:
    """One real ILSVRC2012 val file name per wnid (the standard labels), for the 100 and tench."""
    wnids = imagenet_wnids()
    chosen: dict[str, str] = {}
    for file_name, label in sorted(imagenet_x_val_labels().items()):
        chosen.setdefault(wnids[label], file_name)
    return {w: chosen[w] for w in (*imagenet100_wnids(), OUTSIDE)}


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory) -> Path:
    """ILSVRC2012 as unpacked: train/<wnid>/<wnid>_<n>.JPEG (two per class, 101 classes) and
    val/<wnid>/ILSVRC2012_val_<n>.JPEG (one per class, at its standard label)."""
    root = tmp_path_factory.mktemp("imagenet")
    for k, (wnid, val_file) in enumerate(_val_files().items()):
        for n in range(2):
            _jpeg(root / "train" / wnid / f"{wnid}_{n + 1}.JPEG", seed=3 * k + n)
        _jpeg(root / "val" / wnid / val_file, seed=3 * k + 2)
    return root


def test_the_shipped_list_is_cmcs_with_its_source() -> None:
    wnids = imagenet100_wnids()
    assert len(wnids) == 100 and wnids[:3] == ("n02869837", "n01749939", "n02488291") and wnids[-1] == "n02090622"
    folder = Path(__file__).resolve().parents[2] / "auditkit" / "data" / "imagenet100"
    readme = (folder / "README.md").read_text()
    assert "HobbitLong/CMC" in readme and "BSD 2-Clause" in readme and (folder / "LICENSE-CMC").is_file()


def test_labels_are_list_positions_train_to_train_val_to_test(imagenet) -> None:
    source = open_dataset("imagenet-100", imagenet.parent, parse_data_overrides([f"imagenet-100={imagenet}"]))
    assert source.info["splits"] == {"train": 200, "val": 0, "test": 100} and source.info["classes"] == 100
    position = {w: i for i, w in enumerate(imagenet100_wnids())}
    for sample in source.samples:
        wnid = sample.path.parent.name
        assert wnid != OUTSIDE and sample.label == position[wnid]
        assert split_of(sample) == ("train" if sample.path.parts[-3] == "train" else "test")
    splits = task_splits(source, replace(recipe("zhou2021"), batch_size=8), 1.0, seed=0)
    assert splits.classes == 100 and len(splits.test) == 100 and len(splits.train) + len(splits.val) == 200


def test_a_flat_val_folder_gives_the_same_task(imagenet, tmp_path) -> None:
    """The flat ILSVRC2012_img_val.tar folder, labelled by the standard labels: the same samples."""
    shutil.copytree(imagenet / "train", tmp_path / "train")
    (tmp_path / "val").mkdir()
    for image in (imagenet / "val").glob("*/*.JPEG"):
        shutil.copy(image, tmp_path / "val" / image.name)
    tree = open_dataset("imagenet-100", tmp_path, {"imagenet-100": str(imagenet)})
    flat = open_dataset("imagenet-100", tmp_path, {"imagenet-100": str(tmp_path)})
    assert [(s.label, s.path.name) for s in flat.samples] == [(s.label, s.path.name) for s in tree.samples]


def test_a_missing_class_or_split_is_one_line(imagenet, tmp_path) -> None:
    shutil.copytree(imagenet, tmp_path / "copy")
    copy = tmp_path / "copy"
    shutil.rmtree(copy / "val" / imagenet100_wnids()[7])
    with pytest.raises(AuditError, match=rf"holds no val image of 1 of its 100 classes \(e.g. {imagenet100_wnids()[7]}\)"):
        open_dataset("imagenet-100", tmp_path, {"imagenet-100": str(copy)})
    shutil.rmtree(copy / "train" / imagenet100_wnids()[3])
    with pytest.raises(AuditError, match=rf"has no {imagenet100_wnids()[3]}/, one of the subset's 100 classes"):
        open_dataset("imagenet-100", tmp_path, {"imagenet-100": str(copy)})
    shutil.rmtree(copy / "val")
    with pytest.raises(AuditError, match=r"has no val/; point --data imagenet-100 at the ImageNet folder"):
        open_dataset("imagenet-100", tmp_path, {"imagenet-100": str(copy)})


def test_a_val_file_in_the_wrong_class_folder_is_refused(imagenet, tmp_path) -> None:
    shutil.copytree(imagenet, tmp_path / "copy")
    first, second = imagenet100_wnids()[:2]
    val = tmp_path / "copy" / "val"
    one, other = next((val / first).iterdir()), next((val / second).iterdir())  # swapped
    one.rename(val / second / one.name)
    other.rename(val / first / other.name)
    with pytest.raises(AuditError, match=r"imagenet-100: in its val/ folder, imagenet-val: 2 val file\(s\) sit in the "
                                         r"wrong class folder"):
        open_dataset("imagenet-100", tmp_path, {"imagenet-100": str(tmp_path / "copy")})
