"""Readers for the ImageNet distribution-shift sets, in the layouts they are released in.

- ``imagenet-v2``: matched-frequency release ``imagenetv2-matched-frequency-format-val/<int>/*.jpeg``.
  Folder names are class INDICES (0..999, unpadded in the original release, zero-padded in some
  repackagings): the label is the folder name's integer value, never its sort position.
- ``imagenet-a``: ``imagenet-a/<wnid>/*.jpg`` over (a subset of) its 200 wnids; suites restrict
  logits to the 200 classes.
- ``imagenet-sketch``: ``sketch/<wnid>/*.JPEG`` over the 1000 wnids.
"""

from __future__ import annotations

from pathlib import Path

from auditkit.data.classes import imagenet_wnids, subset_indices
from auditkit.data.imagenet import image_folder_samples, require_samples, wnid_folders
from auditkit.data.source import DatasetSource, Sample, list_images
from auditkit.errors import AuditError

V2_FOLDER = "imagenetv2-matched-frequency-format-val"


def _descend(root: Path, released: str) -> Path:
    """Accept the folder itself or its parent holding the released folder name."""
    inner = root / released
    return inner if inner.is_dir() else root


def read_imagenet_v2(root: Path) -> DatasetSource:
    name = "imagenet-v2"
    root = _descend(root, V2_FOLDER)
    samples: list[Sample] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        if not folder.name.isdigit() or not 0 <= int(folder.name) <= 999:
            raise AuditError(
                f"{name}: folder {folder} is not a class index 0..999; the matched-frequency "
                f"release has folders named by class index ({V2_FOLDER}/<index>/*.jpeg)"
            )
        label = int(folder.name)
        images = list_images(folder)
        if not images:  # never a silently smaller dataset
            raise AuditError(f"{name}: class folder {folder} holds no images; restore its files or remove the folder")
        for path in images:
            samples.append(Sample(path=path, label=label, sample_id=f"{label}/{path.name}"))
    require_samples(name, root, samples, f"{V2_FOLDER}/<class index>/*.jpeg")
    samples.sort(key=lambda s: (s.label, s.sample_id))
    return DatasetSource(name, root, tuple(samples), info={"labels": "folder name = class index"})


def read_imagenet_a(root: Path) -> DatasetSource:
    name = "imagenet-a"
    root = root / "imagenet-a" if (root / "imagenet-a").is_dir() and not wnid_folders(root) else root
    classes = subset_indices("imagenet_a")
    allowed = {imagenet_wnids()[i] for i in classes}
    samples = image_folder_samples(name, root, allowed, id_is_basename=False)
    require_samples(name, root, samples, "imagenet-a/<wnid>/*.jpg over its 200 wnids")
    samples.sort(key=lambda s: s.sample_id)
    return DatasetSource(name, root, tuple(samples), class_indices=classes, info={"labels": "wnid folders"})


def read_imagenet_sketch(root: Path) -> DatasetSource:
    name = "imagenet-sketch"
    root = root / "sketch" if (root / "sketch").is_dir() and not wnid_folders(root) else root
    samples = image_folder_samples(name, root, set(imagenet_wnids()), id_is_basename=False)
    require_samples(name, root, samples, "sketch/<wnid>/*.JPEG over the 1000 wnids")
    samples.sort(key=lambda s: s.sample_id)
    return DatasetSource(name, root, tuple(samples), info={"labels": "wnid folders"})


def read_imagenet_c(root: Path) -> DatasetSource:
    """The released ImageNet-C folders ``<corruption>/<severity>/<wnid>/*.JPEG`` (224x224 JPEGs,
    evaluated with no further resize). Sample id: ``corruption/severity/wnid/file``."""
    from auditkit.data.corruptions import CORRUPTIONS, HOLD_OUT

    name = "imagenet-c"
    known = set(CORRUPTIONS) | set(HOLD_OUT)
    index_of = {w: i for i, w in enumerate(imagenet_wnids())}
    samples: list[Sample] = []
    for corruption in sorted(p for p in root.iterdir() if p.is_dir()):
        if corruption.name not in known:
            raise AuditError(f"{name}: folder {corruption} is not an ImageNet-C corruption ({', '.join(sorted(known))})")
        for severity in sorted(p for p in corruption.iterdir() if p.is_dir()):
            if severity.name not in {"1", "2", "3", "4", "5"}:
                raise AuditError(f"{name}: {severity} is not a severity folder 1..5")
            for folder in wnid_folders(severity):
                if folder.name not in index_of:
                    raise AuditError(f"{name}: {folder} is not an ImageNet class folder")
                for path in list_images(folder):
                    samples.append(Sample(path, index_of[folder.name],
                                          f"{corruption.name}/{severity.name}/{folder.name}/{path.name}"))
    require_samples(name, root, samples, "<corruption>/<severity>/<wnid>/*.JPEG")
    samples.sort(key=lambda s: s.sample_id)
    return DatasetSource(name, root, tuple(samples), info={"labels": "wnid folders", "generated": False})
