"""Many models at once: the field section of `audit compare` (issue: "Many models against the field").

Built from the comparison's headline records (``report.headline.is_headline``: the plain input over all
samples, ImageNet-C's mean over its corruptions) only, so audited runs and
reference rows (published results without per-sample data) enter alike:
- a property table, models x properties ("suite / dataset / metric");
- correlations between every two properties over the models having both (Spearman and Kendall,
  bootstrap CIs over models, permutation p-values: ``auditkit.field.analysis``);
- each property against ImageNet val top-1 with its least-squares line and each model's residual
  ("what accuracy does not predict");
- ranks per property, mean rank and signed z-scores (Battle of the Backbones' aggregation);
- accuracy on the line against the robustness testbed for every shift the runs measured;
- a leaderboard CSV, one row per model.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from auditkit.field.analysis import (AccuracyFit, Correlation, PropertyTable, RankSummary, against_accuracy,
                                     aggregate_ranks, correlations)
from auditkit.report.headline import is_headline
from auditkit.records import MetricRecord

# where a model's ImageNet val top-1 is found, in order of preference
ACCURACY_KEYS = (("robustness", "imagenet-val", "top1"), ("calibration", "imagenet-val", "top1"),
                 ("imagenet_x", "imagenet-val", "accuracy"))
ACCURACY = "ImageNet val top-1"
MIN_MODELS = 3  # fewer models than this give no correlation worth showing
# counts and bookkeeping records are not properties of a model
NOT_PROPERTIES = {"annotated_images", "unlabelled", "images", "samples", "shape_hits", "texture_hits"}


@dataclass
class FieldSection:
    table: PropertyTable
    labels: dict[str, str]  # property key -> words for titles and tables
    correlations: list[Correlation]
    fits: list[AccuracyFit]
    ranks: RankSummary
    references: set[str] = field(default_factory=set)  # models that are published rows
    figures: list[tuple[str, Any, str]] = field(default_factory=list)  # (name, Figure, caption)

    def leaderboard(self, path: Path) -> Path:
        """One row per model: every property's value, its mean rank and mean z-score, and its
        residual from each property's line against val top-1 ("residual: <property>")."""
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["model", "kind", *self.table.properties, "mean_rank", "mean_z",
                             *(f"residual: {fit.prop}" for fit in self.fits)])
            for i, model in enumerate(self.table.models):
                values = ["" if not math.isfinite(v) else f"{v:.6g}" for v in self.table.values[i]]
                rank, z = self.ranks.mean_rank[i], self.ranks.mean_z[i]
                residuals = [f"{fit.residuals[model]:.6g}" if model in fit.residuals else "" for fit in self.fits]
                writer.writerow([model, "published" if model in self.references else "audited", *values,
                                 "" if not math.isfinite(rank) else f"{rank:.3f}",
                                 "" if not math.isfinite(z) else f"{z:.3f}", *residuals])
        return path


def property_key(record: MetricRecord) -> str:
    return f"{record.suite} / {record.dataset} / {record.metric}"


def property_table(models: list[str], records: list[MetricRecord], better: dict[str, dict[str, str]],
                   minimum: int = 2) -> tuple[PropertyTable, dict[str, str]]:
    """Headline records as a models x properties table; ImageNet val top-1 (from whichever suite
    has it) is the first column, ``ACCURACY``; properties fewer than ``minimum`` models have are left out."""
    from auditkit.compare.plots import dataset_words, metric_words, plotted

    accuracy_keys = {f"{s} / {d} / {m}" for s, d, m in ACCURACY_KEYS}
    kept = set(map(id, plotted(records, better)))  # estimates and scores with a direction; counts stay in the tables
    records = [r for r in records if id(r) in kept or property_key(r) in accuracy_keys]
    cells: dict[str, dict[str, float]] = {}
    labels: dict[str, str] = {ACCURACY: ACCURACY}
    directions: dict[str, str] = {ACCURACY: "higher"}
    for record in records:
        if not is_headline(record) or record.metric in NOT_PROPERTIES or record.value is None:
            continue
        key = property_key(record)
        cells.setdefault(key, {})[record.model] = float(record.value)
        labels[key] = f"{dataset_words(record.dataset)}: {metric_words(record.suite, record.metric)}"
        directions[key] = better.get(record.suite, {}).get(record.metric) or ""
    accuracy: dict[str, float] = {}
    for suite, dataset, metric in reversed(ACCURACY_KEYS):  # the preferred source written last
        accuracy.update(cells.get(f"{suite} / {dataset} / {metric}", {}))
    columns = [ACCURACY] + [k for k in cells if k not in {f"{s} / {d} / {m}" for s, d, m in ACCURACY_KEYS}
                            and len(cells[k]) >= minimum]
    cells[ACCURACY] = accuracy
    values = np.array([[cells[c].get(m, np.nan) for c in columns] for m in models], dtype=float)
    return PropertyTable(tuple(models), tuple(columns), values, tuple(directions.get(c, "") for c in columns)), labels


def field_section(models: list[str], records: list[MetricRecord], better: dict[str, dict[str, str]],
                  references: set[str], seed: int = 0, exclude: set[str] = frozenset()) -> FieldSection | None:
    """The section, or None when fewer than ``MIN_MODELS`` models share any two properties.
    ``exclude``: models drawn as the background of accuracy on the line, not as compared points
    (the testbed's own rows)."""
    from auditkit.compare.field_plots import accuracy_scatter, correlation_heatmap, field_lines

    table, labels = property_table(models, records, better)
    shared = [p for p in table.properties if np.isfinite(table.column(p)).sum() >= MIN_MODELS]
    if len(shared) < 2:
        return None
    found = [c for c in correlations(table, seed=seed) if c.n >= MIN_MODELS]
    fits = against_accuracy(table, ACCURACY)
    section = FieldSection(table, labels, found, fits, aggregate_ranks(table), set(references))
    heatmap = correlation_heatmap(table, labels, found)
    if heatmap is not None:
        section.figures.append(("correlations", heatmap,
                                "Spearman's rank correlation between every two properties across the models having "
                                "both (number of models in brackets; * permutation p < 0.05)."))
    scatter = accuracy_scatter(table, labels, fits, references)
    if scatter is not None:
        section.figures.append(("against_accuracy", scatter,
                                "Each property against ImageNet val top-1 across models, with the least-squares line: "
                                "the distance from the line is what accuracy does not predict."))
    for dataset, figure in field_lines(records, models, exclude):
        section.figures.append((f"accuracy_on_the_line_{dataset}", figure,
                                f"{dataset}: the compared models on the robustness testbed's field and baseline."))
    return section
