"""Record-derived overlays: which families are drawn, and how (curves vs grouped bars)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from auditkit.compare import plots
from auditkit.records import MetricRecord


def record(model: str, suite: str, dataset: str, condition: str, metric: str, value: float, ci: bool = True) -> MetricRecord:
    return MetricRecord(model, suite, dataset, condition, metric, value,
                        value - 0.01 if ci else None, value + 0.01 if ci else None, 100, "1.0")


def test_axis_conditions_become_curves_and_categories_bars() -> None:
    records = []
    for model, offset in (("vit", 0.0), ("convnext", 0.05)):
        for axis, points in (("scale", ("1", "1.5", "2")), ("shift", ("0", "30"))):
            records += [record(model, "invariance", "imagenet-val", f"{axis}/{p}", "top1", 0.7 - 0.1 * i + offset)
                        for i, p in enumerate(points)]
        records += [record(model, "shape_bias", "cue-conflict", c, "shape_bias", 0.3 + offset) for c in ("cat", "dog")]
        records += [record(model, "shape_bias", "cue-conflict", "none", "shape_hits", 197, ci=False)]
        records += [record(model, "robustness", d, "none", "top1", 0.6 + offset) for d in ("imagenet-val", "imagenet-r")]
    found = {(s.suite, s.metric): s for s in plots.families(records, {"robustness": {"top1": "higher"}})}
    assert set(found) == {("invariance", "top1"), ("shape_bias", "shape_bias"), ("robustness", "top1")}
    curves = found[("invariance", "top1")].curves()
    assert {axis: [x for x, _ in points] for axis, points in curves.items()} == {"scale": [1, 1.5, 2], "shift": [0, 30]}
    assert found[("shape_bias", "shape_bias")].curves() is None  # categories: grouped bars
    assert found[("robustness", "top1")].labels == ["imagenet-val", "imagenet-r"]  # headline across datasets
    figure = plots.family_figure(found[("invariance", "top1")], ["vit", "convnext"], width=6.75)
    assert len([a for a in figure.axes if a.get_visible()]) == 2  # one panel per axis
    assert figure.get_figwidth() == 6.75
    plt.close(figure)
    # counts without a CI or a direction are left to the tables
    assert not [p for p in plots.headline_properties(records, {}) if p.metric == "shape_hits"]
