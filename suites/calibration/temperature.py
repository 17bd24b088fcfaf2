"""Temperature scaling (Guo et al. 2017, Sec. 4.2): one scalar T > 0 fitted by NLL on held-out
logits, then softmax(z / T) in place of softmax(z). Pure functions: which rows fit T (a split
named in the records) and the fit itself.

Splits (``SPLITS``): ``guo`` (half of ImageNet val fits T, the other half is scored: Guo et al.'s
25k / 25k) and ``minderer`` (20 % fits, 80 % is scored: Minderer et al. 2021's validation[:20%] /
validation[20%:]). Which side an image is on is a function of its content alone
(``fit_rows``): the salted sha256 of the image's content sha1 read as a number in [0, 1) is
below the split's fraction. So the split never depends on the order of the rows or on which
other images are present: ``--limit N`` (the first N images of the manifest) keeps exactly the
full run's fit images among those N, two models are split identically (their scored images pair
in ``audit compare``), and two copies of one image never sit on both sides. The fraction is
then met in expectation (20 % of 50,000 +- 0.2 %), not to the image; TFDS's own val[:20%] (an
order of its shards) is not reproducible outside TFDS, so no split here claims to be it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TemperatureSplit:
    """A held-out split of ImageNet val: ``fraction`` of its images fit T, the rest are scored;
    ``fit_subset`` / ``score_subset`` are the records' subsets for each side."""

    name: str
    fraction: float
    source: str  # who uses this split

    @property
    def fit_subset(self) -> str:
        return f"{self.name}_fit"

    @property
    def score_subset(self) -> str:
        return f"{self.name}_score"


SPLITS = {
    "minderer": TemperatureSplit("minderer", 0.2, "Minderer et al. 2021: T on validation[:20%], scored on [20%:]"),
    "guo": TemperatureSplit("guo", 0.5, "Guo et al. 2017: T on 25k of ImageNet val, scored on the other 25k"),
}
# versioned salt: a new rule gets a new salt (and a suite version), never silently other images
SPLIT_SALT = "auditkit/temperature-split/v1:"


def split_position(content_sha1: str, sample_id: str = "") -> float:
    """The image's place in [0, 1): sha256 of the salt and its content sha1 (its sample id when
    the predictions carry no content hash), first 52 bits as a fraction."""
    key = content_sha1 if content_sha1 else f"id:{sample_id}"
    digest = hashlib.sha256(f"{SPLIT_SALT}{key}".encode()).hexdigest()
    return int(digest[:13], 16) / 16**13


def fit_rows(content_sha1: np.ndarray, sample_ids: np.ndarray, split: TemperatureSplit) -> np.ndarray:
    """Boolean per row: the image fits T under ``split`` (``split_position`` < its fraction)."""
    hashes = np.asarray(content_sha1)
    texts = hashes.astype(str) if hashes.dtype.kind == "S" else hashes
    return np.array([split_position(str(sha), str(sid)) < split.fraction for sha, sid in zip(texts, sample_ids)],
                    dtype=bool)


# T is searched in [1/BETA_MAX, 1/BETA_MIN]; a fit at a bound says so (``TemperatureFit.at_bound``)
BETA_MIN, BETA_MAX = 1e-4, 1e4


@dataclass(frozen=True)
class TemperatureFit:
    temperature: float
    nll: float  # mean NLL of the fit rows at that temperature
    iterations: int
    at_bound: bool  # the NLL still fell at the search bound (logits that are anti- or perfectly informative)


def _nll_derivatives(centred: np.ndarray, target_logit: np.ndarray, beta: float) -> tuple[float, float, float]:
    """Mean NLL of softmax(beta * z) and its first two derivatives in beta (convex in beta)."""
    scaled = beta * centred
    top = scaled.max(axis=1, keepdims=True)
    weights = np.exp(scaled - top)
    total = weights.sum(axis=1, keepdims=True)
    prob = weights / total
    log_normaliser = (top + np.log(total))[:, 0]
    mean_logit = np.sum(prob * centred, axis=1)
    value = float(np.mean(log_normaliser - beta * target_logit))
    slope = float(np.mean(mean_logit - target_logit))
    curvature = float(np.mean(np.sum(prob * centred**2, axis=1) - mean_logit**2))
    return value, slope, curvature


def fit_temperature(logits: np.ndarray, labels: np.ndarray, max_iterations: int = 100) -> TemperatureFit:
    """T minimising the mean NLL of softmax(logits / T) at ``labels`` (column indices), in float64.

    The NLL is convex in beta = 1 / T (a log-sum-exp of lines minus a line), so its minimum is the
    one root of its derivative: Newton's method on beta, kept inside a bracket that bisects
    (geometrically) whenever a Newton step would leave it, to |step| < 1e-12 beta. No learning
    rate or iteration budget decides the answer (LBFGS at lr 0.01 and 50 steps, OpenOOD's fit,
    can stop short of it)."""
    z = np.asarray(logits, dtype=np.float64)
    centred = z - z.max(axis=1, keepdims=True)  # the NLL is unchanged by a per-row shift
    target = centred[np.arange(len(labels)), np.asarray(labels)]
    low, high = BETA_MIN, BETA_MAX
    if _nll_derivatives(centred, target, low)[1] >= 0:  # NLL rises from the smallest beta: T at its top
        return TemperatureFit(1 / low, _nll_derivatives(centred, target, low)[0], 0, True)
    if _nll_derivatives(centred, target, high)[1] <= 0:  # still falling at the largest beta
        return TemperatureFit(1 / high, _nll_derivatives(centred, target, high)[0], 0, True)
    beta = 1.0
    for iteration in range(1, max_iterations + 1):
        value, slope, curvature = _nll_derivatives(centred, target, beta)
        if slope > 0:
            high = beta
        else:
            low = beta
        step = slope / curvature if curvature > 0 else np.inf
        proposal = beta - step
        if not low < proposal < high:
            proposal = float(np.sqrt(low * high))
        if abs(proposal - beta) < 1e-12 * beta:
            beta = proposal
            break
        beta = proposal
    value = _nll_derivatives(centred, target, beta)[0]
    return TemperatureFit(1 / beta, value, iteration, False)
