"""OOD detection: scores from logits or features, and the detection metrics, as pure functions.

Scores (higher = more in-distribution, as OpenOOD's postprocessors return them):
- ``msp``: max softmax probability (Hendrycks & Gimpel 2017);
- ``maxlogit``: max logit (Hendrycks et al. 2022);
- ``energy``: logsumexp of the logits, T = 1 (Liu et al. 2020; OpenOOD's EBO);
- ``tempscale``: MSP of logits / T, T fitted by ``fit_temperature`` (OpenOOD's TempScale);
- ``gen``: -sum over the M = 100 largest probabilities of p^g (1 - p)^g, g = 0.1 (Liu et al. 2023);
- ``knn``: minus the squared distance of the L2-normalised feature to its K-th nearest
  normalised ID bank feature (Sun et al. 2022; OpenOOD: faiss IndexFlatL2, K = 50).

Metrics (OpenOOD ``openood/evaluators/metrics.py`` conventions; OOD is the positive class):
- ``auroc``: area under the ROC of OOD-vs-ID with -score as the OOD score;
- ``aupr_in``: area (trapezoid over recall) under the precision-recall curve with ID positive;
- ``aupr_out``: the same with OOD positive;
- ``fpr95_ood_detected``: OpenOOD's FPR@95: the share of ID images flagged as OOD at the first
  threshold where >= 95 % of OOD images are flagged;
- ``fpr95_id_kept``: the other FPR@95 (Liang et al. 2018, Hendrycks et al.): the share of OOD
  images accepted as ID at the first threshold where >= 95 % of ID images are kept;
- ``aupr_ood_ap`` (ImageNet-O, Hendrycks et al. 2021): average precision with OOD positive,
  ``sklearn.metrics.average_precision_score`` (a step sum, not the trapezoid).
All curves are over every distinct threshold (no points dropped); each metric takes per-image
weights, so bootstrap resamples (a weight = how often an image was drawn) need no new sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from auditkit.stats import log_softmax

GEN_GAMMA = 0.1
GEN_M = 100
KNN_K = 50
TEMPERATURE_START = 1.5
TEMPERATURE_LR = 0.01
TEMPERATURE_ITERATIONS = 50
RECALL = 0.95

LOGIT_METHODS = ("msp", "maxlogit", "energy", "tempscale", "gen")
FEATURE_METHODS = ("knn",)
MEASURES = ("auroc", "aupr_in", "aupr_out", "fpr95_ood_detected", "fpr95_id_kept")
IMAGENET_O_MEASURES = ("auroc", "aupr_ood_ap", "fpr95_ood_detected", "fpr95_id_kept")


# --- scores -----------------------------------------------------------------------------------------

def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """OpenOOD's TempScale fit: T starts at 1.5, one LBFGS step (lr 0.01, at most 50
    iterations) minimising the mean NLL of ``logits / T`` on the ID val set, in float32 as there."""
    import torch

    scores = torch.tensor(np.asarray(logits, dtype=np.float32))
    target = torch.as_tensor(np.asarray(labels, dtype=np.int64))
    temperature = torch.nn.Parameter(torch.full((1,), TEMPERATURE_START))
    optimizer = torch.optim.LBFGS([temperature], lr=TEMPERATURE_LR, max_iter=TEMPERATURE_ITERATIONS)

    def loss() -> torch.Tensor:
        optimizer.zero_grad()
        value = torch.nn.functional.cross_entropy(scores / temperature, target)
        value.backward()
        return value

    optimizer.step(loss)
    return float(temperature.detach()[0])


def nll_optimal_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T that minimises the mean NLL (bounded scalar search over 0.05 ... 20): OpenOOD's 50
    LBFGS iterations at lr 0.01 stop short of it (T moves ~0.3 from 1.5), so both are reported."""
    from scipy.optimize import minimize_scalar

    log_prob_of = lambda t: log_softmax(np.asarray(logits, dtype=np.float64) / t)  # noqa: E731
    rows = np.arange(len(labels))
    return float(minimize_scalar(lambda t: -log_prob_of(t)[rows, labels].mean(), bounds=(0.05, 20.0),
                                 method="bounded", options={"xatol": 1e-4}).x)


def logit_scores(logits: np.ndarray, temperature: float) -> dict[str, np.ndarray]:
    """Every logit-based score of each image (float64), keyed by method."""
    logits = np.asarray(logits, dtype=np.float64)
    log_prob = log_softmax(logits)
    prob = np.exp(log_prob)
    top = np.sort(prob, axis=1)[:, -GEN_M:]
    peak = logits.max(axis=1)
    return {
        "msp": prob.max(axis=1),
        "maxlogit": peak,
        "energy": peak + np.log(np.exp(logits - peak[:, None]).sum(axis=1)),
        "tempscale": np.exp(log_softmax(logits / temperature).max(axis=1)),
        "gen": -np.sum(top**GEN_GAMMA * (1 - top) ** GEN_GAMMA, axis=1),
    }


def normalised(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float64)
    return features / (np.linalg.norm(features, axis=1, keepdims=True) + 1e-10)


