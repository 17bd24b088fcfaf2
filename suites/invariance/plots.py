"""Invariance plots: one function per figure, each returns a matplotlib Figure."""

from __future__ import annotations

from matplotlib.figure import Figure

from auditkit.plotstyle import subplots

BLUE = "#0072B2"
LABELS = {"scale": "scale factor", "shift": "shift (pixels)", "resolution": "input resolution (px)"}


def invariance_curves(model: str, curves: dict[str, list[tuple[float, float]]]) -> Figure:
    figure, axes = subplots(1, len(curves), figsize=(2.6 * len(curves), 2.8), sharey=True, squeeze=False)
    for axis, (name, points) in zip(axes[0], curves.items()):
        x, y = zip(*sorted(points))
        axis.plot(x, [100 * v for v in y], marker="o", color=BLUE)
        axis.set_xlabel(LABELS.get(name, name))
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("top-1 (%)")
    highest = max(100 * v for points in curves.values() for _, v in points)
    axes[0][0].set_ylim(0, min(100, max(5.0, highest * 1.15)))
    figure.suptitle(f"Invariance — {model}", fontsize=10)
    figure.tight_layout()
    return figure
