"""Dense-probe metrics as pure functions of arrays (numpy in, numbers out).

Segmentation follows mmsegmentation's ``intersect_and_union`` / ``total_area_to_metrics``: per
image, over the pixels whose label is not the ignore index, the per-class areas of intersection,
prediction and label; summed over images, IoU_k = I_k / (P_k + L_k - I_k), classes whose union
is empty (never in the labels nor in the predictions) are NaN and left out of the mean (mIoU);
pixel accuracy = sum I / sum L; per-class accuracy I_k / L_k (NaN for a class absent from the
labels), mean accuracy = their nanmean. The three per-image count vectors are the sufficient
statistics of every one of these metrics (of the confusion matrix they keep the diagonal and the
two marginals), so they, not per-image K x K matrices, are the per-sample arrays: ADE20K's 2,000
validation images x 150^2 cells would be 180 MB, the counts 3.6 MB, and the bootstrap over images
resamples them exactly as it would the matrices.

Depth follows the NYU literature (Eigen et al. 2014; the DINOv2 / Monocular-Depth-Estimation-
Toolbox evaluation): per image, over valid pixels (ground truth in (min, max), inside the Eigen
crop), predictions clipped to [min, max]; RMSE = sqrt(mean (p - g)^2), AbsRel = mean |p - g| / g,
log10 = mean |log10 p - log10 g|, delta_k = share of pixels with max(p / g, g / p) < 1.25^k;
each averaged over images (per image, then the mean: the convention the papers report).
"""

from __future__ import annotations

import numpy as np

IGNORE_INDEX = 255
# NYU Depth V2 as Eigen et al. 2014 evaluate it: rows 45:471, columns 41:601 of the 480 x 640 map
EIGEN_CROP = (slice(45, 471), slice(41, 601))
DEPTH_RANGE = (1e-3, 10.0)  # metres (DINOv2 section 7.4)
DEPTH_METRICS = ("rmse", "abs_rel", "log10", "delta1", "delta2", "delta3")


def confusion_matrix(prediction: np.ndarray, label: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) counts, rows = label, columns = prediction, ignore-index pixels left out."""
    keep = label != IGNORE_INDEX
    pairs = label[keep].astype(np.int64) * classes + prediction[keep].astype(np.int64)
    return np.bincount(pairs, minlength=classes * classes).reshape(classes, classes)


def image_counts(prediction: np.ndarray, label: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class (intersection, predicted area, label area) of one image, ignore pixels left out."""
    keep = label != IGNORE_INDEX
    predicted, truth = prediction[keep].astype(np.int64), label[keep].astype(np.int64)
    intersection = np.bincount(truth[predicted == truth], minlength=classes)
    return intersection, np.bincount(predicted, minlength=classes), np.bincount(truth, minlength=classes)


def class_iou(intersection: np.ndarray, predicted: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """IoU per class from (images, classes) or (classes,) counts, summed over images; NaN where
    the class is in neither labels nor predictions."""
    i, p, lab = (np.asarray(a, dtype=np.float64) for a in (intersection, predicted, labelled))
    if i.ndim == 2:
        i, p, lab = i.sum(0), p.sum(0), lab.sum(0)
    union = p + lab - i
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, i / union, np.nan)


def segmentation_scores(intersection: np.ndarray, predicted: np.ndarray, labelled: np.ndarray) -> dict[str, float]:
    """mIoU, pixel accuracy and mean accuracy of summed per-image counts."""
    i, lab = np.asarray(intersection, dtype=np.float64), np.asarray(labelled, dtype=np.float64)
    if i.ndim == 2:
        i, lab = i.sum(0), lab.sum(0)
    iou = class_iou(intersection, predicted, labelled)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(lab > 0, i / lab, np.nan)
    return {
        "miou": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
        "pixel_accuracy": float(i.sum() / lab.sum()) if lab.sum() > 0 else float("nan"),
        "mean_accuracy": float(np.nanmean(accuracy)) if np.isfinite(accuracy).any() else float("nan"),
    }


def eigen_mask(shape: tuple[int, int]) -> np.ndarray:
    """The Eigen crop on a 480 x 640 map; the whole map for any other size (e.g. a test fixture)."""
    mask = np.zeros(shape, bool)
    if shape == (480, 640):
        mask[EIGEN_CROP] = True
    else:
        mask[:] = True
    return mask


def depth_errors(prediction: np.ndarray, truth: np.ndarray, depth_range: tuple[float, float] = DEPTH_RANGE,
                 crop: bool = True) -> dict[str, float]:
    """The six NYU metrics of one image (``DEPTH_METRICS``); NaN when no pixel is valid."""
    low, high = depth_range
    valid = (truth > low) & (truth < high)
    if crop:
        valid &= eigen_mask(truth.shape)
    if not valid.any():
        return {name: float("nan") for name in DEPTH_METRICS}
    p = np.clip(prediction[valid].astype(np.float64), low, high)
    g = truth[valid].astype(np.float64)
    ratio = np.maximum(p / g, g / p)
    return {
        "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
        "abs_rel": float(np.mean(np.abs(p - g) / g)),
        "log10": float(np.mean(np.abs(np.log10(p) - np.log10(g)))),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25 ** 2)),
        "delta3": float(np.mean(ratio < 1.25 ** 3)),
    }


class DepthProfile:
    """RMSE (m) of valid pixels (as ``depth_errors`` counts them) pooled per bin of true depth,
    accumulated one image at a time: the "error vs depth" figure."""

    def __init__(self, edges: np.ndarray, depth_range: tuple[float, float] = DEPTH_RANGE) -> None:
        self.edges, self.depth_range = edges, depth_range
        self.squared = np.zeros(len(edges) - 1)
        self.counts = np.zeros(len(edges) - 1)

    def add(self, prediction: np.ndarray, truth: np.ndarray) -> None:
        low, high = self.depth_range
        valid = (truth > low) & (truth < high) & eigen_mask(truth.shape)
        g, p = truth[valid].astype(np.float64), np.clip(prediction[valid].astype(np.float64), low, high)
        index = np.clip(np.digitize(g, self.edges) - 1, 0, len(self.counts) - 1)
        self.squared += np.bincount(index, (p - g) ** 2, minlength=len(self.counts))
        self.counts += np.bincount(index, minlength=len(self.counts))

    def rmse(self) -> tuple[np.ndarray, np.ndarray]:
        """Per bin: the RMSE (NaN for an empty bin) and its pixel count."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.sqrt(self.squared / self.counts), self.counts
