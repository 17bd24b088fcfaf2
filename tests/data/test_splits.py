"""The seeded, stratified splits every protocol draws (``auditkit.data.splits``): each draws
exactly the images the code it replaced drew (the linear probe's ``held_out_split`` and
``few_shot_sample``, the fine-tuning loop's ``_stratified`` and ``_fraction_of``, written out
below as they were), so no stored number moves."""

from __future__ import annotations

import numpy as np
import pytest

from auditkit.data.splits import stratified_holdout, stratified_sample


def _was_held_out_split(labels, fraction, seed):
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        mask[members[: int(round(len(members) * fraction))]] = True
    return mask


def _was_stratified(labels, fraction, seed):
    rng = np.random.default_rng(seed)
    mask = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        mask[members[: int(round(len(members) * fraction)) if len(members) > 1 else 0]] = True
    return mask


def _was_few_shot_sample(labels, shots, seed):
    rng = np.random.default_rng(seed)
    return np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:shots] for c in np.unique(labels)]))


def _was_fraction_of(labels, fraction, seed):
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        chosen.append(members[: max(1, int(round(len(members) * fraction)))])
    return np.concatenate(chosen)


def _tasks():
    """Label arrays with classes of 1 to 40 images, in any order."""
    rng = np.random.default_rng(7)
    for _ in range(20):
        sizes = rng.integers(1, 40, size=rng.integers(2, 9))
        yield rng.permutation(np.repeat(np.arange(len(sizes)), sizes))


@pytest.mark.parametrize("seed", [0, 1, 4])
def test_each_split_draws_what_the_protocol_drew_before(seed):
    for labels in _tasks():
        np.testing.assert_array_equal(stratified_holdout(labels, 0.2, seed), _was_held_out_split(labels, 0.2, seed))
        np.testing.assert_array_equal(stratified_holdout(labels, 0.1, seed), _was_stratified(labels, 0.1, seed))
        for shots in (1, 5, 25):
            np.testing.assert_array_equal(stratified_sample(labels, seed, shots=shots),
                                          _was_few_shot_sample(labels, shots, seed))
        for fraction in (0.01, 0.1, 0.5):
            np.testing.assert_array_equal(stratified_sample(labels, seed, fraction=fraction),
                                          np.sort(_was_fraction_of(labels, fraction, seed)))


def test_every_class_keeps_an_image_and_the_sample_asks_one_size():
    labels = np.array([0, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    held = stratified_holdout(labels, 0.5, 0)
    assert not held[0] and np.bincount(labels[held], minlength=3).tolist() == [0, 1, 5]
    assert np.bincount(labels[stratified_sample(labels, 0, fraction=0.01)]).tolist() == [1, 1, 1]
    with pytest.raises(ValueError):
        stratified_sample(labels, 0)
    with pytest.raises(ValueError):
        stratified_sample(labels, 0, shots=1, fraction=0.1)
