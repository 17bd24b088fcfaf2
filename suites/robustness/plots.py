"""Robustness plots: one function per figure, each returns a matplotlib Figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

BLUE = "#0072B2"


def accuracy_bars(model: str, top1: dict[str, float]) -> Figure:
    names = [n for n in top1 if n != "imagenet-val"]
    figure, axis = plt.subplots(figsize=(5.6, 3.2))
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
