"""PUG-ImageNet plots: one function per figure, each returns a matplotlib Figure."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from auditkit.plotstyle import subplots

BLUE = "#0072B2"


def subset_bars(model: str, top1: dict[str, float]) -> Figure:
    names = list(top1)
    figure, axis = subplots(figsize=(6.0, 3.2))
    x = np.arange(len(names))
    axis.bar(x, [100 * top1[n] for n in names], color=BLUE, width=0.6)
    for i, name in enumerate(names):
        axis.text(i, 100 * top1[name] + 1, f"{100 * top1[name]:.1f}", ha="center", fontsize=7)
    mean = 100 * float(np.mean(list(top1.values())))
    axis.axhline(mean, color="black", linestyle="--", linewidth=1, label=f"mean over subsets {mean:.1f}")
    axis.legend(fontsize=8, frameon=False, loc="upper right")
    axis.set_xticks(x, [n.replace("_", " ") for n in names], rotation=35, ha="right", fontsize=8)
    axis.set_ylabel("top-1 accuracy (%)")
    axis.set_ylim(0, 105)
    axis.set_title(f"PUG-ImageNet subsets — {model}", fontsize=10)
    figure.tight_layout()
    return figure


def factor_curves(model: str, curves: dict[str, list[tuple[str, float]]]) -> Figure:
    """Small multiples: numeric factors as lines, named ones (world, texture, light) as dots."""
    columns = min(5, len(curves))
    rows = math.ceil(len(curves) / columns)
    figure, axes = subplots(rows, columns, figsize=(2.3 * columns, 2.3 * rows), squeeze=False, sharey=True)
    for axis, (subset, points) in zip(axes.flat, curves.items()):
        labels = [value for value, _ in points]
        accuracy = [100 * a for _, a in points]
        try:
            x = [float(v) for v in labels]
            axis.plot(x, accuracy, marker="o", color=BLUE, linewidth=1.5, markersize=3)
        except ValueError:
            if len(labels) > 12:  # e.g. 64 worlds: unordered names, shown ranked
                order = np.argsort(accuracy)[::-1]
                labels, accuracy = [labels[i] for i in order], [accuracy[i] for i in order]
            x = list(range(len(labels)))
            axis.plot(x, accuracy, marker="o", color=BLUE, linestyle="none", markersize=3)
            if len(labels) <= 12:
                axis.set_xticks(x, labels, rotation=60, ha="right", fontsize=6)
            else:
                axis.set_xticks([])
                axis.set_xlabel(f"{len(labels)} values, ranked", fontsize=7)
        axis.set_title(subset.replace("_", " "), fontsize=8)
        axis.set_ylim(0, 100)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    for axis in axes.flat[len(curves):]:
        axis.axis("off")
    for axis in axes[:, 0]:
        axis.set_ylabel("top-1 (%)", fontsize=8)
    figure.suptitle(f"PUG-ImageNet factors — {model}", fontsize=10)
    figure.tight_layout()
    return figure
