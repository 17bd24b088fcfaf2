"""Seeded, stratified splits of a task's images: the one place every protocol draws them.

Both draws go class by class (in label order), each class's positions shuffled by one
``numpy.random.default_rng(seed)``, so a split depends on the labels and the seed alone: the same
images on any machine, in any process, for every model audited.

What each protocol asks of them:

- ``linear_probe`` (VTAB's linear evaluation): a task without a val split chooses the probe's C
  on ``stratified_holdout(train labels, 0.2, seed)``; few-shot probes fit on
  ``stratified_sample(train labels, seed, shots=k)``, k images per class, seeds 0..4 (the val
  split never enters: a C tuned on it would leak more than k labels per class).
- ``finetune`` (Zhou et al. 2021, section 3.1): a task without a val split holds out
  ``stratified_holdout(train labels, 0.1, 0)`` for choosing the weights (seed 0: the same
  images for every repeat, which then differ by their seed only); the low-data regimes of Lin
  et al. train on ``stratified_sample(train labels, repeat seed, fraction=f)``, at least one
  image per class so no class goes unseen. Its probe baseline (``finetune_gain``) holds out as
  ``linear_probe`` does.
"""

from __future__ import annotations

import numpy as np


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """A boolean mask over ``labels``: a seeded ``fraction`` of each class, rounded half to even
    (a class of one image is never held out: it would be missing from what trains)."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        mask[members[: int(round(len(members) * fraction)) if len(members) > 1 else 0]] = True
    return mask


def stratified_sample(labels: np.ndarray, seed: int, *, shots: int | None = None,
                      fraction: float | None = None) -> np.ndarray:
    """Sorted positions in ``labels`` of a seeded sample of each class: ``shots`` images (all of
    a class that has fewer), or a ``fraction`` of it (rounded, at least one). Exactly one of
    the two."""
    if (shots is None) == (fraction is None):
        raise ValueError("stratified_sample takes shots or fraction, one of them")
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        count = shots if shots is not None else max(1, int(round(len(members) * fraction)))
        chosen.append(members[:count])
    return np.sort(np.concatenate(chosen))
