"""Calibration: does the max softmax probability mean what it says?

Protocol (Vishniakov et al., "ConvNet vs Transformer, Supervised vs CLIP", Sec. "Calibration";
docs/protocols.md "Calibration"):
- confidence = max softmax probability; correct = argmax == label.
- ECE with 15 equal-width bins, membership (lo, hi] as in the paper's code:
  ECE = sum_b |B_b| / N * |acc(B_b) - conf(B_b)|.
- Datasets: ImageNet-1K val and ImageNet-R. For ImageNet-R the logits are restricted to its 200
  classes BEFORE the softmax (and the argmax).
Further metrics (ours, standard definitions):
- max_calibration_error: max over non-empty bins of |acc - conf| (same 15 bins);
- adaptive_ece: 15 equal-mass bins over the sorted confidences (Nixon et al. 2019), same formula;
- ece_em100: Minderer et al. 2021's ECE, 100 equal-mass bins, top-label, L1, bin edges at
  confidence values as robustness_metrics places them (``metrics.equal_mass_ece``). Beside the
  paper's 15 equal-width bins (``ece``), each convention under its own metric name;
- brier: mean over images of sum_k (p_k - 1[k = y])^2 over the (restricted) classes;
- nll: mean -log p_y; top1: accuracy.
Temperature scaling (Guo et al. 2017, Sec. 4.2; scored on shifted sets with the same T as in
Ovadia et al. 2019): T > 0 minimises the NLL of softmax(z / T) over ImageNet val's fit subset
(1000 classes; ``temperature.fit_temperature``), recorded as ``temperature`` at subset
``<split>_fit`` (no CI: one fit). Every metric above but top1 (an argmax ignores T) is then
recorded again as ``<metric>_ts`` from softmax(z / T): on val's ``<split>_score`` subset (beside
the untempered metrics on the same images, so before and after pair), and on every other dataset
(ImageNet-R, restricted to its 200 classes after dividing by T) over all images. The split is
``--option calibration.temperature_split=minderer`` (default: 20 % fits, 80 % scored) or ``guo``
(half and half); which image is on which side is a function of its content hash alone
(``temperature.fit_rows``), so ``--limit``, row order and the model never move an image. Default
``minderer``: T is one number, and 10,000 images pin it down (the NLL is smooth and convex in
1 / T), while scoring 40,000 instead of 25,000 narrows every scored metric's CI; it is also the
protocol of the study that compares modern architectures, which is what this suite is for.
``guo`` reproduces Guo et al.'s Table 1. A fit subset with fewer images than classes is skipped
with the reason (the untempered records stand). The run header's ``temperature_scaling`` holds
the split, its rule, the images it fitted on and T.
Records: the untempered metrics at (dataset, condition ``none``, subset ``all``); the ones above
at their subsets. Headlines: the untempered metrics over all images but ``ece_em100``, and
``ece_ts`` where it is scored. The metric functions live in
``suites/calibration/metrics.py``: the records, ``sample_metrics`` (paired comparisons of the
per-sample arrays ``confidence``, ``correct``, ``brier``, ``nll``, ``prediction``, ``label``, after
scaling ``confidence_ts``, ``brier_ts``, ``nll_ts``, and on val ``temperature_split``, each image's
subset) and the plots all use them, so they cannot disagree.
Every value has a 95 % percentile bootstrap CI over images (1000 resamples, seeded; T held fixed).
Guo et al. Table 1 (ECE %, 15 bins, guo split): ImageNet ResNet-152 5.48 -> 1.86, DenseNet-161
6.28 -> 1.99. Reference (paper): ECE IN-1K 0.041 / 0.028 / 0.133 / 0.141; IN-R 0.043 / 0.025 / 0.073 / 0.085
(ViT-sup / ConvNeXt-sup / ViT-CLIP / ConvNeXt-CLIP).
Differences from the paper's code: the reliability diagram shades the gap between accuracy and
the bin's MEAN confidence (the paper draws it to the bin midpoint); the confidence histogram is
ours.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from auditkit.records import ALL, MetricRecord, Notice, Skipped
from auditkit.stats import bootstrap_intervals
from auditkit.suite import (
    PLAIN_CONDITIONS, Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOption, SuiteOutput,
    plain_headline,
)
from suites.calibration.metrics import (  # noqa: F401 (re-exported: the suite's protocol in one place)
    METRICS,
    NUM_BINS,
    CalibrationArrays,
    adaptive_ece,
    bin_index,
    calibration_arrays,
    calibration_metrics,
    expected_calibration_error,
    max_calibration_error,
)
from suites.calibration.temperature import SPLIT_SALT, SPLITS, fit_rows, fit_temperature

TS = "_ts"  # the suffix of a metric computed from softmax(z / T)
FIT_DATASET = "imagenet-val"  # the held-out data T is fitted on
# every metric but top1 again after temperature scaling (an argmax does not see T)
SCALED = tuple(metric for metric in METRICS if metric != "top1")


def view_metrics(arrays: CalibrationArrays, scaled: CalibrationArrays | None) -> dict[str, float]:
    """The records of one group of images: every metric untempered, and ``<metric>_ts`` of the
    temperature-scaled arrays of the same images when there are any."""
    values = calibration_metrics(arrays)
    if scaled is not None:
        values.update({f"{metric}{TS}": value for metric, value in calibration_metrics(scaled).items()
                       if metric in SCALED})
    return values


def with_scaled(declared: dict[str, Any]) -> dict[str, Any]:
    """``declared`` (metric -> Metric, or -> which way is better) with every ``SCALED`` metric's
    ``<metric>_ts``: the same words and definition, after temperature scaling."""
    scaled: dict[str, Any] = {}
    for name in SCALED:
        entry = declared[name]
        scaled[f"{name}{TS}"] = entry if not isinstance(entry, Metric) else Metric(
            f"{entry.label} (temperature-scaled)", f"{entry.definition}; from softmax(logits / T), T the "
            "temperature record", entry.proportion, entry.convention)
    return {**declared, **scaled}


class CalibrationSuite(Suite):
    name = "calibration"
    version = "1.1"  # 1.1: ece_em100; temperature scaling (temperature, <metric>_ts) on a content-hashed split
    # BibTeX of the protocol this suite follows (audit export's CITATIONS.bib)
    citations = (
        """@inproceedings{guo2017calibration,
  title = {On Calibration of Modern Neural Networks},
  author = {Guo, Chuan and Pleiss, Geoff and Sun, Yu and Weinberger, Kilian Q.},
  booktitle = {International Conference on Machine Learning (ICML)},
  year = {2017}
}""",
        """@inproceedings{nixon2019measuring,
  title = {Measuring Calibration in Deep Learning},
  author = {Nixon, Jeremy and Dusenberry, Michael W. and Zhang, Linchuan and Jerfel, Ghassen and Tran, Dustin},
  booktitle = {CVPR Workshops},
  year = {2019}
}""",
        """@article{brier1950verification,
  title = {Verification of Forecasts Expressed in Terms of Probability},
  author = {Brier, Glenn W.},
  journal = {Monthly Weather Review},
  volume = {78},
  number = {1},
  pages = {1--3},
  year = {1950}
}""",
    )
    description = ("ECE (15 equal-width and 100 equal-mass bins), MCE, adaptive ECE, Brier, NLL, top-1, before and "
                   "after temperature scaling; reliability diagrams")
    datasets = ("imagenet-val", "imagenet-r")
    title = "Calibration"
    _ECE_CONVENTION = ("15 equal-width bins (lo, hi] of the top-label confidence (Guo et al. 2017, the paper's "
                       "code); Minderer et al. 2021's 100 equal-mass bins are ece_em100")
    metrics = with_scaled({
        "ece": Metric("ECE", "expected calibration error: |accuracy - mean confidence| in each of 15 equal-width "
                      "confidence bins, weighted by the bin's share of images (0 = calibrated; lower is better)", True,
                      _ECE_CONVENTION),
        "max_calibration_error": Metric("MCE", "maximum calibration error: the largest |accuracy - mean confidence| "
                                        "over the 15 bins (lower is better)", True),
        "adaptive_ece": Metric("adaptive ECE", "ECE over 15 equal-mass bins (each holds the same number of images; "
                               "Nixon et al. 2019; lower is better)", True,
                               "15 equal-mass bins split by rank (sizes differ by at most one); Minderer et al.'s "
                               "100 equal-mass bins are ece_em100"),
        "ece_em100": Metric("ECE (100 equal-mass bins)", "ECE over 100 equal-mass bins of the top-label confidence, "
                            "edges at confidence values (Minderer et al. 2021; lower is better)", True,
                            "Minderer et al. 2021 (robustness_metrics' revisiting_calibration): 100 equal-mass "
                            "bins, top-label, L1; the paper's 15 equal-width bins are ece"),
        "brier": Metric("Brier score", "squared distance between the softmax vector and the one-hot label, summed over "
                        "classes, mean over images (0 ... 2; lower is better)"),
        "nll": Metric("NLL", "negative log-likelihood: mean -log softmax probability of the label, in nats "
                      "(lower is better)"),
        "top1": Metric("top-1 accuracy", "share of images whose highest-scoring class is the label (higher is better)", True),
        "temperature": Metric("temperature T", "the T > 0 minimising the NLL of softmax(logits / T) over the subset "
                              "named (ImageNet val, 1000 classes; Guo et al. 2017); > 1: the model was overconfident",
                              False, "fitted on <split>_fit: minderer = a content-hashed 20 % of val (Minderer et "
                              "al. 2021), guo = a content-hashed half (Guo et al. 2017); scored on <split>_score"),
    })
    better = with_scaled({"ece": "lower", "max_calibration_error": "lower", "adaptive_ece": "lower",
                          "ece_em100": "lower", "brier": "lower", "nll": "lower", "top1": "higher"})
    options = (
        SuiteOption("temperature_split", str, tuple(SPLITS), "minderer",
                    "the held-out split of imagenet-val that fits the temperature: minderer (20 % fits, 80 % scored) "
                    "or guo (half and half); an image's side is set by its content hash"),
    )

    # the full softmax over the dataset's classes: recorded top-1 answers hold neither the other
    # classes' probabilities (Brier, NLL) nor ImageNet-R's restriction before the softmax
    accepts = ("logits",)

    def headline(self, record: MetricRecord) -> bool:
        """The paper's metrics over all images (``plain_headline``), and ``ece_ts`` where it is
        scored (val's ``<split>_score``, every other dataset's ``all``): ECE before and after
        temperature scaling in one row. ``ece_em100`` (the rival binning) is in the suite's table:
        one more column would push the summary past a laptop's width."""
        if record.metric == f"ece{TS}":
            scored = {ALL, *(split.score_subset for split in SPLITS.values())}
            return record.subset in scored and record.condition in PLAIN_CONDITIONS and not record.aggregate
        return not record.metric.endswith(TS) and record.metric != "ece_em100" and plain_headline(record)

    def sample_hits(
        self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]
    ) -> dict[tuple[str, str], np.ndarray]:
        """``correct`` over all images (``top1``), and over each temperature subset it is recorded on."""
        hits = {(ALL, "top1"): arrays["correct"].astype(bool)}
        for subset, rows in _scored_subsets(arrays).items():
            hits[(subset, "top1")] = arrays["correct"][rows].astype(bool)
        return hits

    def sample_metrics(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        """Every record's metric (``view_metrics``) from the saved per-sample arrays: over all
        images, and where the file holds temperature-scaled arrays, on the scored subset (val) or
        over all images (the other datasets). ``temperature`` itself is a fit, not a mean: not here."""
        raw = CalibrationArrays.from_samples(arrays)
        scaled = CalibrationArrays.from_samples(arrays, TS) if f"confidence{TS}" in arrays else None
        split_file = "temperature_split" in arrays  # val's: the fit images are in-sample, scored on the rest
        metrics = {(ALL, m): v for m, v in view_metrics(raw, None if split_file else scaled).items()}
        for subset, rows in _scored_subsets(arrays).items():
            metrics.update({(subset, m): v for m, v in view_metrics(raw.take(rows), scaled.take(rows)).items()})
        return metrics

    def comparison_figures(self, samples: Mapping[str, Mapping[tuple[str, str], Mapping[str, np.ndarray]]]) -> list[SuiteFigure]:
        from suites.calibration.plots import reliability_overlay

        figures = []
        for key in dict.fromkeys(k for by_request in samples.values() for k in by_request):
            models = {m: (a[key]["confidence"], a[key]["correct"]) for m, a in samples.items() if key in a}
            if len(models) > 1:
                figures.append(SuiteFigure(
                    key[0], "reliability_overlay", reliability_overlay(models, f"{key[0]}"),
                    f"Reliability diagrams overlaid ({NUM_BINS} equal-width bins): accuracy against "
                    "mean confidence per non-empty bin; the diagonal is perfect calibration."))
        return figures

    def _fit(self, output: SuiteOutput, model: str, predictions: dict[PredictionRequest, Predictions]
             ) -> tuple[float, np.ndarray] | None:
        """T from val's fit subset (recorded, and described in the run header) and that subset's
        rows; None, with the reason as a skip, when val is absent or its fit subset too small."""
        split = SPLITS[str(self.setting("temperature_split"))]
        val = next((p for r, p in predictions.items() if _fits(r)), None)
        if val is None:
            for dataset in dict.fromkeys(r.dataset for r in predictions):
                output.skipped.append(Skipped(self.name, dataset, (
                    f"temperature scaling: T is fitted on {FIT_DATASET}'s {split.fit_subset} subset and "
                    f"{FIT_DATASET} is not in the run; add it to score {dataset} after temperature scaling")))
            return None
        rows = fit_rows(val.content_sha1, val.sample_ids, split)
        logits = _restricted(val)
        classes, fitting, scoring = logits.shape[1], int(rows.sum()), int((~rows).sum())
        if fitting < classes or scoring < 2:
            # the console shows a skip up to its first "; " (what is wrong), the report all of it (the fix)
            output.skipped.append(Skipped(self.name, FIT_DATASET, (
                f"temperature scaling needs at least {classes} images (one per class) in the {split.name} fit subset, "
                f"which holds {fitting} of the {len(rows)} images, {scoring} left to score; run on more of "
                f"{FIT_DATASET} (raise or drop --limit)"
                + (" or use --option calibration.temperature_split=guo (half fits)" if split.name != "guo" else ""))))
            return None
        position = {int(c): i for i, c in enumerate(_classes(val))}
        target = np.array([position[int(y)] for y in val.labels[rows]])
        fit = fit_temperature(logits[rows], target)
        output.records.append(self.record(model, dataset=FIT_DATASET, condition=val.condition,
                                          subset=split.fit_subset, metric="temperature", value=fit.temperature,
                                          n=fitting))
        if fit.at_bound:
            output.notices.append(Notice(self.name, FIT_DATASET, (
                f"temperature scaling: the NLL still falls at T = {fit.temperature:g}, the end of the search; "
                "the logits barely depend on the label (or separate it perfectly), so the scaled metrics are not "
                "a calibrated model's")))
        output.header["temperature_scaling"] = {
            "split": split.name, "source": split.source, "fit_dataset": FIT_DATASET,
            "fit_subset": split.fit_subset, "score_subset": split.score_subset, "fraction": split.fraction,
            "membership": f"sha256('{SPLIT_SALT}' + content_sha1), first 52 bits / 2^52 < {split.fraction}",
            "images_fit": fitting, "images_scored": scoring, "classes": classes, "temperature": fit.temperature,
            "fit_nll": fit.nll, "method": "NLL, Newton on 1/T in float64 to |step| < 1e-12",
            "iterations": fit.iterations,
        }
        return fit.temperature, rows

    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        from suites.calibration.plots import confidence_histogram, reliability_diagram

        output = SuiteOutput()
        fitted = self._fit(output, model, predictions)
        split = SPLITS[str(self.setting("temperature_split"))]
        for request, prediction in predictions.items():
            classes = prediction.source.class_indices
            arrays = calibration_arrays(prediction.logits, prediction.labels, classes)
            samples = {"label": prediction.labels, **arrays.samples()}
            views: list[tuple[str, np.ndarray, bool]] = [(ALL, np.arange(len(arrays.confidence)), False)]
            scaled = None
            if fitted is not None:
                temperature, fit = fitted
                scaled = calibration_arrays(prediction.logits, prediction.labels, classes, temperature)
                samples.update(scaled.samples(TS))
                if _fits(request):  # the fit images are in-sample: scored on the rest only
                    samples["temperature_split"] = np.where(fit, split.fit_subset, split.score_subset)
                    views.append((split.score_subset, np.flatnonzero(~fit), True))
                else:
                    views[0] = (ALL, views[0][1], True)
            for subset, rows, with_scaled in views:
                output.records.extend(self._view_records(
                    model, request.dataset, prediction.condition, subset, arrays.take(rows),
                    scaled.take(rows) if with_scaled and scaled is not None else None, seed))
            output.add_samples(prediction, samples, dataset=request.dataset, condition=prediction.condition)
            title = f"{model} on {request.dataset}"
            output.figures.append(SuiteFigure(
                request.dataset, "reliability", reliability_diagram(arrays.confidence, arrays.correct, title),
                f"Reliability diagram, {NUM_BINS} equal-width bins (lo, hi]; shaded: gap between "
                "accuracy and the bin's mean confidence.",
            ))
            if scaled is not None:
                subset, rows, _ = views[-1]
                output.figures.append(SuiteFigure(
                    request.dataset, "reliability_temperature_scaled",
                    reliability_diagram(scaled.confidence[rows], scaled.correct[rows],
                                        f"{title}, {subset}, T = {fitted[0]:.3f}"),
                    f"Reliability diagram after temperature scaling (softmax(z / T), T fitted on "
                    f"{FIT_DATASET}'s {split.fit_subset} subset), over {subset}; {NUM_BINS} equal-width bins.",
                ))
            output.figures.append(SuiteFigure(
                request.dataset, "confidence_histogram",
                confidence_histogram(arrays.confidence, arrays.correct, title),
                "Distribution of max-softmax confidence, correct vs wrong predictions.",
            ))
        # the fit's one number after the metrics (stable): tables open with the metrics, T last
        output.records.sort(key=lambda record: record.metric == "temperature")
        return output

    def _view_records(
        self, model: str, dataset: str, condition: str, subset: str, arrays: CalibrationArrays,
        scaled: CalibrationArrays | None, seed: int,
    ) -> list[MetricRecord]:
        """The records of one group of images (``view_metrics``), every metric on the same resamples."""
        n = len(arrays.confidence)
        values = view_metrics(arrays, scaled)
        low, high = bootstrap_intervals(
            lambda index: np.array(list(view_metrics(arrays.take(index), None if scaled is None else
                                                     scaled.take(index)).values())), n, seed=seed,
        )
        return [self.record(model, dataset=dataset, condition=condition, subset=subset, metric=metric, value=value,
                            ci=(low[k], high[k]), n=n)
                for k, (metric, value) in enumerate(values.items())]


def _fits(request: PredictionRequest) -> bool:
    """The request whose fit subset fits T: ImageNet val under the plain preprocessing."""
    return request.dataset == FIT_DATASET and str(request.condition) == "none"


def _classes(prediction: Predictions) -> np.ndarray:
    classes = prediction.source.class_indices
    return np.arange(prediction.logits.shape[1]) if classes is None else np.asarray(classes)


def _restricted(prediction: Predictions) -> np.ndarray:
    """The logits over the dataset's own classes (all 1000 for val), as the softmax sees them."""
    return np.asarray(prediction.logits)[:, _classes(prediction)]


def _scored_subsets(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rows of each scored temperature subset (``<split>_score``) a per-sample file names."""
    if "temperature_split" not in arrays:
        return {}
    names = np.asarray(arrays["temperature_split"]).astype(str)
    scored = [split.score_subset for split in SPLITS.values()]
    # a resample may hold none of a subset's images: the subset is then undefined, not empty
    return {subset: names == subset for subset in scored if np.any(names == subset)}
