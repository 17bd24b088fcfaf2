"""Figures of the field section of `audit compare`: one function per figure, each a Figure."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from auditkit.field.analysis import AccuracyFit, Correlation, PropertyTable
from auditkit.records import MetricRecord
from auditkit.report.headline import is_headline
from auditkit.plotstyle import subplots

AUDITED = "#D55E00"
PUBLISHED = "#0072B2"
MAX_SCATTER_PANELS = 12


def _short(label: str, width: int = 28) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def correlation_heatmap(table: PropertyTable, labels: dict[str, str], found: list[Correlation]) -> Figure | None:
    """Spearman's rho between every two properties, the number of models in brackets."""
    spearman = [c for c in found if c.method == "spearman" and math.isfinite(c.value)]
    names = [p for p in table.properties if any(p in (c.first, c.second) for c in spearman)]
    if len(names) < 2:
        return None
    grid = np.full((len(names), len(names)), np.nan)
    text = [["" for _ in names] for _ in names]
    for i in range(len(names)):
        grid[i, i] = 1.0
    for c in spearman:
        i, j = names.index(c.first), names.index(c.second)
        grid[i, j] = grid[j, i] = c.value
        mark = "*" if c.p_value < 0.05 else ""
        text[i][j] = text[j][i] = f"{c.value:.2f}{mark}\n({c.n})"
    size = min(11.0, 1.6 + 0.75 * len(names))
    figure, axis = subplots(figsize=(size, size * 0.85), layout="constrained")
    image = axis.imshow(grid, cmap="RdBu_r", vmin=-1, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            if i != j and text[i][j]:
                axis.text(j, i, text[i][j], ha="center", va="center", fontsize=6.5,
                          color="white" if abs(grid[i, j]) > 0.6 else "black")
    ticks = [_short(labels.get(n, n)) for n in names]
    axis.set_xticks(range(len(names)), ticks, rotation=45, ha="right", fontsize=7)
    axis.set_yticks(range(len(names)), ticks, fontsize=7)
    axis.set_title("Spearman's ρ between properties across models", fontsize=8)
    figure.colorbar(image, ax=axis, shrink=0.7, label="Spearman's ρ")
    return figure


def accuracy_scatter(table: PropertyTable, labels: dict[str, str], fits: list[AccuracyFit],
                     references: set[str]) -> Figure | None:
    """One panel per property: models against ImageNet val top-1, with the fitted line."""
    fits = fits[:MAX_SCATTER_PANELS]
    if not fits:
        return None
    columns = min(3, len(fits))
    rows = math.ceil(len(fits) / columns)
    figure, axes = subplots(rows, columns, figsize=(3.0 * columns, 2.6 * rows), layout="constrained",
                            squeeze=False)
    x_all = table.column(table.properties[0])
    for axis, fit in zip(axes.flat, fits):
        y_all = table.column(fit.prop)
        for kind, colour, marker in (("audited", AUDITED, "o"), ("published", PUBLISHED, "s")):
            chosen = [i for i, m in enumerate(table.models) if np.isfinite(x_all[i]) and np.isfinite(y_all[i])
                      and ((m in references) == (kind == "published"))]
            if chosen:
                axis.scatter(100 * x_all[chosen], y_all[chosen], s=14, color=colour, marker=marker, label=kind,
                             alpha=0.8, linewidths=0)
        xs = np.linspace(np.nanmin(x_all), np.nanmax(x_all), 50)
        axis.plot(100 * xs, fit.slope * xs + fit.intercept, color="#333333", linewidth=1)
        axis.set_title(f"{_short(labels.get(fit.prop, fit.prop), 40)}\nr = {fit.r:.2f}, n = {fit.n}", fontsize=7.5)
        axis.set_xlabel("ImageNet val top-1 (%)", fontsize=7)
        axis.tick_params(labelsize=6.5)
    for axis in list(axes.flat)[len(fits):]:
        axis.set_visible(False)
    axes.flat[0].legend(fontsize=6.5, frameon=False)
    return figure


def _value(records: dict[tuple[str, str, str], MetricRecord], key: tuple[str, str, str]) -> MetricRecord | None:
    record = records.get(key)
    return record if record is not None and record.value is not None and math.isfinite(record.value) else None


def field_lines(records: list[MetricRecord], models: list[str], exclude: set[str] = frozenset()) -> list[tuple[str, Figure]]:
    """Accuracy on the line against the testbed for every shift some compared model measured."""
    from auditkit.field.plots import AuditedPoint, accuracy_on_the_line
    from auditkit.field.testbed import PROTOCOLS, fit_baseline

    by_model: dict[str, dict[tuple[str, str, str], MetricRecord]] = {}
    for r in records:
        if r.suite == "robustness" and is_headline(r):
            by_model.setdefault(r.model, {})[(r.suite, r.dataset, r.metric)] = r
    figures = []
    for dataset, protocol in PROTOCOLS.items():
        points = []
        for model in models:
            if model in exclude or model not in by_model:
                continue
            own = by_model[model]
            y = _value(own, ("robustness", dataset, "top1"))
            x = _value(own, ("robustness", "imagenet-val", "top1") if protocol.x_column == "val"
                       else ("robustness", dataset, "val_top1_on_shift_classes"))
            if x is None or y is None:
                continue

            def ci(r: MetricRecord) -> tuple[float, float] | None:
                return None if r.ci_low is None or r.ci_high is None else (100 * r.ci_low, 100 * r.ci_high)

            points.append(AuditedPoint(model, 100 * x.value, 100 * y.value, ci(x), ci(y)))
        if points:
            figures.append((dataset, accuracy_on_the_line(fit_baseline(dataset), points)))
    return figures
