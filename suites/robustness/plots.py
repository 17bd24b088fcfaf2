"""Robustness plots: one function per figure, each returns a matplotlib Figure."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from auditkit.plotstyle import COLOURS, subplots

BLUE = COLOURS[0]


def accuracy_bars(model: str, top1: dict[str, float]) -> Figure:
    names = [n for n in top1 if n != "imagenet-val"]
    figure, axis = subplots(figsize=(5.6, 3.2))
    x = np.arange(len(names))
    axis.bar(x, [100 * top1[n] for n in names], color=BLUE, width=0.6)
    for i, name in enumerate(names):
        axis.text(i, 100 * top1[name] + 1, f"{100 * top1[name]:.1f}", ha="center", fontsize=8)
    if "imagenet-val" in top1:
        axis.axhline(100 * top1["imagenet-val"], color="black", linestyle="--", linewidth=1,
                     label=f"ImageNet val {100 * top1['imagenet-val']:.1f}")
        axis.legend(fontsize=8, frameon=False, loc="upper right")
    axis.set_xticks(x, [n.replace("imagenet-", "") for n in names])
    axis.set_ylabel("top-1 accuracy (%)")
    axis.set_ylim(0, 105)
    axis.set_title(f"Robustness — {model}", fontsize=10)
    figure.tight_layout()
    return figure


def corruption_heatmap(model: str, accuracy: dict[tuple[str, int], float]) -> Figure:
    corruptions = list(dict.fromkeys(c for c, _ in accuracy))
    severities = sorted({s for _, s in accuracy})
    grid = np.full((len(corruptions), len(severities)), np.nan)
    for (corruption, severity), value in accuracy.items():
        grid[corruptions.index(corruption), severities.index(severity)] = 100 * value
    figure, axis = subplots(figsize=(4.8, 0.32 * len(corruptions) + 1.4))
    image = axis.imshow(grid, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    for i in range(len(corruptions)):
        for j in range(len(severities)):
            if np.isfinite(grid[i, j]):
                axis.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=7,
                          color="white" if grid[i, j] < 60 else "black")
    axis.set_xticks(range(len(severities)), [str(s) for s in severities])
    axis.set_yticks(range(len(corruptions)), [c.replace("_", " ") for c in corruptions], fontsize=8)
    axis.set_xlabel("severity")
    axis.set_title(f"ImageNet-C top-1 (%) — {model}", fontsize=10)
    figure.colorbar(image, ax=axis, label="top-1 (%)")
    figure.tight_layout()
    return figure


def accuracy_on_the_line(model: str, top1: dict[str, float]) -> Figure:
    """Each shifted set's top-1 against val top-1 (Recht et al.; Miller et al.): one point per
    dataset here, the models' line appears when runs are compared."""
    val = 100 * top1["imagenet-val"]
    figure, axis = subplots(figsize=(4.4, 4.0))
    axis.plot([0, 100], [0, 100], color="#999999", linestyle="--", linewidth=1, label="y = x")
    for name, value in top1.items():
        if name == "imagenet-val":
            continue
        axis.scatter(val, 100 * value, color=BLUE, s=30, zorder=3)
        axis.annotate(name.replace("imagenet-", ""), (val, 100 * value), textcoords="offset points",
                      xytext=(6, -3), fontsize=8)
    axis.set_xlim(0, 100)
    axis.set_ylim(0, 100)
    axis.set_xlabel("ImageNet val top-1 (%)")
    axis.set_ylabel("shifted set top-1 (%)")
    axis.set_title(f"Accuracy on the line — {model}", fontsize=10)
    axis.legend(fontsize=8, frameon=False, loc="upper left")
    figure.tight_layout()
    return figure
