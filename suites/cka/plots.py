"""CKA heat maps: one function per figure, each returns a matplotlib Figure."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from auditkit.plotstyle import subplots


def cka_heat_map(
    matrices: dict[str, np.ndarray], rows: list[str], columns: list[str], row_label: str, column_label: str,
    dataset: str,
) -> Figure:
    """One panel per kernel: rows and columns are representations (layers of a model, or models).
    Row names are written once, on the left panel, so long model names never overlap a panel."""
    cell = 0.42
    label_width = 0.065 * max(len(r) for r in rows) + 0.6
    panel = max(2.2, cell * len(columns))
    width = label_width + len(matrices) * (panel + 1.0)
    height = max(2.6, cell * len(rows)) + 0.065 * max(len(c) for c in columns) + 1.0
    figure, axes = subplots(1, len(matrices), figsize=(width, height), squeeze=False, sharey=True,
                            layout="constrained")
    for k, (axis, (kernel, matrix)) in enumerate(zip(axes[0], matrices.items())):
        image = axis.imshow(matrix, vmin=0, vmax=1, cmap="viridis", origin="lower", aspect="auto")
        if len(rows) * len(columns) <= 196:
            for i in range(len(rows)):
                for j in range(len(columns)):
                    value = matrix[i, j]
                    axis.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6,
                              color="black" if value > 0.6 else "white")
        axis.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=7)
        axis.set_yticks(range(len(rows)), rows, fontsize=7)
        axis.tick_params(axis="y", labelleft=k == 0)
        axis.set_xlabel(column_label)
        if k == 0:
            axis.set_ylabel(row_label)
        axis.set_title(f"{kernel if kernel == 'linear' else kernel.upper()} CKA on {dataset}", fontsize=10)
        figure.colorbar(image, ax=axis, fraction=0.046, pad=0.04, label="CKA")
    return figure
