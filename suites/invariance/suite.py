"""Invariance to scale, shift and resolution on ImageNet val (PROTOCOLS.md "Invariance";
the paper's Sec. "Transformation invariance").

Each point is its own store condition (``scale/1.5``, ``shift/30``, ``resolution/336``; views in
``auditkit.data.views``), so its predictions are cached and resumable like any other.
- scale {1, 1.25, 1.5, 2, 3}, shift {0, 5, 30, 75, 100} px, resolution {112, 224, 336, 512, 640}
  (ViTs with resampled position embeddings; ConvNets natively; a model that cannot take a size
  is listed as skipped with the reason).
- Metrics per point: ``top1``, ``true_class_probability`` (mean softmax probability of the label:
  the paper's two metrics) and ``consistency`` with the reference point of its axis (scale 1,
  shift 0, resolution 224): the fraction of images whose prediction is unchanged (ours).
95 % bootstrap CIs over images. The paper's public code never applied these transforms; ours are
tested to change the input as described.
"""

from __future__ import annotations

import numpy as np

from auditkit.conditions.views import REFERENCE, RESOLUTIONS, SCALES, SHIFTS
from auditkit.records import MetricRecord
from auditkit.stats import bootstrap_intervals, log_softmax
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput

AXES = {"scale": [f"{s:g}" for s in SCALES], "shift": [str(s) for s in SHIFTS],
        "resolution": [str(r) for r in RESOLUTIONS]}
METRICS = ("top1", "true_class_probability", "consistency")


def true_class_probability(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(logits)[np.arange(len(labels)), labels])


class InvarianceSuite(Suite):
    name = "invariance"
    version = "0.2"  # 0.2: scale and shift views bilinear for every model (CLIP was bicubic)
    description = "top-1, true-class probability and consistency under scale, shift and resolution"
    datasets = ("imagenet-val",)
    title = "Invariance"
    metrics = {
        "top1": Metric("top-1 accuracy", "share of images whose highest-scoring class is the label, at this "
                       "scale / shift / resolution (higher is better)", True),
        "true_class_probability": Metric("true-class probability", "mean softmax probability of the label "
                                         "(higher is better)", True),
        "consistency": Metric("consistency", "share of images whose top-1 prediction is the same as at the "
                              "axis' reference point (scale 1, shift 0, resolution 224; higher is better)", True),
    }
    better = {"top1": "higher", "true_class_probability": "higher", "consistency": "higher"}

    def requests(self) -> list[PredictionRequest]:
        return [PredictionRequest("imagenet-val", f"{axis}/{value}") for axis, values in AXES.items() for value in values]

    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        from suites.invariance.plots import invariance_curves

        output = SuiteOutput()
        curves: dict[str, list[tuple[float, float]]] = {}
        for axis, values in AXES.items():
            reference = predictions.get(PredictionRequest("imagenet-val", f"{axis}/{REFERENCE[axis]}"))
            for value in values:
                prediction = predictions.get(PredictionRequest("imagenet-val", f"{axis}/{value}"))
                if prediction is None or prediction.logits is None:
                    continue  # the runner lists it as skipped, with the reason
                predicted = prediction.predicted_class
                labels = prediction.labels
                columns = [predicted == labels, true_class_probability(prediction.logits, labels)]
                if reference is not None and reference.logits is not None:
                    columns.append(predicted == reference.predicted_class)
                stacked = np.stack(columns, axis=1).astype(float)
                low, high = bootstrap_intervals(lambda index: stacked[index].mean(axis=0), len(stacked), seed=seed)
                for k in range(stacked.shape[1]):
                    output.records.append(MetricRecord(
                        model, self.name, "imagenet-val", f"{axis}/{value}", METRICS[k],
                        float(stacked[:, k].mean()), float(low[k]), float(high[k]), len(stacked), self.version))
                curves.setdefault(axis, []).append((float(value), float(stacked[:, 0].mean())))
                # per-sample arrays named as the convention in auditkit/suite.py says: paired tests
                output.per_sample[("imagenet-val", f"{axis}/{value}")] = {
                    "correct": columns[0], "true_class_probability": columns[1],
                    **({"consistency": columns[2]} if len(columns) > 2 else {}),
                }
        if curves:
            output.figures.append(SuiteFigure(
                "imagenet-val", "curves", invariance_curves(model, curves),
                "Top-1 along each axis (scale factor, shift in pixels, input resolution).",
            ))
        return output
