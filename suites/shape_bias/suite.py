"""Shape bias on the cue-conflict stimuli (Geirhos et al., ICLR 2019; model-vs-human).

Protocol (PROTOCOLS.md "Shape bias"; the paper's Sec. "Shape / texture bias"):
- 1280 stimuli; shape = folder, texture = file name after the last '-' (digits, '.png'
  stripped). The 80 stimuli with shape == texture carry no conflict and are excluded.
- Input: the 224x224 stimuli with NO resize or crop, the model's mean/std (store condition
  ``native``; for open_clip models this equals their preprocess on a 224 image).
- 16-class decision: softmax over all 1000 logits; for each category the MEAN probability of
  its ImageNet indices (``CATEGORY_INDICES``); decision = argmax over the 16 categories.
- shape_bias = shape hits / (shape hits + texture hits) over conflict trials, pooled; per
  category (condition = the SHAPE category) the same over that category's trials.
- shape_match / texture_match / neither: the fractions of the CONFLICT trials decided as the
  shape, the texture or neither; one denominator, so the three sum to 1 and every record's ``n``
  is the number of conflict trials (1200 for one observer on all stimuli). Deviation:
  model-vs-human's ``ShapeBias`` analysis divides its shape/texture fractions by all 1280 rows
  (so its fractions are ours x 1200/1280 and do not sum to 1 with "neither").
- shape_hits / texture_hits / conflict_trials: exact counts, no CI.
- A category without a conflict trial (``--limit``, a partial folder) is reported absent in a
  notice, with no record; the pooled figures use the trials present.
- Degenerate answers: when one class takes more than ``DEGENERATE_SHARE`` (half) of the
  decisions, a notice says so: a model answering one class always scores about 0.5 (that class
  is the shape of about as many stimuli as it is the texture of), which is not a shape bias.
95 % bootstrap CIs over conflict trials (images; for a pooled observer, subject x image trials).
Paper (ViT-sup / ConvNeXt-sup / ViT-CLIP / ConvNeXt-CLIP): 39.9 / 33.3 / 46.5 / 42.4 %.
Recorded observers (``decisions:PATH``, humans) go through the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Mapping

import numpy as np

from auditkit.adapters.observers import DECISION_COLUMNS, to_csv
from auditkit.data.cue_conflict import CATEGORIES, parse_stimulus
from auditkit.records import MetricRecord, Notice, Skipped
from auditkit.stats import bootstrap_intervals, log_softmax
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput


def _span(first: int, last: int) -> list[int]:
    return list(range(first, last + 1))


# ImageNet indices of each category (PROTOCOLS.md; model-vs-human decision_mappings).
CATEGORY_INDICES: dict[str, list[int]] = {
    "airplane": [404],
    "bear": _span(294, 297),
    "bicycle": [444, 671],
    "bird": [8, *_span(10, 16), *_span(18, 20), *_span(22, 24), *_span(80, 83), *_span(87, 96),
             *_span(98, 100), *_span(127, 133), *_span(135, 145)],
    "boat": [472, 554, 625, 814, 914],
    "bottle": [440, 720, 737, 898, 899, 901, 907],
    "car": [436, 511, 817],
    "cat": _span(281, 286),
    "chair": [423, 559, 765, 857],
    "clock": [409, 530, 892],
    "dog": [*_span(152, 191), *_span(193, 203), *_span(205, 226), *_span(228, 241),
            *_span(243, 250), *_span(252, 257), 259, *_span(261, 263), *_span(265, 268)],
    "elephant": [385, 386],
    "keyboard": [508, 878],
    "knife": [499],
    "oven": [766],
    "truck": [555, 569, 656, 675, 717, 734, 864, 867],
}
assert tuple(CATEGORY_INDICES) == CATEGORIES


def decisions_from_logits(logits: np.ndarray) -> np.ndarray:
    """16-class decisions: argmax over categories of the mean softmax probability."""
    probabilities = np.exp(log_softmax(logits))
    category_scores = np.stack(
        [probabilities[:, CATEGORY_INDICES[c]].mean(axis=1) for c in CATEGORIES], axis=1
    )
    return np.array(CATEGORIES)[category_scores.argmax(axis=1)]


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


def _rates(trials: Trials) -> np.ndarray:
    counts = count(trials)
    return np.array([getattr(counts, m) for m in RATE_METRICS])


@lru_cache(maxsize=None)
def reference_trials(observer: str) -> Trials:
    """Shipped published decisions: ``humans`` (ten subjects pooled) or ``resnet50``."""
    from auditkit.adapters.observers import read_decisions

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
    return {c: count(trials.subset(trials.shape == c)).shape_bias for c in CATEGORIES}


def decisions_csv(model: str, sample_ids: np.ndarray, trials: Trials) -> str:
    """The decisions in model-vs-human's raw-data schema, ready to drop into its pipeline."""
    rows = (
        (model, 1, number, "NaN", decision, shape, 0, image)
        for number, (image, shape, decision) in enumerate(zip(sample_ids, trials.shape, trials.decision), 1)
    )
    return to_csv(DECISION_COLUMNS, rows)


