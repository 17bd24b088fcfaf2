"""Robustness: top-1 under distribution shift (docs/protocols.md "Robustness"; the paper's Table 2).

- ``imagenet-val``: the reference, top-1 and top-5 over 1000 classes.
- ``imagenet-v2`` (matched frequency), ``imagenet-sketch``: top-1 / top-5 over 1000 classes.
- ``imagenet-a``, ``imagenet-r``: ``top1`` (and ``top5``) with the logits restricted to the
  dataset's 200 classes before the argmax (a model's best guess among the 200 is its answer:
  Hendrycks et al.'s evaluation code, and the paper's numbers); ``top1_1000way`` beside it, the
  argmax over all 1000 classes (right only when the model's overall best guess is the label: the
  rival convention, e.g. timm's results tables and the robustness testbed's ``*-1000`` evals).
  Both from the same logits, each per-sample under its own name (``correct`` and
  ``top1_1000way``), so both pair in ``audit compare``. Everything built on A and R's top-1
  (``top1_gap``, effective robustness, the figures) uses the 200-class ``top1``.
- ``imagenet-real``: the val predictions (same forward pass) scored against the ReaL label sets
  (Beyer et al. 2020; shipped in the imagenet-x package): correct if the top-1 is in the image's
  set; images with an empty set are skipped and counted (``unlabelled``).
- ``imagenet-hard``: a local copy of the HF dataset; multi-label, correct if the top-1 is in
  the image's label list; images converted to RGB; the hub revision is recorded.
- ``top1_gap``: val top-1 minus the dataset's top-1, when val is in the run.
- ``imagenet-c``: the released folders (224x224, no further resize), or, when absent, made on the
  fly from imagenet-val (``auditkit.data.corruptions``: 15 corruptions x 5 severities, seeded,
  JPEG 85). Either way the records are dataset ``imagenet-c``, condition
  ``corrupt/<corruption>/<severity>`` (the corruption the images went through; the released
  folders are one request whose rows are split by their folder): ``top1`` per condition, with
  per-sample ``correct`` under the same key; ``top1`` at condition ``corrupt/*/*``, aggregate
  ``mean`` = mean over severities, then corruptions (the 15 of the benchmark); ``corruption_error``
  at ``corrupt/<corruption>/*``, aggregate ``normalised_sum`` = sum_s err / sum_s err_AlexNet
  (Hendrycks & Dietterich); ``mean_corruption_error`` at ``corrupt/*/*``, aggregate ``mean`` =
  their mean over the 15 corruptions; ``top1_gap`` to val at ``corrupt/*/*`` as well. Hold-out
  corruptions in a released folder get ``top1`` per condition only.
Every other record has condition ``none``, subset ``all``. Per-sample arrays (``correct``, and
``top5`` where defined) sit under each top-1 record's (dataset, condition), ReaL's under
``imagenet-real`` (its labelled val images); ``top1`` / ``top5`` are their means
(``Suite.sample_metrics``, which ``evaluate`` calls too).
95 % bootstrap CIs over images (none for CE / mCE).
Paper (ViT-sup / ConvNeXt-sup / ViT-CLIP / ConvNeXt-CLIP): V2 76.2 / 75.6 / 59.5 / 58.6;
A 60.0 / 52.9 / 33.2 / 30.9; R 61.6 / 62.3 / 77.8 / 75.8; Sketch 46.1 / 48.6 / 52.3 / 52.0;
ReaL 89.2 / 89.5 / 74.3 / 73.8.
ImageNet-C paper: 59.8 / 66.8 / 40.8 / 39.0 (its public code has ImageNet-C commented out).
Hard: 28.5 / 29.4 / 5.5 / 5.8.
- ``objectnet`` (the released ``objectnet-1.0/images`` folders): the 113 classes overlapping
  ImageNet, 2 px border cropped, logits restricted to their 125 ImageNet classes, right when the
  answer is one of the image's class's ImageNet classes (the testbed's protocol).
- ``effective_robustness`` (Taori et al. 2020; Miller et al. 2021) per shift (V2, Sketch, A, R,
  ObjectNet): the shift's top-1 minus the top-1 the baseline line predicts at the model's x,
  back-transformed (a difference of proportions: 0.035 = 3.5 %-points). The baseline is the
  robustness testbed's line recomputed from its shipped grid with the testbed's own filters
  (``auditkit.field.testbed``), on the logit scale or ``--option robustness.er_scale=probit``; ImageNet-A uses the
  testbed's two lines split at 91.86. x is val top-1 for V2 and Sketch, and for A, R and
  ObjectNet val top-1 on that shift's classes (val images of those classes, logits restricted to
  them, from the same val forward pass). The 95 % CI resamples val and shift images
  independently. ``--option robustness.er_baseline=PATH`` may name a JSON file of the user's own
  fits (``{dataset: {slope, intercept, source}}``, logit scale, x = val top-1), which then
  replaces the testbed's for the datasets it names (and is the only baseline for ImageNet-Hard).
  The run header records each baseline used (source, commit, filters, n, slope, intercept) and
  the options set.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from auditkit.conditions import WILDCARD, Corruption, Pattern
from auditkit.records import ALL, MetricRecord, Notice, Skipped
from auditkit.stats import bootstrap_intervals
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOption, SuiteOutput

if TYPE_CHECKING:
    from auditkit.field.testbed import Baseline

SHIFTS = ("imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch", "imagenet-hard", "objectnet")
IMAGENET_C = "imagenet-c"  # the dataset of every ImageNet-C record, released or made from val


def corruption_pattern(corruption: str = WILDCARD) -> str:
    """The conditions ``corrupt/<corruption>/*`` of one corruption's severities (its CE, aggregate
    "normalised_sum"); ``corrupt/*/*`` of all of them (mean top-1 and mCE, aggregate "mean")."""
    return Pattern(Corruption, (("corruption", corruption), ("severity", WILDCARD))).format()


ALL_CORRUPTIONS = corruption_pattern()

# AlexNet's ImageNet-C errors averaged over the 5 severities (Hendrycks & Dietterich): mCE's unit.
ALEXNET_ERROR = {
    "gaussian_noise": 0.886428, "shot_noise": 0.894468, "impulse_noise": 0.922640,
    "defocus_blur": 0.819880, "glass_blur": 0.826268, "motion_blur": 0.785948, "zoom_blur": 0.798360,
    "snow": 0.866816, "frost": 0.826572, "fog": 0.819324, "brightness": 0.564592, "contrast": 0.853204,
    "elastic_transform": 0.646056, "pixelate": 0.717840, "jpeg_compression": 0.606500,
}


def corruption_errors(top1: dict[tuple[str, int], float]) -> tuple[dict[str, float], float | None]:
    """CE per corruption with all 5 severities, and mCE when all 15 corruptions are complete.

    CE_c = sum_s (1 - acc_{c,s}) / sum_s err_AlexNet_{c,s}; the AlexNet table holds the mean over
    severities, so the denominator is 5 * ALEXNET_ERROR[c].
    """
    errors = {}
    for corruption, alexnet in ALEXNET_ERROR.items():
        accuracies = [top1.get((corruption, s)) for s in range(1, 6)]
        if all(a is not None for a in accuracies):
            errors[corruption] = sum(1 - a for a in accuracies) / (5 * alexnet)
    mce = float(np.mean(list(errors.values()))) if len(errors) == len(ALEXNET_ERROR) else None
    return errors, mce


def effective_robustness(val_top1: float, shift_top1: float, slope: float, intercept: float) -> float:
    """Taori et al. (2020): shift accuracy above the baseline's logit-linear prediction."""
    logit = np.log(val_top1 / (1 - val_top1))
    return float(shift_top1 - 1 / (1 + np.exp(-(slope * logit + intercept))))