def knn_scores(bank: np.ndarray, features: np.ndarray, k: int) -> np.ndarray:
    """Minus the squared L2 distance to the ``k``-th nearest bank row (both normalised)."""
    bank, features = normalised(bank), normalised(features)
    bank_norms = np.sum(bank**2, axis=1)
    scores = np.empty(len(features))
    for start in range(0, len(features), 2048):  # distances in blocks: 45k x 5k at once is 1.8 GB
        block = features[start:start + 2048]
        distances = np.sum(block**2, axis=1)[:, None] + bank_norms[None, :] - 2 * block @ bank.T
        scores[start:start + 2048] = -np.partition(distances, k - 1, axis=1)[:, k - 1]
    return scores


# --- detection metrics ------------------------------------------------------------------------------

@dataclass(frozen=True)
class RankedScores:
    """ID and OOD scores of one method sorted once: images in descending OOD-ness (-score), and
    where each run of tied scores ends (each distinct threshold)."""

    order: np.ndarray  # image positions, most OOD-like first
    is_ood: np.ndarray  # in ``order``
    ends: np.ndarray  # last position of each tie run in ``order``

    @classmethod
    def of(cls, scores: np.ndarray, is_ood: np.ndarray) -> "RankedScores":
        ood_score = -np.asarray(scores, dtype=np.float64)
        order = np.argsort(ood_score, kind="mergesort")[::-1]
        ranked = ood_score[order]
        ends = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]
        return cls(order, np.asarray(is_ood, dtype=bool)[order], ends)

    def counts(self, weights: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Cumulative (OOD, ID) weight flagged as OOD at each distinct threshold, strictest first."""
        w = np.ones(len(self.order)) if weights is None else np.asarray(weights, dtype=np.float64)[self.order]
        ood = np.cumsum(np.where(self.is_ood, w, 0.0))[self.ends]
        in_dist = np.cumsum(np.where(self.is_ood, 0.0, w))[self.ends]
        return ood, in_dist


def _first_at_recall(recall: np.ndarray, other: np.ndarray) -> float:
    """``other`` at the first point of the curve where ``recall`` >= RECALL (OpenOOD's
    ``fpr_list[np.argmax(tpr_list >= 0.95)]``)."""
    return float(other[np.argmax(recall >= RECALL - 1e-12)])


def _pr_area(true_pos: np.ndarray, false_pos: np.ndarray) -> float:
    """Trapezoid area under precision over recall, the curve of ``precision_recall_curve``:
    thresholds until full recall, then the point (recall 0, precision 1)."""
    held = (true_pos + false_pos) > 0  # a tie run of zero weight (bootstrap) is no threshold
    true_pos, false_pos = true_pos[held], false_pos[held]
    last = int(np.searchsorted(true_pos, true_pos[-1]))
    tp, fp = true_pos[: last + 1], false_pos[: last + 1]
    precision = np.r_[1.0, tp / (tp + fp)]
    recall = np.r_[0.0, tp / true_pos[-1]]
    return float(np.trapezoid(precision, recall))


def detection_metrics(ranked: RankedScores, weights: np.ndarray | None = None) -> dict[str, float]:
    """Every detection measure (``MEASURES`` and ``aupr_ood_ap``) of one method on ID + one OOD
    set; NaN when either side has no weight (a bootstrap resample without OOD images)."""
    ood, in_dist = ranked.counts(weights)
    if ood[-1] <= 0 or in_dist[-1] <= 0:
        return dict.fromkeys((*MEASURES, "aupr_ood_ap"), float("nan"))
    tpr = np.r_[0.0, ood / ood[-1]]  # OOD flagged
    fpr = np.r_[0.0, in_dist / in_dist[-1]]  # ID flagged
    # ID positive: thresholds from the other end (highest score first), same tie runs
    id_kept = np.r_[0.0, (in_dist[-1] - in_dist[-2::-1]) / in_dist[-1], 1.0]
    ood_kept = np.r_[0.0, (ood[-1] - ood[-2::-1]) / ood[-1], 1.0]
    id_true = np.r_[in_dist[-1] - in_dist[-2::-1], in_dist[-1]]
    id_false = np.r_[ood[-1] - ood[-2::-1], ood[-1]]
    step = np.diff(np.r_[0.0, ood / ood[-1]])
    precision_out = ood / np.maximum(ood + in_dist, 1e-300)
    return {
        "auroc": float(np.trapezoid(tpr, fpr)),
        "aupr_in": _pr_area(id_true, id_false),
        "aupr_out": _pr_area(ood, in_dist),
        "fpr95_ood_detected": _first_at_recall(tpr, fpr),
        "fpr95_id_kept": _first_at_recall(id_kept, ood_kept),
        "aupr_ood_ap": float(np.sum(step * precision_out)),
    }


def measure_vector(rankings: dict[str, RankedScores], measures: tuple[str, ...]) -> Callable[[np.ndarray | None], np.ndarray]:
    """weights -> every (method, measure) value in ``rankings`` x ``measures`` order (bootstrap)."""
    def values(weights: np.ndarray | None) -> np.ndarray:
        out = []
        for ranked in rankings.values():
            computed = detection_metrics(ranked, weights)
            out.extend(computed[m] for m in measures)
        return np.array(out)
    return values
