"""Properties across many models: what ImageNet accuracy predicts and what it does not.

Pure functions of a property table (models x properties, NaN where a model lacks a property):
- ``correlations``: Spearman's rho and Kendall's tau between every pair of properties over the
  models that have both, with a percentile bootstrap CI over models and a two-sided permutation
  p-value (one column shuffled), as in Miller et al. 2021 and Battle of the Backbones (Goldblum
  et al. 2023) for properties across backbones;
- ``against_accuracy``: each property regressed on ImageNet top-1 across models (least squares),
  the residual of each model being "what accuracy does not predict" (the paper's thesis);
- ``aggregate_ranks``: rank per property (1 = best, by the property's direction), mean rank, and
  z-scores signed so that higher is better, averaged: Battle of the Backbones' aggregation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

RESAMPLES = 1000
PERMUTATIONS = 2000


@dataclass(frozen=True)
class PropertyTable:
    """``values[i, j]``: model ``models[i]``'s value of ``properties[j]`` (NaN: not measured);
    ``better[j]``: "higher" or "lower" (or "" where a property has no better side)."""

    models: tuple[str, ...]
    properties: tuple[str, ...]
    values: np.ndarray
    better: tuple[str, ...]

    def column(self, name: str) -> np.ndarray:
        return self.values[:, self.properties.index(name)]


@dataclass(frozen=True)
class Correlation:
    first: str
    second: str
    method: str  # "spearman" or "kendall"
    value: float
    ci_low: float
    ci_high: float
    p_value: float  # two-sided permutation test
    n: int  # models with both properties


def _spearman_batch(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair of (draws, n) arrays: Pearson's r of average ranks."""
    rx = stats.rankdata(x, axis=1)
    ry = stats.rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant draw has no correlation
        return (rx * ry).sum(axis=1) / np.sqrt((rx ** 2).sum(axis=1) * (ry ** 2).sum(axis=1))


# Above this many models the O(n^2) sign matrices cost more than scipy's O(n log n) per draw.
KENDALL_BATCH_LIMIT = 80


def _kendall_batch(x: np.ndarray, y: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Kendall's tau-b of each row pair of (draws, n) arrays: sum of sign products over pairs,
    over the square root of the untied pairs of each (ties, including repeated draws, are 0)."""
    if x.shape[1] > KENDALL_BATCH_LIMIT:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.array([stats.kendalltau(a, b).statistic for a, b in zip(x, y)])
    values = []
    for start in range(0, len(x), chunk):
        sx = np.sign(x[start:start + chunk, :, None] - x[start:start + chunk, None, :])
        sy = np.sign(y[start:start + chunk, :, None] - y[start:start + chunk, None, :])
        with np.errstate(invalid="ignore", divide="ignore"):
            values.append((sx * sy).sum(axis=(1, 2)) / np.sqrt(np.abs(sx).sum(axis=(1, 2)) * np.abs(sy).sum(axis=(1, 2))))
    return np.concatenate(values)


BATCH = {"spearman": _spearman_batch, "kendall": _kendall_batch}


def correlate(x: np.ndarray, y: np.ndarray, method: str, seed: int = 0, first: str = "x",
              second: str = "y") -> Correlation:
    """One correlation over the models where both values exist (point value: scipy's)."""
    if method not in BATCH:
        raise ValueError(f"unknown correlation {method!r}")
    both = np.isfinite(x) & np.isfinite(y)
    x, y = np.asarray(x, float)[both], np.asarray(y, float)[both]
    n = len(x)
    if n < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return Correlation(first, second, method, float("nan"), float("nan"), float("nan"), float("nan"), n)
    value = float((stats.spearmanr if method == "spearman" else stats.kendalltau)(x, y).statistic)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, n, (RESAMPLES, n))
    draws = BATCH[method](x[index], y[index])
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    # Kendall over hundreds of models (the testbed) goes through scipy draw by draw: half the
    # permutations there, so a p-value floor of 1/1001 instead of 1/2001
    permutations = PERMUTATIONS if method != "kendall" or n <= KENDALL_BATCH_LIMIT else PERMUTATIONS // 2
    order = np.argsort(rng.random((permutations, n)), axis=1)  # one permutation of y per row
    permuted = BATCH[method](np.broadcast_to(x, (permutations, n)), y[order])
    # (b + 1) / (m + 1): the permutation p-value that is never 0 (Phipson & Smyth 2010)
    exceed = int(np.sum(np.abs(permuted) >= abs(value) - 1e-12))
    return Correlation(first, second, method, value, float(low), float(high), (exceed + 1) / (permutations + 1), n)


def correlations(table: PropertyTable, methods: tuple[str, ...] = ("spearman", "kendall"),
                 seed: int = 0) -> list[Correlation]:
    """Every pair of properties (each once), for each method."""
    result = []
    for i, first in enumerate(table.properties):
        for second in table.properties[i + 1:]:
            for method in methods:
                result.append(correlate(table.column(first), table.column(second), method, seed, first, second))
    return result


@dataclass(frozen=True)
class AccuracyFit:
    """A property regressed on ImageNet top-1 across models, and each model's residual."""

    prop: str
    slope: float
    intercept: float
    r: float
    n: int
    residuals: dict[str, float]  # model -> observed minus predicted


def against_accuracy(table: PropertyTable, accuracy: str) -> list[AccuracyFit]:
    """Each property (other than ``accuracy``) against ``accuracy``, over the models having both."""
    x_all = table.column(accuracy)
    fits = []
    for prop in table.properties:
        if prop == accuracy:
            continue
        y_all = table.column(prop)
        both = np.isfinite(x_all) & np.isfinite(y_all)
        if both.sum() < 3 or np.all(x_all[both] == x_all[both][0]):
            continue
        result = stats.linregress(x_all[both], y_all[both])
        residuals = {m: float(y_all[i] - (result.slope * x_all[i] + result.intercept))
                     for i, m in enumerate(table.models) if both[i]}
        fits.append(AccuracyFit(prop, float(result.slope), float(result.intercept), float(result.rvalue),
                                int(both.sum()), residuals))
    return fits


@dataclass(frozen=True)
class RankSummary:
    ranks: np.ndarray  # (models, properties): 1 = best; NaN where missing or no direction
    z_scores: np.ndarray  # signed so that higher is better
    mean_rank: np.ndarray  # per model, over the properties it has
    mean_z: np.ndarray


def aggregate_ranks(table: PropertyTable) -> RankSummary:
    """Ranks (average ranks for ties) and z-scores per property with a direction."""
    ranks = np.full(table.values.shape, np.nan)
    z_scores = np.full(table.values.shape, np.nan)
    for j, direction in enumerate(table.better):
        if direction not in ("higher", "lower"):
            continue
        column = table.values[:, j]
        present = np.isfinite(column)
        if present.sum() < 2:
            continue
        signed = column[present] if direction == "higher" else -column[present]
        ranks[present, j] = stats.rankdata(-signed, method="average")
        spread = signed.std(ddof=1)
        z_scores[present, j] = (signed - signed.mean()) / spread if spread > 0 else 0.0
    with np.errstate(invalid="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a model with no ranked property: NaN
            return RankSummary(ranks, z_scores, np.nanmean(ranks, axis=1), np.nanmean(z_scores, axis=1))
