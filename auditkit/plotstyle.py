"""The figure style every auditkit plot shares: one colour, marker and dash per model
(colour-blind-safe, apart in grey print too) and datasets named as a reader writes them.
Suites' plots, comparisons and exports import it from here (it imports nothing of auditkit),
and make their figures with its ``subplots``."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

# Okabe-Ito, colour-blind-safe; markers, dashes and hatches keep models apart in grey print too.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
DASHES = ("-", "--", "-.", ":")
HATCHES = ("", "//", "..", "xx", "\\\\", "--", "++", "oo")

# Dataset names as a reader writes them, for figure titles and axes (identifiers stay in tables).
DATASET_WORDS = {
    "imagenet-val": "ImageNet val", "imagenet-v2": "ImageNet-V2", "imagenet-a": "ImageNet-A",
    "imagenet-r": "ImageNet-R", "imagenet-sketch": "ImageNet-Sketch", "imagenet-hard": "ImageNet-Hard",
    "imagenet-c": "ImageNet-C", "imagenet-real": "ImageNet ReaL", "pug-imagenet": "PUG-ImageNet",
    "cue-conflict": "cue-conflict", "digits": "digits", "transfer": "transfer task", "vtab-1k": "VTAB-1k",
    "roxford5k": "ROxford5k", "rparis6k": "RParis6k", "all datasets": "all datasets",
}


def dataset_words(name: str) -> str:
    return DATASET_WORDS.get(name, name.replace("_", " "))


def model_style(index: int) -> dict[str, str]:
    return {"color": COLOURS[index % len(COLOURS)], "marker": MARKERS[index % len(MARKERS)],
            "linestyle": DASHES[index % len(DASHES)]}


def bar_style(index: int) -> dict[str, str]:
    return {"color": COLOURS[index % len(COLOURS)], "hatch": HATCHES[index % len(HATCHES)],
            "edgecolor": "white" if not HATCHES[index % len(HATCHES)] else "#333333"}


# Figure() keywords of pyplot.subplots; the others go to Figure.subplots (sharey, squeeze, ...).
FIGURE_KEYWORDS = ("figsize", "dpi", "layout", "facecolor")


def subplots(nrows: int = 1, ncols: int = 1, **keywords: Any) -> tuple[Figure, Any]:
    """``pyplot.subplots`` without pyplot: a bare ``Figure`` that no global figure manager
    holds. It draws on whatever canvas ``savefig`` picks for the format, so no backend is chosen
    (no ``matplotlib.use`` per module), a headless run never needs a display, and a figure is
    freed with its last reference instead of waiting for ``pyplot.close``."""
    figure = Figure(**{k: keywords.pop(k) for k in FIGURE_KEYWORDS if k in keywords})
    return figure, figure.subplots(nrows, ncols, **keywords)
