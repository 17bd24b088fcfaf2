"""Shape-bias metrics over trial tables (Geirhos et al., ICLR 2019; model-vs-human's ``ShapeBias``):
the counts and rates, and ``metric_values``, the one function both the suite's records and its
``sample_metrics`` (paired comparisons) take their values from. Shared by ``suite.py`` and
``plots.py``. The 16-class decision rule is ``auditkit.data.label_spaces.SIXTEEN_CLASSES``,
shared with human_ood.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from auditkit.data.answer_files import DECISION_COLUMNS, to_csv
from auditkit.data.cue_conflict import CATEGORIES, parse_stimulus
from auditkit.records import ALL


@dataclass(frozen=True)
class Trials:
    """Per trial: the stimulus' shape and texture, and the observer's decision."""

    shape: np.ndarray
    texture: np.ndarray
    decision: np.ndarray
    subject: np.ndarray | None = None  # for pooled observers (humans)

    @classmethod
    def from_ids(
        cls, sample_ids: np.ndarray, decisions: np.ndarray, subjects: np.ndarray | None = None
    ) -> "Trials":
        parsed = [parse_stimulus(str(i)) for i in sample_ids]
        return cls(
            shape=np.array([p[0] for p in parsed]),
            texture=np.array([p[1] for p in parsed]),
            decision=np.asarray(decisions),
            subject=subjects,
        )

    def subset(self, index: np.ndarray) -> "Trials":
        subject = None if self.subject is None else self.subject[index]
        return Trials(self.shape[index], self.texture[index], self.decision[index], subject)

    @property
    def conflict(self) -> np.ndarray:
        return self.shape != self.texture


@dataclass(frozen=True)
class Counts:
    trials: int
    conflict_trials: int
    shape_hits: int
    texture_hits: int

    @property
    def shape_bias(self) -> float:
        hits = self.shape_hits + self.texture_hits
        return self.shape_hits / hits if hits else float("nan")

    def _of_conflict(self, hits: int) -> float:
        # NaN, not a ZeroDivisionError, for a resample or a category without conflict trials
        return hits / self.conflict_trials if self.conflict_trials else float("nan")

    @property
    def shape_match(self) -> float:
        return self._of_conflict(self.shape_hits)

    @property
    def texture_match(self) -> float:
        return self._of_conflict(self.texture_hits)

    @property
    def neither(self) -> float:
        return self._of_conflict(self.conflict_trials - self.shape_hits - self.texture_hits)


def count(trials: Trials) -> Counts:
    conflict = trials.conflict
    return Counts(
        trials=len(trials.decision),
        conflict_trials=int(conflict.sum()),
        shape_hits=int(np.sum(conflict & (trials.decision == trials.shape))),
        texture_hits=int(np.sum(conflict & (trials.decision == trials.texture))),
    )


RATE_METRICS = ("shape_bias", "shape_match", "texture_match", "neither")


def rates(trials: Trials) -> np.ndarray:
    """The RATE_METRICS of ``trials``, in that order (what the bootstrap resamples)."""
    counts = count(trials)
    return np.array([getattr(counts, m) for m in RATE_METRICS])


@lru_cache(maxsize=None)
def reference_trials(observer: str) -> Trials:
    """Shipped published decisions: ``humans`` (ten subjects pooled) or ``resnet50``."""
    from auditkit.data.answer_files import read_decisions

    folder = resources.files("suites.shape_bias") / "reference"
    pattern = "cue-conflict_subject-*_session_1.csv" if observer == "humans" else f"cue-conflict_{observer}_session-1.csv"
    with resources.as_file(folder) as path:
        recorded = read_decisions(sorted(path.glob(pattern)))
    return Trials.from_ids(recorded.sample_ids, recorded.responses, recorded.subjects)


DEGENERATE_SHARE = 0.5  # one class for more than half the conflict trials: "most trials"


def dominant_answer(trials: Trials) -> tuple[str, float] | None:
    """The most frequent decision among the conflict trials and its share (None without any)."""
    decisions = trials.decision[trials.conflict]
    if not len(decisions):
        return None
    values, counts = np.unique(decisions, return_counts=True)
    return str(values[counts.argmax()]), float(counts.max() / len(decisions))


def per_category_shape_bias(trials: Trials) -> dict[str, float]:
    """Shape bias over each shape category's trials (NaN for a category without a conflict trial)."""
    return {c: count(trials.subset(trials.shape == c)).shape_bias for c in CATEGORIES}


COUNT_METRICS = ("shape_hits", "texture_hits", "conflict_trials")


def metric_values(trials: Trials) -> dict[tuple[str, str], float]:
    """Every shape-bias metric of ``trials``, keyed by its record's (subset, metric): the rates and
    counts over all conflict trials (subset ``all``) and the shape bias of each shape category
    (subset = the category; NaN where it has no conflict trial, and then no record). The records
    and ``ShapeBiasSuite.sample_metrics`` both take their values from here."""
    counts = count(trials)
    values = {(ALL, metric): float(getattr(counts, metric)) for metric in (*RATE_METRICS, *COUNT_METRICS)}
    for category, value in per_category_shape_bias(trials).items():
        values[(category, "shape_bias")] = float(value)
    return values


def decisions_csv(model: str, sample_ids: np.ndarray, trials: Trials) -> str:
    """The decisions in model-vs-human's raw-data schema, ready to drop into its pipeline."""
    rows = (
        (model, 1, number, "NaN", decision, shape, 0, image)
        for number, (image, shape, decision) in enumerate(zip(sample_ids, trials.shape, trials.decision), 1)
    )
    return to_csv(DECISION_COLUMNS, rows)
