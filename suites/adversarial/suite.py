"""Adversarial robustness: top-1 under untargeted L-infinity FGSM and PGD.

Protocol (the paper's "other properties" list; attacks as in Goodfellow et al. 2015 and Madry
et al. 2018; definitions and the runner side in ``auditkit.conditions.attacks``):
- epsilon in {0.5, 1, 2, 4} / 255, measured on the model's input pixels in [0, 1] after resize
  and centre crop and BEFORE normalisation (so a model's mean/std never changes the budget);
- FGSM: one signed-gradient step of epsilon; PGD: 10 steps of 2.5 epsilon / 10 from a seeded
  uniform random start in the ball (seed 0), projected onto the ball and [0, 1] after each step;
- untargeted: ascend the cross-entropy of the true label over all 1000 logits. CLIP zero-shot
  models are attacked through their text head (the gradient flows through the zero-shot
  classifier's logits);
- records (subset ``all``): ``top1`` per condition (``none`` = clean, ``fgsm/eps<E>``,
  ``pgd/eps<E>/steps10/seed0``) and, at each attack's condition, ``top1_drop`` = clean top-1 -
  attacked top-1, with 95 % bootstrap CIs over images (the same resamples for both).
Per-sample arrays at each record condition: ``correct``, ``prediction`` and, for an attack,
``top1_drop`` (clean hit minus attacked hit, -1 / 0 / 1 per image); ``attack_metrics`` turns them
into the records' values, for ``evaluate`` and ``sample_metrics`` alike.
Each attacked condition is cached in the store like any prediction, keyed by method, epsilon,
steps and seed. PGD costs 10 forward + backward passes per image: use ``--limit`` on a CPU.
Dataset: ImageNet val.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from auditkit.conditions import Attack, Fgsm, Pgd
from auditkit.records import ALL
from auditkit.stats import bootstrap_intervals
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput

EPSILONS = (0.5, 1.0, 2.0, 4.0)  # / 255
PGD_STEPS = 10
PGD_SEED = 0
DATASET = "imagenet-val"


def attacks() -> list[Attack]:
    return [Fgsm(e) for e in EPSILONS] + [Pgd(e, PGD_STEPS, PGD_SEED) for e in EPSILONS]


def attack_samples(correct: np.ndarray, clean_correct: np.ndarray | None) -> dict[str, np.ndarray]:
    """Per-image arrays of one condition: its hits and, for an attack (``clean_correct`` given),
    each image's contribution to the top-1 drop."""
    arrays = {"correct": np.asarray(correct, dtype=bool)}
    if clean_correct is not None:
        arrays["top1_drop"] = clean_correct.astype(float) - arrays["correct"]
    return arrays


def attack_metrics(arrays: Mapping[str, np.ndarray]) -> dict[str, float]:
    """The records of one condition from its per-image arrays: ``top1`` and, for an attack,
    ``top1_drop`` (the mean of clean minus attacked hits = clean top-1 - attacked top-1)."""
    metrics = {"top1": float(np.mean(arrays["correct"]))}
    if "top1_drop" in arrays:
        metrics["top1_drop"] = float(np.mean(arrays["top1_drop"]))
    return metrics


class AdversarialSuite(Suite):
    name = "adversarial"
    version = "0.1"
    description = "top-1 under untargeted L-inf FGSM and PGD-10, eps 0.5-4/255, before normalisation"
    datasets = (DATASET,)
    title = "Adversarial robustness"
    metrics = {
        "top1": Metric("top-1 accuracy", "share of images still classified correctly (none: clean; otherwise "
                       "under the L-inf FGSM / PGD attack of the condition; higher is better)", True),
        "top1_drop": Metric("top-1 drop", "clean top-1 minus top-1 under the attack (lower is better)", True),
    }
    better = {"top1": "higher", "top1_drop": "lower"}
    # the attack differentiates through the model: recorded answers cannot be attacked
    accepts = ("logits",)

    def sample_metrics(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        return {(ALL, metric): value for metric, value in attack_metrics(arrays).items()}

    def sample_hits(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
        return {(ALL, "top1"): np.asarray(arrays["correct"], dtype=bool)}

    def requests(self) -> list[PredictionRequest]:
        return [PredictionRequest(DATASET)] + [PredictionRequest(DATASET, a.format()) for a in attacks()]

    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        from suites.adversarial.plots import accuracy_vs_epsilon

        output = SuiteOutput()
        clean = predictions.get(PredictionRequest(DATASET))
        if clean is None:
            return output  # no imagenet-val: the runner lists the dataset as skipped, with the reason
        clean_correct = clean.predicted_class == clean.labels
        curves: dict[str, list[tuple[float, float, float, float]]] = {}
        for spec in [None, *attacks()]:
            condition = "none" if spec is None else spec.format()
            prediction = predictions.get(PredictionRequest(DATASET, condition))
            if prediction is None:
                continue
            correct = prediction.predicted_class == prediction.labels
            arrays = attack_samples(correct, None if spec is None else clean_correct)
            values = attack_metrics(arrays)
            low, high = bootstrap_intervals(
                lambda index: np.array(list(attack_metrics({k: v[index] for k, v in arrays.items()}).values())),
                len(correct), seed=seed)
            for k, (metric, value) in enumerate(values.items()):
                output.records.append(self.record(model, dataset=DATASET, condition=condition, metric=metric,
                                                  value=value, ci=(low[k], high[k]), n=len(correct)))
            output.add_samples(prediction, {**arrays, "prediction": prediction.predicted_class},
                               dataset=DATASET, condition=condition)
            for method in (("fgsm", "pgd") if spec is None else (spec.method,)):
                epsilon = 0.0 if spec is None else spec.epsilon
                curves.setdefault(method, []).append((epsilon, values["top1"], float(low[0]), float(high[0])))
        if any(len(points) > 1 for points in curves.values()):
            output.figures.append(SuiteFigure(
                DATASET, "accuracy_vs_epsilon", accuracy_vs_epsilon(model, curves),
                f"Top-1 under untargeted L-inf attacks (eps in /255 of the pixel range, before normalisation; "
                f"PGD: {PGD_STEPS} steps, random start seed {PGD_SEED}); bars: 95 % bootstrap CIs.",
            ))
        return output
