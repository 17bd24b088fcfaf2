"""Invariance to scale, shift and resolution on ImageNet val (docs/protocols.md "Invariance";
the paper's Sec. "Transformation invariance").

Each point is its own store condition (``scale/1.5``, ``shift/30``, ``resolution/336``; kinds and
views in ``auditkit.conditions.views``), so its predictions are cached and resumable like any other.
- scale {1, 1.25, 1.5, 2, 3}, shift {0, 5, 30, 75, 100} px, resolution {112, 224, 336, 512, 640}
  (ViTs with resampled position embeddings; ConvNets natively; a model that cannot take a size
  is listed as skipped with the reason).
- Records per point, at the point's condition (``scale/1.5``, ``shift/30``, ``resolution/336``;
  subset ``all``): ``top1``, ``true_class_probability`` (mean softmax probability of the label:
  the paper's two metrics) and ``consistency`` with the reference point of its axis (scale 1,
  shift 0, resolution 224): the fraction of images whose prediction is unchanged (ours).
  95 % bootstrap CIs over images. No record averages over an axis (the paper reads curves).
- Per-sample arrays at each point's condition: ``correct``, ``true_class_probability``,
  ``consistency`` (bool); ``point_metrics`` turns them into the records' values, for
  ``evaluate`` and ``sample_metrics`` alike. The paper's public code never applied these transforms; ours are
tested to change the input as described.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from auditkit.conditions import Condition, Resolution, Scale, Shift
from auditkit.conditions.views import RESOLUTIONS, SCALES, SHIFTS
from auditkit.records import ALL
from auditkit.stats import bootstrap_intervals, log_softmax
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput

AXES: dict[str, list[Condition]] = {"scale": [Scale(s) for s in SCALES], "shift": [Shift(s) for s in SHIFTS],
                                    "resolution": [Resolution(r) for r in RESOLUTIONS]}
# each axis' reference point (auditkit.conditions.views.REFERENCE): consistency is measured against it
REFERENCE_POINTS: dict[str, Condition] = {"scale": Scale(1.0), "shift": Shift(0), "resolution": Resolution(224)}


def position(point: Condition) -> float:
    """Where a point sits on its axis: the scale factor, the shift in pixels, the resolution."""
    return float(getattr(point, point.fields()[0].name))
METRICS = ("top1", "true_class_probability", "consistency")


def true_class_probability(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(logits)[np.arange(len(labels)), labels])


def point_samples(prediction: Predictions, reference: Predictions | None) -> dict[str, np.ndarray]:
    """Per-image arrays of one point: hit, softmax probability of the label and, when the axis'
    reference point was evaluated, whether the top-1 prediction is the reference's."""
    predicted = prediction.predicted_class
    arrays = {"correct": predicted == prediction.labels,
              "true_class_probability": true_class_probability(prediction.logits, prediction.labels)}
    if reference is not None:
        arrays["consistency"] = predicted == reference.predicted_class
    return arrays


def point_metrics(arrays: Mapping[str, np.ndarray]) -> dict[str, float]:
    """The records of one point from its per-image arrays (``METRICS`` order; ``consistency``
    only where it was measured)."""
    names = {"top1": "correct", "true_class_probability": "true_class_probability", "consistency": "consistency"}
    return {metric: float(np.mean(arrays[name])) for metric, name in names.items() if name in arrays}


class InvarianceSuite(Suite):
    name = "invariance"
    version = "0.2"  # 0.2: scale and shift views bilinear for every model (CLIP was bicubic)
    description = "top-1, true-class probability and consistency under scale, shift and resolution"
    datasets = ("imagenet-val",)
    title = "Invariance"
    # the protocol is the paper's own (Vishniakov et al., ICML 2024)
    citations = ("@inproceedings{vishniakov2024convnet,\n  title = {ConvNet vs Transformer, Supervised vs {CLIP}: Beyond "
                 "{ImageNet} Accuracy},\n  author = {Vishniakov, Kirill and Shen, Zhiqiang and Liu, Zhuang},\n  booktitle "
                 "= {International Conference on Machine Learning (ICML)},\n  year = {2024},\n  eprint = {2311.09215},\n"
                 "  archivePrefix = {arXiv}\n}",)
    metrics = {
        "top1": Metric("top-1 accuracy", "share of images whose highest-scoring class is the label, at this "
                       "scale / shift / resolution (higher is better)", True),
        "true_class_probability": Metric("true-class probability", "mean softmax probability of the label "
                                         "(higher is better)", True),
        "consistency": Metric("consistency", "share of images whose top-1 prediction is the same as at the "
                              "axis' reference point (scale 1, shift 0, resolution 224; higher is better)", True),
    }
    better = {"top1": "higher", "true_class_probability": "higher", "consistency": "higher"}
    # the true-class probability needs the softmax; recorded top-1 answers hold no logits
    accepts = ("logits",)

    def sample_metrics(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        return {(ALL, metric): value for metric, value in point_metrics(arrays).items()}

    def requests(self) -> list[PredictionRequest]:
        return [PredictionRequest("imagenet-val", point.format()) for points in AXES.values() for point in points]

    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        from suites.invariance.plots import invariance_curves

        output = SuiteOutput()
        curves: dict[str, list[tuple[float, float]]] = {}
        for axis, points in AXES.items():
            reference = predictions.get(PredictionRequest("imagenet-val", REFERENCE_POINTS[axis].format()))
            for axis_point in points:
                condition = axis_point.format()
                prediction = predictions.get(PredictionRequest("imagenet-val", condition))
                if prediction is None:
                    continue  # the runner lists it as skipped, with the reason
                arrays = point_samples(prediction, reference)
                point = point_metrics(arrays)
                low, high = bootstrap_intervals(
                    lambda index: np.array(list(point_metrics({k: v[index] for k, v in arrays.items()}).values())),
                    len(arrays["correct"]), seed=seed)
                for k, (metric, number) in enumerate(point.items()):
                    output.records.append(self.record(model, dataset="imagenet-val", condition=condition, metric=metric,
                                                      value=number, ci=(low[k], high[k]), n=len(arrays["correct"])))
                curves.setdefault(axis, []).append((position(axis_point), point["top1"]))
                # per-sample arrays named as the convention in auditkit/suite.py says: paired tests
                output.add_samples(prediction, arrays, dataset="imagenet-val", condition=condition)
        if curves:
            output.figures.append(SuiteFigure(
                "imagenet-val", "curves", invariance_curves(model, curves),
                "Top-1 along each axis (scale factor, shift in pixels, input resolution).",
            ))
        return output
