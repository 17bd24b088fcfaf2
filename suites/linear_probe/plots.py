"""Linear-probe plots: one function per figure, each returns a matplotlib Figure."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from auditkit.plotstyle import COLOURS as PALETTE  # Okabe-Ito, colour-blind-safe
from auditkit.plotstyle import subplots


def transfer_bars(model: str, top1: dict[str, float]) -> Figure:
    names = sorted(top1)
    figure, axis = subplots(figsize=(max(3.6, 0.55 * len(names) + 1.8), 3.4))
    values = [100 * top1[n] for n in names]
    axis.bar(range(len(names)), values, color=PALETTE[0], width=0.6)
    for k, value in enumerate(values):
        axis.text(k, value + 1.5, f"{value:.1f}", ha="center", fontsize=8)
    if len(names) > 1:
        axis.axhline(np.mean(values), color="black", linestyle="--", linewidth=1,
                     label=f"mean {np.mean(values):.1f} %")
        axis.legend(fontsize=8, frameon=False, loc="lower right")
    axis.set_xticks(range(len(names)), names, rotation=30 if len(names) > 3 else 0, ha="right" if len(names) > 3 else "center")
    axis.set_ylim(0, 110)
    axis.set_ylabel("linear-probe top-1 (%)")
    axis.set_title(f"{model}: linear-probe transfer", fontsize=10)
    figure.tight_layout()
    return figure


def few_shot_curves(
    model: str, curves: dict[str, list[tuple[int, float, float | None, float | None]]], full: dict[str, float]
) -> Figure:
    figure, axis = subplots(figsize=(4.8, 3.6))
    for k, (task, points) in enumerate(sorted(curves.items())):
        colour = PALETTE[k % len(PALETTE)]
        shots = [p[0] for p in points]
        mean = np.array([100 * p[1] for p in points])
        low = np.array([100 * (p[2] if p[2] is not None else p[1]) for p in points])
        high = np.array([100 * (p[3] if p[3] is not None else p[1]) for p in points])
        axis.errorbar(shots, mean, yerr=[mean - low, high - mean], marker="o", color=colour, capsize=3, label=task)
        axis.axhline(100 * full[task], color=colour, linestyle="--", linewidth=1)
    axis.set_xscale("log")
    axis.set_xticks([1, 5, 10, 25], ["1", "5", "10", "25"])
    axis.set_xlabel("training images per class")
    axis.set_ylabel("top-1 on the test split (%)")
    axis.set_ylim(0, 105)
    axis.set_title(f"{model}: few-shot linear probes", fontsize=10)
    axis.legend(fontsize=8, frameon=False, loc="lower right")
    figure.tight_layout()
    return figure
