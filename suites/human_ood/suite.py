"""Human comparison on model-vs-human's 17 out-of-distribution datasets (Geirhos et al., NeurIPS 2021).

Protocol (PROTOCOLS.md "Human comparison beyond shape bias"; model-vs-human ``plotting/analyses.py``
and ``plotting/plot.py``, read, not copied):
- Datasets: colour, contrast, high-pass, low-pass, phase-scrambling, power-equalisation,
  false-colour, rotation, eidolon I/II/III, uniform-noise (parametric: conditions are the
  distortion's levels), sketch, stylized, edge, silhouette, cue-conflict (one condition each).
  Stimuli fed at their size (224) with no resize or crop (store condition ``native``), as
  model-vs-human does.
- 16-class decision exactly as the shape-bias suite makes it (``decisions_from_logits``: mean
  softmax probability of each category's ImageNet indices, argmax). Correct if the decision is
  the stimulus' category (cue-conflict: the shape); a human's ``na`` is an error.
- ``accuracy`` per condition; humans beside it: ``human_accuracy`` (mean over subjects),
  ``human_accuracy_min`` / ``human_accuracy_max`` (their range).
- Error consistency (Geirhos, Meding & Wichmann, NeurIPS 2020) of two observers on the same
  trials (matched by model-vs-human's image id): c_obs = fraction of trials both got right or
  both wrong; c_exp = p1 p2 + (1 - p1)(1 - p2) from their accuracies on those trials; kappa =
  (c_obs - c_exp) / (1 - c_exp), and 1 when c_obs = 1 (model-vs-human's rule).
  ``error_consistency`` / ``observed_consistency`` per condition = mean over the human subjects
  of the model-vs-subject value; ``accuracy_difference`` = mean over subjects of (p_model -
  p_subject)^2. ``human_*``: the same between every pair of subjects, averaged over pairs (the
  ceiling; a human observer is compared with the other subjects only).
- condition ``none`` (the headline) of each dataset: model-vs-human's benchmark leaves out each
  parametric dataset's control condition and the levels where humans are below 0.2
  (EXCLUDE_CONDITIONS); accuracy is pooled over the remaining trials, the consistencies and the
  accuracy difference are averaged over the remaining conditions (per subject, then over
  subjects). Dataset ``model-vs-human``, condition ``none``: the mean over the datasets
  present (the README's table: OOD accuracy, accuracy difference, observed and error
  consistency, all 17 datasets; ResNet-50 .559 / .087 / .665 / .208, reproduced from its
  published decisions in tests), with ``datasets`` = how many.
95 % CIs: bootstrap over images within each condition (model and humans resampled together),
stratified over conditions and datasets for the means; human records have none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from auditkit.adapters.observers import DECISION_COLUMNS, read_decisions, to_csv
from auditkit.data.model_vs_human import BENCHMARK, BY_CATALOG_NAME, BY_NAME, MvhDataset, parse_name
from auditkit.records import MetricRecord, Notice
from auditkit.stats import CI_LEVEL, DEFAULT_RESAMPLES
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput
from suites.shape_bias.suite import decisions_from_logits

SUMMARY = "model-vs-human"  # records of the mean over datasets
BENCHMARK_CONDITION = "none"  # the headline: model-vs-human's benchmark conditions
PAIR_METRICS = ("error_consistency", "observed_consistency", "accuracy_difference")


# ---------------------------------------------------------------------------------------------
# trial tables and the pure metrics
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DecisionTable:
    """One observer's trials on one dataset (several subjects for the human reference)."""

    dataset: MvhDataset
    condition: np.ndarray
    category: np.ndarray
    image: np.ndarray  # model-vs-human image id: pairs trials across observers
    decision: np.ndarray
    subject: np.ndarray

    @classmethod
    def from_names(cls, dataset: MvhDataset, names: Iterable[str], decisions: np.ndarray,
                   subjects: np.ndarray | None = None) -> "DecisionTable":
        parsed = [parse_name(dataset, str(n)) for n in names]
        decisions = np.asarray(decisions).astype(str)
        return cls(
            dataset,
            np.array([p.condition for p in parsed]), np.array([p.category for p in parsed]),
            np.array([p.image_id for p in parsed]), decisions,
            np.full(len(decisions), "") if subjects is None else np.asarray(subjects).astype(str),
        )

    @property
    def correct(self) -> np.ndarray:
        return self.decision == self.category

    @property
    def subjects(self) -> list[str]:
        return sorted(set(self.subject.tolist()))

    def select(self, mask: np.ndarray) -> "DecisionTable":
        return DecisionTable(self.dataset, self.condition[mask], self.category[mask], self.image[mask],
                             self.decision[mask], self.subject[mask])