def read_baseline(path: Path) -> dict[str, dict[str, float | str]]:
    from auditkit.errors import AuditError

    try:
        payload = json.loads(Path(path).read_text())
        return {name: {"slope": float(fit["slope"]), "intercept": float(fit["intercept"]),
                       "source": str(fit.get("source", path))} for name, fit in payload.items()}
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise AuditError(f"--option robustness.er_baseline={path}: not a JSON map of dataset -> "
                         f"{{slope, intercept, source}} ({error}); fix the file or drop the option") from None


def val_hits_on_shift_classes(val: Predictions, shift: Predictions, dataset: str) -> np.ndarray | None:
    """The x of effective robustness on a shift with its own classes (A, R, ObjectNet), as the
    testbed computes it: val images whose label is among the shift's classes, logits restricted
    to those classes, right when the answer is the label (ObjectNet: any ImageNet class of the
    label's ObjectNet class). V2 and Sketch: plain val top-1. None without val logits."""
    classes = shift.source.class_indices
    if classes is None:
        return val.predicted_class == val.labels
    if val.logits is None:
        return None
    keep = np.isin(val.labels, classes)
    predicted = restricted_topk(val.logits[keep], classes, 1)[:, 0]
    labels = val.labels[keep]
    if dataset == "objectnet":
        from auditkit.data.objectnet import folder_classes

        group = {i: frozenset(ids) for ids in folder_classes().values() for i in ids}
        return np.array([int(p) in group[int(l)] for p, l in zip(predicted, labels)], dtype=bool)
    return predicted == labels


