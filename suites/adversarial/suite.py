"""Adversarial robustness: top-1 under untargeted L-infinity FGSM, PGD and AutoAttack.

Protocol (the paper's "other properties" list; attacks as in Goodfellow et al. 2015, Madry et al.
2018 and Croce & Hein 2020; definitions and the runner side in ``auditkit.conditions.attacks``
and ``auditkit.conditions.autoattack``):
- epsilon in {0.5, 1, 2, 4} / 255, measured on the model's input pixels in [0, 1] after resize
  and centre crop and BEFORE normalisation (so a model's mean/std never changes the budget);
- FGSM: one signed-gradient step of epsilon; PGD: 10 steps of 2.5 epsilon / 10 from a seeded
  uniform random start in the ball (seed 0), projected onto the ball and [0, 1] after each step;
- AutoAttack, standard version (RobustBench's leaderboards), at RobustBench's ImageNet budget
  epsilon = 4/255 only: APGD-CE, APGD-T (9 targets), FAB-T (9 targets), 100 iterations each, and
  Square (5,000 queries), each on the images the ones before left correct; an image counts as
  robust only if all four fail (the worst case per image). torchattacks' attacks set to the
  reference code's parameters; its version is in the store key. ``autoattack_steps`` /
  ``autoattack_queries`` give a smaller budget for a quick look (a condition of its own, not the
  standard version); ``autoattack=false`` leaves it out;
- untargeted: ascend the cross-entropy of the true label over all 1000 logits (AutoAttack: its
  own losses over the same logits). CLIP zero-shot models are attacked through their text head
  (the gradient flows through the zero-shot classifier's logits);
- images (``subset``): ``all`` of imagenet-val (or ``--limit``'s first N), or ``robustbench5000``,
  RobustBench's fixed 5,000 ImageNet val images (dataset ``imagenet-val-robustbench5000``), the
  ones its leaderboard's numbers are on: every condition of the suite is then run on them;
- records (subset ``all``): ``top1`` per condition (``none`` = clean, ``fgsm/eps<E>``,
  ``pgd/eps<E>/steps10/seed0``, ``autoattack/eps4/steps100/queries5000/seed0``) and, at each
  attack's condition, ``top1_drop`` = clean top-1 - attacked top-1, with 95 % bootstrap CIs over
  images (the same resamples for both). AutoAttack's ``top1`` is RobustBench's "robust accuracy".
Per-sample arrays at each record condition: ``correct``, ``prediction`` and, for an attack,
``top1_drop`` (clean hit minus attacked hit, -1 / 0 / 1 per image); ``attack_metrics`` turns them
into the records' values, for ``evaluate`` and ``sample_metrics`` alike.
Each attacked condition is cached in the store like any prediction, keyed by method, epsilon,
steps, seed (and AutoAttack's queries, attack set and torchattacks version). PGD costs 10
forward + backward passes per image, AutoAttack at least 100 (many more on the images that
resist APGD-CE): use ``--limit`` on a CPU.
Dataset: ImageNet val, or RobustBench's subset of it.
"""

from __future__ import annotations

from typing import Mapping, cast

import numpy as np

from auditkit.conditions import Attack, AutoAttack, Fgsm, Pgd
from auditkit.conditions.autoattack import STANDARD_QUERIES, STANDARD_STEPS
from auditkit.data.robustbench import NAME as ROBUSTBENCH_DATASET
from auditkit.errors import AuditError
from auditkit.records import ALL
from auditkit.stats import bootstrap_intervals
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOption, SuiteOutput

EPSILONS = (0.5, 1.0, 2.0, 4.0)  # / 255
PGD_STEPS = 10
PGD_SEED = 0
AUTOATTACK_EPSILON = 4.0  # RobustBench's ImageNet L-inf budget (/255)
AUTOATTACK_SEED = 0
DATASET = "imagenet-val"
# the ``subset`` option: which images every condition runs on -> the dataset that holds them
SUBSETS = {"all": DATASET, "robustbench5000": ROBUSTBENCH_DATASET}
SWEPT = ("fgsm", "pgd")  # the attacks run at every epsilon (curves in the figure)


