"""ImageNet-100: the 100-class subset of ImageNet-1k of Tian et al.'s CMC (ECCV 2020), on which
Liu et al. (NeurIPS 2021, "Efficient Training of Visual Transformers with Small Datasets") train
from scratch, as a transfer task: ImageNet train -> train, ImageNet val -> test.

The class list ships in ``auditkit/data/imagenet100/`` with its source and license (README there).
Read from an ImageNet folder holding ``train/<wnid>/*.JPEG`` (the ILSVRC2012 train release; all
1000 wnid folders, or only the 100) and ``val/`` in any layout ``imagenet-val`` reads (``val/<wnid>/``
or the flat ILSVRC2012_val_*.JPEG folder, labelled by the devkit or the standard labels). Only the
100 classes' folders are listed. Labels are positions in the list (0..99), not ImageNet indices;
each of the 100 classes must have train and val images: a missing class folder is refused, never a
silently smaller task.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from auditkit.data.classes import imagenet_wnids, wnid_to_index
from auditkit.data.imagenet import read_imagenet_val
from auditkit.data.source import DatasetSource, Sample, list_images
from auditkit.errors import AuditError

NAME = "imagenet-100"


@lru_cache(maxsize=1)
def imagenet100_wnids() -> tuple[str, ...]:
    """The 100 wnids in the published order (label = position)."""
    text = resources.files("auditkit.data").joinpath("imagenet100", "imagenet100_wnids.txt").read_text()
    wnids = tuple(text.split())
    known = wnid_to_index()
    assert len(wnids) == len(set(wnids)) == 100 and all(w in known for w in wnids), "the shipped list is damaged"
    return wnids


def read_imagenet100(root: Path) -> DatasetSource:
    """The subset's train images from ``root/train``, its val images from ``root/val``."""
    train_root, val_root = root / "train", root / "val"
    if not train_root.is_dir() or not val_root.is_dir():
        missing = " and ".join(f"{part}/" for part in ("train", "val") if not (root / part).is_dir())
        raise AuditError(f"{NAME}: {root} has no {missing}; point --data {NAME} at the ImageNet folder that holds "
                         "train/<wnid>/*.JPEG and val/ (ILSVRC2012)")
    wnids = imagenet100_wnids()
    label_of = {wnid: label for label, wnid in enumerate(wnids)}
    samples = _train_samples(train_root, wnids)
    try:
        val = read_imagenet_val(val_root)
    except AuditError as error:
        raise AuditError(f"{NAME}: in its val/ folder, {error}") from None
    per_class = dict.fromkeys(wnids, 0)
    for sample in val.samples:
        wnid = imagenet_wnids()[sample.label]
        if wnid in label_of:
            per_class[wnid] += 1
            samples.append(Sample(path=sample.path, label=label_of[wnid], sample_id=f"test/{sample.sample_id}",
                                  attributes=(("split", "test"),)))
    absent = [w for w, n in per_class.items() if not n]
    if absent:
        raise AuditError(f"{NAME}: {val_root} holds no val image of {len(absent)} of its 100 classes "
                         f"(e.g. {absent[0]}); restore the whole ImageNet val release")
    samples.sort(key=lambda s: s.sample_id)
    counts = {split: sum(s.attribute("split") == split for s in samples) for split in ("train", "val", "test")}
    return DatasetSource(NAME, root, tuple(samples), info={
        "task": "transfer", "layout": "ImageNet train/<wnid>/ + val/", "splits": counts, "classes": 100,
        "class_wnids": list(wnids), "val_labels": val.info.get("labels", ""),
        "labels": "position in CMC's imagenet100.txt (0..99), not the ImageNet index",
    })


def _train_samples(train_root: Path, wnids: tuple[str, ...]) -> list[Sample]:
    samples: list[Sample] = []
    for label, wnid in enumerate(wnids):
        folder = train_root / wnid
        if not folder.is_dir():
            raise AuditError(f"{NAME}: {train_root} has no {wnid}/, one of the subset's 100 classes; restore it "
                             "from ILSVRC2012_img_train.tar (each class is its own tar inside it)")
        images = list_images(folder)
        if not images:
            raise AuditError(f"{NAME}: class folder {folder} holds no images; restore its files")
        samples.extend(Sample(path=path, label=label, sample_id=f"train/{wnid}/{path.name}",
                              attributes=(("split", "train"),)) for path in images)
    return samples
