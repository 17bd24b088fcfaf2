"""Dense-probe figures: one function per figure, each returns a ``SuiteFigure``.

Class maps are drawn with a fixed qualitative colour per class (matplotlib's tab20 cycled; the
ignore label black), depth with viridis in metres. Each figure names the model in its title."""

from __future__ import annotations

import io
from typing import Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import ListedColormap

from auditkit.data.dense_targets import IGNORE_INDEX
from auditkit.data.source import DatasetSource
from auditkit.plotstyle import COLOURS, dataset_words, subplots
from auditkit.suite import SuiteFigure
from suites.dense.metrics import DEPTH_RANGE, class_iou

MAX_BARS = 40  # ADE20K's 150 classes: the 20 best and 20 worst of the linear head


def class_colours() -> ListedColormap:
    """256 entries: classes cycle through tab20; index 255 (ignored) is black."""
    colours = np.array([colormaps["tab20"](k % 20) for k in range(256)])
    colours[IGNORE_INDEX] = (0, 0, 0, 1)
    return ListedColormap(colours)


def class_iou_bars(model: str, dataset: str, arrays: Mapping[str, np.ndarray], classes: Sequence[str],
                   heads: Sequence[str]) -> SuiteFigure:
    ious = {head: class_iou(*(arrays[f"{head}_{name}"] for name in ("intersection", "predicted_area", "label_area")))
            for head in heads}
    first = ious[heads[0]]
    order = [k for k in np.argsort(-np.nan_to_num(first, nan=-1.0)) if np.isfinite(first[k])]
    if len(order) > MAX_BARS:
        order = order[: MAX_BARS // 2] + order[-MAX_BARS // 2:]
    figure, axis = subplots(figsize=(6.4, 1.4 + 0.18 * len(order) * max(1, len(heads) / 1.5)))
    height = 0.8 / len(heads)
    for h, head in enumerate(heads):
        positions = np.arange(len(order)) + h * height
        axis.barh(positions, 100 * np.nan_to_num(ious[head][order]), height=height, color=COLOURS[h], label=f"{head} head")
    axis.set_yticks(np.arange(len(order)) + height * (len(heads) - 1) / 2, [classes[k] for k in order], fontsize=7)
    axis.invert_yaxis()
    axis.set_xlim(0, 100)
    axis.set_xlabel("IoU on val (%)")
    shown = "" if len(order) == np.isfinite(first).sum() else f" (best and worst {MAX_BARS // 2})"
    axis.set_title(f"{model}: per-class IoU, {dataset_words(dataset)}{shown}", fontsize=10)
    axis.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside, never on a bar
    figure.tight_layout()
    return SuiteFigure(dataset, "class_iou", figure,
                       "Per-class IoU on the val split, classes sorted by the linear head's IoU; classes in neither "
                       "labels nor predictions are left out, as from the mIoU.")


def _image(source: DatasetSource, row: int) -> np.ndarray:
    from PIL import Image

    sample = source.samples[row]
    data = source.table.read(sample.row) if sample.row >= 0 and source.table else sample.path.read_bytes()
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def examples_figure(model: str, dataset: str, task: str, source: DatasetSource, rows: np.ndarray,
                    truths: Sequence[np.ndarray], answers: Mapping[str, Sequence[np.ndarray]]) -> SuiteFigure:
    """A few val images: the image, the ground truth and each head's prediction side by side."""
    heads = [key.split("/", 1)[1] for key in answers if key.startswith(f"{task}/")]
    columns = 2 + len(heads)
    figure, axes = subplots(len(rows), columns, figsize=(2.0 * columns, 1.7 * len(rows) + 0.4), squeeze=False)
    colours = class_colours()
    deepest = max((float(t[t > 0].max()) for t in truths if task == "depth" and (t > 0).any()), default=DEPTH_RANGE[1])
    for r, (row, truth) in enumerate(zip(rows, truths)):
        panels = [("image", _image(source, int(row))), ("ground truth", truth)]
        panels += [(f"{head} head", answers[f"{task}/{head}"][r]) for head in heads]
        for c, (title, panel) in enumerate(panels):
            axis = axes[r][c]
            if c == 0:
                axis.imshow(panel)
            elif task == "segmentation":
                axis.imshow(panel, cmap=colours, vmin=0, vmax=255, interpolation="nearest")
            else:
                shown = axis.imshow(np.where(panel > 0, panel, np.nan), cmap="viridis", vmin=0, vmax=deepest)
            axis.set_xticks([])
            axis.set_yticks([])
            if r == 0:
                axis.set_title(title, fontsize=8)
        axes[r][0].set_ylabel(source.samples[int(row)].sample_id, fontsize=6)
    if task == "depth":
        figure.colorbar(shown, ax=axes[:, 1:].ravel().tolist(), label="depth (m)", shrink=0.8)
    figure.suptitle(f"{model}: {task}, {dataset_words(dataset)} val", fontsize=10)
    return SuiteFigure(dataset, f"{task}_examples", figure,
                       f"The first {len(rows)} val images with their ground truth and each head's prediction "
                       + ("(class colours fixed; ignored pixels black)." if task == "segmentation"
                          else "(depth in metres; pixels without a measurement blank)."))


def depth_error_profile(model: str, dataset: str, profiles: Mapping[str, tuple[np.ndarray, np.ndarray]],
                        edges: np.ndarray) -> SuiteFigure:
    """RMSE (m) of the val pixels in each 1 m bin of true depth, per head."""
    figure, axis = subplots(figsize=(4.8, 3.4))
    centres = (edges[:-1] + edges[1:]) / 2
    for h, (head, (rmse, counts)) in enumerate(profiles.items()):
        keep = counts > 0
        axis.plot(centres[keep], rmse[keep], marker="o", color=COLOURS[h], label=f"{head} head")
    axis.set_xlabel("true depth (m)")
    axis.set_ylabel("RMSE of its pixels (m)")
    axis.set_xlim(0, edges[-1])
    axis.set_ylim(bottom=0)
    axis.set_title(f"{model}: depth error vs depth, {dataset_words(dataset)}", fontsize=10)
    axis.legend(fontsize=8, frameon=False)
    figure.tight_layout()
    return SuiteFigure(dataset, "depth_error_profile", figure,
                       "Root mean squared error of the val pixels (Eigen crop, valid depth) pooled in 1 m bins of "
                       "true depth, per head.")
