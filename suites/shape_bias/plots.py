"""Shape-bias plots: one function per figure, each returns a matplotlib Figure."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from auditkit.data.cue_conflict import CATEGORIES
from suites.shape_bias.metrics import Trials, count, per_category_shape_bias
from auditkit.plotstyle import subplots

# Okabe-Ito, colour-blind-safe.
MODEL, HUMAN, RESNET, NEITHER = "#0072B2", "#D55E00", "#7F7F7F", "#BBBBBB"
TEXTURE = "#E69F00"


def _human_per_category(humans: Trials) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over subjects of each subject's per-category shape bias, and the range."""
    assert humans.subject is not None
    per_subject = np.array([
        [per_category_shape_bias(humans.subset(humans.subject == s))[c] for c in CATEGORIES]
        for s in sorted(set(humans.subject))
    ])
    return np.nanmean(per_subject, 0), np.nanmin(per_subject, 0), np.nanmax(per_subject, 0)


def per_category_plot(model: str, trials: Trials, humans: Trials, resnet50: Trials) -> Figure:
    """Categories down the side, shape bias across (texture 0 ... 1 shape), as model-vs-human."""
    y = np.arange(len(CATEGORIES))[::-1]
    figure, axis = subplots(figsize=(5.2, 5.6))
    mean, low, high = _human_per_category(humans)
    axis.hlines(y, low, high, color=HUMAN, alpha=0.35, linewidth=4, label="humans: range of 10 subjects")
    observers = [
        ("humans (mean)", humans, HUMAN, "D", mean),
        ("ResNet-50", resnet50, RESNET, "o", None),
        (model, trials, MODEL, "s", None),
    ]
    for label, observed, colour, marker, values in observers:
        if values is None:
            per_category = per_category_shape_bias(observed)
            values = np.array([per_category[c] for c in CATEGORIES])
        pooled = count(observed).shape_bias
        axis.scatter(values, y, marker=marker, color=colour, s=38, zorder=3,
                     label=f"{label}: {pooled:.3f} pooled", edgecolor="white", linewidth=0.5)
        if np.isfinite(pooled):  # undefined when no decision was shape or texture
            axis.axvline(pooled, color=colour, linestyle="--", linewidth=1, alpha=0.8)
    axis.set_yticks(y, CATEGORIES)
    axis.set_xlim(-0.02, 1.02)
    axis.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0\ntexture", "0.25", "0.5", "0.75", "1\nshape"])
    axis.set_xlabel("shape bias = shape / (shape + texture) decisions")
    axis.set_title(f"Shape bias per category — {model}", fontsize=10)
    axis.grid(axis="x", alpha=0.3)
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=7.5, frameon=False)
    figure.tight_layout()
    return figure


def decision_breakdown(model: str, trials: Trials, humans: Trials, resnet50: Trials) -> Figure:
    """Stacked bars: shape, texture or neither, as fractions of the conflict trials."""
    observers = [(model, trials), ("ResNet-50", resnet50), ("humans (10 pooled)", humans)]
    figure, axis = subplots(figsize=(5.2, 2.4))
    for row, (label, observed) in enumerate(observers):
        counts = count(observed)
        # the records' own fractions (one denominator, the conflict trials): they sum to 1
        parts = [
            (counts.shape_match, MODEL, "shape"),
            (counts.texture_match, TEXTURE, "texture"),
            (counts.neither, NEITHER, "neither"),
        ]
        left = 0.0
        for value, colour, name in parts:
            axis.barh(row, value, left=left, color=colour, edgecolor="white",
                      label=name if row == 0 else None)
            if value > 0.06:
                axis.text(left + value / 2, row, f"{value:.2f}", ha="center", va="center",
                          fontsize=7.5, color="white" if name != "neither" else "black")
            left += value
    axis.set_yticks(range(len(observers)), [label for label, _ in observers])
    axis.invert_yaxis()
    axis.set_xlim(0, 1)
    axis.set_xlabel("fraction of the cue-conflict trials")
    axis.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
    figure.tight_layout()
    return figure