class ShapeBiasSuite(Suite):
    name = "shape_bias"
    version = "1.1"  # 1.1: shape_match / texture_match over the conflict trials (was: all trials)
    description = "cue-conflict shape vs texture decisions (16 classes), vs humans and ResNet-50"
    datasets = ("cue-conflict",)
    title = "Shape bias"
    metrics = {
        "shape_bias": Metric("shape bias", "shape decisions / (shape + texture decisions) on the cue-conflict "
                             "trials (1 = all shape, 0 = all texture; Geirhos et al. 2019)", True),
        "shape_match": Metric("shape match", "share of cue-conflict trials decided as the shape's category", True),
        "texture_match": Metric("texture match", "share of cue-conflict trials decided as the texture's category", True),
        "neither": Metric("neither", "share of cue-conflict trials decided as neither the shape's nor the "
                          "texture's category", True),
        "shape_hits": Metric("shape decisions", "number of cue-conflict trials decided as the shape's category"),
        "texture_hits": Metric("texture decisions", "number of cue-conflict trials decided as the texture's category"),
        "conflict_trials": Metric("cue-conflict trials", "number of stimuli whose shape and texture categories "
                                  "differ (n of the rates)"),
    }

    def requests(self) -> list[PredictionRequest]:
        return [PredictionRequest("cue-conflict", "native")]

    def sample_hits(self, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
        return {}  # no record here is a mean of per-trial hits

    def sample_metrics(self, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        """The rates (condition none) and per-category shape bias, from per-trial decisions; the
        records sit under condition none although the stimuli are requested as ``native``."""
        trials = Trials(arrays["shape"], arrays["texture"], arrays["decision"])
        metrics = {("none", m): float(v) for m, v in zip(RATE_METRICS, _rates(trials))}
        for category, value in per_category_shape_bias(trials).items():
            metrics[(category, "shape_bias")] = float(value)
        return metrics

    def paper_figures(self, samples: Mapping[str, Mapping[tuple[str, str], Mapping[str, np.ndarray]]],
                      width: float) -> list[SuiteFigure]:
        """Each model's per-category shape bias against the ten humans and ResNet-50, for export."""
        from suites.shape_bias.plots import per_category_plot

        figures = []
        humans, resnet50 = reference_trials("humans"), reference_trials("resnet50")
        for model, by_request in samples.items():
            for (dataset, _), arrays in by_request.items():
                trials = Trials(np.asarray(arrays["shape"]), np.asarray(arrays["texture"]), np.asarray(arrays["decision"]))
                figure = per_category_plot(model, trials, humans, resnet50)
                axis = figure.axes[0]
                axis.set_title(f"Shape bias per category: {model}")
                # at a column's width the legend takes one column, so it fits the exact width exported
                handles, labels = axis.get_legend_handles_labels()
                columns = 1 if width < 5 else 2
                axis.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=columns,
                            fontsize="x-small", frameon=False)
                figure.set_size_inches(width, width * (1.45 if columns == 1 else 1.0))
                figure.tight_layout()
                figures.append(SuiteFigure(dataset, f"shape_bias_per_category__{model}", figure,
                                           "Shape bias per category against ten humans and ResNet-50"))
        return figures

    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        from suites.shape_bias.plots import decision_breakdown, per_category_plot

        output = SuiteOutput()
        for request, prediction in predictions.items():
            decisions = (
                prediction.decisions if prediction.decisions is not None
                else decisions_from_logits(prediction.logits)
            )
            trials = Trials.from_ids(prediction.sample_ids, decisions)
            pooled = count(trials)
            if not pooled.conflict_trials:
                output.skipped.append(Skipped(
                    self.name, request.dataset,
                    f"none of the {pooled.trials} stimuli is a cue conflict (shape and texture differ "
                    "in 1200 of the 1280): give more of them (raise --limit)",
                ))
                continue
            output.records.extend(self._records(model, request.dataset, "none", trials, seed))
            absent = []
            for category in CATEGORIES:
                selected = trials.subset(trials.shape == category)
                if not count(selected).conflict_trials:
                    absent.append(category)
                    continue
                output.records.extend(self._records(model, request.dataset, category, selected, seed,
                                                    only=("shape_bias",)))
            if absent:
                output.notices.append(Notice(
                    self.name, request.dataset,
                    f"no conflict trial with shape {', '.join(absent)} ({len(absent)} of {len(CATEGORIES)} "
                    f"categories): absent from the per-category results; the pooled figures use the "
                    f"{pooled.conflict_trials} conflict trials present",
                ))
            dominant = dominant_answer(trials)
            if dominant is not None and dominant[1] > DEGENERATE_SHARE:
                output.notices.append(Notice(
                    self.name, request.dataset,
                    f"degenerate answers: {dominant[0]!r} on {dominant[1]:.0%} of the {pooled.conflict_trials} "
                    f"conflict trials; a one-class observer scores about 0.5 whatever it sees, so this shape "
                    "bias says little (check the model's class order and preprocessing)",
                ))
            output.per_sample[(request.dataset, request.condition)] = {
                "shape": trials.shape, "texture": trials.texture, "decision": trials.decision,
            }
            if prediction.decisions is None:
                output.files["decisions.csv"] = decisions_csv(model, prediction.sample_ids, trials)
            humans, resnet50 = reference_trials("humans"), reference_trials("resnet50")
            output.figures.append(SuiteFigure(
                request.dataset, "shape_bias_per_category",
                per_category_plot(model, trials, humans, resnet50),
                "Shape bias per category (model-vs-human style): fraction of shape decisions among "
                "shape-or-texture decisions; humans: mean of ten subjects, bar = their range.",
            ))
            output.figures.append(SuiteFigure(
                request.dataset, "decision_breakdown",
                decision_breakdown(model, trials, humans, resnet50),
                f"Decisions on the cue-conflict trials (shape and texture differ; {model}: "
                f"{pooled.conflict_trials}, ResNet-50: {count(resnet50).conflict_trials}, humans: "
                f"{count(humans).conflict_trials} pooled): fractions shape, texture or neither of "
                "each observer's conflict trials, summing to 1 (the records shape_match, "
                "texture_match, neither).",
            ))
        return output

    def _records(
        self, model: str, dataset: str, condition: str, trials: Trials, seed: int,
        only: tuple[str, ...] = RATE_METRICS,
    ) -> list[MetricRecord]:
        counts = count(trials)
        # every rate is a fraction of the conflict trials: resample those
        conflict = trials.subset(trials.conflict)
        low, high = bootstrap_intervals(lambda index: _rates(conflict.subset(index)), len(conflict.decision), seed=seed)
        records = []
        for k, metric in enumerate(RATE_METRICS):
            if metric not in only:
                continue
            records.append(MetricRecord(
                model=model, suite=self.name, dataset=dataset, condition=condition, metric=metric,
                value=float(getattr(counts, metric)), ci_low=float(low[k]), ci_high=float(high[k]),
                n=counts.conflict_trials, suite_version=self.version,
            ))
        if condition == "none":
            for metric in ("shape_hits", "texture_hits", "conflict_trials"):
                # hits are counted among the conflict trials; those among all trials
                records.append(MetricRecord(
                    model=model, suite=self.name, dataset=dataset, condition=condition, metric=metric,
                    value=float(getattr(counts, metric)), ci_low=None, ci_high=None,
                    n=counts.trials if metric == "conflict_trials" else counts.conflict_trials,
                    suite_version=self.version,
                ))
        return records
