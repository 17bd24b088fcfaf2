"""Per-pixel targets of the dense datasets (ADE20K, Pascal VOC 2012, NYU Depth V2): label maps
and depth maps, read per sample by the dense suite, never kept in the prediction store (the store
holds what the model answered; targets are the dataset's).

A dense dataset's reader puts a ``DenseLabels`` declaration in ``source.info["dense"]`` (classes,
tasks, how its targets are stored) and gives each sample its ``split`` (``train`` / ``val``) and
where its target is (attribute ``target``: a PNG path, or the row of NYU's .mat file).
``TargetReader`` reads them into one convention for every dataset:

- segmentation: uint8 (H, W) class indices 0 .. K-1, ``IGNORE_INDEX`` (255) for pixels not scored
  (VOC's 255 borders; ADE20K's 0 "other", shifted as mmsegmentation's ``reduce_zero_label``;
  NYU's unlabeled 0);
- depth: float32 (H, W) metres, 0 where there is no measurement.

A label map whose size differs from its image, or a class index outside 0 .. K-1 (other than the
ignore index), is a one-line ``AuditError`` naming the file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from auditkit.data.source import DatasetSource, Sample
from auditkit.errors import AuditError

IGNORE_INDEX = 255
PNG, PNG_REDUCE_ZERO, NYU_MAT = "png", "png-reduce-zero", "nyu-mat"


@dataclass(frozen=True)
class DenseLabels:
    classes: tuple[str, ...]  # segmentation class names, index order
    tasks: tuple[str, ...]  # "segmentation", "depth"
    storage: str  # PNG (values are the classes), PNG_REDUCE_ZERO (0 ignored, 1.. = classes) or NYU_MAT
    files: tuple[str, ...] = ()  # NYU_MAT: the labeled .mat and the 40-class mapping

    def describe(self) -> dict[str, Any]:
        described = asdict(self)
        described["classes"] = list(self.classes)
        return described


def dense_labels(source: DatasetSource) -> DenseLabels | None:
    """The dataset's declaration, or None for a dataset without per-pixel targets."""
    declared = source.info.get("dense")
    if not declared:
        return None
    return DenseLabels(tuple(declared["classes"]), tuple(declared["tasks"]), declared["storage"],
                       tuple(declared.get("files", ())))


def split_of(sample: Sample) -> str:
    return sample.attribute("split")


class TargetReader:
    """Reads the targets of one dense dataset (keeps NYU's .mat open while in use)."""

    def __init__(self, source: DatasetSource) -> None:
        labels = dense_labels(source)
        if labels is None:
            raise AuditError(f"{source.name} has no per-pixel labels; the dense suite runs on ade20k, voc2012 "
                             "or nyu-depth-v2")
        self.source, self.labels = source, labels
        self._mat: Any = None
        self._mapping: np.ndarray | None = None

    def __enter__(self) -> "TargetReader":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._mat is not None:
            self._mat.close()
            self._mat = None

    def _nyu(self) -> Any:
        if self._mat is None:
            self._mat = open_nyu_mat(Path(self.labels.files[0]))
        return self._mat

    def segmentation(self, sample: Sample) -> np.ndarray:
        """(H, W) uint8 classes with ``IGNORE_INDEX`` where not scored."""
        storage, classes = self.labels.storage, len(self.labels.classes)
        if storage == NYU_MAT:
            if self._mapping is None:
                self._mapping = nyu_class_mapping(Path(self.labels.files[1]))
            raw = np.asarray(self._nyu()["labels"][int(sample.attribute("target"))]).T.astype(np.int64)
            if raw.max(initial=0) >= len(self._mapping):
                raise AuditError(f"{self.labels.files[0]}: image {sample.sample_id} has label {raw.max()}, beyond "
                                 f"the {len(self._mapping) - 1} classes of {self.labels.files[1]}")
            return self._mapping[raw]
        path = Path(sample.attribute("target"))
        with Image.open(path) as image:
            if image.mode not in ("P", "L", "I", "I;16"):
                raise AuditError(f"{path}: a label map is a single-channel (or palette) PNG of class indices, not "
                                 f"{image.mode}; use the release's annotation files")
            values = np.asarray(image).astype(np.int64)
        if storage == PNG_REDUCE_ZERO:  # 0 is "other" (not scored); 1 .. K are the classes
            values = np.where(values == 0, IGNORE_INDEX + 1, values) - 1
        bad = (values >= classes) & (values != IGNORE_INDEX)
        if bad.any():
            raise AuditError(f"{path}: label {int(values[bad][0]) + (storage == PNG_REDUCE_ZERO)} is outside the "
                             f"{classes} classes of {self.source.name} (and not the ignore label); use the release's "
                             "annotation files")
        return values.astype(np.uint8)

    def depth(self, sample: Sample) -> np.ndarray:
        """(H, W) float32 depth in metres (0: no measurement)."""
        if self.labels.storage != NYU_MAT:
            raise AuditError(f"{self.source.name} has no depth maps; the depth probe runs on nyu-depth-v2")
        return np.asarray(self._nyu()["depths"][int(sample.attribute("target"))], dtype=np.float32).T


def open_nyu_mat(path: Path) -> Any:
    """The labeled .mat (MATLAB v7.3, HDF5) open for reading; h5py is needed to read it."""
    try:
        import h5py
    except ImportError:
        raise AuditError("reading nyu_depth_v2_labeled.mat (HDF5) needs h5py: pip install h5py") from None
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise AuditError(f"{path} is not an HDF5 (MATLAB v7.3) file ({error}); re-download "
                         "nyu_depth_v2_labeled.mat") from None


def nyu_class_mapping(path: Path) -> np.ndarray:
    """Gupta et al. 2013's 894 -> 40 mapping (``classMapping40.mat``, ``mapClass``) as a lookup
    from the .mat's raw labels (0 = unlabeled) to 0 .. 39, unlabeled -> ``IGNORE_INDEX``."""
    from scipy.io import loadmat

    try:
        mapping = np.asarray(loadmat(path)["mapClass"]).ravel().astype(np.int64)
    except (KeyError, ValueError, OSError) as error:
        raise AuditError(f"{path} is not Gupta et al.'s classMapping40.mat (no mapClass: {error}); "
                         "download it from the NYU-40 release") from None
    if mapping.min() < 1 or mapping.max() > 40:
        raise AuditError(f"{path}: mapClass holds classes {mapping.min()} .. {mapping.max()}, not 1 .. 40")
    return np.concatenate([[IGNORE_INDEX], mapping - 1]).astype(np.uint8)
