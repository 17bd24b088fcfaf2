"""Transfer datasets (linear probe, few-shot, retrieval): images with train / val / test splits.

Labels are the dataset's own class indices (0 .. k-1), not ImageNet's. Each sample carries its
split (and, in ``vtab-1k``, its task) as attributes: ``split_of``, ``task_of``. Layouts read:

- split folders: ``<root>/{train,val,test}/<class>/<image>`` (``val`` optional; ``validation``
  and ``valid`` also accepted). Classes are the sorted folder names of ``train``. A retrieval-only
  task has ``<root>/{query,gallery}/<class>/<image>`` (relevant = same class folder).
- VTAB-1k as the PEFT repositories ship it (NOAH, VPT): ``<root>/train800.txt``, ``val200.txt``,
  ``test.txt`` with lines ``relative/path.jpg <label>``; ``train800val200.txt`` is their union.
  The ``vtab-1k`` dataset is the release folder: every one of the 19 task folders found in it
  (``vtab-1k/dtd/...``), each a task of its own (ids ``dtd/train/...``).
- a Hugging Face ``datasets.save_to_disk`` DatasetDict with ``train`` and ``test`` (optional
  ``validation``) splits and ``image`` / ``label`` columns.
- ``digits``: scikit-learn's bundled ``load_digits`` (1797 real 8x8 scans of handwritten digits,
  UCI), exported once as PNG files in the split-folder layout with a fixed, seeded, stratified
  split of about 800 train / 200 val / 800 test (VTAB-1k's 800 + 200 budget; per-class
  rounding gives 800 / 199 / 798).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from auditkit.data.source import DatasetSource, ImageTable, Sample, list_images
from auditkit.errors import AuditError

SPLITS = ("train", "val", "test")
RETRIEVAL_SPLITS = ("query", "gallery")
_SPLIT_ALIASES = {"train": "train", "val": "val", "validation": "val", "valid": "val", "test": "test",
                  "query": "query", "gallery": "gallery"}
VTAB_LISTS = {"train": "train800.txt", "val": "val200.txt", "test": "test.txt"}
DIGITS_SPLIT_SEED = 0
DIGITS_SIZES = {"train": 800, "val": 200}  # the rest (797) is test

# VTAB-1k's 19 tasks: catalog name -> folder name in the PEFT repositories' vtab-1k release
VTAB_TASKS = {  # 19 tasks
    "caltech101": "caltech101", "cifar100": "cifar", "dtd": "dtd", "oxford-flowers102": "oxford_flowers102",
    "oxford-iiit-pet": "oxford_iiit_pet", "svhn": "svhn", "sun397": "sun397",
    "patch-camelyon": "patch_camelyon", "eurosat": "eurosat", "resisc45": "resisc45",
    "diabetic-retinopathy": "diabetic_retinopathy",
    "clevr-count": "clevr_count", "clevr-dist": "clevr_dist", "dmlab": "dmlab", "kitti": "kitti",
    "dsprites-loc": "dsprites_loc", "dsprites-ori": "dsprites_ori",
    "smallnorb-azi": "smallnorb_azi", "smallnorb-ele": "smallnorb_ele",
}


def split_of(sample: Sample) -> str:
    """``train``, ``val`` or ``test``."""
    return sample.attribute("split")


def task_of(sample: Sample, default: str) -> str:
    """The VTAB-1k task of a ``vtab-1k`` sample; ``default`` (the dataset) elsewhere."""
    return sample.attribute("task", default)


def _with_split(sample: Sample, split: str, task: str | None = None) -> Sample:
    attributes = (("split", split),) if task is None else (("task", task), ("split", split))
    return replace(sample, attributes=attributes)


def read_transfer(root: Path, name: str) -> DatasetSource:
    """Any of the layouts above; the one found is recorded in ``info["layout"]``."""
    if all((root / f).is_file() for f in (VTAB_LISTS["train"], VTAB_LISTS["test"])):
        samples, classes, layout, table = _vtab_lists(root, name), None, "vtab-1k lists", None
    elif (root / "dataset_dict.json").is_file():
        samples, classes, table = _hf_splits(root, name)
        layout = "datasets DatasetDict"
    else:
        samples, classes = _split_folders(root, name)
        layout, table = "split folders", None
    counts = {split: sum(split_of(s) == split for s in samples) for split in SPLITS}
    counts.update({split: n for split in RETRIEVAL_SPLITS if (n := sum(split_of(s) == split for s in samples))})
    probe = counts["train"] and counts["test"]
    if not probe and not (counts.get("query") and counts.get("gallery")):
        raise AuditError(
            f"{name}: {root} needs train and test images (found {counts}); use "
            "<root>/train/<class>/*, <root>/test/<class>/* (val optional), VTAB-1k lists or a DatasetDict; "
            "or <root>/query/<class>/*, <root>/gallery/<class>/* for retrieval only"
        )
    num_classes = len(classes) if classes else len({s.label for s in samples})
    info = {"task": "transfer", "layout": layout, "splits": counts, "classes": num_classes,
            "labels": "the dataset's own classes (0..k-1), not ImageNet's"}
    if classes:
        info["class_names"] = list(classes)
    samples.sort(key=lambda s: s.sample_id)
    return DatasetSource(name, root, tuple(samples), info=info, table=table)


def _split_folders(root: Path, name: str) -> tuple[list[Sample], list[str]]:
    folders: dict[str, Path] = {}
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        split = _SPLIT_ALIASES.get(child.name.lower())
        if split is not None:
            if split in folders:
                raise AuditError(f"{name}: {root} has two {split} folders ({folders[split].name}, {child.name}); keep one")
            folders[split] = child
    reference = "train" if "train" in folders else "gallery"  # the split whose classes are known
    if reference not in folders:
        raise AuditError(f"{name}: no train/ folder in {root}; expected <root>/train/<class>/*, <root>/test/<class>/* "
                         "(or query/ and gallery/ for retrieval)")
    classes = sorted(p.name for p in folders[reference].iterdir() if p.is_dir())
    index = {c: i for i, c in enumerate(classes)}
    samples: list[Sample] = []
    for split, folder in folders.items():
        for class_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
            if class_folder.name not in index:
                raise AuditError(
                    f"{name}: class {class_folder.name!r} is in {folder.name}/ but not in {reference}/; "
                    "a linear probe cannot learn a class it never sees"
                )
            for path in list_images(class_folder):
                samples.append(Sample(path=path, label=index[class_folder.name],
                                      sample_id=f"{split}/{class_folder.name}/{path.name}",
                                      attributes=(("split", split),)))
    return samples, classes


def _vtab_lists(root: Path, name: str, task: str | None = None) -> list[Sample]:
    samples: list[Sample] = []
    prefix = f"{task}/" if task else ""
    for split, list_name in VTAB_LISTS.items():
        listing = root / list_name
        if not listing.is_file():
            continue
        for number, line in enumerate(listing.read_text().splitlines(), 1):
            if not line.strip():
                continue
            relative, _, label = line.strip().rpartition(" ")
            path = root / relative
            if not relative or not label.lstrip("-").isdigit():
                raise AuditError(f"{name}: {listing}:{number} is not '<path> <label>'")
            if not path.is_file():
                raise AuditError(f"{name}: {listing}:{number} names {relative}, which is missing; restore it")
            samples.append(_with_split(Sample(path=path, label=int(label), sample_id=f"{prefix}{split}/{relative}"),
                                       split, task))
    return samples


def _hf_splits(root: Path, name: str) -> tuple[list[Sample], list[str] | None, ImageTable]:
    import datasets
    import pyarrow.compute as pc

    loaded = datasets.load_from_disk(str(root))
    present = {_SPLIT_ALIASES[s]: s for s in loaded if s in _SPLIT_ALIASES}
    parts = [loaded[present[split]] for split in SPLITS if split in present]
    for part in parts:
        if not {"image", "label"} <= set(part.features):
            raise AuditError(f"{name}: {root} needs image and label columns (found {sorted(part.features)})")
    table = ImageTable(datasets.concatenate_datasets(parts))
    column = table.dataset.data.table.column("image")
    sizes = pc.binary_length(pc.struct_field(column, "bytes")).to_pylist()
    labels = table.dataset["label"]
    samples: list[Sample] = []
    row = 0
    for split in (s for s in SPLITS if s in present):
        for within in range(len(loaded[present[split]])):
            samples.append(Sample(path=root, label=int(labels[row]), sample_id=f"{split}/row-{within:07d}",
                                  row=row, size=int(sizes[row] or 0), attributes=(("split", split),)))
            row += 1
    feature = parts[0].features["label"]
    classes = list(feature.names) if isinstance(feature, datasets.ClassLabel) else None
    return samples, classes, table


def read_vtab_1k(root: Path) -> DatasetSource:
    """Every VTAB-1k task folder found under the release folder, one dataset (tasks as attributes)."""
    tasks = {task: root / folder for task, folder in VTAB_TASKS.items()
             if all((root / folder / VTAB_LISTS[s]).is_file() for s in ("train", "test"))}
    if not tasks:
        raise AuditError(
            f"vtab-1k: no task folder with train800.txt and test.txt under {root}; expected "
            f"{root}/<task>/train800.txt for tasks among {', '.join(sorted(VTAB_TASKS.values()))}"
        )
    samples = [s for task, folder in tasks.items() for s in _vtab_lists(folder, "vtab-1k", task)]
    splits = {task: {split: sum(s.attribute("task") == task and split_of(s) == split for s in samples)
                     for split in SPLITS} for task in tasks}
    samples.sort(key=lambda s: s.sample_id)
    return DatasetSource("vtab-1k", root, tuple(samples), info={
        "task": "transfer", "layout": "vtab-1k release folder", "tasks": sorted(tasks),
        "splits": splits, "classes": sum(len({s.label for s in samples if s.attribute("task") == t}) for t in tasks),
        "labels": "each task's own classes (0..k-1), not ImageNet's",
    })


def read_digits(root: Path) -> DatasetSource:
    return read_transfer(root, "digits")


def digits_split(labels: np.ndarray, seed: int = DIGITS_SPLIT_SEED) -> np.ndarray:
    """Split name per image: stratified, seeded; 800 train, 200 val, the rest test."""
    rng = np.random.default_rng(seed)
    total = len(labels)
    split = np.full(total, "test", dtype=object)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        train = round(len(members) * DIGITS_SIZES["train"] / total)
        val = round(len(members) * DIGITS_SIZES["val"] / total)
        split[members[:train]] = "train"
        split[members[train:train + val]] = "val"
    return split


def export_digits(target: Path) -> Path:
    """Write scikit-learn's digits as 8x8 greyscale PNGs (values 0..16 scaled to 0..255) in the
    split-folder layout; built in a temporary folder and renamed into place."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.round(digits.images * (255 / 16)).astype(np.uint8)
    split = digits_split(digits.target)
    staging: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
        for index, (image, label) in enumerate(zip(pixels, digits.target)):
            folder = staging / split[index] / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(folder / f"digits-{index:04d}.png")
        os.replace(staging, target)
    except OSError as error:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if not target.is_dir():  # else another process exported it first
            raise AuditError(f"digits: cannot write its images to {target} ({error.strerror or error}); "
                             "give a writable --data-root") from None
    return target
