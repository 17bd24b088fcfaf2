"""Calibration: does the max softmax probability mean what it says?

Protocol (Vishniakov et al., "ConvNet vs Transformer, Supervised vs CLIP", Sec. "Calibration";
PROTOCOLS.md "Calibration"):
- confidence = max softmax probability; correct = argmax == label.
- ECE with 15 equal-width bins, membership (lo, hi] as in the paper's code:
  ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|.
- Datasets: ImageNet-1K val and ImageNet-R. For ImageNet-R the logits are restricted to its 200
  classes BEFORE the softmax (and the argmax).
Further metrics (ours, standard definitions):
- max_calibration_error: max over non-empty bins of |acc - conf| (same 15 bins);
- adaptive_ece: 15 equal-mass bins over the sorted confidences (Nixon et al. 2019), same formula;
- brier: mean over images of sum_k (p_k - 1[k = y])^2 over the (restricted) classes;
- nll: mean -log p_y; top1: accuracy.
Every value has a 95 % percentile bootstrap CI over images (1000 resamples, seeded).
Reference (paper): ECE IN-1K 0.041 / 0.028 / 0.133 / 0.141; IN-R 0.043 / 0.025 / 0.073 / 0.085
(ViT-sup / ConvNeXt-sup / ViT-CLIP / ConvNeXt-CLIP).
Differences from the paper's code: the reliability diagram shades the gap between accuracy and
the bin's MEAN confidence (the paper draws it to the bin midpoint); the confidence histogram is
ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from auditkit.records import MetricRecord, Skipped
from auditkit.stats import bootstrap_intervals, log_softmax
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput

NUM_BINS = 15


def bin_edges(num_bins: int = NUM_BINS) -> np.ndarray:
    # k / n exactly rounded, so a confidence written as 0.2 sits exactly on the edge 3/15.
    return np.arange(num_bins + 1) / num_bins


def bin_index(confidence: np.ndarray, num_bins: int = NUM_BINS) -> np.ndarray:
    """Bin of each confidence with membership (lo, hi]; 0 falls in the first bin."""
    return np.searchsorted(bin_edges(num_bins)[1:-1], confidence, side="left")


def _bin_stats(confidence: np.ndarray, correct: np.ndarray, bins: np.ndarray, num_bins: int):
    count = np.bincount(bins, minlength=num_bins).astype(float)
    conf_sum = np.bincount(bins, weights=confidence, minlength=num_bins)
    correct_sum = np.bincount(bins, weights=correct.astype(float), minlength=num_bins)
    filled = count > 0
    mean_conf = np.divide(conf_sum, count, out=np.zeros(num_bins), where=filled)
    accuracy = np.divide(correct_sum, count, out=np.zeros(num_bins), where=filled)
    return count, mean_conf, accuracy, filled


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, num_bins: int = NUM_BINS) -> float:
    count, mean_conf, accuracy, _ = _bin_stats(confidence, correct, bin_index(confidence, num_bins), num_bins)
    return float(np.sum(count / len(confidence) * np.abs(accuracy - mean_conf)))


def max_calibration_error(confidence: np.ndarray, correct: np.ndarray, num_bins: int = NUM_BINS) -> float:
    _, mean_conf, accuracy, filled = _bin_stats(confidence, correct, bin_index(confidence, num_bins), num_bins)
    return float(np.max(np.abs(accuracy - mean_conf)[filled]))


def adaptive_ece(confidence: np.ndarray, correct: np.ndarray, num_bins: int = NUM_BINS) -> float:
    """ECE over equal-mass bins: the sorted confidences split into ``num_bins`` groups of sizes
    differing by at most one (``np.array_split``)."""
    order = np.argsort(confidence, kind="stable")
    total = 0.0
    for group in np.array_split(order, min(num_bins, len(order))):
        total += len(group) * abs(correct[group].mean() - confidence[group].mean())
    return float(total / len(confidence))


@dataclass(frozen=True)
class CalibrationArrays:
    """Per-image quantities every calibration metric is a mean or binning of."""

    confidence: np.ndarray  # max softmax probability
    prediction: np.ndarray  # ImageNet class index
    correct: np.ndarray  # bool
    label_log_prob: np.ndarray  # log p_y
    brier: np.ndarray  # sum_k (p_k - 1[k = y])^2


def calibration_arrays(
    logits: np.ndarray, labels: np.ndarray, class_indices: tuple[int, ...] | None
) -> CalibrationArrays:
    """Softmax over the (restricted) classes in float64; predictions mapped back to ImageNet ids."""
    classes = np.arange(logits.shape[1]) if class_indices is None else np.asarray(class_indices)
    logits = logits[:, classes]
    position = {int(c): i for i, c in enumerate(classes)}
    target = np.array([position[int(y)] for y in labels])
    log_prob = log_softmax(logits)
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


METRICS = {
    "ece": lambda a: expected_calibration_error(a.confidence, a.correct),
    "max_calibration_error": lambda a: max_calibration_error(a.confidence, a.correct),
    "adaptive_ece": lambda a: adaptive_ece(a.confidence, a.correct),
    "brier": lambda a: float(a.brier.mean()),
    "nll": lambda a: float(-a.label_log_prob.mean()),
    "top1": lambda a: float(a.correct.mean()),
}


def _resampled(arrays: CalibrationArrays, index: np.ndarray) -> CalibrationArrays:
    return CalibrationArrays(*(getattr(arrays, f)[index] for f in CalibrationArrays.__dataclass_fields__))


class CalibrationSuite(Suite):
    name = "calibration"
    version = "1.0"
    description = "ECE (15 bins), MCE, adaptive ECE, Brier, NLL, top-1; reliability diagrams"
    datasets = ("imagenet-val", "imagenet-r")
    title = "Calibration"
    metrics = {
        "ece": Metric("ECE", "expected calibration error: |accuracy - mean confidence| in each of 15 equal-width "
                      "confidence bins, weighted by the bin's share of images (0 = calibrated; lower is better)", True),
        "max_calibration_error": Metric("MCE", "maximum calibration error: the largest |accuracy - mean confidence| "
                                        "over the 15 bins (lower is better)", True),
        "adaptive_ece": Metric("adaptive ECE", "ECE over 15 equal-mass bins (each holds the same number of images; "
                               "Nixon et al. 2019; lower is better)", True),
        "brier": Metric("Brier score", "squared distance between the softmax vector and the one-hot label, summed over "
                        "classes, mean over images (0 ... 2; lower is better)"),
        "nll": Metric("NLL", "negative log-likelihood: mean -log softmax probability of the label, in nats "
                      "(lower is better)"),
        "top1": Metric("top-1 accuracy", "share of images whose highest-scoring class is the label (higher is better)", True),
    }
    better = {"ece": "lower", "max_calibration_error": "lower", "adaptive_ece": "lower", "brier": "lower",
              "nll": "lower", "top1": "higher"}

    def sample_metrics(self, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        """The binned metrics as well as the convention's means (top-1, Brier, NLL)."""
        metrics = super().sample_metrics(condition, arrays)
        confidence, correct = arrays["confidence"], arrays["correct"]
        metrics[(condition, "ece")] = expected_calibration_error(confidence, correct)
        metrics[(condition, "max_calibration_error")] = max_calibration_error(confidence, correct)
        metrics[(condition, "adaptive_ece")] = adaptive_ece(confidence, correct)
        metrics.pop((condition, "confidence"), None)  # context, not a record
        return metrics

    def comparison_figures(self, samples: Mapping[str, Mapping[tuple[str, str], Mapping[str, np.ndarray]]]) -> list[SuiteFigure]:
        from suites.calibration.plots import reliability_overlay

        figures = []
        for key in dict.fromkeys(k for by_request in samples.values() for k in by_request):
            models = {m: (a[key]["confidence"], a[key]["correct"]) for m, a in samples.items() if key in a}
            if len(models) > 1:
                figures.append(SuiteFigure(
                    key[0], "reliability_overlay", reliability_overlay(models, f"{key[0]}"),
                    f"Reliability diagrams overlaid ({NUM_BINS} equal-width bins): accuracy against "
                    "mean confidence per non-empty bin; the diagonal is perfect calibration."))
        return figures

    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        from suites.calibration.plots import confidence_histogram, reliability_diagram

        output = SuiteOutput()
        for request, prediction in predictions.items():
            if prediction.logits is None:
                output.skipped.append(Skipped(
                    self.name, request.dataset,
                    "calibration needs the full softmax; recorded answers hold no logits",
                ))
                continue
            arrays = calibration_arrays(prediction.logits, prediction.labels, prediction.source.class_indices)
            n = len(arrays.confidence)
            low, high = bootstrap_intervals(
                lambda index: np.array([m(_resampled(arrays, index)) for m in METRICS.values()]),
                n, seed=seed,
            )
            for k, (metric, compute) in enumerate(METRICS.items()):
                output.records.append(MetricRecord(
                    model=model, suite=self.name, dataset=request.dataset, condition=request.condition,
                    metric=metric, value=compute(arrays), ci_low=float(low[k]), ci_high=float(high[k]),
                    n=n, suite_version=self.version,
                ))
            output.per_sample[(request.dataset, request.condition)] = {
                "label": prediction.labels,
                "prediction": arrays.prediction,
                "confidence": arrays.confidence,
                "correct": arrays.correct,
                # per-sample terms whose means are the records (auditkit/suite.py's convention)
                "brier": arrays.brier,
                "nll": -arrays.label_log_prob,
            }
            title = f"{model} on {request.dataset}"
            output.figures.append(SuiteFigure(
                request.dataset, "reliability", reliability_diagram(arrays.confidence, arrays.correct, title),
                f"Reliability diagram, {NUM_BINS} equal-width bins (lo, hi]; shaded: gap between "
                "accuracy and the bin's mean confidence.",
            ))
            output.figures.append(SuiteFigure(
                request.dataset, "confidence_histogram",
                confidence_histogram(arrays.confidence, arrays.correct, title),
                "Distribution of max-softmax confidence, correct vs wrong predictions.",
            ))
        return output
