"""ImageNet-X: where does a model fail, by factor of variation? (Idrissi et al., ICLR 2023)

Protocol (docs/protocols.md "ImageNet-X"; the paper's Sec. "ImageNet-X"):
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
- The same over the ``multi`` factor file (subset ``multi/<factor>``): an image counts for
  every factor annotated on it.
- accuracy per factor, annotated_images per factor, coverage = images used / 46,110.
Records: condition ``none`` (the plain val images); subset = the factor (``pose``), ``multi/<factor>``
for the multi-factor file, ``all`` for the top file's error_ratio_mean, overall accuracy and
coverage, ``multi`` for the multi file's. Every value comes from ``factor_metrics`` over the
per-sample arrays saved under (imagenet-val, none) (``correct``, ``annotated_<file>``,
``factors_<file>``), so ``sample_metrics`` recomputes exactly the records.
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

from auditkit.data.answer_files import PREDICTION_COLUMNS, to_csv
from auditkit.records import ALL, Notice, Skipped
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


def file_subsets(which: str) -> tuple[str, str]:
    """(prefix of the factors' subsets, subset of the whole file) of a factor file: the top file's
    factors are plain (``pose``, ``all``), the multi file's prefixed (``multi/pose``, ``multi``)."""
    return ("", ALL) if which == "top" else ("multi/", "multi")


def factor_metrics(
    which: str, correct: np.ndarray, matrix: np.ndarray, present: np.ndarray | None = None
) -> dict[tuple[str, str], float]:
    """Every ImageNet-X value of one factor file, keyed by (subset, metric): per factor present
    ``error_ratio``, ``accuracy`` and ``annotated_images``; over the file ``error_ratio_mean`` (the
    mean over the factors present) and ``accuracy``. ``correct`` and ``matrix`` hold the annotated
    images only. ``present`` (default: factors with an image here) fixes which factors count,
    so a bootstrap resample that misses a factor gives NaN there instead of another mean."""
    per_factor, overall = factor_accuracies(correct, matrix)
    ratios = error_ratios(correct, matrix)
    totals = matrix.sum(axis=0)
    present = totals > 0 if present is None else present
    prefix, whole = file_subsets(which)
    metrics: dict[tuple[str, str], float] = {}
    for k, factor in enumerate(factors()):
        if present[k]:  # absent factors have no record (a skipped entry says why)
            metrics[(f"{prefix}{factor}", "error_ratio")] = float(ratios[k])
            metrics[(f"{prefix}{factor}", "accuracy")] = float(per_factor[k])
            metrics[(f"{prefix}{factor}", "annotated_images")] = float(totals[k])
    with np.errstate(invalid="ignore"):
        metrics[(whole, "error_ratio_mean")] = float(np.mean(ratios[present]))
    metrics[(whole, "accuracy")] = overall
    return metrics


def coverage(annotated_top: np.ndarray) -> float:
    """Share of the filtered annotated val images (46,110) among the images scored."""
    return float(np.sum(annotated_top) / FILTERED_ANNOTATED)


def predictions_csv(file_names: np.ndarray, predicted: np.ndarray, probability: np.ndarray) -> str:
    """The imagenet_x input format, so any live run can be fed to the package as well."""
    rows = ((name, int(c), f"{float(p):.10g}") for name, c, p in zip(file_names, predicted, probability))
    return to_csv(PREDICTION_COLUMNS, rows)


class ImageNetXSuite(Suite):
    name = "imagenet_x"
    version = "1.0"
    # BibTeX of the protocol this suite follows (audit export's CITATIONS.bib)
    citations = (
        """@inproceedings{idrissi2023imagenetx,
  title = {{ImageNet-X}: Understanding Model Mistakes with Factor of Variation Annotations},
  author = {Idrissi, Badr Youbi and Bouchacourt, Diane and Balestriero, Randall and Evtimov, Ivan and Hazirbas, Caner and Ballas, Nicolas and Vincent, Pascal and Drozdzal, Michal and Lopez-Paz, David and Ibrahim, Mark},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2023}
}""",
    )
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
    accepts = ("logits", "top1")  # recorded top-1 answers (the imagenet_x CSVs) are the package's own input

    def sample_hits(
        self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]
    ) -> dict[tuple[str, str], np.ndarray]:
        """Right/wrong on the annotated images: the mean is the record ``accuracy`` of the file
        (subset ``all`` for the top file, ``multi`` for the multi file)."""
        return {
            (file_subsets(which)[1], "accuracy"): arrays["correct"][arrays[f"annotated_{which}"]]
            for which in FACTOR_FILES if f"annotated_{which}" in arrays
        }

    def sample_metrics(
        self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]
    ) -> dict[tuple[str, str], float]:
        """Every record's value from the per-sample rows (``factor_metrics`` per factor file,
        and the top file's coverage), as ``evaluate`` computes them."""
        metrics: dict[tuple[str, str], float] = {}
        for which in FACTOR_FILES:
            if f"annotated_{which}" not in arrays:
                continue
            annotated = arrays[f"annotated_{which}"]
            metrics.update(factor_metrics(which, arrays["correct"][annotated], arrays[f"factors_{which}"][annotated]))
            if which == "top":
                metrics[(ALL, "coverage")] = coverage(annotated)
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
                ratios_for_plot[which] = self._records(output, model, dataset, which, correct, matrix, seed)
                if which == "top":
                    used = coverage(samples["annotated_top"])
                    output.records.append(self.record(model, dataset=dataset, subset=ALL, metric="coverage",
                                                      value=used, n=int(present.sum())))
                    if used < 1:
                        output.notices.append(Notice(
                            self.name, dataset,
                            f"ImageNet-X computed on {int(present.sum())} of {FILTERED_ANNOTATED} annotated "
                            f"val images ({used:.1%}): ratios are estimates on a partial set",
                        ))
            if ratios_for_plot:
                output.add_samples(prediction, samples, dataset=dataset, condition="none")
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
        """One factor file's records (``factor_metrics``, with 95 % bootstrap CIs over its
        annotated images); returns (ratio, low, high) per factor, NaN where absent, for the plot."""
        present = matrix.sum(axis=0) > 0  # the mean is over the factors with images (all 16 on full val)
        values = factor_metrics(which, correct, matrix)
        keys = [key for key in values if key[1] != "annotated_images"]  # counts: no interval

        def statistic(index: np.ndarray) -> np.ndarray:
            again = factor_metrics(which, correct[index], matrix[index], present)
            return np.array([again.get(key, np.nan) for key in keys])

        low, high = bootstrap_intervals(statistic, len(correct), seed=seed)
        interval = {key: (low[k], high[k]) for k, key in enumerate(keys)}
        totals = matrix.sum(axis=0)
        prefix, _ = file_subsets(which)
        n_of = {f"{prefix}{factor}": int(totals[k]) for k, factor in enumerate(factors())}
        for (subset, metric), value in values.items():
            output.records.append(self.record(model, dataset=dataset, subset=subset, metric=metric, value=value,
                                              ci=interval.get((subset, metric)), n=n_of.get(subset, len(correct))))
        ratio_keys = [(f"{prefix}{factor}", "error_ratio") for factor in factors()]
        ratio = np.array([values.get(key, np.nan) for key in ratio_keys])
        bounds = np.array([interval.get(key, (np.nan, np.nan)) for key in ratio_keys], dtype=float)
        return ratio, bounds[:, 0], bounds[:, 1]
