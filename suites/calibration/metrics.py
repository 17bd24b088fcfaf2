"""Calibration metrics: pure functions over per-image confidences and hits, shared by the suite's
records, its ``sample_metrics`` (paired comparisons) and its plots (reliability diagrams).

Definitions (Vishniakov et al., Sec. "Calibration"; docs/protocols.md "Calibration"):
- confidence = max softmax probability; correct = argmax == label;
- ECE with 15 equal-width bins, membership (lo, hi] as in the paper's code:
  ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|;
- max_calibration_error: max over non-empty bins of |acc - conf| (same 15 bins);
- adaptive_ece: 15 equal-mass bins over the sorted confidences (Nixon et al. 2019), same formula;
- ece_em100: Minderer et al. 2021's convention, 100 equal-mass bins of the top-label confidence,
  L1; bin edges are confidence values (``equal_mass_ece``), so tied confidences share a bin;
- brier: mean over images of sum_k (p_k - 1[k = y])^2 over the (restricted) classes;
- nll: mean -log p_y; top1: accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Callable, Mapping

import numpy as np

from auditkit.stats import log_softmax

NUM_BINS = 15
MINDERER_BINS = 100  # Minderer et al. 2021 (robustness_metrics' revisiting_calibration): 100 equal-mass bins


def bin_edges(num_bins: int = NUM_BINS) -> np.ndarray:
    # k / n exactly rounded, so a confidence written as 0.2 sits exactly on the edge 3/15.
    return np.arange(num_bins + 1) / num_bins


def bin_index(confidence: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Bin of each confidence with membership (lo, hi]; 0 falls in the first bin."""
    return np.searchsorted(bin_edges(num_bins)[1:-1], confidence, side="left")


@dataclass(frozen=True)
class BinStats:
    """Per equal-width bin: image count, mean confidence, accuracy (0 where empty), non-empty."""

    count: np.ndarray
    mean_confidence: np.ndarray
    accuracy: np.ndarray
    filled: np.ndarray


def bin_stats(confidence: np.ndarray, correct: np.ndarray, num_bins: int = NUM_BINS) -> BinStats:
    """The reliability diagram's numbers: what ECE, MCE and the plots are computed from."""
    bins = bin_index(confidence, num_bins)
    count = np.bincount(bins, minlength=num_bins).astype(float)
    conf_sum = np.bincount(bins, weights=confidence, minlength=num_bins)
    correct_sum = np.bincount(bins, weights=correct.astype(float), minlength=num_bins)
    filled = count > 0
    mean_conf = np.divide(conf_sum, count, out=np.zeros(num_bins), where=filled)
    accuracy = np.divide(correct_sum, count, out=np.zeros(num_bins), where=filled)
    return BinStats(count, mean_conf, accuracy, filled)


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, num_bins: int = NUM_BINS) -> float:
    stats = bin_stats(confidence, correct, num_bins)
    return float(np.sum(stats.count / len(confidence) * np.abs(stats.accuracy - stats.mean_confidence)))


def max_calibration_error(confidence: np.ndarray, correct: np.ndarray, num_bins: int = NUM_BINS) -> float:
    stats = bin_stats(confidence, correct, num_bins)
    return float(np.max(np.abs(stats.accuracy - stats.mean_confidence)[stats.filled]))


def adaptive_ece(confidence: np.ndarray, correct: np.ndarray, num_bins: int = NUM_BINS) -> float:
    """ECE over equal-mass bins: the sorted confidences split into ``num_bins`` groups of sizes
    differing by at most one (``np.array_split``)."""
    order = np.argsort(confidence, kind="stable")
    total = 0.0
    for group in np.array_split(order, min(num_bins, len(order))):
        total += len(group) * abs(correct[group].mean() - confidence[group].mean())
    return float(total / len(confidence))


def equal_mass_upper_edges(confidence: np.ndarray, num_bins: int = MINDERER_BINS) -> np.ndarray:
    """Upper edges of ``num_bins`` equal-mass bins, as robustness_metrics places them (the code
    behind Minderer et al. 2021's numbers): the sorted confidences at the rounded positions
    ``linspace(0, n, num_bins, endpoint=False)`` (the first left out), then 1. A confidence equal
    to an edge falls in the bin above it (``np.digitize``), so bin sizes alternate between
    floor(n / bins) and ceil(n / bins), and tied confidences always share a bin: the binning
    depends on the values only, never on the order of the rows."""
    ordered = np.sort(confidence)
    positions = np.round(np.linspace(0, len(ordered), num_bins, endpoint=False)).astype(int)
    positions = np.minimum(positions, len(ordered) - 1)
    return np.concatenate([ordered[positions][1:], [1.0]])


