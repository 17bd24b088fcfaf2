"""PUG-ImageNet: accuracy along controlled factors of variation (PROTOCOLS.md "PUG-ImageNet";
Bordes et al. 2023; the paper's Sec. "Synthetic data").

Protocol: every image is evaluated with the model's own preprocessing (recorded in the run
header, as the paper used each model's own transform), and a prediction is correct when it is
in the ImageNet index LIST of the image's PUG class (``class_to_imagenet_idx.json``; index 841
is correct for both ``Shirt`` and ``Sweatshirt`` — the official notebook's inverted index scores
every ``Shirt`` image wrong, a flaw we do not reproduce).

Records (95 % bootstrap CIs over images):
- ``top1`` per subset (condition = subset, e.g. ``Camera_Yaw``) and per factor value
  (condition = ``subset/value``, e.g. ``Camera_Yaw/45``), the value read from
  ``labels_pug_imagenet.csv``;
- ``top1`` over all images (condition ``none``) and ``mean_subset_top1``, the unweighted mean
  over the subsets present (condition ``none``).
For the Hugging Face copy, which has no subset column, subsets are reconstructed from the
factor values (see ``auditkit.data.pug``): the rows at every factor's default count as the
default point of every subset, as the released subset folders each hold their default render.
"""

from __future__ import annotations

import numpy as np

from auditkit.data.pug import DEFAULT_GROUP, SUBSET_FACTORS
from auditkit.data.source import DatasetSource
from auditkit.records import MetricRecord, Notice, Skipped
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
        correct = correct_in_label_set(predicted, source).astype(float)
        members = subset_members(source)

        def record(condition: str, metric: str, value: float, low: float, high: float, n: int) -> None:
            output.records.append(MetricRecord(model, self.name, DATASET, condition, metric, value,
                                               low, high, n, self.version))

        def top1(condition: str, index: np.ndarray) -> float:
            low, high = bootstrap_intervals(lambda i: correct[index[i]].mean(), len(index), seed=seed)
            value = float(correct[index].mean())
            record(condition, "top1", value, float(low[0]), float(high[0]), len(index))
            return value

        top1("none", np.arange(len(correct)))
        if members:
            groups = [rows for rows, _ in members.values()]
            mean = float(np.mean([correct[rows].mean() for rows in groups]))
            low, high = mean_over_groups_interval(correct, groups, seed)
            record("none", "mean_subset_top1", mean, low, high, sum(len(rows) for rows in groups))

        per_subset: dict[str, float] = {}
        curves: dict[str, list[tuple[str, float]]] = {}
        without_value = 0
        for subset, (rows, values) in members.items():
            per_subset[subset] = top1(subset, rows)
            known = [v for v in values if v]
            without_value += len(values) - len(known)
            for value in value_order(set(known)):
                index = rows[np.array([v == value for v in values])]
                curves.setdefault(subset, []).append((value, top1(f"{subset}/{value}", index)))

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

        output.per_sample[(DATASET, "none")] = {"correct": correct.astype(bool), "predicted": predicted}
        if per_subset:
            output.figures.append(SuiteFigure(DATASET, "subsets", subset_bars(model, per_subset),
                                              "Top-1 per PUG-ImageNet subset (one factor varied in each)."))
        if curves:
            output.figures.append(SuiteFigure(DATASET, "factors", factor_curves(model, curves),
                                              "Top-1 along each factor of variation."))
        return output
