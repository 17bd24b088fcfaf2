"""Calibration: does the max softmax probability mean what it says?

Protocol (Vishniakov et al., "ConvNet vs Transformer, Supervised vs CLIP", Sec. "Calibration";
docs/protocols.md "Calibration"):
- confidence = max softmax probability; correct = argmax == label.
- ECE with 15 equal-width bins, membership (lo, hi] as in the paper's code:
  ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|.
- Datasets: ImageNet-1K val and ImageNet-R. For ImageNet-R the logits are restricted to its 200
  classes BEFORE the softmax (and the argmax).
Records: one per metric at (dataset, condition ``none``, subset ``all``). The metric functions
live in ``suites/calibration/metrics.py``: the records, ``sample_metrics`` (paired comparisons of
the per-sample arrays ``confidence``, ``correct``, ``brier``, ``nll``, ``prediction``, ``label``)
and the plots all use them, so they cannot disagree.
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

from typing import Mapping

import numpy as np

from auditkit.records import ALL
from auditkit.stats import bootstrap_intervals
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput
from suites.calibration.metrics import (  # noqa: F401 (re-exported: the suite's protocol in one place)
    METRICS,
    NUM_BINS,
    CalibrationArrays,
    adaptive_ece,
    bin_index,
    calibration_arrays,
    calibration_metrics,
    expected_calibration_error,
    max_calibration_error,
)


class CalibrationSuite(Suite):
    name = "calibration"
    version = "1.0"
    # BibTeX of the protocol this suite follows (audit export's CITATIONS.bib)
    citations = (
        """@inproceedings{guo2017calibration,
  title = {On Calibration of Modern Neural Networks},
  author = {Guo, Chuan and Pleiss, Geoff and Sun, Yu and Weinberger, Kilian Q.},
  booktitle = {International Conference on Machine Learning (ICML)},
  year = {2017}
}""",
        """@inproceedings{nixon2019measuring,
  title = {Measuring Calibration in Deep Learning},
  author = {Nixon, Jeremy and Dusenberry, Michael W. and Zhang, Linchuan and Jerfel, Ghassen and Tran, Dustin},
  booktitle = {CVPR Workshops},
  year = {2019}
}""",
        """@article{brier1950verification,
  title = {Verification of Forecasts Expressed in Terms of Probability},
  author = {Brier, Glenn W.},
  journal = {Monthly Weather Review},
  volume = {78},
  number = {1},
  pages = {1--3},
  year = {1950}
}""",
    )
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

    # the full softmax over the dataset's classes: recorded top-1 answers hold neither the other
    # classes' probabilities (Brier, NLL) nor ImageNet-R's restriction before the softmax
    accepts = ("logits",)

    def sample_metrics(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        """Every record's metric (``metrics.calibration_metrics``) from the saved per-sample arrays."""
        values = calibration_metrics(CalibrationArrays.from_samples(arrays))
        return {(ALL, metric): value for metric, value in values.items()}

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
            arrays = calibration_arrays(prediction.logits, prediction.labels, prediction.source.class_indices)
            n = len(arrays.confidence)
            values = calibration_metrics(arrays)
            low, high = bootstrap_intervals(
                lambda index: np.array(list(calibration_metrics(arrays.take(index)).values())), n, seed=seed,
            )
            for k, (metric, value) in enumerate(values.items()):
                output.records.append(self.record(
                    model, dataset=request.dataset, condition=prediction.condition, metric=metric, value=value,
                    ci=(low[k], high[k]), n=n,
                ))
            output.add_samples(prediction, {"label": prediction.labels, **arrays.samples()},
                               dataset=request.dataset, condition=prediction.condition)
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
