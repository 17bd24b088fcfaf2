"""Readers for ImageNet val and ImageNet-R in the layouts they are released in.

- ``imagenet-val``: an ImageFolder tree ``val/<wnid>/ILSVRC2012_val_XXXXXXXX.JPEG``, or the flat
  release folder of ``ILSVRC2012_val_XXXXXXXX.JPEG`` files, labelled by the devkit
  (``ILSVRC2012_devkit_t12/data/meta.mat`` + ``ILSVRC2012_validation_ground_truth.txt``, whose
  ILSVRC2012_IDs are NOT class indices) or, when no devkit is beside it, by the standard val
  labels that ship in the imagenet-x package (``filename_label.csv``).
- ``imagenet-r``: ``imagenet-r/<wnid>/*.jpg`` over (a subset of) its 200 wnids.
A label is always the ImageNet index of the wnid, so a subset of folders scores as the full set.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import re
from pathlib import Path

from auditkit.data.classes import imagenet_wnids, subset_indices, wnid_to_index
from auditkit.data.source import DatasetSource, Sample, list_images
from auditkit.errors import AuditError

WNID = re.compile(r"^n\d{8}$")
VAL_FILE = re.compile(r"^ILSVRC2012_val_(\d{8})\.JPEG$", re.IGNORECASE)


def wnid_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and WNID.match(p.name))


def _unrecognised_image_folders(root: Path) -> list[Path]:
    """Subfolders holding images whose name is not a wnid (``cats/``): never silently left out."""
    return sorted(p for p in root.iterdir()
                  if p.is_dir() and not WNID.match(p.name) and not p.name.startswith(".") and list_images(p))


def image_folder_samples(
    name: str, root: Path, allowed: set[str], id_is_basename: bool
) -> list[Sample]:
    index = wnid_to_index()
    strays = _unrecognised_image_folders(root)
    if strays and wnid_folders(root):
        raise AuditError(
            f"{name}: folder {strays[0]} holds images but is not named by a wnid (n########, e.g. n01440764); "
            "rename it to its class's wnid or move it out"
            + (f" ({len(strays) - 1} more such folders)" if len(strays) > 1 else "")
        )
    samples: list[Sample] = []
    for folder in wnid_folders(root):
        if folder.name not in allowed:
            raise AuditError(
                f"{name}: folder {folder} is not one of the dataset's classes; "
                "remove it or point --data at the released layout"
            )
        images = list_images(folder)
        if not images:  # never a silently smaller dataset
            raise AuditError(f"{name}: class folder {folder} holds no images; restore its files or remove the folder")
        for path in images:
            sample_id = path.name if id_is_basename else f"{folder.name}/{path.name}"
            samples.append(Sample(path=path, label=index[folder.name], sample_id=sample_id))
    return samples


def require_samples(name: str, root: Path, samples: list[Sample], layout: str) -> None:
    if not samples:
        strays = _unrecognised_image_folders(root) if root.is_dir() else []
        found = (f" (folder {strays[0]}{f' and {len(strays) - 1} more' if len(strays) > 1 else ''} holds images "
                 "but is not a class folder of this layout)") if strays else ""
        raise AuditError(f"{name}: no images found in {root}{found}; expected {layout}")
    ids = [s.sample_id for s in samples]
    if len(set(ids)) != len(ids):
        raise AuditError(f"{name}: duplicate image names under {root}; each file may appear once")


def read_imagenet_val(root: Path) -> DatasetSource:
    name = "imagenet-val"
    if (root / "val").is_dir() and not wnid_folders(root) and not _flat_val_files(root):
        root = root / "val"
    if wnid_folders(root):
        samples = image_folder_samples(name, root, set(imagenet_wnids()), id_is_basename=True)
        label_source = "wnid folders"
        _check_against_standard_labels(name, samples)
    else:
        files = _flat_val_files(root)
        labels, label_source = _flat_val_labels(root)
        samples = []
        for path in files:
            if path.name not in labels:
                raise AuditError(f"{name}: {path.name} is not an ImageNet val file name")
            samples.append(Sample(path=path, label=labels[path.name], sample_id=path.name))
    require_samples(
        name, root, samples,
        "val/<wnid>/*.JPEG or a flat folder of ILSVRC2012_val_XXXXXXXX.JPEG files",
    )
    samples.sort(key=lambda s: s.sample_id)
    return DatasetSource(name, root, tuple(samples), info={"labels": label_source})


def _check_against_standard_labels(name: str, samples: list[Sample]) -> None:
    """A real val file in the wrong class folder would be silently mislabelled: refuse it."""
    standard = imagenet_x_val_labels()
    wrong = [s for s in samples if s.sample_id in standard and standard[s.sample_id] != s.label]
    if wrong:
        first = wrong[0]
        raise AuditError(
            f"{name}: {len(wrong)} val file(s) sit in the wrong class folder, e.g. {first.path} is "
            f"class {standard[first.sample_id]} ({imagenet_wnids()[standard[first.sample_id]]}); "
            "rebuild the val/<wnid>/ tree from the official labels"
        )


def _flat_val_files(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_file() and VAL_FILE.match(p.name))


def _flat_val_labels(root: Path) -> tuple[dict[str, int], str]:
    for devkit in (root / "ILSVRC2012_devkit_t12", root.parent / "ILSVRC2012_devkit_t12"):
        if (devkit / "data" / "meta.mat").is_file():
            return devkit_val_labels(devkit), f"devkit {devkit}"
    return imagenet_x_val_labels(), "imagenet-x filename_label.csv"


def devkit_val_labels(devkit: Path) -> dict[str, int]:
    """File name -> class index from the ILSVRC2012 devkit (as torchvision's ImageNet parses it)."""
    from scipy.io import loadmat

    meta = loadmat(str(devkit / "data" / "meta.mat"), squeeze_me=True)["synsets"]
    id_to_wnid = {
        int(row["ILSVRC2012_ID"]): str(row["WNID"])
        for row in meta
        if int(row["num_children"]) == 0
    }
    ground_truth = (devkit / "data" / "ILSVRC2012_validation_ground_truth.txt").read_text().split()
    index = wnid_to_index()
    return {
        f"ILSVRC2012_val_{number:08d}.JPEG": index[id_to_wnid[int(ilsvrc_id)]]
        for number, ilsvrc_id in enumerate(ground_truth, start=1)
    }


def imagenet_x_annotation(name: str) -> Path:
    """A file of the imagenet-x package's ``annotations`` folder, found without importing the
    package (its import pulls in pandas and plotting: seconds on every run)."""
    spec = importlib.util.find_spec("imagenet_x")
    if spec is None or not spec.submodule_search_locations:
        raise AuditError("the imagenet-x package is not installed; pip install imagenet-x")
    return Path(next(iter(spec.submodule_search_locations))) / "annotations" / name


@functools.lru_cache(maxsize=1)
def imagenet_x_val_labels() -> dict[str, int]:
    """The 50,000 standard val labels that ship with the imagenet-x package."""
    with imagenet_x_annotation("filename_label.csv").open() as handle:
        return {row["file_name"]: int(row["label"]) for row in csv.DictReader(handle)}


def read_imagenet_r(root: Path) -> DatasetSource:
    name = "imagenet-r"
    if (root / "imagenet-r").is_dir() and not wnid_folders(root):
        root = root / "imagenet-r"
    classes = subset_indices("imagenet_r")
    allowed = {imagenet_wnids()[i] for i in classes}
    samples = image_folder_samples(name, root, allowed, id_is_basename=False)
    require_samples(name, root, samples, "imagenet-r/<wnid>/*.jpg over its 200 wnids")
    samples.sort(key=lambda s: s.sample_id)
    present = len({s.label for s in samples})
    return DatasetSource(
        name, root, tuple(samples), class_indices=classes,
        info={"labels": "wnid folders", "class_folders_present": present},
    )
