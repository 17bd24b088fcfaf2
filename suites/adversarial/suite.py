"""Adversarial robustness: top-1 under untargeted L-infinity FGSM and PGD.

Protocol (the paper's "other properties" list; attacks as in Goodfellow et al. 2015 and Madry
et al. 2018; definitions and the runner side in ``auditkit.attacks``):
- epsilon in {0.5, 1, 2, 4} / 255, measured on the model's input pixels in [0, 1] after resize
  and centre crop and BEFORE normalisation (so a model's mean/std never changes the budget);
- FGSM: one signed-gradient step of epsilon; PGD: 10 steps of 2.5 epsilon / 10 from a seeded
  uniform random start in the ball (seed 0), projected onto the ball and [0, 1] after each step;
- untargeted: ascend the cross-entropy of the true label over all 1000 logits. CLIP zero-shot
  models are attacked through their text head (the gradient flows through the zero-shot
  classifier's logits);
- ``top1`` per condition (``none`` = clean, ``fgsm/eps<E>``, ``pgd/eps<E>/steps10/seed0``) with
  95 % bootstrap CIs over images, and ``top1_drop`` = clean top-1 - attacked top-1.
Each attacked condition is cached in the store like any prediction, keyed by method, epsilon,
steps and seed. PGD costs 10 forward + backward passes per image: use ``--limit`` on a CPU.
Dataset: ImageNet val.
"""

from __future__ import annotations

import numpy as np

from auditkit.conditions.attacks import attack as AttackSpec
from auditkit.records import MetricRecord
from auditkit.stats import bootstrap_intervals
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput

EPSILONS = (0.5, 1.0, 2.0, 4.0)  # / 255
PGD_STEPS = 10
PGD_SEED = 0
DATASET = "imagenet-val"


def attacks() -> list[AttackSpec]:
    return [AttackSpec("fgsm", e) for e in EPSILONS] + [AttackSpec("pgd", e, PGD_STEPS, PGD_SEED) for e in EPSILONS]


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

    def requests(self) -> list[PredictionRequest]:
        return [PredictionRequest(DATASET)] + [PredictionRequest(DATASET, a.condition) for a in attacks()]

    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        from suites.adversarial.plots import accuracy_vs_epsilon

        output = SuiteOutput()
        clean = predictions.get(PredictionRequest(DATASET))
        if clean is None or clean.logits is None:
            return output
        clean_correct = clean.predicted_class == clean.labels
        curves: dict[str, list[tuple[float, float, float, float]]] = {}
        for spec in [None, *attacks()]:
            condition = "none" if spec is None else spec.condition
            prediction = predictions.get(PredictionRequest(DATASET, condition))
            if prediction is None or prediction.logits is None:
                continue
            correct = prediction.predicted_class == prediction.labels
            columns = np.stack([correct, clean_correct.astype(float) - correct], axis=1).astype(float)
            low, high = bootstrap_intervals(lambda index: columns[index].mean(axis=0), len(columns), seed=seed)
            n = len(columns)
            output.records.append(MetricRecord(model, self.name, DATASET, condition, "top1",
                                               float(correct.mean()), float(low[0]), float(high[0]), n, self.version))
            if spec is not None:
                output.records.append(MetricRecord(model, self.name, DATASET, condition, "top1_drop",
                                                   float(columns[:, 1].mean()), float(low[1]), float(high[1]), n,
                                                   self.version))
            output.per_sample[(DATASET, condition)] = {"correct": correct, "prediction": prediction.predicted_class}
            for method in (("fgsm", "pgd") if spec is None else (spec.method,)):
                epsilon = 0.0 if spec is None else spec.epsilon
                curves.setdefault(method, []).append((epsilon, float(correct.mean()), float(low[0]), float(high[0])))
        if any(len(points) > 1 for points in curves.values()):
            output.figures.append(SuiteFigure(
                DATASET, "accuracy_vs_epsilon", accuracy_vs_epsilon(model, curves),
                f"Top-1 under untargeted L-inf attacks (eps in /255 of the pixel range, before normalisation; "
                f"PGD: {PGD_STEPS} steps, random start seed {PGD_SEED}); bars: 95 % bootstrap CIs.",
            ))
        return output
