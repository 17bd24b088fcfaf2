"""Numerics shared by every suite: a stable log-softmax and bootstrap confidence intervals."""

from __future__ import annotations

from typing import Callable

import numpy as np

def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64 (logits are stored as float32)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


DEFAULT_RESAMPLES = 1000
CI_LEVEL = 0.95


def bootstrap_intervals(
    statistic: Callable[[np.ndarray], np.ndarray | float],
    num_samples: int,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """95 % percentile bootstrap over samples.

    ``statistic(index)`` computes one value (or a vector of values, one per metric, so several
    metrics share the same resamples) on the samples at ``index``. Deterministic for a seed, so
    the same predictions always give the same records. NaN for fewer than two samples.
    """
    if num_samples < 2:
        width = np.atleast_1d(statistic(np.arange(num_samples))).shape
        return np.full(width, np.nan), np.full(width, np.nan)
    rng = np.random.default_rng(seed)
    values = np.stack([
        np.atleast_1d(statistic(rng.integers(0, num_samples, num_samples))) for _ in range(resamples)
    ])
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail], axis=0)
    return low, high


def bootstrap_ci(
    statistic: Callable[..., float], *arrays: np.ndarray, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """The interval of one statistic of one or more aligned per-sample arrays."""
    low, high = bootstrap_intervals(
        lambda index: statistic(*(a[index] for a in arrays)), len(arrays[0]), resamples, seed
    )
    return float(low[0]), float(high[0])