def equal_mass_ece(confidence: np.ndarray, correct: np.ndarray, num_bins: int = MINDERER_BINS) -> float:
    """ECE over equal-mass bins whose edges are confidence values (``equal_mass_upper_edges``):
    sum_b |B_b| / N * |acc(B_b) - conf(B_b)|, top-label, L1 (Minderer et al. 2021, Sec. 3)."""
    bins = np.digitize(confidence, equal_mass_upper_edges(confidence, num_bins))
    gap = np.bincount(bins, weights=correct.astype(float) - confidence, minlength=num_bins + 1)
    return float(np.sum(np.abs(gap)) / len(confidence))


@dataclass(frozen=True)
class CalibrationArrays:
    """Per-image quantities every calibration metric is a mean or binning of."""

    confidence: np.ndarray  # max softmax probability
    prediction: np.ndarray  # ImageNet class index
    correct: np.ndarray  # bool
    label_log_prob: np.ndarray  # log p_y
    brier: np.ndarray  # sum_k (p_k - 1[k = y])^2

    def take(self, index: np.ndarray) -> "CalibrationArrays":
        return CalibrationArrays(*(getattr(self, f.name)[index] for f in fields(self)))

    def samples(self, suffix: str = "") -> dict[str, np.ndarray]:
        """The per-sample arrays saved for the records (auditkit/suite.py's convention: ``correct``,
        and ``brier`` / ``nll`` whose means are those records). ``suffix`` names the arrays of a
        recalibrated softmax (``_ts``: ``confidence_ts``, ``brier_ts``, ``nll_ts``); the answer
        (``prediction``, ``correct``) is saved without it, once."""
        if suffix:
            return {f"confidence{suffix}": self.confidence, f"brier{suffix}": self.brier,
                    f"nll{suffix}": -self.label_log_prob}
        return {"prediction": self.prediction, "confidence": self.confidence, "correct": self.correct,
                "brier": self.brier, "nll": -self.label_log_prob}

    @classmethod
    def from_samples(cls, arrays: Mapping[str, np.ndarray], suffix: str = "") -> "CalibrationArrays":
        """Back from ``samples(suffix)`` (a saved per-sample file, possibly a subset or a resample)."""
        return cls(confidence=arrays[f"confidence{suffix}"], prediction=arrays["prediction"],
                   correct=arrays["correct"].astype(bool), label_log_prob=-arrays[f"nll{suffix}"],
                   brier=arrays[f"brier{suffix}"])


def calibration_arrays(
    logits: np.ndarray, labels: np.ndarray, class_indices: tuple[int, ...] | None, temperature: float = 1.0,
) -> CalibrationArrays:
    """Softmax over the (restricted) classes in float64; predictions mapped back to ImageNet ids.
    ImageNet-R's logits are restricted to its 200 classes BEFORE the softmax (the paper's code).
    ``temperature``: softmax(logits / T) (temperature scaling; the division in float64)."""
    classes = np.arange(logits.shape[1]) if class_indices is None else np.asarray(class_indices)
    logits = logits[:, classes]
    position = {int(c): i for i, c in enumerate(classes)}
    target = np.array([position[int(y)] for y in labels])
    log_prob = log_softmax(logits if temperature == 1.0 else np.asarray(logits, dtype=np.float64) / temperature)
    prob = np.exp(log_prob)
    rows = np.arange(len(target))
    top = prob.argmax(axis=1)
    one_hot_error = prob.copy()
    one_hot_error[rows, target] -= 1.0
    return CalibrationArrays(
        confidence=prob[rows, top],
        prediction=classes[top],
        correct=top == target,
        label_log_prob=log_prob[rows, target],
        brier=np.sum(one_hot_error**2, axis=1),
    )


# metric -> its value on the per-image arrays: the one definition of every calibration record
METRICS: dict[str, Callable[[CalibrationArrays], float]] = {
    "ece": lambda a: expected_calibration_error(a.confidence, a.correct),
    "max_calibration_error": lambda a: max_calibration_error(a.confidence, a.correct),
    "adaptive_ece": lambda a: adaptive_ece(a.confidence, a.correct),
    "ece_em100": lambda a: equal_mass_ece(a.confidence, a.correct),
    "brier": lambda a: float(a.brier.mean()),
    "nll": lambda a: float(-a.label_log_prob.mean()),
    "top1": lambda a: float(a.correct.mean()),
}


def calibration_metrics(arrays: CalibrationArrays) -> dict[str, float]:
    """Every calibration metric of one (dataset, condition), in ``METRICS`` order."""
    return {metric: compute(arrays) for metric, compute in METRICS.items()}
