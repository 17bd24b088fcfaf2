"""The testbed baseline recomputed from the shipped grid equals the published recomputation
(shared/data/reference/imagenet-testbed/README.md, transcribed here), and effective robustness
equals a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from auditkit.errors import AuditError
from auditkit.field.testbed import fit_baseline, load_testbed_models

# shift: (n, logit slope, logit intercept, probit slope, probit intercept) per line, from the README
PUBLISHED = {
    "imagenet-v2": [(85, "0.9232", "-0.4977", "0.9617", "-0.3247")],
    "imagenet-sketch": [(85, "1.0709", "-2.3701", "1.0435", "-1.4259")],
    "imagenet-r": [(80, "0.6368", "-2.1077", "0.7719", "-1.4212")],
    "objectnet": [(85, "0.9809", "-1.9283", "1.0192", "-1.2049")],
    "imagenet-a": [(33, "0.6894", "-5.140", "0.5227", "-2.6101"), (51, "2.956", "-10.277", "3.4437", "-6.5781")],
}


def _equal_as_printed(value: float, printed: str) -> bool:
    """``value`` rounds to ``printed`` at the decimals the README prints (4, a few with 3)."""
    decimals = len(printed.split(".")[1])
    return f"{value:.{decimals}f}" == printed


def test_the_grid_holds_338_models_with_types():
    models = load_testbed_models()
    assert len(models) == 338
    assert {m.model_type for m in models} >= {"STANDARD", "MORE_DATA", "ROBUST_INTV"}
    resnet = next(m for m in models if m.name == "resnet50")
    assert resnet.top1["val"] == pytest.approx(76.13, abs=0.01)  # torchvision's published ResNet-50


@pytest.mark.parametrize("dataset", sorted(PUBLISHED))
def test_fits_equal_the_published_recomputation_to_4_decimals(dataset):
    logit, probit = fit_baseline(dataset, "logit"), fit_baseline(dataset, "probit")
    assert len(logit.lines) == len(PUBLISHED[dataset])
    for line_l, line_p, (n, *printed) in zip(logit.lines, probit.lines, PUBLISHED[dataset]):
        assert line_l.n == line_p.n == n
        computed = (line_l.slope, line_l.intercept, line_p.slope, line_p.intercept)
        assert all(_equal_as_printed(v, p) for v, p in zip(computed, printed)), (computed, printed)


def test_effective_robustness_by_hand():
    # a model at 80 % val and 70 % V2: the line predicts expit(0.9232 logit(0.8) - 0.4977)
    expected_line = 100 / (1 + math.exp(-(0.9232 * math.log(0.8 / 0.2) - 0.4977)))
    baseline = fit_baseline("imagenet-v2")
    assert baseline.predict(80.0)[0] == pytest.approx(expected_line, abs=0.01)
    assert baseline.effective_robustness(80.0, 70.0) == pytest.approx(70.0 - expected_line, abs=0.01)
    # probit: Phi(0.9617 Phi^-1(0.8) - 0.3247), Phi^-1(0.8) = 0.841621
    from statistics import NormalDist

    probit_line = 100 * NormalDist().cdf(0.9617 * 0.8416212335729143 - 0.3247)
    assert fit_baseline("imagenet-v2", "probit").predict(80.0)[0] == pytest.approx(probit_line, abs=0.01)


def test_imagenet_a_uses_the_piece_on_its_side_of_the_split():
    baseline = fit_baseline("imagenet-a")
    low_x, high_x = 90.0, 95.0
    below = 100 / (1 + math.exp(-(0.6894 * math.log(0.90 / 0.10) - 5.140)))
    above = 100 / (1 + math.exp(-(2.956 * math.log(0.95 / 0.05) - 10.277)))
    assert baseline.predict(low_x)[0] == pytest.approx(below, abs=0.02)
    assert baseline.predict(high_x)[0] == pytest.approx(above, abs=0.02)


def test_the_band_contains_the_line_and_narrows_where_models_are():
    baseline = fit_baseline("imagenet-v2")
    xs = np.array([60.0, 76.0, 84.0])
    low, high = baseline.band(xs, resamples=200)
    line = baseline.predict(xs)
    assert np.all(low <= line) and np.all(line <= high)
    assert (high - low)[1] < (high - low)[0]  # dense near 76 %, sparse near 60 %


def test_unknown_shift_and_scale_are_one_line_errors():
    with pytest.raises(AuditError, match="no baseline for 'imagenet-hard'"):
        fit_baseline("imagenet-hard")
    with pytest.raises(AuditError, match="use logit or probit"):
        fit_baseline("imagenet-v2", "linear")


def test_accuracy_on_the_line_draws_the_field_on_the_fit_axes():
    import matplotlib.pyplot as plt

    from auditkit.field.plots import AuditedPoint, accuracy_on_the_line

    figure = accuracy_on_the_line(fit_baseline("imagenet-v2"), [AuditedPoint("m", 75.0, 63.0, (74.0, 76.0), (62.0, 64.0))])
    axis = figure.axes[0]
    labels = [t.get_text() for t in axis.get_xticklabels()]
    assert "70" in labels
    position = axis.get_xticks()[labels.index("70")]
    assert position == pytest.approx(math.log(0.7 / 0.3))  # % labels at logit positions
    legend = [t.get_text() for t in axis.get_legend().get_texts()]
    shown = sum(1 for _, _, _, _ in fit_baseline("imagenet-v2").points)
    assert sum(int(t.split("(")[-1].rstrip(")")) for t in legend if t.startswith("testbed")) == shown
    expected = 63.0 - fit_baseline("imagenet-v2").predict(75.0)[0]
    assert any(f"{expected:+.1f} pp" in t for t in legend)
    plt.close(figure)
