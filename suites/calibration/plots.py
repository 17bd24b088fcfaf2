"""Calibration plots: one function per figure, each returns a matplotlib Figure."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from suites.calibration.metrics import NUM_BINS, bin_edges, bin_stats, expected_calibration_error
from auditkit.plotstyle import subplots

# Okabe-Ito: colour-blind-safe.
BLUE, ORANGE, GREY = "#0072B2", "#E69F00", "#999999"


def reliability_diagram(confidence: np.ndarray, correct: np.ndarray, title: str) -> Figure:
    edges = bin_edges(NUM_BINS)
    stats = bin_stats(confidence, correct)
    mean_conf, accuracy, filled = stats.mean_confidence, stats.accuracy, stats.filled
    width = edges[1] - edges[0]
    figure, axis = subplots(figsize=(4.6, 4.2))
    axis.bar(edges[:-1][filled], accuracy[filled], width=width, align="edge", color=BLUE,
             edgecolor="white", label="accuracy")
    low = np.minimum(accuracy, mean_conf)[filled]
    gap = np.abs(accuracy - mean_conf)[filled]
    axis.bar(edges[:-1][filled], gap, bottom=low, width=width, align="edge", color=ORANGE,
             alpha=0.45, hatch="//", edgecolor=ORANGE, label="gap to mean confidence")
    axis.plot([0, 1], [0, 1], linestyle="--", color=GREY, linewidth=1, label="perfect calibration")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_xlabel("confidence (max softmax probability)")
    axis.set_ylabel("accuracy")
    ece = expected_calibration_error(confidence, correct)
    axis.set_title(f"{title}\nECE = {ece:.3f} ({NUM_BINS} bins, n = {len(confidence)})", fontsize=10)
    axis.legend(loc="best", fontsize=8, frameon=False)
    figure.tight_layout()
    return figure


def confidence_histogram(confidence: np.ndarray, correct: np.ndarray, title: str) -> Figure:
    edges = bin_edges(NUM_BINS)
    figure, axis = subplots(figsize=(4.6, 3.2))
    axis.hist([confidence[correct], confidence[~correct]], bins=edges, stacked=True,
              color=[BLUE, ORANGE], label=["correct", "wrong"], edgecolor="white")
    axis.axvline(confidence.mean(), color="black", linestyle="--", linewidth=1,
                 label=f"mean confidence {confidence.mean():.3f}")
    axis.axvline(correct.mean(), color=GREY, linestyle=":", linewidth=1.5,
                 label=f"accuracy {correct.mean():.3f}")
    axis.set_xlim(0, 1)
    axis.set_xlabel("confidence (max softmax probability)")
    axis.set_ylabel("images")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8, frameon=False, loc="upper left")
    figure.tight_layout()
    return figure


def reliability_overlay(models: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> Figure:
    """Several models' reliability curves on one axis (accuracy vs mean confidence per bin)."""
    from auditkit.plotstyle import model_style

    figure, axis = subplots(figsize=(4.6, 4.2))
    axis.plot([0, 1], [0, 1], linestyle="--", color=GREY, linewidth=1, label="perfect calibration")
    for index, (model, (confidence, correct)) in enumerate(models.items()):
        stats = bin_stats(confidence, correct)
        mean_conf, accuracy, filled = stats.mean_confidence, stats.accuracy, stats.filled
        ece = expected_calibration_error(confidence, correct)
        axis.plot(mean_conf[filled], accuracy[filled], **model_style(index), linewidth=1.4,
                  label=f"{model} (ECE {ece:.3f})")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_xlabel("mean confidence in bin")
    axis.set_ylabel("accuracy in bin")
    axis.set_title(f"Reliability — {title}", fontsize=10)
    axis.legend(loc="upper left", fontsize=7, frameon=False)
    figure.tight_layout()
    return figure
