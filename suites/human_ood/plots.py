"""model-vs-human summary figures: one function per figure, each returns a matplotlib Figure."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from suites.human_ood.metrics import (
    BENCHMARK, DatasetScores, DecisionTable, reference_scores, reference_table,
)
from suites.shape_bias.metrics import Trials, count
from auditkit.plotstyle import subplots

# Okabe-Ito, colour-blind-safe (as the shape-bias plots).
MODEL, HUMAN, RESNET = "#0072B2", "#D55E00", "#7F7F7F"
ORDER = [d.name for d in BENCHMARK]


def _grid(count_: int) -> tuple[Figure, np.ndarray]:
    columns = min(4, count_)
    rows = int(np.ceil(count_ / columns))
    figure, axes = subplots(rows, columns, figsize=(3.0 * columns, 2.6 * rows), squeeze=False)
    for axis in axes.flat[count_:]:
        axis.set_visible(False)
    return figure, axes


def _curves(model: str, scored: dict[str, DatasetScores], metric: str, ylabel: str,
            chance: float | None, ylim: tuple[float, float]) -> Figure:
    names = [n for n in ORDER if n in scored]
    figure, axes = _grid(len(names))
    for axis, name in zip(axes.flat, names):
        scores, reference = scored[name], reference_scores(name)
        dataset = scores.dataset
        x = np.arange(len(dataset.conditions))
        human_metric = "human_accuracy" if metric == "accuracy" else f"human_{metric}"
        human = [reference.conditions[c].human[human_metric] for c in dataset.conditions]
        if metric == "accuracy":
            low = [reference.conditions[c].human["human_accuracy_min"] for c in dataset.conditions]
            high = [reference.conditions[c].human["human_accuracy_max"] for c in dataset.conditions]
            axis.fill_between(x, low, high, color=HUMAN, alpha=0.2, linewidth=0)
        axis.plot(x, human, "D-", color=HUMAN, markersize=4, label="humans")
        axis.plot(x, [reference.conditions[c].values.get(metric, np.nan) for c in dataset.conditions],
                  "o-", color=RESNET, markersize=4, label="ResNet-50 (published)")
        mine = [scores.conditions[c].values.get(metric, np.nan) if c in scores.conditions else np.nan
                for c in dataset.conditions]
        axis.plot(x, mine, "s-", color=MODEL, markersize=4, label=model)
        for position, condition in enumerate(dataset.conditions):  # greyed: not in the benchmark means
            if condition in dataset.excluded:
                axis.axvspan(position - 0.5, position + 0.5, color="#000000", alpha=0.05, linewidth=0)
        if chance is not None:
            axis.axhline(chance, color="grey", linestyle=":", linewidth=1)
        axis.set_xticks(x, dataset.labels, fontsize=7, rotation=45 if len(x) > 4 else 0)
        axis.set_xlim(-0.5, len(x) - 0.5)
        axis.set_ylim(*ylim)
        axis.set_title(name, fontsize=9)
        axis.set_xlabel(dataset.xlabel, fontsize=7.5)
        axis.set_ylabel(ylabel, fontsize=7.5)
        axis.tick_params(labelsize=7)
        axis.grid(axis="y", alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False,
                  bbox_to_anchor=(0.5, 0.0))
    figure.suptitle(f"{ylabel} — {model} (shaded columns: outside model-vs-human's benchmark)", fontsize=10)
    figure.tight_layout(rect=(0, 0.05, 1, 0.97))
    return figure


def accuracy_vs_condition(model: str, scored: dict[str, DatasetScores]) -> Figure:
    """16-class accuracy against each distortion's level, humans as mean and min-max band."""
    return _curves(model, scored, "accuracy", "16-class accuracy", 1 / 16, (0, 1.02))


def error_consistency_vs_condition(model: str, scored: dict[str, DatasetScores]) -> Figure:
    """Error consistency (kappa) with the humans against each distortion's level."""
    return _curves(model, scored, "error_consistency", "error consistency (kappa)", 0.0, (-0.2, 1.0))


def consistency_per_dataset(model: str, scored: dict[str, DatasetScores]) -> Figure:
    """Per dataset, three panels: accuracy, observed consistency, error consistency; model,
    published ResNet-50 and the human ceiling (mean over subjects / subject pairs)."""
    names = [n for n in ORDER if n in scored]
    y = np.arange(len(names))[::-1]
    panels = [("accuracy", "human_accuracy", "16-class accuracy"),
              ("observed_consistency", "human_observed_consistency", "observed consistency"),
              ("error_consistency", "human_error_consistency", "error consistency (kappa)")]
    figure, axes = subplots(1, 3, figsize=(10.5, 0.32 * len(names) + 1.6), sharey=True)
    height = 0.38
    for axis, (metric, human_metric, label) in zip(axes, panels):
        mine = [scored[n].benchmark.values.get(metric, np.nan) for n in names]
        resnet = [reference_scores(n).benchmark.values.get(metric, np.nan) for n in names]
        human = [reference_scores(n).benchmark.human[human_metric] for n in names]
        axis.barh(y + height / 2, mine, height, color=MODEL, label=model)
        axis.barh(y - height / 2, resnet, height, color=RESNET, label="ResNet-50 (published)")
        axis.scatter(human, y, marker="D", color=HUMAN, zorder=3, s=22, label="humans")
        axis.set_xlabel(label)
        axis.set_xlim(min(-0.05, np.nanmin([*mine, *resnet, *human]) - 0.05), 1)
        axis.axvline(0, color="black", linewidth=0.6)
        axis.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, names, fontsize=8)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    figure.suptitle(f"model-vs-human benchmark conditions per dataset — {model}", fontsize=10)
    figure.tight_layout(rect=(0, 0.06, 1, 0.96))
    return figure


def _shape_bias(table: DecisionTable) -> float:
    # cue-conflict image ids are the released names <shape><i>-<texture><j>.png
    return count(Trials.from_ids(table.image, table.decision)).shape_bias


def shape_bias_vs_accuracy(model: str, scored: dict[str, DatasetScores], cue_conflict: DecisionTable) -> Figure:
    """Shape bias (cue-conflict, as the shape-bias suite counts it) against OOD accuracy (mean
    over the audited datasets' benchmark conditions); ResNet-50 and humans on the same datasets."""
    names = list(scored)
    points = [
        (model, float(np.mean([scored[n].benchmark.values["accuracy"] for n in names])),
         _shape_bias(cue_conflict), MODEL, "s"),
        ("ResNet-50 (published)", float(np.mean([reference_scores(n).benchmark.values["accuracy"] for n in names])),
         _shape_bias(reference_table("resnet50", "cue-conflict")), RESNET, "o"),
        ("humans", float(np.mean([reference_scores(n).benchmark.human["human_accuracy"] for n in names])),
         _shape_bias(reference_table("humans", "cue-conflict")), HUMAN, "D"),
    ]
    figure, axis = subplots(figsize=(4.6, 4.0))
    for label, x, y, colour, marker in points:
        axis.scatter(x, y, color=colour, marker=marker, s=60, zorder=3, label=f"{label}: {x:.3f}, {y:.3f}",
                     edgecolor="white", linewidth=0.5)
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_xlabel(f"OOD accuracy (mean over {len(names)} dataset{'s' if len(names) > 1 else ''})")
    axis.set_ylabel("shape bias (cue-conflict)")
    axis.set_title(f"Shape bias vs OOD accuracy — {model}", fontsize=10)
    axis.grid(alpha=0.3)
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=7.5, frameon=False)
    figure.tight_layout()
    return figure
