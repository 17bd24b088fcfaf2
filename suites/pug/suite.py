"""PUG-ImageNet: accuracy along controlled factors of variation (docs/protocols.md "PUG-ImageNet";
Bordes et al. 2023; the paper's Sec. "Synthetic data").

Protocol: every image is evaluated with the model's own preprocessing (recorded in the run
header, as the paper used each model's own transform), and a prediction is correct when it is
in the ImageNet index LIST of the image's PUG class (``class_to_imagenet_idx.json``; index 841
is correct for both ``Shirt`` and ``Sweatshirt`` — the official notebook's inverted index scores
every ``Shirt`` image wrong, a flaw we do not reproduce).

Records (all at condition ``none``, the model's own preprocessing; 95 % bootstrap CIs over images):
- ``top1`` per subset (``subset`` = the PUG subset, e.g. ``Camera_Yaw``) and per factor value
  (``subset`` = ``<subset>/<value>``, e.g. ``Camera_Yaw/45``), the value read from
  ``labels_pug_imagenet.csv``;
- ``top1`` over all images (subset ``all``) and ``mean_subset_top1``, the unweighted mean over the
  subsets present (subset ``all``, stratified bootstrap CI).
Per-sample arrays (one file, ``pug-imagenet`` / ``none``): ``correct``, ``predicted`` and, per
subset S, ``in:<S>`` (the image counts in S) and ``value:<S>`` (its factor value there, "" when
unknown); ``group_masks`` and ``pug_metrics`` turn them into the records' values, for ``evaluate``
and ``sample_metrics`` alike.
For the Hugging Face copy, which has no subset column, subsets are reconstructed from the
factor values (see ``auditkit.data.pug``): the rows at every factor's default count as the
default point of every subset, as the released subset folders each hold their default render.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from auditkit.data.pug import DEFAULT_GROUP, SUBSET_FACTORS
from auditkit.data.source import DatasetSource
from auditkit.records import ALL, Notice, Skipped
from auditkit.stats import CI_LEVEL, DEFAULT_RESAMPLES, bootstrap_intervals
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput

DATASET = "pug-imagenet"


def correct_in_label_set(predicted: np.ndarray, source: DatasetSource) -> np.ndarray:
    """True where the predicted ImageNet index is one of the image's class indices."""
    return np.array([int(p) in s.label_set for p, s in zip(predicted, source.samples)], dtype=bool)


def subset_members(source: DatasetSource) -> dict[str, tuple[np.ndarray, list[str]]]:
    """subset -> (row indices, factor value of each row or "" when unknown), in subset order."""
    defaults = source.info.get("defaults", {})
    rows: dict[str, list[int]] = {}
    values: dict[str, list[str]] = {}
    shared_default = [i for i, s in enumerate(source.samples) if s.attribute("subset") == DEFAULT_GROUP]
    for i, sample in enumerate(source.samples):
        subset = sample.attribute("subset")
        if subset in SUBSET_FACTORS:
            rows.setdefault(subset, []).append(i)
            values.setdefault(subset, []).append(sample.attribute("value"))
    members = {}
    for subset in SUBSET_FACTORS:
        if subset not in rows and not shared_default:
            continue
        extra = [defaults.get(SUBSET_FACTORS[subset], "")] * len(shared_default)
        members[subset] = (np.array(rows.get(subset, []) + shared_default, dtype=np.int64),
                           values.get(subset, []) + extra)
    return members


def mean_over_groups_interval(
    correct: np.ndarray, groups: list[np.ndarray], seed: int, resamples: int = DEFAULT_RESAMPLES
) -> tuple[float, float]:
    """95 % bootstrap interval of the unweighted mean of group accuracies, resampling images
    within each group (a stratified bootstrap: every resample keeps each subset's size)."""
    rng = np.random.default_rng(seed)
    values = [np.mean([correct[rows[rng.integers(0, len(rows), len(rows))]].mean() for rows in groups])
              for _ in range(resamples)]
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def value_order(values: set[str]) -> list[str]:
    """Named values (e.g. ``Default``, world names) alphabetically, then numbers in numeric order."""

    def number(value: str) -> float | None:
        try:
            return float(value)
        except ValueError:
            return None

    named = sorted(v for v in values if number(v) is None)
    return named + sorted((v for v in values if number(v) is not None), key=float)


def group_samples(source: DatasetSource) -> dict[str, np.ndarray]:
    """Per-image membership arrays: ``in:<S>`` (bool) and ``value:<S>`` (str) for every subset S
    present (``subset_members``: shared default renders count in every subset)."""
    arrays: dict[str, np.ndarray] = {}
    for subset, (rows, values) in subset_members(source).items():
        member = np.zeros(len(source), dtype=bool)
        member[rows] = True
        value = np.full(len(source), "", dtype=object)
        value[rows] = values
        arrays[f"in:{subset}"] = member
        arrays[f"value:{subset}"] = value.astype(str)
    return arrays