def _effective_robustness_ci(
    baseline: "Baseline", x_hits: np.ndarray, y_hits: np.ndarray, seed: int, resamples: int = 1000
) -> tuple[float, float, float, tuple[float, float]]:
    """Effective robustness (a proportion) with a 95 % bootstrap CI that resamples the val and the
    shift images independently (a resampled mean of 0/1 hits is Binomial(n, p) / n), and x's CI."""
    rng = np.random.default_rng(seed)
    x, y = float(x_hits.mean()), float(y_hits.mean())
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (100 * y - baseline.predict(100 * x)[0]) / 100
        xs = rng.binomial(len(x_hits), x, resamples) / len(x_hits)
        ys = rng.binomial(len(y_hits), y, resamples) / len(y_hits)
        draws = (100 * ys - baseline.predict(100 * xs)) / 100
    finite = draws[np.isfinite(draws)]
    low, high = np.percentile(finite, [2.5, 97.5]) if len(finite) else (np.nan, np.nan)
    x_low, x_high = np.percentile(xs, [2.5, 97.5])
    return float(value), float(low), float(high), (float(x_low), float(x_high))


def restricted_topk(logits: np.ndarray, class_indices: tuple[int, ...] | None, k: int) -> np.ndarray:
    """(n, k) ImageNet class ids of the k best logits among ``class_indices`` (all if None)."""
    classes = np.arange(logits.shape[1]) if class_indices is None else np.asarray(class_indices)
    order = np.argsort(-logits[:, classes], axis=1, kind="stable")[:, :k]
    return classes[order]


@lru_cache(maxsize=None)
def real_labels() -> dict[str, frozenset[int]]:
    """ReaL label sets by val file name: the package's list is in val-file order (1..50000)."""
    from auditkit.data.imagenet import imagenet_x_annotation

    table = imagenet_x_annotation("imagenet_real_labels.jsonl")
    sets = json.loads(table.read_text())
    return {f"ILSVRC2012_val_{i:08d}.JPEG": frozenset(labels) for i, labels in enumerate(sets, start=1)}


