"""Small-data plots: one function per figure, each returns a matplotlib Figure."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from auditkit.plotstyle import COLOURS as PALETTE  # Okabe-Ito, colour-blind-safe
from auditkit.plotstyle import subplots


def _arm(condition: str) -> bool:
    """True for the with-L_drloc arm (``scratch/<recipe>/drloc<lambda>/seed<k>``, lambda > 0)."""
    part = condition.split("/")[2]
    return float(part.removeprefix("drloc")) > 0


def drloc_curves(model: str, dataset: str, histories: dict[str, list[dict[str, Any]]]) -> Figure:
    """Per repeat: the total training loss per epoch, without L_drloc (blue) and with it
    (orange), L_drloc itself (before lambda) dashed on the right axis."""
    figure, (total, auxiliary) = subplots(1, 2, figsize=(7.6, 3.2))
    for condition, history in sorted(histories.items()):
        colour = PALETTE[1] if _arm(condition) else PALETTE[0]
        seed = condition.rsplit("/", 1)[-1]
        label = f"{'with' if _arm(condition) else 'without'} L_drloc, {seed}"
        epochs = [h["epoch"] for h in history]
        total.plot(epochs, [h["train_loss"] for h in history], color=colour, label=label, linewidth=1.2)
        if any("drloc_loss" in h for h in history):
            auxiliary.plot(epochs, [h.get("drloc_loss", np.nan) for h in history], color=colour, linestyle="--",
                           label=seed, linewidth=1.2)
    total.set_xlabel("epoch")
    total.set_ylabel("training loss (L_ce + lambda L_drloc)")
    total.legend(fontsize=6, frameon=False)
    auxiliary.set_xlabel("epoch")
    auxiliary.set_ylabel("L_drloc per image")
    if auxiliary.lines:
        auxiliary.legend(fontsize=6, frameon=False)
    else:
        auxiliary.text(0.5, 0.5, "no L_drloc arm", ha="center", va="center", transform=auxiliary.transAxes, fontsize=8)
    figure.suptitle(f"{model}: trained from scratch on {dataset}", fontsize=10)
    figure.tight_layout()
    return figure


def arms_top1(model: str, summary: dict[str, dict[str, tuple[float, tuple[float, float] | None]]]) -> Figure:
    """Per task: top-1 without and with L_drloc, the mean over seeds with its interval."""
    names = sorted(summary)
    figure, axis = subplots(figsize=(max(3.6, 1.1 * len(names) + 1.8), 3.4))
    positions = np.arange(len(names))
    for offset, key, colour, label in ((-0.18, "without", PALETTE[0], "without L_drloc"),
                                       (0.18, "with", PALETTE[1], "with L_drloc")):
        for x, name in zip(positions + offset, names):
            if key not in summary[name]:
                continue
            value, interval = summary[name][key]
            error = None if interval is None else [[100 * (value - interval[0])], [100 * (interval[1] - value)]]
            axis.bar(x, 100 * value, width=0.36, color=colour, yerr=error, capsize=3,
                     label=label if name == names[0] else None)
            axis.text(x, 100 * (interval[1] if interval else value) + 1.5, f"{100 * value:.1f}", ha="center", fontsize=8)
    axis.set_xticks(positions, names)
    axis.set_ylim(0, 125)
    axis.set_ylabel("top-1 on the test split (%)")
    axis.set_title(f"{model}: from scratch, without and with L_drloc", fontsize=10)
    axis.legend(fontsize=8, frameon=False, loc="upper left", ncol=2)
    figure.tight_layout()
    return figure
