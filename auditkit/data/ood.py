"""Readers for the out-of-distribution detection sets, in the layouts they are released in.

OpenOOD v1.5 (Yang et al. / Zhang et al. 2023, github.com/Jingkang50/OpenOOD) defines its
ImageNet-1K benchmark by image lists (``benchmark_imglist/imagenet/*.txt``: one
``<folder>/<path> <label>`` line per image, label -1 for OOD). The lists ship in
``auditkit/data/ood_lists/`` (README there: source, license, digests), so every set is exactly
OpenOOD's: a listed file that is missing is refused with the count (never a silently smaller
set), and files beside the listed ones are not read.

- ID: the ImageNet val folder (any layout ``read_imagenet_val`` reads) through ``val_imagenet``
  (5,000 images: anything fitted) or ``test_imagenet`` (45,000: scoring); the list's label must
  equal the val label of each file.
- OOD: ``<root>/<path>`` where ``path`` is the list's path without its first folder (OpenOOD's
  ``images_largescale/ssb_hard/n.../x.JPEG`` -> ``<root>/n.../x.JPEG``); ``<root>/<that folder>/``
  and the original releases' own top folders (``ALSO_ACCEPTED``) are accepted too.
- ImageNet-O (Hendrycks et al. 2021): its release ``imagenet-o/<wnid>/*.jpg``; scored under
  Hendrycks' protocol over its 200 classes (``IMAGENET_O_WNIDS``, the release's folders).
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from auditkit.data.classes import imagenet_wnids
from auditkit.data.imagenet import read_imagenet_val, wnid_folders
from auditkit.data.source import DatasetSource, Sample, list_images
from auditkit.errors import AuditError, DamagedDataError

LISTS = Path(__file__).resolve().parent / "ood_lists"

# sha256 of each shipped list as OpenOOD released it (uncompressed): a changed list is a changed benchmark
LIST_SHA256 = {
    "val_imagenet": "b352c357d25ca94aae787ff7a65aaee0a4c219ab4021481ce3ccc97b88904fea",
    "test_imagenet": "7e0e05f8aa8e312992bfe342d57b8513dd4e62b68fedb5a1c63b6bca662d047c",
    "test_ssb_hard": "e2dc7ba6c1e2bd2179a06038598344d5d8716be3bbc9409c45b0c3de95431510",
    "test_ninco": "28450babf7d8d7389b75989a3af15346be0d514f048eac3711694045fdf40dd8",
    "test_inaturalist": "86a19665f968eecf17383bafa15dea3aeb53db96c305d08f026cdb6438376ecb",
    "test_textures": "9cf1ff7e97ce67ea61a8bb1ffc17bb845ae06e1d22bfebc74c3c0aa284a408c9",
    "test_openimage_o": "cbfb3ab73257f2d1523e1358e3c55d9589844194447cbad737248835cceb2ffc",
    "val_openimage_o": "3bb1227701775c3893fedd5268f61a17dbfc15e3ec70ea195e3cc827c6b741d1",
}

# the top folders of the original releases, accepted under the dataset's root besides OpenOOD's
ALSO_ACCEPTED = {
    "texture": ("dtd/images", "images"),  # DTD's own release: dtd/images/<class>/<file>.jpg
    "ninco": ("NINCO_OOD_classes",),  # NINCO's release
    "inaturalist": ("iNaturalist/images", "images"),  # MOS's iNaturalist OOD subset
    "openimage_o": ("images",),
}


def image_list(name: str) -> list[tuple[str, int]]:
    """The (path, label) lines of OpenOOD's list ``name``, checked against its digest."""
    data = gzip.decompress((LISTS / f"{name}.txt.gz").read_bytes())
    if hashlib.sha256(data).hexdigest() != LIST_SHA256[name]:
        raise RuntimeError(f"the shipped OpenOOD list {name} does not match its digest; reinstall auditkit")
    lines = []
    for line in data.decode().splitlines():
        path, _, label = line.strip().rpartition(" ")
        lines.append((path, int(label)))
    return lines


def _base(root: Path, top: str, first: str) -> Path:
    """The folder under which ``first`` (a listed path without its top folder) lies."""
    for base in (root, root / top, *(root / alt for alt in ALSO_ACCEPTED.get(top, ()))):
        if (base / first).is_file():
            return base
    return root


