"""ImageNet-X plots: one function per figure, each returns a matplotlib Figure."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from auditkit.plotstyle import COLOURS, subplots

BLUE, VERMILION = COLOURS[0], COLOURS[3]


def error_ratio_plot(model: str, factors: tuple[str, ...], ratios: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Figure:
    """Bars per factor with 95 % CIs; the line at 1 marks 'as often wrong as on average'."""
    values, low, high = ratios
    figure, axis = subplots(figsize=(6.8, 3.4))
    x = np.arange(len(factors))
    colours = [VERMILION if v > 1 else BLUE for v in values]
    axis.bar(x, values, color=colours, width=0.7)
    axis.errorbar(x, values, yerr=[values - low, high - values], fmt="none", ecolor="black",
                  elinewidth=0.8, capsize=2)
    axis.axhline(1.0, color="black", linestyle="--", linewidth=1)
    present = np.isfinite(values)  # a factor without images on a partial val set: no bar, "absent"
    axis.set_xticks(x, [f.replace("_", " ") + ("" if ok else " (absent)") for f, ok in zip(factors, present)],
                    rotation=55, ha="right", fontsize=8)
    axis.set_ylabel("error ratio (1 - acc$_f$) / (1 - acc)")
    axis.set_title(f"ImageNet-X error ratios — {model}  (mean of {int(present.sum())}: "
                   f"{np.mean(values[present]):.2f})", fontsize=10)
    axis.set_ylim(0, max(2.0, float(np.nanmax(high)) * 1.08))
    axis.grid(axis="y", alpha=0.3)
    figure.tight_layout()
    return figure