def error_consistency(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[float, float, float]:
    """(observed, expected, kappa) of two observers' per-trial correctness on the same trials
    (Geirhos et al. 2020); kappa = 1 when every trial agrees (model-vs-human's rule)."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    if a.shape != b.shape or a.size == 0:
        raise ValueError("error consistency needs two equally long, non-empty trial sequences")
    p1, p2 = a.mean(), b.mean()
    observed = float(np.mean(a == b))
    expected = float(p1 * p2 + (1 - p1) * (1 - p2))
    kappa = 1.0 if observed == 1.0 else (observed - expected) / (1 - expected)
    return observed, expected, float(kappa)


def _kappa_rows(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """error_consistency / observed_consistency / accuracy_difference over the last axis of
    aligned boolean arrays (broadcast: bootstrap resamples x subjects)."""
    p1, p2 = a.mean(-1), b.mean(-1)
    observed = (a == b).mean(-1)
    expected = p1 * p2 + (1 - p1) * (1 - p2)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(observed == 1.0, 1.0, (observed - expected) / (1 - expected))
    return {"error_consistency": kappa, "observed_consistency": observed, "accuracy_difference": (p1 - p2) ** 2}


@dataclass
class ConditionScores:
    """One condition: the model's values (full data) and their bootstrap draws, the humans'."""

    n: int
    values: dict[str, float]
    draws: dict[str, np.ndarray]  # metric -> (resamples,)
    human: dict[str, float] = field(default_factory=dict)


def _aligned_human(humans: DecisionTable, images: np.ndarray, subject: str) -> np.ndarray | None:
    """The subject's correctness on ``images`` (in that order), None if they lack one of them."""
    own = humans.select(humans.subject == subject)
    if not len(own.image):
        return None
    order = np.argsort(own.image)
    position = np.minimum(np.searchsorted(own.image[order], images), len(order) - 1)
    if not np.all(own.image[order][position] == images):
        return None
    return own.correct[order][position]


def human_ceiling(humans: DecisionTable, condition: str) -> dict[str, float]:
    """Human accuracy (mean, min, max over subjects) and the mean over subject pairs of error
    consistency, observed consistency and squared accuracy difference on one condition."""
    table = humans.select(humans.condition == condition)
    subjects = table.subjects
    accuracy = np.array([table.correct[table.subject == s].mean() for s in subjects])
    pairs: dict[str, list[float]] = {m: [] for m in PAIR_METRICS}
    images = np.sort(table.image[table.subject == subjects[0]])
    aligned = {s: _aligned_human(table, images, s) for s in subjects}
    for i, first in enumerate(subjects):
        for second in subjects[i + 1:]:
            if aligned[first] is None or aligned[second] is None:
                raise ValueError(f"{humans.dataset.name} {condition}: subjects saw different images")
            for metric, value in _kappa_rows(aligned[first], aligned[second]).items():
                pairs[metric].append(float(value))
    return {
        "human_accuracy": float(accuracy.mean()), "human_accuracy_min": float(accuracy.min()),
        "human_accuracy_max": float(accuracy.max()),
        **{f"human_{m}": float(np.mean(v)) if v else float("nan") for m, v in pairs.items()},
    }


def score_condition(model: DecisionTable, humans: DecisionTable, condition: str, model_name: str,
                    rng: np.random.Generator, resamples: int = DEFAULT_RESAMPLES) -> ConditionScores:
    """Model vs each human subject on one condition, on the images both saw (all of them for a
    complete stimulus set); the bootstrap resamples images, the same rows for model and humans."""
    own = model.select(model.condition == condition)
    correct = own.correct
    index = rng.integers(0, len(correct), (resamples, len(correct)))
    values = {"accuracy": float(correct.mean())}
    draws = {"accuracy": correct[index].mean(-1)}
    at_level = humans.select(humans.condition == condition)
    # consistency on the images the humans saw too, one decision per image (not a pooled observer)
    shared = np.isin(own.image, at_level.image)
    images, correct = own.image[shared], correct[shared]
    subjects = [s for s in at_level.subjects if s != model_name]
    columns = [c for c in (_aligned_human(at_level, images, s) for s in subjects) if c is not None]
    if columns and len(images) and len(np.unique(images)) == len(images):
        human = np.stack(columns)  # (subjects, images)
        for metric, per_subject in _kappa_rows(correct[None], human).items():
            values[metric] = float(per_subject.mean())
        index = rng.integers(0, len(images), (resamples, len(images)))
        for metric, per_subject in _kappa_rows(correct[index][None], human[:, index]).items():
            draws[metric] = per_subject.mean(0)
    return ConditionScores(len(own.image), values, draws, human_ceiling(humans, condition))


@dataclass
class DatasetScores:
    dataset: MvhDataset
    conditions: dict[str, ConditionScores]
    benchmark: ConditionScores | None  # None: none of the benchmark's conditions was answered


def score_dataset(model: DecisionTable, humans: DecisionTable, model_name: str, seed: int,
                  resamples: int = DEFAULT_RESAMPLES) -> DatasetScores:
    """Every condition the model answered, and model-vs-human's benchmark aggregate over the
    conditions it keeps: accuracy pooled over their trials, the rest averaged over them."""
    dataset = model.dataset
    rng = np.random.default_rng(seed)
    present = [c for c in dataset.conditions if np.any(model.condition == c)]
    conditions = {c: score_condition(model, humans, c, model_name, rng, resamples) for c in present}
    kept = [conditions[c] for c in dataset.benchmark_conditions if c in conditions]
    if not kept:
        return DatasetScores(dataset, conditions, None)
    weights = np.array([s.n for s in kept], float)
    values: dict[str, float] = {}
    draws: dict[str, np.ndarray] = {}
    for metric in ("accuracy", *PAIR_METRICS):
        if not all(metric in s.values for s in kept):
            continue
        w = weights if metric == "accuracy" else np.ones(len(kept))
        values[metric] = float(np.average([s.values[metric] for s in kept], weights=w))
        draws[metric] = np.average(np.stack([s.draws[metric] for s in kept]), axis=0, weights=w)
    human = {m: float(np.mean([s.human[m] for s in kept])) for m in kept[0].human}
    # each subject's accuracy pooled over the kept trials, as for a model: mean and range
    kept_names = [c for c in dataset.benchmark_conditions if c in conditions]
    pooled = humans.select(np.isin(humans.condition, kept_names))
    per_subject = np.array([pooled.correct[pooled.subject == s].mean() for s in pooled.subjects])
    human.update(human_accuracy=float(per_subject.mean()), human_accuracy_min=float(per_subject.min()),
                 human_accuracy_max=float(per_subject.max()))
    return DatasetScores(dataset, conditions, ConditionScores(int(weights.sum()), values, draws, human))


def _interval(draws: np.ndarray) -> tuple[float | None, float | None]:
    finite = draws[np.isfinite(draws)]
    if finite.size < 2:
        return None, None
    tail = (1 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


# ---------------------------------------------------------------------------------------------
# shipped references: every human trial, and ResNet-50's published decisions
# ---------------------------------------------------------------------------------------------

def _reference_files(observer: str, dataset: MvhDataset) -> list[Path]:
    if dataset.name == "cue-conflict":  # shipped once, with the shape-bias suite
        folder = resources.files("suites.shape_bias") / "reference"
        pattern = "cue-conflict_subject-*_session_1.csv" if observer == "humans" else f"cue-conflict_{observer}_session-1.csv"
    else:
        folder = resources.files("suites.human_ood") / "reference"
        if observer == "humans":
            folder, pattern = folder / "humans" / dataset.name, f"{dataset.name}_subject-*_session_1.csv.gz"
        else:
            folder, pattern = folder / observer, f"{dataset.name}_{observer}_session-1.csv.gz"
    return sorted(Path(str(folder)).glob(pattern))


@lru_cache(maxsize=None)
def reference_table(observer: str, name: str) -> DecisionTable:
    """``humans`` (every subject) or ``resnet50`` on the dataset ``name`` (model-vs-human name)."""
    dataset = BY_NAME[name]
    files = _reference_files(observer, dataset)
    if not files:
        raise FileNotFoundError(f"no shipped {observer} decisions for {name}")
    recorded = read_decisions(files)
    return DecisionTable.from_names(dataset, recorded.sample_ids, recorded.responses, recorded.subjects)


@lru_cache(maxsize=None)
def reference_scores(name: str) -> DatasetScores:
    """ResNet-50's published decisions scored exactly as a model under audit (for the figures)."""
    return score_dataset(reference_table("resnet50", name), reference_table("humans", name), "resnet50",
                         seed=0, resamples=2)


def decisions_csv(model: str, sample_ids: np.ndarray, table: DecisionTable) -> str:
    """model-vs-human's raw-data schema; the condition column as its files write it."""
    rows = (
        (model, 1, number, "NaN", decision, category, "NaN" if condition == "all" else condition, image)
        for number, (image, category, condition, decision)
        in enumerate(zip(sample_ids, table.category, table.condition, table.decision), 1)
    )
    return to_csv(DECISION_COLUMNS, rows)


# ---------------------------------------------------------------------------------------------
# the suite
# ---------------------------------------------------------------------------------------------

class HumanOodSuite(Suite):
    name = "human_ood"
    version = "0.1"
    description = ("model-vs-human's 17 OOD datasets: 16-class accuracy per condition and error "
                   "consistency with each human, beside the humans")
    datasets = tuple(d.catalog_name for d in BENCHMARK)
    better = {"accuracy": "higher", "error_consistency": "higher", "observed_consistency": "higher",
              "accuracy_difference": "lower"}
    title = "Human comparison (model-vs-human)"
    metrics = {
        "accuracy": Metric("16-class accuracy", "share of trials whose 16-class decision (mean softmax over each "
                           "category's ImageNet classes, then argmax) is the image's category (higher is better)", True),
        "error_consistency": Metric("error consistency", "Cohen's kappa of trial-by-trial errors with each human, "
                                    "(c_obs - c_exp) / (1 - c_exp) with c_exp = p1 p2 + (1 - p1)(1 - p2), averaged "
                                    "over subjects (Geirhos et al. 2020; higher is more human-like)"),
        "observed_consistency": Metric("observed consistency", "share of trials where the model and a human are "
                                       "both right or both wrong, averaged over subjects", True),
        "accuracy_difference": Metric("accuracy difference", "squared difference between the model's and each "
                                      "human's accuracy, averaged over subjects (model-vs-human; lower is closer)"),
        "human_accuracy": Metric("human accuracy", "the subjects' mean 16-class accuracy on the same condition", True),
        "human_accuracy_min": Metric("lowest human accuracy", "the least accurate subject's accuracy", True),
        "human_accuracy_max": Metric("highest human accuracy", "the most accurate subject's accuracy", True),
        "human_error_consistency": Metric("human ceiling of error consistency", "error consistency between every "
                                          "two subjects, averaged over the pairs"),
        "human_observed_consistency": Metric("human observed consistency", "observed consistency between every "
                                             "two subjects, averaged over the pairs", True),
        "human_accuracy_difference": Metric("human accuracy difference", "squared accuracy difference between "
                                            "every two subjects, averaged over the pairs"),
    }
    citations = (
        "@inproceedings{geirhos2021partial,\n  title = {Partial success in closing the gap between human and "
        "machine vision},\n  author = {Geirhos, Robert and Narayanappa, Kantharaju and Mitzkus, Benjamin and "
        "Thieringer, Tizian and Bethge, Matthias and Wichmann, Felix A. and Brendel, Wieland},\n  booktitle = "
        "{Advances in Neural Information Processing Systems},\n  year = {2021}\n}",
        "@inproceedings{geirhos2020beyond,\n  title = {Beyond accuracy: quantifying trial-by-trial behaviour of "
        "{CNN}s and humans by measuring error consistency},\n  author = {Geirhos, Robert and Meding, Kristof and "
        "Wichmann, Felix A.},\n  booktitle = {Advances in Neural Information Processing Systems},\n  year = {2020}\n}",
    )

    def requests(self) -> list[PredictionRequest]:
        return [PredictionRequest(name, "native") for name in self.datasets]

    def evaluate(self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int) -> SuiteOutput:
        from suites.human_ood.plots import (
            accuracy_vs_condition, consistency_per_dataset, error_consistency_vs_condition, shape_bias_vs_accuracy,
        )

        output = SuiteOutput()
        scored: dict[str, DatasetScores] = {}
        tables: dict[str, DecisionTable] = {}
        for request, prediction in predictions.items():
            dataset = BY_CATALOG_NAME[request.dataset]
            decisions = (prediction.decisions if prediction.decisions is not None
                         else decisions_from_logits(prediction.logits))
            table = DecisionTable.from_names(dataset, prediction.sample_ids, decisions)
            humans = reference_table("humans", dataset.name)
            scores = score_dataset(table, humans, model, seed)
            scored[dataset.name], tables[dataset.name] = scores, table
            output.records.extend(self._dataset_records(model, request.dataset, scores))
            if scores.benchmark is None:
                del scored[dataset.name]
                output.notices.append(Notice(self.name, request.dataset, (
                    f"none of the benchmark's conditions ({', '.join(dataset.benchmark_conditions)}) was answered: "
                    "per-condition records only, left out of the benchmark means")))
            output.notices.extend(self._coverage_notices(request.dataset, table, humans))
            output.per_sample[(request.dataset, request.condition)] = {
                "correct": table.correct, "decision": table.decision, "category": table.category,
                "condition": table.condition, "image_id": table.image,
                "dataset": np.full(len(table.decision), request.dataset),
            }
            if prediction.decisions is None:
                # model-vs-human's file names split on '_': the subject is one token
                subject = re.sub(r"[^A-Za-z0-9.-]+", "-", model).strip("-") or "model"
                output.files[f"mvh-raw-data/{dataset.name}/{dataset.name}_{subject}_session-1.csv"] = (
                    decisions_csv(subject, prediction.sample_ids, table))
        if not scored:
            return output
        output.records.extend(self._summary_records(model, scored))
        if len(scored) < len(BENCHMARK):
            output.notices.append(Notice(self.name, SUMMARY, (
                f"the benchmark means cover {len(scored)} of {len(BENCHMARK)} datasets "
                f"({', '.join(sorted(scored))}); model-vs-human's table averages all 17")))
        parametric = {n: s for n, s in scored.items() if s.dataset.parametric}
        if parametric:
            output.figures.append(SuiteFigure(SUMMARY, "accuracy_vs_condition", accuracy_vs_condition(model, parametric),
                "16-class accuracy per condition; humans: mean of the subjects, band = their range; "
                "ResNet-50 from its published decisions; dotted: chance (1/16)."))
            output.figures.append(SuiteFigure(SUMMARY, "error_consistency_vs_condition",
                error_consistency_vs_condition(model, parametric),
                "Error consistency (Cohen's kappa of trial-by-trial errors) with the human subjects per "
                "condition, averaged over subjects; humans: mean over subject pairs (the ceiling)."))
        output.figures.append(SuiteFigure(SUMMARY, "consistency_per_dataset", consistency_per_dataset(model, scored),
            "Per dataset (model-vs-human's benchmark conditions): error consistency and observed consistency "
            "with the humans, accuracy; humans = mean over subject pairs / subjects."))
        if "cue-conflict" in tables:
            output.figures.append(SuiteFigure(SUMMARY, "shape_bias_vs_ood_accuracy",
                shape_bias_vs_accuracy(model, scored, tables["cue-conflict"]),
                "Shape bias on cue-conflict against OOD accuracy (mean over the datasets audited, "
                "benchmark conditions), with ResNet-50 and the humans on the same datasets."))
        return output

    def _dataset_records(self, model: str, dataset: str, scores: DatasetScores) -> list[MetricRecord]:
        records = []
        conditions = scores.conditions.items() if scores.dataset.parametric else ()
        headline = [(BENCHMARK_CONDITION, scores.benchmark)] if scores.benchmark is not None else []
        for condition, condition_scores in [*conditions, *headline]:
            records.extend(self._records(model, dataset, condition, condition_scores))
        return records

    def _records(self, model: str, dataset: str, condition: str, scores: ConditionScores) -> list[MetricRecord]:
        records = []
        for metric, value in scores.values.items():
            low, high = _interval(scores.draws[metric])
            records.append(MetricRecord(model, self.name, dataset, condition, metric, value, low, high,
                                        scores.n, self.version))
        for metric, value in scores.human.items():
            records.append(MetricRecord(model, self.name, dataset, condition, metric, value, None, None,
                                        scores.n, self.version))
        return records

    def _summary_records(self, model: str, scored: dict[str, DatasetScores]) -> list[MetricRecord]:
        benchmarks = [s.benchmark for s in scored.values()]
        records = []
        for metric in ("accuracy", *PAIR_METRICS):
            if not all(metric in b.values for b in benchmarks):
                continue
            value = float(np.mean([b.values[metric] for b in benchmarks]))
            low, high = _interval(np.mean(np.stack([b.draws[metric] for b in benchmarks]), axis=0))
            records.append(MetricRecord(model, self.name, SUMMARY, BENCHMARK_CONDITION, metric, value, low, high,
                                        sum(b.n for b in benchmarks), self.version))
        for metric in benchmarks[0].human:
            value = float(np.mean([b.human[metric] for b in benchmarks]))
            records.append(MetricRecord(model, self.name, SUMMARY, BENCHMARK_CONDITION, metric, value, None, None,
                                        sum(b.n for b in benchmarks), self.version))
        records.append(MetricRecord(model, self.name, SUMMARY, BENCHMARK_CONDITION, "datasets", float(len(scored)),
                                    None, None, len(scored), self.version))
        return records

    def _coverage_notices(self, dataset: str, table: DecisionTable, humans: DecisionTable) -> list[Notice]:
        notices = []
        seen = set(zip(humans.condition.tolist(), humans.image.tolist()))
        mine = list(zip(table.condition.tolist(), table.image.tolist()))
        if len(set(mine)) < len(mine):
            notices.append(Notice(self.name, dataset, (
                "several trials per image (a pooled observer?): error consistency needs one decision per "
                "image and is left out; give one subject's file")))
        unknown = sum(1 for key in mine if key not in seen)
        if unknown:
            notices.append(Notice(self.name, dataset, (
                f"{unknown} of {len(mine)} images were never shown to the human subjects; error consistency "
                "uses the images both saw")))
        elif len(set(mine)) < len(seen):
            notices.append(Notice(self.name, dataset, (
                f"{len(set(mine))} of the {len(seen)} stimuli answered: the numbers are on that subset, "
                "not comparable with model-vs-human's")))
        return notices

    # paired comparisons (audit compare): accuracy per condition is a mean of per-trial hits
    def sample_hits(self, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
        dataset = BY_CATALOG_NAME[str(arrays["dataset"][0])] if len(arrays["dataset"]) else None
        if dataset is None:
            return {}
        hits = {}
        if dataset.parametric:
            for level in dataset.conditions:
                mask = arrays["condition"] == level
                if mask.any():
                    hits[(level, "accuracy")] = arrays["correct"][mask]
        kept = np.isin(arrays["condition"], dataset.benchmark_conditions) if dataset.parametric else slice(None)
        hits[(BENCHMARK_CONDITION, "accuracy")] = arrays["correct"][kept]
        return hits

    def sample_metrics(self, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        """Accuracy and error consistency per condition and for the benchmark conditions, from
        per-trial arrays (rows may be a subset or a resample), against the shipped humans."""
        metrics = {key: float(np.mean(hits)) for key, hits in self.sample_hits(condition, arrays).items() if len(hits)}
        if not len(arrays["dataset"]):
            return metrics
        dataset = BY_CATALOG_NAME[str(arrays["dataset"][0])]
        humans = reference_table("humans", dataset.name)
        kappas = []
        for level in dataset.conditions:
            mask = arrays["condition"] == level
            if not mask.any():  # a resample without this level: NaN, not a missing key
                if dataset.parametric:
                    metrics.update({(level, "accuracy"): float("nan"), (level, "error_consistency"): float("nan")})
                continue
            images, correct = arrays["image_id"][mask], arrays["correct"][mask]
            at_level = humans.select(humans.condition == level)
            columns = [c for c in (_aligned_human(at_level, images, s) for s in at_level.subjects) if c is not None]
            if not columns:
                continue
            kappa = float(_kappa_rows(correct[None], np.stack(columns))["error_consistency"].mean())
            if dataset.parametric:
                metrics[(level, "error_consistency")] = kappa
            if level in dataset.benchmark_conditions or not dataset.parametric:
                kappas.append(kappa)
        metrics.setdefault((BENCHMARK_CONDITION, "accuracy"), float("nan"))
        metrics[(BENCHMARK_CONDITION, "error_consistency")] = float(np.mean(kappas)) if kappas else float("nan")
        return metrics