def read_listed(name: str, root: Path, listed: list[tuple[str, int]], layout: str) -> DatasetSource:
    """An OOD set: the listed files under ``root``; any missing one is refused (with the count)."""
    if not listed:
        raise DamagedDataError(f"{name}: the image list is empty; an OOD set needs images")
    top, _, first = listed[0][0].partition("/")
    base = _base(root, top, first)
    samples = [Sample(path=base / path.partition("/")[2], label=-1, sample_id=path) for path, _ in listed]
    missing = [s for s in samples if not s.path.is_file()]
    if len(missing) == len(samples) and not any(root.iterdir()):
        raise DamagedDataError(f"{name}: {root} is empty (an empty OOD set); put the release there ({layout})")
    if missing:
        raise DamagedDataError(
            f"{name}: {len(missing)} of the {len(samples)} listed images are missing under {base} (first: "
            f"{missing[0].path}); restore the release ({layout}) or pass --data {name}=PATH")
    samples.sort(key=lambda s: s.sample_id)
    return DatasetSource(name, base, tuple(samples), info={"images": "OpenOOD v1.5 list", "layout": layout})


def read_openood_set(root: Path, *, name: str, list_name: str, layout: str) -> DatasetSource:
    source = read_listed(name, root, image_list(list_name), layout)
    return DatasetSource(source.name, source.root, source.samples,
                         info={**source.info, "list": f"benchmark_imglist/imagenet/{list_name}.txt",
                               "list_sha256": LIST_SHA256[list_name]})


def read_openood_imagenet(root: Path, *, name: str, list_name: str) -> DatasetSource:
    """ImageNet val through OpenOOD's ``val_imagenet`` / ``test_imagenet`` list."""
    val = read_imagenet_val(root)
    by_file = {s.path.name: s for s in val.samples}
    listed = image_list(list_name)
    missing = [path for path, _ in listed if path.rpartition("/")[2] not in by_file]
    if missing:
        raise DamagedDataError(
            f"{name}: {len(missing)} of the {len(listed)} images of OpenOOD's {list_name} list are not in {val.root} "
            f"(first: {missing[0]}); it needs the whole ImageNet val set")
    samples = []
    for path, label in listed:
        sample = by_file[path.rpartition("/")[2]]
        if sample.label != label:
            raise AuditError(f"{name}: {sample.path.name} is class {sample.label} here but {label} in OpenOOD's "
                             f"{list_name} list; check the val labels")
        samples.append(sample)
    samples.sort(key=lambda s: s.sample_id)
    return DatasetSource(name, val.root, tuple(samples),
                         info={**val.info, "list": f"benchmark_imglist/imagenet/{list_name}.txt",
                               "list_sha256": LIST_SHA256[list_name]})


def imagenet_o_wnids() -> tuple[str, ...]:
    """ImageNet-O's 200 classes (its release's 200 folders; Hendrycks' ``imagenet_o_wnids``)."""
    return tuple((LISTS / "imagenet_o_wnids.txt").read_text().split())


def read_imagenet_o(root: Path) -> DatasetSource:
    """ImageNet-O's release ``imagenet-o/<wnid>/*.jpg``: 2,000 OOD images filed under the 200
    classes they were adversarially selected against (label -1: none is of its folder's class)."""
    name = "imagenet-o"
    root = root / "imagenet-o" if (root / "imagenet-o").is_dir() and not wnid_folders(root) else root
    allowed = set(imagenet_o_wnids())
    samples = []
    for folder in wnid_folders(root):
        if folder.name not in allowed:
            raise AuditError(f"{name}: folder {folder.name} is not one of ImageNet-O's 200 classes; remove it")
        samples += [Sample(path=p, label=-1, sample_id=f"{folder.name}/{p.name}") for p in list_images(folder)]
    if not samples:
        raise DamagedDataError(f"{name}: no images in {root} (an empty OOD set); expected imagenet-o/<wnid>/*.jpg")
    samples.sort(key=lambda s: s.sample_id)
    return DatasetSource(name, root, tuple(samples), class_indices=imagenet_o_classes(),
                         info={"labels": "none (OOD); 200-class mask of Hendrycks' protocol"})


def imagenet_o_classes() -> tuple[int, ...]:
    """The ImageNet indices of ImageNet-O's 200 classes: the mask of Hendrycks' protocol."""
    index = {w: i for i, w in enumerate(imagenet_wnids())}
    return tuple(sorted(index[w] for w in imagenet_o_wnids()))