class RobustnessSuite(Suite):
    name = "robustness"
    version = "0.3"  # 0.2: effective robustness against the testbed by default; ObjectNet. 0.3: top1_1000way (A, R)
    # BibTeX of the protocol this suite follows (audit export's CITATIONS.bib)
    citations = (
        """@inproceedings{hendrycks2019benchmarking,
  title = {Benchmarking Neural Network Robustness to Common Corruptions and Perturbations},
  author = {Hendrycks, Dan and Dietterich, Thomas},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2019}
}""",
        """@inproceedings{taori2020measuring,
  title = {Measuring Robustness to Natural Distribution Shifts in Image Classification},
  author = {Taori, Rohan and Dave, Achal and Shankar, Vaishaal and Carlini, Nicholas and Recht, Benjamin and Schmidt, Ludwig},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year = {2020}
}""",
    )
    description = "top-1 on ImageNet val, V2, A, R, Sketch and ReaL; gap to val"
    datasets = ("imagenet-val", *SHIFTS, "imagenet-c")
    title = "Robustness"
    metrics = {
        "top1": Metric("top-1 accuracy", "share of images whose highest-scoring class is the label (A and R: among "
                       "their 200 classes; Hard: any label of the set; ImageNet-C: per corrupt/<name>/<severity>, and "
                       "their mean; higher is better)", True,
                       "ImageNet-A and -R: the argmax among their 200 classes (Hendrycks et al. 2021); the 1000-way "
                       "argmax is top1_1000way"),
        "top1_1000way": Metric("top-1 accuracy, 1000-way", "ImageNet-A and -R: share of images whose highest-scoring "
                               "class of all 1000 is the label (higher is better)", True,
                               "argmax over all 1000 ImageNet classes; the 200-class convention of the datasets' "
                               "authors is top1"),
        "top5": Metric("top-5 accuracy", "share of images whose label is among the five highest-scoring classes "
                       "(higher is better)", True),
        "top1_gap": Metric("top-1 gap to val", "ImageNet val top-1 minus this dataset's top-1 (lower is better)", True),
        "unlabelled": Metric("unlabelled images", "val images with an empty ReaL label set, left out of ReaL top-1"),
        "corruption_error": Metric("CE", "corruption error: top-1 error summed over the 5 severities, divided by "
                                   "AlexNet's (Hendrycks & Dietterich 2019; lower is better)"),
        "mean_corruption_error": Metric("mCE", "mean corruption error: the mean of the 15 corruptions' CE, "
                                        "AlexNet = 1 (lower is better)"),
        "effective_robustness": Metric("effective robustness", "shift top-1 minus the top-1 the robustness "
                                       "testbed's baseline line predicts at the model's val top-1 (A, R, ObjectNet: "
                                       "on their classes); Taori et al. 2020 (higher is better)", True),
        "val_top1_on_shift_classes": Metric("val top-1 on the shift's classes", "ImageNet val top-1 over the val "
                                            "images of the shift's classes, logits restricted to them: the x of "
                                            "effective robustness for A, R and ObjectNet", True),
    }
    better = {"top1": "higher", "top1_1000way": "higher", "top5": "higher", "top1_gap": "lower",
              "corruption_error": "lower", "mean_corruption_error": "lower", "effective_robustness": "higher"}
    options = (
        SuiteOption("er_scale", str, ("logit", "probit"), "logit",
                    "axes of the testbed's baseline line for effective robustness (alias: --er-scale)"),
        SuiteOption("er_baseline", Path, (), None,
                    "JSON {dataset: {slope, intercept, source}} of your own logit fits on val top-1, replacing "
                    "the testbed's line for the datasets it names (the only baseline for imagenet-hard)"),
    )
    accepts = ("logits", "top1")  # recorded top-1 answers score val, ReaL, V2, Sketch (not A/R's masking)

    def _hit_records(
        self, model: str, dataset: str, condition: str, arrays: dict[str, np.ndarray], seed: int
    ) -> list[MetricRecord]:
        """The records at (dataset, condition) from its per-sample arrays: the values are
        ``sample_metrics`` of the arrays (the one definition a paired comparison uses too), the
        95 % CIs that of resampled rows, every metric on the same resamples."""
        values = self.sample_metrics(dataset, condition, arrays)
        keys = list(values)
        n = len(arrays["correct"])

        def statistic(index: np.ndarray) -> np.ndarray:
            again = self.sample_metrics(dataset, condition, {name: a[index] for name, a in arrays.items()})
            return np.array([again[key] for key in keys])

        low, high = bootstrap_intervals(statistic, n, seed=seed)
        return [self.record(model, dataset=dataset, condition=condition, subset=subset, metric=metric,
                            value=values[(subset, metric)], ci=(low[k], high[k]), n=n)
                for k, (subset, metric) in enumerate(keys)]

    def headline(self, record: MetricRecord) -> bool:
        """The plain input over all images, and ImageNet-C's published headline: the mean over its
        corruptions and severities (``corrupt/*/*``, aggregate ``mean``: top-1, its gap, mCE)."""
        if record.aggregate:
            return record.subset == ALL and (record.condition, record.aggregate) == (ALL_CORRUPTIONS, "mean")
        return super().headline(record)

    def requests(self) -> list[PredictionRequest]:
        return [*(PredictionRequest(d) for d in ("imagenet-val", *SHIFTS)), PredictionRequest("imagenet-c", "native")]

    def fallback_requests(self, missing_dataset: str) -> list[PredictionRequest]:
        if missing_dataset != "imagenet-c":
            return []
        from auditkit.data.corruptions import CORRUPTIONS, SEVERITIES

        return [PredictionRequest("imagenet-val", Corruption(c, s).format()) for c in CORRUPTIONS for s in SEVERITIES]

    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        from suites.robustness.plots import accuracy_bars, accuracy_on_the_line

        output = SuiteOutput()
        top1: dict[str, float] = {}
        answers: dict[str, tuple[Predictions, np.ndarray]] = {}  # dataset -> (predictions, top-1 hits)
        corrupted = {r: p for r, p in predictions.items() if r.dataset == IMAGENET_C or isinstance(r.condition, Corruption)}
        if corrupted:
            mean_top1 = self._imagenet_c(output, model, corrupted, seed)
            if mean_top1 is not None:
                top1[IMAGENET_C] = mean_top1
        for request, prediction in predictions.items():
            if request in corrupted:
                continue
            dataset = request.dataset
            label_sets = [s.label_set for s in prediction.source.samples]
            if any(label_sets):  # multi-label (Hard, ObjectNet): right if the answer is in the set
                classes = prediction.source.class_indices
                predicted = (restricted_topk(prediction.logits, classes, 1)[:, 0]
                             if classes is not None and prediction.logits is not None else prediction.predicted_class)
                hits = {"top1": np.array([int(p) in set(ls) for p, ls in zip(predicted, label_sets)])}
            elif prediction.logits is None:
                hits = {"top1": prediction.predicted_class == prediction.labels}
            else:
                top5 = restricted_topk(prediction.logits, prediction.source.class_indices, 5)
                labels = prediction.labels[:, None]
                hits = {"top1": top5[:, 0] == labels[:, 0], "top5": np.any(top5 == labels, axis=1)}
                if prediction.source.class_indices is not None:  # A, R: the rival, argmax over all 1000
                    hits["top1_1000way"] = prediction.predicted_class == prediction.labels
            # named as the convention in auditkit/suite.py says, so runs get paired tests
            arrays = {"correct": hits["top1"],
                      **{name: hits[name] for name in ("top5", "top1_1000way") if name in hits}}
            output.records.extend(self._hit_records(model, dataset, "none", arrays, seed))
            output.add_samples(prediction, arrays, dataset=dataset, condition="none")
            top1[dataset] = float(hits["top1"].mean())
            answers[dataset] = (prediction, hits["top1"])
            if dataset == "imagenet-val":
                self._real(output, model, prediction, seed, top1)
        if "imagenet-val" in top1:
            for dataset, value in top1.items():
                if dataset != "imagenet-val":
                    # ImageNet-C's top-1 is its mean over the corruptions: so is its gap
                    over = {"condition": ALL_CORRUPTIONS, "aggregate": "mean"} if dataset == IMAGENET_C else {}
                    output.records.append(self.record(model, dataset=dataset, metric="top1_gap",
                                                      value=top1["imagenet-val"] - value, n=0, **over))
            self._effective_robustness(output, model, answers, seed)
        elif predictions:
            output.skipped.append(Skipped(self.name, "imagenet-real",
                                          "ReaL scores the imagenet-val predictions; imagenet-val is missing"))
        if top1:
            output.figures.append(SuiteFigure(
                "all", "accuracy", accuracy_bars(model, top1),
                "Top-1 per dataset (A and R: best of their 200 classes); dashed: ImageNet val.",
            ))
        if "imagenet-val" in top1 and len(top1) > 1:
            output.figures.append(SuiteFigure(
                "all", "accuracy_on_the_line", accuracy_on_the_line(model, top1),
                "Each dataset's top-1 against ImageNet val top-1; models compared in `audit compare` "
                "form the line.",
            ))
        return output

    def _effective_robustness(
        self, output: SuiteOutput, model: str, answers: dict[str, tuple[Predictions, np.ndarray]], seed: int
    ) -> None:
        from auditkit.field.plots import AuditedPoint, accuracy_on_the_line
        from auditkit.field.testbed import PROTOCOLS, fit_baseline

        shifts = [d for d in answers if d in SHIFTS]
        if not shifts:
            return
        path = self.setting("er_baseline")
        own = read_baseline(Path(str(path))) if path is not None else {}
        scale = str(self.setting("er_scale"))
        val, val_hits = answers["imagenet-val"]
        details: dict[str, object] = {}
        for dataset in shifts:
            shift, shift_hits = answers[dataset]
            if dataset in own:  # the user's own logit fit on val top-1 (no CI: its x is plain val)
                fit = own[dataset]
                output.records.append(self.record(
                    model, dataset=dataset, metric="effective_robustness",
                    value=effective_robustness(float(val_hits.mean()), float(shift_hits.mean()), fit["slope"],
                                               fit["intercept"]),
                    n=len(shift_hits)))
                details[dataset] = {"source": fit["source"], "scale": "logit", "x": "val",
                                    "lines": [{"slope": fit["slope"], "intercept": fit["intercept"]}]}
                continue
            if dataset not in PROTOCOLS:
                output.skipped.append(Skipped(self.name, dataset, "effective robustness: the testbed has no baseline "
                                              f"for {dataset}; give one with --option robustness.er_baseline=PATH"))
                continue
            baseline = fit_baseline(dataset, scale)
            x_hits = val_hits_on_shift_classes(val, shift, dataset)
            if x_hits is None:
                output.skipped.append(Skipped(self.name, dataset, "effective robustness: the x of this shift is val "
                                              "top-1 on its classes, which needs val logits (recorded top-1 answers "
                                              "cannot be restricted to a class subset)"))
                continue
            if len(x_hits) == 0:
                output.skipped.append(Skipped(self.name, dataset, "effective robustness: no val image of this "
                                              "shift's classes is in the run"))
                continue
            value, low, high, x_ci = _effective_robustness_ci(baseline, x_hits, shift_hits, seed)
            if not np.isfinite(value):
                output.skipped.append(Skipped(self.name, dataset, f"effective robustness: val top-1 on its classes "
                                              f"is {100 * x_hits.mean():.0f} %, where the {scale} line is undefined"))
                continue
            output.records.append(self.record(model, dataset=dataset, metric="effective_robustness", value=value,
                                              ci=(low, high), n=len(shift_hits)))
            if baseline.protocol.x_column != "val":
                output.records.append(self.record(model, dataset=dataset, metric="val_top1_on_shift_classes",
                                                  value=float(x_hits.mean()), ci=x_ci, n=len(x_hits)))
            details[dataset] = baseline.header()
            # the shift's top-1 record (written above, same seed) already holds its bootstrap CI
            y = next(r for r in output.records
                     if (r.dataset, r.condition, r.subset, r.metric) == (dataset, "none", "all", "top1"))
            point = AuditedPoint(model, 100 * float(x_hits.mean()), 100 * y.value, (100 * x_ci[0], 100 * x_ci[1]),
                                 None if y.ci_low is None else (100 * y.ci_low, 100 * y.ci_high))
            output.figures.append(SuiteFigure(
                dataset, "accuracy_on_the_line_testbed", accuracy_on_the_line(baseline, [point]),
                f"{dataset} top-1 against {baseline.protocol.x_column} top-1 on {scale} axes: the robustness "
                f"testbed's models, its baseline fit on {sum(l.n for l in baseline.lines)} standard models with a "
                "95 % bootstrap band, and this model with 95 % CIs."))
        if details:
            output.header["effective_robustness"] = details

    def _imagenet_c(
        self, output: SuiteOutput, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> float | None:
        """ImageNet-C's records (module docstring); returns the mean top-1 over the benchmark's
        corruptions, None when none of them is present."""
        from suites.robustness.plots import corruption_heatmap

        # (corruption, severity) -> (predictions, rows of them or None for all, per-sample arrays)
        groups: dict[Corruption, tuple[Predictions, np.ndarray | None, dict[str, np.ndarray]]] = {}
        for request, prediction in predictions.items():
            correct = prediction.predicted_class == prediction.labels
            if request.dataset == IMAGENET_C:  # released folders, one request: group by the id's prefix
                prefixes = np.array(["/".join(str(i).split("/")[:2]) for i in prediction.sample_ids])
                names, inverse = np.unique(prefixes, return_inverse=True)
                for k, name in enumerate(names):
                    corruption, severity = name.split("/")
                    rows = np.flatnonzero(inverse == k)
                    groups[Corruption(corruption, int(severity))] = (prediction, rows, {"correct": correct[rows]})
            else:
                condition = request.condition
                assert isinstance(condition, Corruption), request  # `corrupted` holds corrupt/ requests only
                groups[condition] = (prediction, None, {"correct": correct})
        accuracy: dict[tuple[str, int], float] = {}
        sizes: dict[tuple[str, int], int] = {}
        for corrupted, (prediction, rows, arrays) in sorted(
                groups.items(), key=lambda item: (item[0].corruption, item[0].severity)):
            corruption, severity, condition = corrupted.corruption, corrupted.severity, corrupted.format()
            records = self._hit_records(model, IMAGENET_C, condition, arrays, seed)
            output.records.extend(records)
            output.add_samples(prediction, arrays, dataset=IMAGENET_C, condition=condition, rows=rows)
            accuracy[(corruption, severity)] = next(r.value for r in records if r.metric == "top1")
            sizes[(corruption, severity)] = len(arrays["correct"])
        benchmark = {k: v for k, v in accuracy.items() if k[0] in ALEXNET_ERROR}
        per_corruption = [np.mean([v for (c, _), v in benchmark.items() if c == name])
                          for name in dict.fromkeys(c for c, _ in benchmark)]
        mean_top1 = float(np.mean(per_corruption)) if per_corruption else None
        if mean_top1 is not None:
            output.records.append(self.record(
                model, dataset=IMAGENET_C, condition=ALL_CORRUPTIONS, aggregate="mean", metric="top1",
                value=mean_top1, n=sum(sizes[k] for k in benchmark)))
        errors, mce = corruption_errors(accuracy)
        for corruption, value in errors.items():
            output.records.append(self.record(
                model, dataset=IMAGENET_C, condition=corruption_pattern(corruption), aggregate="normalised_sum",
                metric="corruption_error", value=value, n=sum(sizes[(corruption, s)] for s in range(1, 6))))
        if mce is not None:
            output.records.append(self.record(model, dataset=IMAGENET_C, condition=ALL_CORRUPTIONS, aggregate="mean",
                                              metric="mean_corruption_error", value=mce, n=len(errors)))
        else:
            output.notices.append(Notice(self.name, IMAGENET_C,
                                         f"mCE needs all 15 corruptions x 5 severities; {len(errors)} corruptions "
                                         "are complete, so only their corruption_error is reported"))
        if accuracy:
            output.figures.append(SuiteFigure(IMAGENET_C, "heatmap", corruption_heatmap(model, accuracy),
                                              "ImageNet-C top-1 per corruption and severity."))
        return mean_top1

    def _real(
        self, output: SuiteOutput, model: str, prediction: Predictions, seed: int, top1: dict[str, float]
    ) -> None:
        sets = real_labels()
        predicted = prediction.predicted_class
        names = [str(name) for name in prediction.sample_ids]
        rows = [i for i, name in enumerate(names) if sets.get(name)]
        unknown = sum(1 for name in names if name not in sets)
        if unknown:
            output.skipped.append(Skipped(
                self.name, "imagenet-real",
                f"{unknown} imagenet-val files are not named ILSVRC2012_val_XXXXXXXX.JPEG; ReaL labels "
                "are matched by the original val file name"))
            return
        if not rows:
            output.skipped.append(Skipped(self.name, "imagenet-real", "no val image present has a ReaL label"))
            return
        arrays = {"correct": np.array([int(predicted[i]) in sets[names[i]] for i in rows])}
        output.records.extend(self._hit_records(model, "imagenet-real", "none", arrays, seed))
        # the labelled val images' hits, under ReaL's own key, so runs get paired ReaL tests
        output.add_samples(prediction, arrays, dataset="imagenet-real", condition="none", rows=np.array(rows))
        output.records.append(self.record(
            model, dataset="imagenet-real", metric="unlabelled", value=float(len(prediction.sample_ids) - len(rows)),
            n=len(prediction.sample_ids)))
        top1["imagenet-real"] = float(arrays["correct"].mean())
