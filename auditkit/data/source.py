"""A dataset as the engine sees it: ordered samples (path, label, id) and a manifest hash."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".webp"}


@dataclass(frozen=True)
class Sample:
    path: Path  # the image file; for images stored in a table, the table's folder
    label: int  # ImageNet-1k class index, -1 when the dataset has none
    sample_id: str  # stable across machines: the released file name or relative path
    label_set: tuple[int, ...] = ()  # multi-label sets (ImageNet-Hard): correct if the answer is in it
    row: int = -1  # row in ``DatasetSource.table`` for images stored in a table
    size: int = -1  # byte size of a table-stored image (files use their stat size)
    # what a suite may group by, e.g. (("subset", "Camera_Yaw"), ("value", "45")) for PUG;
    # not in the manifest hash: it never changes what the model sees
    attributes: tuple[tuple[str, str], ...] = ()

    def attribute(self, key: str, default: str = "") -> str:
        return dict(self.attributes).get(key, default)


@dataclass(frozen=True)
class DatasetSource:
    """Samples sorted by id. ``class_indices``: the label space a suite restricts logits to
    (None = all 1000). ``info``: where labels came from, for the run header."""

    name: str
    root: Path
    samples: tuple[Sample, ...]
    class_indices: tuple[int, ...] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    table: "ImageTable | None" = None  # images stored in a table instead of files
    notices: tuple[str, ...] = ()  # what the reader read but the user should know (an empty shard)

    def __len__(self) -> int:
        return len(self.samples)

    def limited(self, limit: int | None) -> "DatasetSource":
        if limit is None or limit >= len(self.samples):
            return self
        return replace(self, samples=self.samples[:limit], info={**self.info, "limit": limit})

    @cached_property
    def labels(self) -> np.ndarray:
        return np.array([s.label for s in self.samples], dtype=np.int64)

    @cached_property
    def sample_ids(self) -> np.ndarray:
        return np.array([s.sample_id for s in self.samples])

    @cached_property  # stats every file: computed once per source, not once per condition
    def manifest_hash(self) -> str:
        """SHA-256 over (id, label, byte size) of every sample: a changed, added or removed
        file changes it; per-image content hashes are stored with the predictions."""
        digest = hashlib.sha256(self.name.encode())
        for sample in self.samples:
            size = sample.size if sample.row >= 0 else sample.path.stat().st_size
            labels = ",".join(map(str, sample.label_set)) if sample.label_set else sample.label
            digest.update(f"\n{sample.sample_id}\t{labels}\t{size}".encode())
        return digest.hexdigest()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "root": str(self.root),
            "samples": len(self.samples),
            "classes": len(self.class_indices) if self.class_indices else 1000,
            "manifest_sha256": self.manifest_hash,
            **self.info,
        }


class ImageTable:
    """Encoded images in a column of a Hugging Face ``datasets.Dataset`` (read lazily, by row)."""

    def __init__(self, dataset: Any, column: str = "image") -> None:
        import datasets

        self.dataset = dataset.cast_column(column, datasets.Image(decode=False))
        self.column = column

    def read(self, row: int) -> bytes:
        cell = self.dataset[row][self.column]
        if cell.get("bytes") is not None:
            return cell["bytes"]
        return Path(cell["path"]).read_bytes()


class ImageDataset(torch.utils.data.Dataset):
    """Decodes each sample once; returns (tensor, position, content sha1, error message)."""

    def __init__(
        self,
        samples: tuple[Sample, ...],
        transform: Callable[[Image.Image], torch.Tensor],
        table: ImageTable | None = None,
    ):
        self.samples = samples
        self.transform = transform
        self.table = table

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, position: int) -> tuple[torch.Tensor | None, int, str, str]:
        sample = self.samples[position]
        try:
            data = self.table.read(sample.row) if sample.row >= 0 and self.table else sample.path.read_bytes()
            with Image.open(io.BytesIO(data)) as image:
                tensor = self.transform(image)
        except Exception as error:  # reported in the main process as one AuditError
            return None, position, "", f"cannot decode {sample.path}: {error}"
        return tensor, position, hashlib.sha1(data).hexdigest(), ""


def collate(batch: list[tuple[torch.Tensor | None, int, str, str]]) -> dict[str, Any]:
    """Stack the images that decoded; ``positions`` / ``content_sha1`` are theirs, ``errors``
    the (position, message) of the rest."""
    good = [item for item in batch if not item[3]]
    return {
        "images": torch.stack([item[0] for item in good]) if good else None,
        "positions": [item[1] for item in good],
        "content_sha1": [item[2] for item in good],
        "errors": [(item[1], item[3]) for item in batch if item[3]],
    }


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
