"""ImageNet-X: where does a model fail, by factor of variation? (Idrissi et al., ICLR 2023)

Protocol (PROTOCOLS.md "ImageNet-X"; the paper's Sec. "ImageNet-X"):
- Annotations from the ``imagenet-x`` package: ``top`` factor file (one main factor per image),
  prototypical images filtered out: 46,110 of the 48,868 annotated val images.
- Predictions: top-1 on ImageNet val (the same forward pass as calibration), matched to the
  annotations by the val file name; error type "class" (top-1 == label).
- error_ratio(f) = (1 - acc_f) / (1 - acc), acc over all filtered annotated images present,
  acc_f over those whose factor is f. > 1: the model fails more often on that factor.
- error_ratio_mean: the mean of the 16 ratios. The paper's "Average" bar is not defined in its
  code; we report this mean and say so.
- A partial val set may hold no image of some factor: those factors are absent (a skipped entry
  with the reason and a notice, no record), every other factor is reported, and
  error_ratio_mean is the mean over the factors present, with a notice that it is not the
  16-factor mean.
- The same over the ``multi`` factor file (condition ``multi/<factor>``): an image counts for
  every factor annotated on it.
- accuracy per factor, annotated_images per factor, coverage = images used / 46,110.
95 % bootstrap CIs over images. Cross-checked in tests against the package's own
``compute_factor_accuracies`` / ``error_ratio``. A factor with no image present is reported
absent (skipped with the reason), never as NaN.
Paper (ViT-sup / ConvNeXt-sup / ViT-CLIP / ConvNeXt-CLIP): texture 2.37 / 2.38 / 1.65 / 1.71;
Average 1.45 / 1.43 / 1.19 / 1.24.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

import numpy as np

from auditkit.adapters.observers import PREDICTION_COLUMNS, to_csv
from auditkit.records import MetricRecord, Notice, Skipped
from auditkit.stats import bootstrap_intervals
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput

FILTERED_ANNOTATED = 46_110
FACTOR_FILES = ("top", "multi")


@lru_cache(maxsize=None)
def factors() -> tuple[str, ...]:
    import imagenet_x

    return tuple(imagenet_x.FACTORS)


@dataclass(frozen=True)
class Annotations:
    file_names: np.ndarray  # (m,)
    labels: np.ndarray  # (m,) class index
    factor_matrix: np.ndarray  # (m, 16) bool, columns in ``factors()`` order


@lru_cache(maxsize=None)
def annotations(which_factor: str) -> Annotations:
    """The package's annotations, prototypes filtered (its own loader)."""
    import imagenet_x

    table = imagenet_x.load_annotations(which_factor=which_factor, partition="val", filter_prototypes=True)
    return Annotations(
        file_names=table["file_name"].to_numpy().astype(str),
        labels=table["class"].to_numpy().astype(np.int64),
        factor_matrix=table[list(factors())].to_numpy().astype(bool),
    )


def factor_accuracies(correct: np.ndarray, factor_matrix: np.ndarray) -> tuple[np.ndarray, float]:
    """Accuracy per factor (NaN where no image has it) and overall accuracy."""
    totals = factor_matrix.sum(axis=0)
    hits = factor_matrix[correct].sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return hits / totals, float(correct.mean())


def error_ratios(correct: np.ndarray, factor_matrix: np.ndarray) -> np.ndarray:
    """(1 - acc_f) / (1 - acc) per factor, as ``imagenet_x.error_ratio``."""
    per_factor, overall = factor_accuracies(correct, factor_matrix)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (1 - per_factor) / (1 - overall)


def predictions_csv(file_names: np.ndarray, predicted: np.ndarray, probability: np.ndarray) -> str:
    """The imagenet_x input format, so any live run can be fed to the package as well."""
    rows = ((name, int(c), f"{float(p):.10g}") for name, c, p in zip(file_names, predicted, probability))
    return to_csv(PREDICTION_COLUMNS, rows)


