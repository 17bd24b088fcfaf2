"""DomainNet in its released layout: one task per domain, splits and labels from the released lists
(checked against the class folders), and the trainer's split function accepts it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit.data.catalog import DATASETS, NOT_FETCHED, open_dataset, parse_data_overrides
from auditkit.data.domainnet import DOMAINS, read_domainnet
from auditkit.data.transfer import split_of
from auditkit.errors import AuditError
from auditkit.train.finetune import task_splits
from auditkit.train.recipes import recipe

# released class folders and their labels (DomainNet's 0..344; zigzag is the last)
CLASSES = {"aircraft_carrier": 0, "airplane": 1, "The_Eiffel_Tower": 301, "zigzag": 344}


def _jpeg(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(path)


def _release(root: Path, domain: str = "clipart", per_class: dict[str, int] | None = None) -> dict[str, list[str]]:
    """``<root>/<domain>/<class>/<domain>_<class no.>_<image no.>.jpg`` and the two lists, as released:
    10 train and 3 test images per class. Returns the list lines per split."""
    lines: dict[str, list[str]] = {"train": [], "test": []}
    for name, label in (per_class or CLASSES).items():
        for k in range(13):
            relative = f"{domain}/{name}/{domain}_{label + 1:03d}_{k:06d}.jpg"
            _jpeg(root / relative, seed=label * 10 + k)
            lines["train" if k < 10 else "test"].append(f"{relative} {label}")
    _write_lists(root, domain, lines)
    return lines


def _write_lists(root: Path, domain: str, lines: dict[str, list[str]]) -> None:
    for split, rows in lines.items():
        (root / f"{domain}_{split}.txt").write_text("\n".join(rows) + "\n")


@pytest.fixture
def release(tmp_path) -> Path:
    root = tmp_path / "domainnet"
    _release(root, "clipart")
    _release(root, "sketch", {"airplane": 1, "zigzag": 344})
    return root


def test_each_domain_is_its_own_task_with_the_released_splits_and_labels(release) -> None:
    source = open_dataset("domainnet-clipart", release.parent, {})  # the default folder <data root>/domainnet
    assert source.info["splits"] == {"train": 40, "val": 0, "test": 12} and source.info["classes"] == 345
    for sample in source.samples:
        folder = sample.path.parent.name
        assert sample.label == CLASSES[folder] and sample.path.parts[-3] == "clipart"
        assert split_of(sample) == ("train" if int(sample.path.stem.rsplit("_", 1)[1]) < 10 else "test")
        assert sample.sample_id == f"{split_of(sample)}/clipart/{folder}/{sample.path.name}"
    sketch = open_dataset("domainnet-sketch", release.parent, {})
    assert {s.path.parts[-3] for s in sketch.samples} == {"sketch"} and len(sketch) == 26
    assert sorted(DATASETS.names()) == sorted(set(DATASETS.names())) and all(
        f"domainnet-{d}" in DATASETS for d in DOMAINS)


def test_the_trainer_splits_it_holding_out_val_from_train(release) -> None:
    overrides = parse_data_overrides([f"domainnet-clipart={release}"])
    source = open_dataset("domainnet-clipart", release.parent / "elsewhere", overrides)
    splits = task_splits(source, replace(recipe("zhou2021"), batch_size=4), 1.0, seed=0)
    assert splits.classes == 345  # the head covers DomainNet's label space, not the 4 classes present
    assert len(splits.train) == 36 and len(splits.val) == 4 and len(splits.test) == 12  # 10 % of each class
    assert {split_of(source.samples[i]) for i in splits.test} == {"test"}
    assert "no val split" in splits.notes[0]


def test_a_domain_not_present_names_the_ones_that_are(release) -> None:
    with pytest.raises(AuditError, match=r"lacks painting_train.txt and painting_test.txt \(domains present: "
                                         r"clipart, sketch\)"):
        open_dataset("domainnet-painting", release.parent, {})
    (release / "sketch_test.txt").unlink()
    with pytest.raises(AuditError, match=r"lacks sketch_test.txt \(domains present: clipart\)"):
        read_domainnet(release, "sketch")


def test_a_list_naming_a_missing_image_is_refused(release) -> None:
    missing = release / "clipart" / "zigzag" / "clipart_345_000012.jpg"
    missing.unlink()
    with pytest.raises(AuditError, match=r"clipart_test.txt:12 names clipart/zigzag/clipart_345_000012.jpg, which is "
                                         r"missing; restore it"):
        read_domainnet(release, "clipart")


@pytest.mark.parametrize("change, every, message", [
    (lambda line: line.replace(" 344", " 345"), False, r"label 345, outside DomainNet's 0..344"),
    (lambda line: line.replace(" 344", " -1"), False, r"label -1, outside DomainNet's 0..344"),
    (lambda line: line.replace(" 344", " 7"), False, r"test.txt:12 labels zigzag/ as 7, but clipart_train.txt:31 gives "
                                                     r"zigzag label 344"),
    (lambda line: line.replace(" 344", " 1"), True, r"train.txt:31 labels zigzag/ as 1, but label 1 is airplane "
                                                    r"elsewhere"),
    (lambda line: line.replace(" 344", ""), False, r"is not 'clipart/<class>/<file>.jpg <label>'"),
    (lambda line: line.replace("clipart/", "sketch/", 1), False, r"names sketch/zigzag/.*, outside clipart/"),
])
def test_a_bad_label_or_line_is_one_line(release, change, every, message) -> None:
    """The last test line changed (or, ``every``, each zigzag line: a class that takes another's label)."""
    lines = {split: (release / f"clipart_{split}.txt").read_text().splitlines() for split in ("train", "test")}
    if every:
        lines = {split: [change(line) for line in rows] for split, rows in lines.items()}
    else:
        lines["test"][-1] = change(lines["test"][-1])
    _write_lists(release, "clipart", lines)
    with pytest.raises(AuditError, match=message) as error:
        read_domainnet(release, "clipart")
    assert "\n" not in str(error.value)


def test_an_image_in_both_lists_is_refused(release) -> None:
    lines = {split: (release / f"clipart_{split}.txt").read_text().splitlines() for split in ("train", "test")}
    lines["test"].append(lines["train"][0])
    _write_lists(release, "clipart", lines)
    with pytest.raises(AuditError, match=r"clipart/aircraft_carrier/clipart_001_000000.jpg is listed in both train "
                                         r"and test"):
        read_domainnet(release, "clipart")


def test_fetch_refuses_in_one_line_with_the_release_urls() -> None:
    assert "http://csr.bu.edu/ftp/visda/2019/multi-source/groundtruth/clipart.zip" in NOT_FETCHED["domainnet-clipart"]
    assert "domainnet/txt/quickdraw_test.txt" in NOT_FETCHED["domainnet-quickdraw"]
    assert "domainnet-<domain>" in NOT_FETCHED["domainnet"]
