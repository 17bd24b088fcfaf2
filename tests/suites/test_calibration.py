"""Calibration metrics against netcal, torch and hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from netcal.metrics import ECE, MCE

from suites.calibration.suite import (
    adaptive_ece,
    bin_index,
    calibration_arrays,
    expected_calibration_error,
    max_calibration_error,
)


def random_predictions(n: int = 3000, classes: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, classes)) * 3
    labels = rng.integers(0, classes, n)
    # make it informative so bins across the range are filled
    logits[np.arange(n), labels] += rng.uniform(0, 6, n)
    return logits, labels


def test_ece_and_mce_match_netcal_on_full_probability_matrix():
    logits, labels = random_predictions()
    probs = torch.softmax(torch.tensor(logits), dim=1).numpy()
    arrays = calibration_arrays(logits, labels, None)
    # no confidence on an interior edge, so (lo, hi] and netcal's [lo, hi) agree
    assert not np.any(np.isclose(arrays.confidence[:, None], np.arange(1, 15) / 15, atol=1e-12))
    ours = expected_calibration_error(arrays.confidence, arrays.correct)
    assert ours == pytest.approx(ECE(bins=15).measure(probs, labels), abs=1e-9)
    assert max_calibration_error(arrays.confidence, arrays.correct) == pytest.approx(
        MCE(bins=15).measure(probs, labels), abs=1e-9
    )
    assert 0.01 < ours < 0.5  # a non-trivial value, so the comparison means something


def test_confidence_on_an_interior_edge_belongs_to_the_lower_bin():
    # 0.2 = 3/15 is the upper edge of bin 2 = (2/15, 3/15]; 0.21 falls in bin 3.
    confidence = np.array([0.2, 0.21])
    correct = np.array([True, False])
    assert list(bin_index(confidence)) == [2, 3]
    # separate bins: 1/2 * |1 - 0.2| + 1/2 * |0 - 0.21|
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.505)
    # netcal's [lo, hi) bins put both in one bin: |0.5 - 0.205| = 0.295 (PROTOCOLS.md)
    netcal = ECE(bins=15).measure(np.stack([1 - confidence, confidence], 1), correct.astype(int))
    assert netcal == pytest.approx(0.295)


def test_edge_values_one_and_smallest():
    confidence = np.array([1.0, 1 / 15])
    correct = np.array([True, True])
    assert list(bin_index(confidence)) == [14, 0]
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.5 * (1 - 1 / 15))


def test_one_sample_per_bin():
    confidence = (np.arange(15) + 0.5) / 15
    correct = np.arange(15) % 2 == 0
    assert sorted(bin_index(confidence)) == list(range(15))
    expected = np.mean(np.abs(correct.astype(float) - confidence))
    assert expected_calibration_error(confidence, correct) == pytest.approx(expected)
    assert max_calibration_error(confidence, correct) == pytest.approx(np.max(np.abs(correct - confidence)))


def test_all_correct_and_all_wrong():
    confidence = np.array([0.3, 0.55, 0.9, 0.97])
    assert expected_calibration_error(confidence, np.ones(4, bool)) == pytest.approx(1 - confidence.mean())
    assert expected_calibration_error(confidence, np.zeros(4, bool)) == pytest.approx(confidence.mean())
    assert max_calibration_error(confidence, np.zeros(4, bool)) == pytest.approx(0.97)


def test_adaptive_ece_equal_mass_bins_by_hand():
    confidence = np.array([0.4, 0.1, 0.3, 0.2])
    correct = np.array([True, False, False, True])
    # two bins of two: {0.1 wrong, 0.2 right} and {0.3 wrong, 0.4 right}
    expected = 0.5 * abs(0.5 - 0.15) + 0.5 * abs(0.5 - 0.35)
    assert adaptive_ece(confidence, correct, num_bins=2) == pytest.approx(expected)


def test_adaptive_ece_against_quantile_binning():
    logits, labels = random_predictions(n=1500)  # 1500 / 15 = 100 per bin, no ragged bins
    arrays = calibration_arrays(logits, labels, None)
    order = np.argsort(arrays.confidence)
    conf, corr = arrays.confidence[order], arrays.correct[order]
    expected = np.mean([abs(corr[i:i + 100].mean() - conf[i:i + 100].mean()) for i in range(0, 1500, 100)])
    assert adaptive_ece(arrays.confidence, arrays.correct) == pytest.approx(expected)


def test_brier_nll_top1_against_torch():
    logits, labels = random_predictions()
    arrays = calibration_arrays(logits, labels, None)
    t_logits, t_labels = torch.tensor(logits), torch.tensor(labels)
    probs = torch.softmax(t_logits, 1)
    brier = ((probs - F.one_hot(t_labels, logits.shape[1]).double()) ** 2).sum(1).mean().item()
    assert arrays.brier.mean() == pytest.approx(brier, rel=1e-9)
    assert -arrays.label_log_prob.mean() == pytest.approx(F.cross_entropy(t_logits, t_labels).item(), rel=1e-9)
    assert arrays.correct.mean() == pytest.approx((probs.argmax(1) == t_labels).double().mean().item())


def test_restriction_to_200_classes_happens_before_softmax():
    from auditkit.data.classes import subset_indices

    classes = subset_indices("imagenet_r")
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, 1000))
    outside = sorted(set(range(1000)) - set(classes))[0]
    logits[:, outside] = 50.0  # the unrestricted argmax would always be outside the subset
    labels = np.array(classes)[rng.integers(0, 200, 50)]
    arrays = calibration_arrays(logits, labels, classes)
    restricted = torch.softmax(torch.tensor(logits[:, list(classes)]), 1)
    assert set(arrays.prediction) <= set(classes)
    np.testing.assert_allclose(arrays.confidence, restricted.max(1).values.numpy(), rtol=1e-12)
    position = {c: i for i, c in enumerate(classes)}
    np.testing.assert_allclose(
        arrays.label_log_prob,
        np.log(restricted.numpy()[np.arange(50), [position[y] for y in labels]]),
        rtol=1e-9,
    )
