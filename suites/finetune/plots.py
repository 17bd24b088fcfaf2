"""Fine-tuning plots: one function per figure, each returns a matplotlib Figure."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from auditkit.plotstyle import COLOURS as PALETTE  # Okabe-Ito, colour-blind-safe
from auditkit.plotstyle import subplots


def training_curves(model: str, dataset: str, histories: dict[str, list[dict[str, Any]]],
                    scored: dict[str, int] | None = None) -> Figure:
    """Per repeat: train loss (solid) and val loss (dashed) per epoch, and val top-1; the
    epoch whose weights are scored is marked with a dotted line."""
    figure, (losses, accuracy) = subplots(1, 2, figsize=(7.6, 3.2))
    for k, (condition, history) in enumerate(sorted(histories.items())):
        colour = PALETTE[k % len(PALETTE)]
        label = condition.rsplit("/", 1)[-1] if condition.count("/") else condition
        epochs = [h["epoch"] for h in history]
        losses.plot(epochs, [h["train_loss"] for h in history], color=colour, label=f"{label} train")
        val = [(h["epoch"], h["val_loss"], h["val_top1"]) for h in history if h["val_loss"] is not None]
        if val:
            losses.plot([v[0] for v in val], [v[1] for v in val], color=colour, linestyle="--", label=f"{label} val")
            accuracy.plot([v[0] for v in val], [100 * v[2] for v in val], color=colour, marker="o", markersize=3,
                          label=label)
        if scored and condition in scored:
            for axis in (losses, accuracy):
                axis.axvline(scored[condition], color=colour, linestyle=":", linewidth=1)
    losses.set_xlabel("epoch")
    losses.set_ylabel("loss")
    losses.legend(fontsize=7, frameon=False)
    accuracy.set_xlabel("epoch")
    accuracy.set_ylabel("val top-1 (%)")
    accuracy.set_ylim(0, 105)
    if accuracy.lines:
        accuracy.legend(fontsize=7, frameon=False, loc="lower right")
    else:
        accuracy.text(0.5, 0.5, "no val split used\n(train_val recipe)", ha="center", va="center",
                      transform=accuracy.transAxes, fontsize=8)
    figure.suptitle(f"{model}: fine-tuning on {dataset}", fontsize=10)
    figure.tight_layout()
    return figure


def probe_vs_finetune(model: str, summary: dict[str, dict[str, float]]) -> Figure:
    """Per task: fine-tuned top-1 beside the linear probe's."""
    names = sorted(summary)
    figure, axis = subplots(figsize=(max(3.6, 1.1 * len(names) + 1.8), 3.4))
    positions = np.arange(len(names))
    for offset, key, colour, label in ((-0.18, "probe", PALETTE[0], "linear probe"),
                                       (0.18, "finetune", PALETTE[1], "fine-tuned")):
        values = [100 * summary[n].get(key, np.nan) for n in names]
        axis.bar(positions + offset, values, width=0.36, color=colour, label=label)
        for x, value in zip(positions + offset, values):
            if np.isfinite(value):
                axis.text(x, value + 1.5, f"{value:.1f}", ha="center", fontsize=8)
    axis.set_xticks(positions, names)
    axis.set_ylim(0, 125)
    axis.set_ylabel("top-1 on the test split (%)")
    axis.set_title(f"{model}: fine-tuning vs linear probe", fontsize=10)
    axis.legend(fontsize=8, frameon=False, loc="upper left", ncol=2)
    figure.tight_layout()
    return figure
