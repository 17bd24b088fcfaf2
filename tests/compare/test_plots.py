"""Record-derived overlays: which families are drawn, and how (curves vs grouped bars)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib.pyplot as plt

from auditkit.compare import plots
from auditkit.records import MetricRecord


def record(model: str, suite: str, dataset: str, condition: str, metric: str, value: float, ci: bool = True,
           subset: str = "all", aggregate: str = "") -> MetricRecord:
    return MetricRecord(model=model, suite=suite, dataset=dataset, condition=condition, subset=subset, metric=metric,
                        value=value, ci_low=value - 0.01 if ci else None, ci_high=value + 0.01 if ci else None, n=100,
                        aggregate=aggregate, suite_version="1.0")


def test_axis_conditions_become_curves_and_categories_bars() -> None:
    records = []
    for model, offset in (("vit", 0.0), ("convnext", 0.05)):
        for axis, points in (("scale", ("1", "1.5", "2")), ("shift", ("0", "30"))):
            records += [record(model, "invariance", "imagenet-val", f"{axis}/{p}", "top1", 0.7 - 0.1 * i + offset)
                        for i, p in enumerate(points)]
        records += [record(model, "shape_bias", "cue-conflict", "native", "shape_bias", 0.3 + offset, subset=c)
                    for c in ("cat", "dog")]
        records += [record(model, "shape_bias", "cue-conflict", "native", "shape_hits", 197, ci=False)]
        records += [record(model, "robustness", d, "none", "top1", 0.6 + offset) for d in ("imagenet-val", "imagenet-r")]
    found = {(s.suite, s.metric): s for s in plots.families(records, {"robustness": {"top1": "higher"}})}
    assert set(found) == {("invariance", "top1"), ("shape_bias", "shape_bias"), ("robustness", "top1")}
    curves = found[("invariance", "top1")].curves()
    assert {axis: [x for x, _ in points] for axis, points in curves.items()} == {"scale": [1, 1.5, 2], "shift": [0, 30]}
    assert found[("shape_bias", "shape_bias")].curves() is None  # categories: grouped bars
    assert (found[("shape_bias", "shape_bias")].over, found[("shape_bias", "shape_bias")].labels) == ("subset", ["cat", "dog"])
    assert found[("robustness", "top1")].labels == ["imagenet-val", "imagenet-r"]  # headline across datasets
    figure = plots.family_figure(found[("invariance", "top1")], ["vit", "convnext"], width=6.75)
    assert len([a for a in figure.axes if a.get_visible()]) == 2  # one panel per axis
    assert figure.get_figwidth() == 6.75
    # counts without a CI or a direction are left to the tables
    assert not [p for p in plots.headline_properties(records, {}) if p.metric == "shape_hits"]


def test_families_over_conditions_read_through_the_registry_and_subsets_by_axis() -> None:
    """ImageNet-C severities become one curve per corruption (the conditions registry names the
    axis), attack strengths a curve over epsilon, PUG values a curve per factor (subset
    ``<factor>/<value>``); the ImageNet-C mean over corruptions is a headline, the corruption
    errors (aggregates) a family of their own."""
    records = []
    for model, offset in (("vit", 0.0), ("convnext", 0.05)):
        records += [record(model, "robustness", "imagenet-c", f"corrupt/{name}/{severity}", "top1", 0.5 - severity / 20 + offset)
                    for name in ("fog", "snow") for severity in (1, 2, 3)]
        records += [record(model, "robustness", "imagenet-c", "corrupt/*/*", "top1", 0.4 + offset, aggregate="mean")]
        records += [record(model, "robustness", "imagenet-c", f"corrupt/{name}/*", "corruption_error", 0.9 + offset,
                           aggregate="normalised_sum") for name in ("fog", "snow")]
        records += [record(model, "robustness", "imagenet-val", "none", "top1", 0.7 + offset)]
        records += [record(model, "adversarial", "imagenet-val", f"pgd/eps{e}/steps10/seed0", "top1", 0.3 / e + offset)
                    for e in (0.5, 1, 2)]
        records += [record(model, "pug", "pug-imagenet", "none", "top1", 0.2 + offset, subset=f"Camera_Yaw/{v}")
                    for v in (0, 45, 90)]
        records += [record(model, "human_ood", "mvh-contrast", "native", "accuracy", 0.5 + offset, subset=level)
                    for level in ("c05", "c10", "benchmark")]
    better = {"robustness": {"top1": "higher", "corruption_error": "lower"}, "adversarial": {"top1": "higher"},
              "pug": {"top1": "higher"}, "human_ood": {"accuracy": "higher"}}
    found = {(s.suite, s.dataset, s.metric): s for s in plots.families(records, better)}
    corruption = found[("robustness", "imagenet-c", "top1")]
    assert corruption.over == "condition" and set(corruption.labels) == {f"corrupt/{n}/{k}" for n in ("fog", "snow") for k in (1, 2, 3)}
    assert {axis: [x for x, _ in points] for axis, points in corruption.curves().items()} == {
        "corrupt/fog": [1, 2, 3], "corrupt/snow": [1, 2, 3]}
    assert found[("robustness", "imagenet-c", "corruption_error")].curves() is None  # aggregates: bars
    headline = found[("robustness", "all datasets", "top1")]
    assert headline.labels == ["imagenet-c", "imagenet-val"]  # the mean over corruptions is the imagenet-c headline
    attack = found[("adversarial", "imagenet-val", "top1")].curves()
    assert {axis: [x for x, _ in points] for axis, points in attack.items()} == {"pgd/eps*/steps10/seed0": [0.5, 1, 2]}
    pug = found[("pug", "pug-imagenet", "top1")]
    assert pug.over == "subset" and {a: [x for x, _ in p] for a, p in pug.curves().items()} == {"Camera_Yaw": [0, 45, 90]}
    levels = found[("human_ood", "mvh-contrast", "accuracy")]
    assert levels.labels == ["c05", "c10"] and levels.curves() is None  # the benchmark subset is the headline
    assert [p.dataset for p in plots.headline_properties(records, better) if p.suite == "human_ood"] == ["mvh-contrast"]
    figure = plots.family_figure(corruption, ["vit", "convnext"])
    assert len([a for a in figure.axes if a.get_visible()]) == 2


def test_figures_are_bare_and_no_module_chooses_a_backend() -> None:
    """plotstyle.subplots makes Figure objects pyplot does not hold: nothing to close, no
    backend to choose, so no plots module calls matplotlib.use."""
    from auditkit.plotstyle import subplots

    before = plt.get_fignums()
    figure, axes = subplots(1, 2, figsize=(4, 2), sharey=True, layout="constrained")
    axes[0].plot([0, 1], [0, 1])
    assert plt.get_fignums() == before and figure.get_figwidth() == 4
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=50)  # drawn by the canvas the format picks
    assert png.getvalue().startswith(b"\x89PNG")
    root = Path(__file__).resolve().parents[2]
    choosing = [str(p.relative_to(root)) for folder in ("auditkit", "suites") for p in (root / folder).rglob("*.py")
                if "matplotlib.use(" in p.read_text()]
    assert choosing == []
