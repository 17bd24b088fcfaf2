"""OOD detection plots: one function per figure, each returns a matplotlib Figure."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from auditkit.plotstyle import subplots
from suites.ood.metrics import RankedScores, detection_metrics

# Okabe-Ito: colour-blind-safe.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442")


def score_histogram(id_scores: np.ndarray, ood_scores: np.ndarray, method: str, title: str) -> Figure:
    """Densities of one score on the ID test images and on one OOD set's images."""
    figure, axis = subplots(figsize=(5.0, 3.6))
    edges = np.histogram_bin_edges(np.r_[id_scores, ood_scores], bins=40)
    axis.hist(id_scores, bins=edges, density=True, alpha=0.6, color=PALETTE[0], label=f"ID (n = {len(id_scores)})")
    axis.hist(ood_scores, bins=edges, density=True, alpha=0.6, color=PALETTE[1], label=f"OOD (n = {len(ood_scores)})")
    axis.set_xlabel(f"{method} score (higher = more in-distribution)")
    axis.set_ylabel("density")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8, frameon=False)
    figure.tight_layout()
    return figure


def roc_curves(sets: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> Figure:
    """ROC per OOD set (OOD positive): share of OOD flagged against share of ID flagged."""
    figure, axis = subplots(figsize=(4.6, 4.2))
    for index, (name, (id_scores, ood_scores)) in enumerate(sets.items()):
        ranked = RankedScores.of(np.r_[id_scores, ood_scores],
                                 np.r_[np.zeros(len(id_scores), bool), np.ones(len(ood_scores), bool)])
        ood, in_dist = ranked.counts(None)
        auroc = detection_metrics(ranked)["auroc"]
        axis.plot(np.r_[0, in_dist / in_dist[-1]], np.r_[0, ood / ood[-1]], color=PALETTE[index % len(PALETTE)],
                  label=f"{name} (AUROC {auroc:.3f})")
    axis.plot([0, 1], [0, 1], linestyle="--", color="#999999", linewidth=1, label="chance")
    axis.axhline(0.95, color="#999999", linewidth=0.8, linestyle=":", label="95 % of OOD flagged (FPR@95)")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_xlabel("ID images flagged as OOD (FPR)")
    axis.set_ylabel("OOD images flagged (TPR)")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8, frameon=False, loc="lower right")
    figure.tight_layout()
    return figure
