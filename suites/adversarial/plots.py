"""Adversarial plots: one function per figure, each returns a matplotlib Figure."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from auditkit.plotstyle import subplots

# Okabe-Ito: colour-blind-safe.
COLOURS = {"fgsm": "#E69F00", "pgd": "#0072B2", "autoattack": "#009E73"}
MARKERS = {"fgsm": "s", "pgd": "o", "autoattack": "^"}
LABELS = {"fgsm": "FGSM", "pgd": "PGD-10", "autoattack": "AutoAttack"}


def accuracy_vs_epsilon(model: str, curves: dict[str, list[tuple[float, float, float, float]]]) -> Figure:
    """Top-1 (%) against epsilon (/255) per attack; epsilon 0 is the clean accuracy. An attack run
    at one epsilon only (AutoAttack) is a point, not a line to the clean accuracy."""
    figure, axis = subplots(figsize=(4.6, 3.4))
    for method, points in sorted(curves.items()):
        points = sorted(points)
        epsilon = np.array([p[0] for p in points])
        mean = np.array([100 * p[1] for p in points])
        low = np.array([100 * p[2] for p in points])
        high = np.array([100 * p[3] for p in points])
        axis.errorbar(epsilon, mean, yerr=[mean - low, high - mean], marker=MARKERS.get(method, "o"),
                      color=COLOURS.get(method), capsize=3, label=LABELS.get(method, method.upper()),
                      linestyle="-" if len(points) > 1 else "none", markersize=6 if len(points) > 1 else 9,
                      zorder=2 if len(points) > 1 else 3)  # a lone point stays visible over the curves
    axis.set_xlabel("epsilon (/255, L-inf, before normalisation)")
    axis.set_ylabel("top-1 (%)")
    axis.set_ylim(-2, 102)
    axis.set_title(f"{model}: adversarial robustness", fontsize=10)
    axis.legend(fontsize=8, frameon=False)
    figure.tight_layout()
    return figure
