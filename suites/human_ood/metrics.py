"""model-vs-human metrics over trial tables (Geirhos et al., NeurIPS 2020 and 2021): accuracy, error
consistency, the human ceiling, model-vs-human's benchmark aggregate, and the shipped references.
``condition_values`` and ``benchmark_values`` are the one definition of the model's metrics: the
suite's records and its ``sample_metrics`` (paired comparisons) both take their values from them.
Shared by ``suite.py`` and ``plots.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Iterable

import numpy as np

from auditkit.data.answer_files import DECISION_COLUMNS, read_decisions, to_csv
from auditkit.data.model_vs_human import BENCHMARK, BY_NAME, MvhDataset, parse_name  # noqa: F401 (BENCHMARK: plots)
from auditkit.stats import CI_LEVEL, DEFAULT_RESAMPLES

SUMMARY = "model-vs-human"  # the dataset of the records of the mean over datasets
CONDITION = "native"  # the stimuli at their size, no resize or crop: the request and the records' condition
BENCHMARK_SUBSET = "benchmark"  # the headline: model-vs-human's benchmark conditions of a dataset
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


def condition_values(correct: np.ndarray, images: np.ndarray, at_level: DecisionTable, model_name: str = "",
                     pairable: bool = True) -> dict[str, float]:
    """The model's metrics on one distortion level: ``accuracy`` over its trials and, on the
    images the human subjects saw too, ``PAIR_METRICS`` averaged over the subjects (the model
    itself left out when it is one of them). ``pairable`` False (several trials per image: a
    pooled observer) leaves the consistencies out. Rows may repeat (a bootstrap resample)."""
    values = {"accuracy": float(np.mean(correct)) if len(correct) else float("nan")}
    shared = np.isin(images, at_level.image)
    images, correct = images[shared], correct[shared]
    if not pairable or not len(images):
        return values
    subjects = [s for s in at_level.subjects if s != model_name]
    columns = [c for c in (_aligned_human(at_level, images, s) for s in subjects) if c is not None]
    if columns:
        for metric, per_subject in _kappa_rows(correct[None], np.stack(columns)).items():
            values[metric] = float(per_subject.mean())
    return values


def benchmark_values(levels: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """model-vs-human's aggregate over a dataset's benchmark levels, from (trials, values) per
    level: accuracy pooled over the trials (weighted by them), the consistencies and the accuracy
    difference averaged over the levels that have them."""
    values: dict[str, float] = {}
    if not levels:
        return values
    weights = np.array([n for n, _ in levels], float)
    values["accuracy"] = float(np.average([v["accuracy"] for _, v in levels], weights=weights))
    for metric in PAIR_METRICS:
        if all(metric in v for _, v in levels):
            values[metric] = float(np.mean([v[metric] for _, v in levels]))
    return values


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
    at_level = humans.select(humans.condition == condition)
    # consistency needs one decision per image (not a pooled observer)
    values = condition_values(correct, own.image, at_level, model_name,
                              pairable=len(np.unique(own.image)) == len(own.image))
    index = rng.integers(0, len(correct), (resamples, len(correct)))
    draws = {"accuracy": correct[index].mean(-1)}
    if "error_consistency" in values:
        # the same images and subjects as the values, resampled together
        shared = np.isin(own.image, at_level.image)
        images, correct = own.image[shared], correct[shared]
        subjects = [s for s in at_level.subjects if s != model_name]
        human = np.stack([c for c in (_aligned_human(at_level, images, s) for s in subjects) if c is not None])
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
    values = benchmark_values([(s.n, s.values) for s in kept])
    draws: dict[str, np.ndarray] = {}
    for metric in values:
        w = weights if metric == "accuracy" else np.ones(len(kept))
        draws[metric] = np.average(np.stack([s.draws[metric] for s in kept]), axis=0, weights=w)
    human = {m: float(np.mean([s.human[m] for s in kept])) for m in kept[0].human}
    # each subject's accuracy pooled over the kept trials, as for a model: mean and range
    kept_names = [c for c in dataset.benchmark_conditions if c in conditions]
    pooled = humans.select(np.isin(humans.condition, kept_names))
    per_subject = np.array([pooled.correct[pooled.subject == s].mean() for s in pooled.subjects])
    human.update(human_accuracy=float(per_subject.mean()), human_accuracy_min=float(per_subject.min()),
                 human_accuracy_max=float(per_subject.max()))
    return DatasetScores(dataset, conditions, ConditionScores(int(weights.sum()), values, draws, human))


def interval(draws: np.ndarray) -> tuple[float | None, float | None]:
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