def group_masks(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """subset of a record -> its images (bool mask): ``all``, then each subset followed by its
    factor values (``value_order``), subsets in ``SUBSET_FACTORS`` order."""
    masks = {ALL: np.ones(len(arrays["correct"]), dtype=bool)}
    for subset in SUBSET_FACTORS:
        if f"in:{subset}" not in arrays or not arrays[f"in:{subset}"].any():
            continue
        member = np.asarray(arrays[f"in:{subset}"], dtype=bool)
        values = np.asarray(arrays[f"value:{subset}"]).astype(str)
        masks[subset] = member
        for value in value_order(set(values[member]) - {""}):
            masks[f"{subset}/{value}"] = member & (values == value)
    return masks


def subsets_of(masks: Mapping[str, np.ndarray]) -> list[str]:
    """The PUG subsets among ``group_masks`` (not ``all``, not the per-value groups)."""
    return [group for group in masks if group in SUBSET_FACTORS]


def pug_metrics(arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
    """Every record's value from the per-image arrays: (subset, metric) -> value."""
    correct = np.asarray(arrays["correct"], dtype=bool)
    masks = group_masks(arrays)
    metrics = {(group, "top1"): float(correct[mask].mean()) for group, mask in masks.items()}
    subsets = subsets_of(masks)
    if subsets:
        metrics[(ALL, "mean_subset_top1")] = float(np.mean([metrics[(s, "top1")] for s in subsets]))
    return metrics


class PugSuite(Suite):
    name = "pug"
    version = "0.1"
    description = "PUG-ImageNet top-1 per factor subset and per factor value (label-set scoring)"
    datasets = (DATASET,)
    title = "PUG-ImageNet"
    metrics = {
        "top1": Metric("top-1 accuracy", "share of images whose top-1 class is in the PUG class's ImageNet index "
                       "list (higher is better)", True),
        "mean_subset_top1": Metric("mean subset top-1", "unweighted mean of the subsets' top-1 (higher is better)", True),
    }
    better = {"top1": "higher", "mean_subset_top1": "higher"}
    # label-set scoring needs only the top-1 class: imported predictions are scored too
    accepts = ("logits", "top1")

    def sample_hits(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
        correct = np.asarray(arrays["correct"], dtype=bool)
        return {(group, "top1"): correct[mask] for group, mask in group_masks(arrays).items()}

    def sample_metrics(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        return pug_metrics(arrays)

    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        from suites.pug.plots import factor_curves, subset_bars

        output = SuiteOutput()
        prediction = predictions.get(PredictionRequest(DATASET))
        if prediction is None:
            return output
        source = prediction.source
        predicted = prediction.predicted_class
        correct = correct_in_label_set(predicted, source)
        arrays = {"correct": correct, "predicted": predicted, **group_samples(source)}
        values = pug_metrics(arrays)
        masks = group_masks(arrays)
        for group, mask in masks.items():
            index = np.flatnonzero(mask)
            low, high = bootstrap_intervals(lambda i: correct[index[i]].mean(), len(index), seed=seed)
            output.records.append(self.record(model, dataset=DATASET, subset=group, metric="top1",
                                              value=values[(group, "top1")], ci=(low[0], high[0]), n=len(index)))
        subsets = subsets_of(masks)
        if subsets:
            groups = [np.flatnonzero(masks[s]) for s in subsets]
            ci = mean_over_groups_interval(correct.astype(float), groups, seed)
            output.records.append(self.record(model, dataset=DATASET, subset=ALL, metric="mean_subset_top1",
                                              value=values[(ALL, "mean_subset_top1")], ci=ci,
                                              n=sum(len(rows) for rows in groups)))

        per_subset = {s: values[(s, "top1")] for s in subsets}
        curves: dict[str, list[tuple[str, float]]] = {}
        for group in masks:
            subset, _, value = group.partition("/")
            if value:
                curves.setdefault(subset, []).append((value, values[(group, "top1")]))
        without_value = sum(int(np.sum(arrays[f"in:{s}"] & (arrays[f"value:{s}"] == ""))) for s in subsets)

        if not curves:
            output.skipped.append(Skipped(self.name, DATASET, "per-value accuracy needs each image's factor "
                                          f"value: {source.info.get('factor_values', 'none matched')}; put the "
                                          "released labels_pug_imagenet.csv in the dataset folder"))
        elif without_value:
            output.notices.append(Notice(self.name, DATASET, f"{without_value} images have no factor value "
                                         "(no matching labels_pug_imagenet.csv row): per-value curves omit them"))
        if source.info.get("subsets", "").startswith("reconstructed"):
            output.notices.append(Notice(self.name, DATASET, "Hugging Face copy: subsets reconstructed from "
                                         f"the factor values ({source.info['rows_unassigned']} rows differ in "
                                         "two or more factors and belong to no subset)"))
        absent = source.info.get("subsets_absent") or []
        if absent:
            output.notices.append(Notice(self.name, DATASET, f"subsets absent: {', '.join(absent)}"))

        output.add_samples(prediction, arrays, dataset=DATASET, condition=prediction.condition)
        if per_subset:
            output.figures.append(SuiteFigure(DATASET, "subsets", subset_bars(model, per_subset),
                                              "Top-1 per PUG-ImageNet subset (one factor varied in each)."))
        if curves:
            output.figures.append(SuiteFigure(DATASET, "factors", factor_curves(model, curves),
                                              "Top-1 along each factor of variation."))
        return output