def attacks(autoattack: AutoAttack | None = None) -> list[Attack]:
    """The attacked conditions: FGSM and PGD at every epsilon, then AutoAttack if given."""
    chosen: list[Attack] = [Fgsm(e) for e in EPSILONS] + [Pgd(e, PGD_STEPS, PGD_SEED) for e in EPSILONS]
    return chosen + ([autoattack] if autoattack is not None else [])


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
    version = "0.2"
    description = ("top-1 under untargeted L-inf FGSM and PGD-10 (eps 0.5-4/255) and AutoAttack (standard, 4/255), "
                   "before normalisation")
    datasets = (DATASET,)
    title = "Adversarial robustness"
    metrics = {
        "top1": Metric("top-1 accuracy", "share of images still classified correctly (none: clean; otherwise "
                       "under the L-inf FGSM / PGD / AutoAttack attack of the condition: AutoAttack's is "
                       "RobustBench's robust accuracy; higher is better)", True),
        "top1_drop": Metric("top-1 drop", "clean top-1 minus top-1 under the attack (lower is better)", True),
    }
    better = {"top1": "higher", "top1_drop": "lower"}
    # BibTeX of the attacks and the benchmark the AutoAttack numbers follow (audit export's CITATIONS.bib)
    citations = (
        """@inproceedings{croce2020reliable,
  title = {Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free attacks},
  author = {Croce, Francesco and Hein, Matthias},
  booktitle = {International Conference on Machine Learning (ICML)},
  year = {2020}
}""",
        """@article{kim2020torchattacks,
  title = {Torchattacks: A {PyTorch} Repository for Adversarial Attacks},
  author = {Kim, Hoki},
  journal = {arXiv preprint arXiv:2010.01950},
  year = {2020}
}""",
    )
    # the attack differentiates through the model: recorded answers cannot be attacked
    accepts = ("logits",)
    options = (
        SuiteOption("subset", str, tuple(SUBSETS), "all",
                    "the images every condition runs on: all of imagenet-val, or RobustBench's fixed 5,000 "
                    f"(dataset {ROBUSTBENCH_DATASET}; its ImageNet leaderboard's)", asks=True),
        SuiteOption("autoattack", bool, (), True, "run AutoAttack (standard version, eps 4/255; needs torchattacks)",
                    asks=True),
        SuiteOption("autoattack_steps", int, (), STANDARD_STEPS,
                    "APGD-CE / APGD-T / FAB-T iterations; 100 is the standard version, fewer only for a quick look",
                    asks=True),
        SuiteOption("autoattack_queries", int, (), STANDARD_QUERIES,
                    "Square's queries; 5000 is the standard version, fewer only for a quick look", asks=True),
    )

    @property
    def dataset(self) -> str:
        """The dataset every request of this run reads (the ``subset`` option's)."""
        return SUBSETS[str(self.setting("subset"))]

    def autoattack(self) -> AutoAttack | None:
        """This run's AutoAttack condition (the options' budget), or None when it is left out."""
        if not self.setting("autoattack"):
            return None
        steps, queries = cast(int, self.setting("autoattack_steps")), cast(int, self.setting("autoattack_queries"))
        for name, value in (("autoattack_steps", steps), ("autoattack_queries", queries)):
            if value < 1:
                raise AuditError(f"--option {self.name}.{name}={value}: give at least 1 (the standard version: "
                                 f"{STANDARD_STEPS} steps, {STANDARD_QUERIES} queries)")
        return AutoAttack(AUTOATTACK_EPSILON, steps, queries, AUTOATTACK_SEED)

    def sample_metrics(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        return {(ALL, metric): value for metric, value in attack_metrics(arrays).items()}

    def sample_hits(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
        return {(ALL, "top1"): np.asarray(arrays["correct"], dtype=bool)}

    def requests(self) -> list[PredictionRequest]:
        dataset = self.dataset
        return [PredictionRequest(dataset)] + [PredictionRequest(dataset, a) for a in attacks(self.autoattack())]

    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        from suites.adversarial.plots import accuracy_vs_epsilon

        output = SuiteOutput()
        dataset, attacked = self.dataset, attacks(self.autoattack())
        clean = predictions.get(PredictionRequest(dataset))
        if clean is None:
            return output  # no such dataset: the runner lists it as skipped, with the reason
        clean_correct = clean.predicted_class == clean.labels
        curves: dict[str, list[tuple[float, float, float, float]]] = {}
        for spec in [None, *attacked]:
            condition = "none" if spec is None else spec.format()
            prediction = predictions.get(PredictionRequest(dataset, condition))
            if prediction is None:
                continue
            correct = prediction.predicted_class == prediction.labels
            arrays = attack_samples(correct, None if spec is None else clean_correct)
            values = attack_metrics(arrays)
            low, high = bootstrap_intervals(
                lambda index: np.array(list(attack_metrics({k: v[index] for k, v in arrays.items()}).values())),
                len(correct), seed=seed)
            for k, (metric, value) in enumerate(values.items()):
                output.records.append(self.record(model, dataset=dataset, condition=condition, metric=metric,
                                                  value=value, ci=(low[k], high[k]), n=len(correct)))
            output.add_samples(prediction, {**arrays, "prediction": prediction.predicted_class},
                               dataset=dataset, condition=condition)
            # the clean point (epsilon 0) starts the curves of the attacks swept over epsilon;
            # AutoAttack, at one epsilon, is a point of its own
            for method in (SWEPT if spec is None else (spec.method,)):
                epsilon = 0.0 if spec is None else spec.epsilon
                curves.setdefault(method, []).append((epsilon, values["top1"], float(low[0]), float(high[0])))
        if any(len(points) > 1 for points in curves.values()):
            autoattack = next((a for a in attacked if isinstance(a, AutoAttack)), None)
            budget = "" if autoattack is None else (
                f"; AutoAttack: {'standard version' if autoattack.standard else 'NOT the standard version'}, "
                f"{autoattack.steps} iterations, {autoattack.queries} Square queries")
            output.figures.append(SuiteFigure(
                dataset, "accuracy_vs_epsilon", accuracy_vs_epsilon(model, curves),
                f"Top-1 under untargeted L-inf attacks (eps in /255 of the pixel range, before normalisation; "
                f"PGD: {PGD_STEPS} steps, random start seed {PGD_SEED}{budget}); bars: 95 % bootstrap CIs.",
            ))
        return output
