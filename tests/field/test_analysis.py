"""Correlations, fits against accuracy and rank aggregation against scipy and hand-worked numbers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from auditkit.field.analysis import PropertyTable, against_accuracy, aggregate_ranks, correlate, correlations
from auditkit.field.testbed import load_testbed_models, PROTOCOLS


def test_testbed_val_vs_v2_correlation_equals_scipys_on_its_standard_models():
    protocol = PROTOCOLS["imagenet-v2"]
    rows = [m for m in load_testbed_models() if "val" in m.top1 and protocol.y_column in m.top1 and protocol.fitted(m)]
    x = np.array([m.top1["val"] for m in rows])
    y = np.array([m.top1[protocol.y_column] for m in rows])
    spearman = correlate(x, y, "spearman")
    kendall = correlate(x, y, "kendall")
    assert spearman.n == kendall.n == 85
    assert spearman.value == pytest.approx(stats.spearmanr(x, y).statistic, abs=1e-12)
    assert kendall.value == pytest.approx(stats.kendalltau(x, y).statistic, abs=1e-12)
    assert spearman.ci_low < spearman.value < spearman.ci_high
    assert spearman.p_value == pytest.approx(1 / 2001)  # no permutation reaches 0.99


def test_hand_worked_ranks_and_correlations():
    # three models; rank correlation of a perfectly monotone pair is 1, an inverse pair -1
    table = PropertyTable(("a", "b", "c"), ("top1", "ece", "shape_bias"),
                          np.array([[0.80, 0.05, 0.2], [0.70, 0.03, np.nan], [0.60, 0.01, 0.4]]),
                          ("higher", "lower", ""))
    pairs = {(c.first, c.second, c.method): c for c in correlations(table)}
    assert pairs[("top1", "ece", "spearman")].value == pytest.approx(1.0)
    assert pairs[("top1", "ece", "kendall")].value == pytest.approx(1.0)
    assert pairs[("top1", "shape_bias", "spearman")].n == 2  # b has no shape bias
    assert np.isnan(pairs[("top1", "shape_bias", "spearman")].value)  # fewer than 3 models
    summary = aggregate_ranks(table)
    # top1: a best (1), c worst (3); ece lower is better: c best
    assert summary.ranks[:, 0].tolist() == [1, 2, 3]
    assert summary.ranks[:, 1].tolist() == [3, 2, 1]
    assert np.isnan(summary.ranks[:, 2]).all()  # no direction, no rank
    assert summary.mean_rank.tolist() == [2, 2, 2]
    # z of top1: (0.8 - 0.7) / sd(0.8, 0.7, 0.6) = 0.1 / 0.1 = 1
    assert summary.z_scores[0, 0] == pytest.approx(1.0)
    assert summary.z_scores[2, 1] == pytest.approx(1.0)  # lowest ECE, sign flipped


def test_residuals_are_what_accuracy_does_not_predict():
    top1 = np.array([0.6, 0.7, 0.8, 0.9])
    shape = 0.5 * top1 + np.array([0.0, 0.1, -0.1, 0.0])
    table = PropertyTable(tuple("abcd"), ("top1", "shape_bias"), np.stack([top1, shape], axis=1), ("higher", ""))
    (fit,) = against_accuracy(table, "top1")
    reference = stats.linregress(top1, shape)
    assert fit.slope == pytest.approx(reference.slope)
    assert fit.residuals["b"] == pytest.approx(shape[1] - (reference.slope * 0.7 + reference.intercept))
    assert sum(fit.residuals.values()) == pytest.approx(0.0, abs=1e-12)


def test_batched_coefficients_equal_scipys_with_ties():
    from auditkit.field.analysis import _kendall_batch, _spearman_batch

    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, (20, 12)).astype(float)  # many ties, as bootstrap draws have
    y = x + rng.integers(0, 3, (20, 12))
    for row in range(20):
        assert _spearman_batch(x[row:row + 1], y[row:row + 1])[0] == pytest.approx(stats.spearmanr(x[row], y[row]).statistic)
        assert _kendall_batch(x[row:row + 1], y[row:row + 1])[0] == pytest.approx(stats.kendalltau(x[row], y[row]).statistic)


def test_sixty_models_give_every_pair_once_per_method():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(60, 4))
    values[:, 1] = values[:, 0] + 0.1 * values[:, 1]  # one strongly related pair
    table = PropertyTable(tuple(f"m{i}" for i in range(60)), tuple(f"p{j}" for j in range(4)), values, ("higher",) * 4)
    result = {(c.first, c.second, c.method): c for c in correlations(table)}
    assert len(result) == 6 * 2
    strong = result[("p0", "p1", "spearman")]
    assert strong.p_value < 0.001 and strong.ci_low > 0.9
    assert result[("p2", "p3", "kendall")].p_value > 0.01  # independent columns
