"""ObjectNet (Barbu et al. 2019) in its released layout, scored as the robustness testbed does.

Release: ``objectnet-1.0/images/<folder>/<image>.png`` over 313 object classes, of which 113
overlap ImageNet; ``objectnet-1.0/mappings/`` maps folders to ObjectNet classes and those to
ImageNet class names (shipped here as the testbed copied them: ``auditkit/data/objectnet/``).
As in the testbed (``src/eval_settings/objectnet.py``, Taori et al. 2020):
- only the images of the 113 overlapping classes are scored (the rest are counted, not read);
- each image loses a 2 px border on read (``ImageOps.crop(image, border=2)``: the release's
  images carry a 1 px red frame);
- logits are restricted to the 125 ImageNet classes of the 113 (``class_indices``), and an
  answer is right when it is one of its class's ImageNet classes (``label_set``).
The cropped pixels are what the store hashes (a lossless PPM of the crop).
"""

from __future__ import annotations

import io
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from PIL import Image, ImageOps

from auditkit.data.source import DatasetSource, Sample, list_images
from auditkit.errors import AuditError

BORDER = 2
RELEASE_FOLDER = "objectnet-1.0"


def _mapping(name: str) -> dict[str, str]:
    return json.loads(resources.files("auditkit.data").joinpath("objectnet", name).read_text())


@lru_cache(maxsize=1)
def folder_classes() -> dict[str, tuple[int, ...]]:
    """Image folder -> the ImageNet indices its ObjectNet class is scored against (113 folders)."""
    folder_of = {label: folder for folder, label in _mapping("folder_to_objectnet_label.json").items()}
    index_of = {label: int(index) for index, label in _mapping("imagenet_to_labels.json").items()}
    return {folder_of[objectnet]: tuple(index_of[name] for name in imagenet.split("; "))
            for objectnet, imagenet in _mapping("objectnet_to_imagenet_1k.json").items()}


@lru_cache(maxsize=1)
def class_sublist() -> tuple[int, ...]:
    """The 125 ImageNet indices the 113 overlapping classes map to, sorted."""
    return tuple(sorted({i for indices in folder_classes().values() for i in indices}))


class BorderCrops:
    """``read(row)``: the image at ``paths[row]`` less its 2 px border, as PPM bytes (lossless,
    cheap to write; picklable for data-loader workers)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def read(self, row: int) -> bytes:
        with Image.open(self.paths[row]) as image:
            cropped = ImageOps.crop(image.convert("RGB"), border=BORDER)
        buffer = io.BytesIO()
        cropped.save(buffer, format="PPM")
        return buffer.getvalue()


def _images_folder(root: Path) -> Path:
    for candidate in (root / RELEASE_FOLDER / "images", root / "images", root):
        if candidate.is_dir() and any(p.is_dir() and p.name in folder_classes() for p in candidate.iterdir()):
            return candidate
    raise AuditError(f"objectnet: no ObjectNet class folder under {root}; expected the release's "
                     f"{RELEASE_FOLDER}/images/<class folder>/*.png (e.g. {RELEASE_FOLDER}/images/banana/)")


def read_objectnet(root: Path) -> DatasetSource:
    images = _images_folder(root)
    classes = folder_classes()
    samples: list[Sample] = []
    paths: list[Path] = []
    other_classes = 0
    for folder in sorted(p for p in images.iterdir() if p.is_dir()):
        if folder.name not in classes:
            other_classes += 1  # one of the 200 classes ImageNet does not have
            continue
        files = list_images(folder)
        if not files:  # never a silently smaller dataset
            raise AuditError(f"objectnet: class folder {folder} holds no images; restore its files or remove the folder")
        indices = classes[folder.name]
        for path in files:
            samples.append(Sample(path=path, label=indices[0], sample_id=f"{folder.name}/{path.name}",
                                  label_set=indices, row=len(paths), size=path.stat().st_size))
            paths.append(path)
    if not samples:
        raise AuditError(f"objectnet: none of the 113 ImageNet-overlapping class folders under {images} holds images")
    return DatasetSource("objectnet", images, tuple(samples), class_indices=class_sublist(),
                         info={"labels": "ObjectNet mappings (113 classes overlapping ImageNet)",
                               "border_crop_px": BORDER, "folders_not_in_imagenet": other_classes},
                         table=BorderCrops(paths))  # type: ignore[arg-type]
