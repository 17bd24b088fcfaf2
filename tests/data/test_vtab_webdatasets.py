"""CIFAR-10/100, SVHN and Flowers102 as CLIP_benchmark's VTAB webdatasets, each under its own name:
fixtures written by CLIP_benchmark's own exporter in the layout of the hub's wds_vtab-<task>, read
from the folder `audit fetch wds/vtab/<task>` fills, and split by the fine-tuning trainer."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from auditkit.data.catalog import open_dataset, parse_data_overrides
from auditkit.data.datasets.vtab_webdatasets import TASKS
from auditkit.data.transfer import split_of
from auditkit.train.finetune import task_splits
from auditkit.train.recipes import recipe
from tests.data.test_wds import _export, exporter  # noqa: F401 (exporter: the fixture)

CLASSES = {"vtab-cifar10": 10, "vtab-cifar100": 100, "vtab-svhn": 10, "vtab-flowers102": 102}


def _write_task(exporter, root, name: str) -> dict[str, list]:
    """train: 10 images per class, test: 2, 8x8 PNGs (CLIP_benchmark re-encodes them as webp)."""
    classes = [f"class {i}" for i in range(CLASSES[name])]
    pairs = {split: [(Image.fromarray(np.full((8, 8, 3), (7 * c + k) % 256, np.uint8)), c)
                     for c in range(len(classes)) for k in range(per_class)]
             for split, per_class in (("train", 10), ("test", 2))}
    for split, items in pairs.items():
        _export(exporter, items, classes, root / "wds" / "vtab" / TASKS[name][0], split=split, max_count=500)
    return pairs


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_each_task_gives_train_and_test_the_trainer_accepts(exporter, tmp_path, name) -> None:  # noqa: F811
    pairs = _write_task(exporter, tmp_path, name)
    source = open_dataset(name, tmp_path, {})  # <data root>/wds/vtab/<task>, where `audit fetch` puts it
    k = CLASSES[name]
    assert source.info["splits"] == {"train": 10 * k, "val": 0, "test": 2 * k}
    assert source.info["layout"] == "CLIP_benchmark webdataset" and len(source.info["class_names"]) == k
    for sample in source.samples:
        split, _, key = sample.sample_id.split("/")
        assert split_of(sample) == split and sample.label == pairs[split][int(key[1:])][1]
    splits = task_splits(source, replace(recipe("zhou2021"), batch_size=8), 1.0, seed=0)
    assert splits.classes == k and len(splits.val) == k and len(splits.train) == 9 * k  # 10 % of each class held out
    assert {split_of(source.samples[i]) for i in splits.test} == {"test"} and len(splits.test) == 2 * k
    same = open_dataset("transfer", tmp_path, {"transfer": str(tmp_path / "wds" / "vtab" / TASKS[name][0])})
    assert [(s.sample_id, s.label) for s in same.samples] == [(s.sample_id, s.label) for s in source.samples]


def test_the_four_are_given_together(tmp_path) -> None:
    for name in CLASSES:
        (tmp_path / name).mkdir()
    overrides = parse_data_overrides([f"{name}={tmp_path / name}" for name in CLASSES])
    assert sorted(overrides) == sorted(CLASSES)