class ImageNetXSuite(Suite):
    name = "imagenet_x"
    version = "1.0"
    description = "ImageNet-X error ratios over 16 factors of variation (top and multi factor)"
    datasets = ("imagenet-val",)
    title = "ImageNet-X"
    metrics = {
        "error_ratio": Metric("error ratio", "(1 - accuracy on the factor's images) / (1 - accuracy on all annotated "
                              "images): above 1 the model fails more often on that factor (lower is better)"),
        "error_ratio_mean": Metric("mean error ratio", "mean of the factors' error ratios (the paper's Average bar; "
                                   "lower is better)"),
        "accuracy": Metric("accuracy", "top-1 accuracy on the annotated images of the factor (all factors: every "
                           "annotated image present)", True),
        "annotated_images": Metric("annotated images", "number of annotated val images present (of the factor)"),
        "coverage": Metric("coverage", "annotated images used / 46,110 (the filtered ImageNet-X val annotations)", True),
    }
    better = {"error_ratio": "lower", "error_ratio_mean": "lower", "accuracy": "higher"}

    def sample_hits(self, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
        """Right/wrong on the annotated images: the mean is the record ``accuracy`` (top file:
        condition none; multi file: condition multi)."""
        return {
            ("none" if which == "top" else "multi", "accuracy"): arrays["correct"][arrays[f"annotated_{which}"]]
            for which in FACTOR_FILES if f"annotated_{which}" in arrays
        }

    def sample_metrics(self, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        """Error ratios per factor, their mean and accuracies, as the records, from per-sample rows."""
        metrics = {key: float(hits.mean()) for key, hits in self.sample_hits(condition, arrays).items()}
        for which in FACTOR_FILES:
            if f"annotated_{which}" not in arrays:
                continue
            annotated = arrays[f"annotated_{which}"]
            correct, matrix = arrays["correct"][annotated], arrays[f"factors_{which}"][annotated]
            prefix = "" if which == "top" else "multi/"
            ratios = error_ratios(correct, matrix)
            per_factor, _ = factor_accuracies(correct, matrix)
            present = matrix.sum(axis=0) > 0  # absent factors have no record
            for k, factor in enumerate(factors()):
                if present[k]:
                    metrics[(f"{prefix}{factor}", "error_ratio")] = float(ratios[k])
                    metrics[(f"{prefix}{factor}", "accuracy")] = float(per_factor[k])
            metrics[("none" if which == "top" else "multi", "error_ratio_mean")] = float(np.mean(ratios[present]))
        return metrics

    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        from suites.imagenet_x.plots import error_ratio_plot

        output = SuiteOutput()
        for request, prediction in predictions.items():
            dataset = request.dataset
            predicted = prediction.predicted_class
            if prediction.logits is not None:
                output.files["imagenet_x_predictions.csv"] = predictions_csv(
                    prediction.sample_ids, predicted, prediction.predicted_probability
                )
            by_name = {name: i for i, name in enumerate(prediction.sample_ids)}
            ratios_for_plot: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
            # per sample, in prediction order: right or wrong, and each file's factor rows (all
            # False where an image is not annotated), so comparisons recompute the ratios
            samples = {"correct": predicted == prediction.labels}
            for which in FACTOR_FILES:
                annotated = annotations(which)
                present = np.array([name in by_name for name in annotated.file_names])
                rows = np.array([by_name[name] for name in annotated.file_names[present]], dtype=np.int64)
                matrix = annotated.factor_matrix[present]
                labels = annotated.labels[present]
                if rows.size and np.any(prediction.labels[rows] != labels):
                    raise ValueError("dataset labels disagree with the ImageNet-X annotations")
                if not present.any():
                    output.skipped.append(Skipped(
                        self.name, dataset,
                        f"ImageNet-X: none of the {len(prediction.sample_ids)} file names is an annotated val "
                        "image (ILSVRC2012_val_00000001.JPEG ...); keep the original val file names",
                    ))
                    break
                empty = [f for f, total in zip(factors(), matrix.sum(axis=0)) if total == 0]
                if empty:
                    output.skipped.append(Skipped(
                        self.name, dataset,
                        f"ImageNet-X ({which} factor): factor(s) {', '.join(empty)} absent, no annotated image "
                        f"with them among the {int(present.sum())} present; give more of ImageNet val (all "
                        "50,000 images cover every factor)",
                    ))
                    output.notices.append(Notice(
                        self.name, dataset,
                        f"ImageNet-X ({which} factor): no image of {', '.join(empty)}; error_ratio_mean is the "
                        f"mean over the {len(factors()) - len(empty)} factors present, not the {len(factors())}-factor "
                        "mean",
                    ))
                correct = predicted[rows] == labels
                samples[f"annotated_{which}"] = np.zeros(len(predicted), dtype=bool)
                samples[f"annotated_{which}"][rows] = True
                samples[f"factors_{which}"] = np.zeros((len(predicted), len(factors())), dtype=bool)
                samples[f"factors_{which}"][rows] = matrix
                ratios = self._records(output, model, dataset, which, correct, matrix, seed)
                ratios_for_plot[which] = ratios
                if which == "top":
                    coverage = present.sum() / FILTERED_ANNOTATED
                    output.records.append(MetricRecord(
                        model, self.name, dataset, "none", "coverage", float(coverage), None, None,
                        int(present.sum()), self.version,
                    ))
                    if coverage < 1:
                        output.notices.append(Notice(
                            self.name, dataset,
                            f"ImageNet-X computed on {int(present.sum())} of {FILTERED_ANNOTATED} annotated "
                            f"val images ({coverage:.1%}): ratios are estimates on a partial set",
                        ))
            if ratios_for_plot:
                output.per_sample[(dataset, request.condition)] = samples
            if "top" in ratios_for_plot:
                output.figures.append(SuiteFigure(
                    dataset, "error_ratios", error_ratio_plot(model, factors(), ratios_for_plot["top"]),
                    "ImageNet-X error ratio per factor (top factor, prototypes filtered), 95 % CI; "
                    "ratio 1 = as often wrong as on average. Factors in the imagenet_x package's order.",
                ))
        return output

    def _records(
        self, output: SuiteOutput, model: str, dataset: str, which: str,
        correct: np.ndarray, matrix: np.ndarray, seed: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        count = len(factors())

        totals = matrix.sum(axis=0)
        present = totals > 0  # the mean is over the factors with images (all 16 on full val)

        def statistics(index: np.ndarray) -> np.ndarray:
            ratios = error_ratios(correct[index], matrix[index])
            per_factor, _ = factor_accuracies(correct[index], matrix[index])
            return np.concatenate([ratios, [np.mean(ratios[present])], per_factor])

        values = statistics(np.arange(len(correct)))
        low, high = bootstrap_intervals(statistics, len(correct), seed=seed)
        prefix = "" if which == "top" else "multi/"
        for k, factor in enumerate(factors()):
            if not present[k]:
                continue  # absent: listed as skipped, with a notice
            condition = f"{prefix}{factor}"
            n = int(totals[k])
            output.records.append(MetricRecord(model, self.name, dataset, condition, "error_ratio",
                                               float(values[k]), float(low[k]), float(high[k]), n, self.version))
            j = count + 1 + k
            output.records.append(MetricRecord(model, self.name, dataset, condition, "accuracy",
                                               float(values[j]), float(low[j]), float(high[j]), n, self.version))
            output.records.append(MetricRecord(model, self.name, dataset, condition, "annotated_images",
                                               float(n), None, None, n, self.version))
        mean_condition = "none" if which == "top" else "multi"
        output.records.append(MetricRecord(model, self.name, dataset, mean_condition, "error_ratio_mean",
                                           float(values[count]), float(low[count]), float(high[count]),
                                           len(correct), self.version))
        accuracy = float(correct.mean())
        output.records.append(MetricRecord(model, self.name, dataset, mean_condition, "accuracy",
                                           accuracy, *_accuracy_ci(correct, seed), len(correct), self.version))
        return values[:count], low[:count], high[:count]


def _accuracy_ci(correct: np.ndarray, seed: int) -> tuple[float, float]:
    low, high = bootstrap_intervals(lambda index: correct[index].mean(), len(correct), seed=seed)
    return float(low[0]), float(high[0])
