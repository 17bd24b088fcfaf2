"""Accuracy on the line against the testbed (Taori et al. 2020, Fig. 1; Miller et al. 2021).

The testbed's models are the background, coloured by the testbed's own model types; the
baseline line and its 95 % bootstrap band are drawn on the fit's axes (logit or probit), with
tick labels in %; audited models are highlighted with their CIs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure

from auditkit.field.testbed import Baseline, scale_transform, load_testbed_models
from auditkit.plotstyle import subplots

# Okabe-Ito, colour-blind safe; the testbed's types in the order its legend gives them
TYPE_COLOURS = {
    "STANDARD": "#0072B2", "ROBUST_INTV": "#009E73", "MORE_DATA": "#E69F00", "LP_ADV": "#CC79A7",
    "LOW_ACCURACY_CNN": "#999999",
}
TYPE_WORDS = {"STANDARD": "standard training", "ROBUST_INTV": "robustness intervention",
              "MORE_DATA": "trained with more data", "LP_ADV": "lp-adversarially robust",
              "LOW_ACCURACY_CNN": "low-accuracy CNN"}
AUDITED_COLOURS = ("#D55E00", "#000000", "#56B4E9", "#F0E442")
SHIFT_WORDS = {"imagenet-v2": "ImageNet-V2", "imagenet-sketch": "ImageNet-Sketch", "imagenet-r": "ImageNet-R",
               "imagenet-a": "ImageNet-A", "objectnet": "ObjectNet"}
X_WORDS = {"val": "ImageNet val top-1 (%)",
           "val-on-imagenet-r-classes": "ImageNet val top-1 on the 200 R classes (%)",
           "val-on-imagenet-a-classes": "ImageNet val top-1 on the 200 A classes (%)",
           "val-on-objectnet-classes": "ImageNet val top-1 on the 113 ObjectNet classes (%)"}


@dataclass(frozen=True)
class AuditedPoint:
    """One audited model on one shift: x and y top-1 in %, each with its 95 % CI (or None)."""

    model: str
    x: float
    y: float
    x_ci: tuple[float, float] | None = None
    y_ci: tuple[float, float] | None = None


def _ticks(low: float, high: float) -> list[float]:
    candidates = [1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98, 99]
    inside = [t for t in candidates if low <= t <= high]
    return inside if len(inside) >= 3 else list(np.round(np.linspace(low, high, 5), 1))


def accuracy_on_the_line(baseline: Baseline, audited: list[AuditedPoint], width: float = 5.2) -> Figure:
    """The testbed's models, the baseline with its band and the audited models on one shift."""
    transform, _ = scale_transform(baseline.scale)

    def forward(percent):  # noqa: ANN001, ANN202 - 0 % and 100 % (tiny runs) drawn at the axis' edge
        return transform(np.clip(percent, 0.5, 99.5))

    types = {m.name: m.model_type for m in load_testbed_models()}
    figure, axis = subplots(figsize=(width, width * 0.85), layout="constrained")
    points = baseline.points
    xs_all = [p[1] for p in points] + [a.x for a in audited]
    ys_all = [p[2] for p in points] + [a.y for a in audited]
    x_low, x_high = max(0.5, min(xs_all) - 2), min(99.5, max(xs_all) + 1)
    y_low, y_high = max(0.5, min(ys_all) - 2), min(99.5, max(ys_all) + 2)
    for kind, colour in TYPE_COLOURS.items():
        chosen = [(x, y) for name, x, y, _ in points if types.get(name) == kind]
        if chosen:
            axis.scatter(forward([c[0] for c in chosen]), forward([c[1] for c in chosen]), s=12, alpha=0.55,
                         color=colour, linewidths=0, label=f"testbed: {TYPE_WORDS[kind]} ({len(chosen)})")
    grid = np.linspace(x_low, x_high, 200)
    low, high = baseline.band(grid)
    line = baseline.predict(grid)
    axis.fill_between(forward(grid), forward(low), forward(high), color="#0072B2", alpha=0.18, linewidth=0,
                      label="baseline 95 % band (bootstrap over models)")
    fitted = sum(l.n for l in baseline.lines)
    axis.plot(forward(grid), forward(line), color="#0072B2", linewidth=1.4,
              label=f"baseline: {baseline.scale} fit on {fitted} standard models")
    axis.plot(forward(grid), forward(grid), color="#666666", linestyle="--", linewidth=0.9, label="y = x")
    named = len(audited) <= len(AUDITED_COLOURS)  # beyond that, one legend entry for all of them
    for index, point in enumerate(audited):
        colour = AUDITED_COLOURS[index % len(AUDITED_COLOURS)] if named else AUDITED_COLOURS[0]
        x, y = float(forward(point.x)), float(forward(point.y))
        xerr = None if point.x_ci is None else [[x - float(forward(point.x_ci[0]))], [float(forward(point.x_ci[1])) - x]]
        yerr = None if point.y_ci is None else [[y - float(forward(point.y_ci[0]))], [float(forward(point.y_ci[1])) - y]]
        with np.errstate(divide="ignore", invalid="ignore"):
            effective = baseline.effective_robustness(point.x, point.y)
        label = (f"{point.model}: effective robustness {effective:+.1f} pp" if named
                 else f"compared models ({len(audited)})" if index == 0 else None)
        axis.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="*", markersize=12 if named else 8, color=colour,
                      zorder=5, label=label, elinewidth=0.8)
    ticks_x, ticks_y = _ticks(x_low, x_high), _ticks(y_low, y_high)
    axis.set_xticks(forward(ticks_x), [f"{t:g}" for t in ticks_x])
    axis.set_yticks(forward(ticks_y), [f"{t:g}" for t in ticks_y])
    axis.set_xlim(forward(x_low), forward(x_high))
    axis.set_ylim(forward(y_low), forward(y_high))
    shift = SHIFT_WORDS.get(baseline.dataset, baseline.dataset)
    axis.set_xlabel(X_WORDS.get(baseline.protocol.x_column, baseline.protocol.x_column) + f", {baseline.scale} axis")
    axis.set_ylabel(f"{shift} top-1 (%), {baseline.scale} axis")
    axis.set_title(f"Accuracy on the line: {shift}", fontsize=10)
    axis.grid(color="#dddddd", linewidth=0.5)
    axis.legend(fontsize=6.5, frameon=False, loc="upper left")
    return figure
