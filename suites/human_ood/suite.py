"""Human comparison on model-vs-human's 17 out-of-distribution datasets (Geirhos et al., NeurIPS 2021).

Protocol (docs/protocols.md "Human comparison beyond shape bias"; model-vs-human ``plotting/analyses.py``
and ``plotting/plot.py``, read, not copied):
- Datasets: colour, contrast, high-pass, low-pass, phase-scrambling, power-equalisation,
  false-colour, rotation, eidolon I/II/III, uniform-noise (parametric: conditions are the
  distortion's levels), sketch, stylized, edge, silhouette, cue-conflict (one condition each).
  Stimuli fed at their size (224) with no resize or crop (store condition ``native``), as
  model-vs-human does; every record sits at condition ``native``, the distortion level (what
  model-vs-human calls a condition) in ``subset``.
- 16-class decision exactly as the shape-bias suite makes it (the shared label-space mapping
  ``auditkit.data.label_spaces.SIXTEEN_CLASSES``: mean softmax probability of each category's
  ImageNet indices, argmax). Correct if the decision is
  the stimulus' category (cue-conflict: the shape); a human's ``na`` is an error.
- ``accuracy`` per level; humans beside it: ``human_accuracy`` (mean over subjects),
  ``human_accuracy_min`` / ``human_accuracy_max`` (their range).
- Error consistency (Geirhos, Meding & Wichmann, NeurIPS 2020) of two observers on the same
  trials (matched by model-vs-human's image id): c_obs = fraction of trials both got right or
  both wrong; c_exp = p1 p2 + (1 - p1)(1 - p2) from their accuracies on those trials; kappa =
  (c_obs - c_exp) / (1 - c_exp), and 1 when c_obs = 1 (model-vs-human's rule).
  ``error_consistency`` / ``observed_consistency`` per condition = mean over the human subjects
  of the model-vs-subject value; ``accuracy_difference`` = mean over subjects of (p_model -
  p_subject)^2. ``human_*``: the same between every pair of subjects, averaged over pairs (the
  ceiling; a human observer is compared with the other subjects only).
- subset ``benchmark`` (the headline) of each dataset: model-vs-human's benchmark leaves out each
  parametric dataset's control condition and the levels where humans are below 0.2
  (EXCLUDE_CONDITIONS); accuracy is pooled over the remaining trials, the consistencies and the
  accuracy difference are averaged over the remaining conditions (per subject, then over
  subjects). Dataset ``model-vs-human``, subset ``benchmark``: the mean over the datasets
  present (docs/suites/human_ood.md's table: OOD accuracy, accuracy difference, observed and error
  consistency, all 17 datasets; ResNet-50 .559 / .087 / .665 / .208, reproduced from its
  published decisions in tests), with ``datasets`` = how many.
95 % CIs: bootstrap over images within each condition (model and humans resampled together),
stratified over conditions and datasets for the means; human records have none.
"""

from __future__ import annotations

import re
from typing import Mapping

import numpy as np

from auditkit.data.label_spaces import SIXTEEN_CLASSES
from auditkit.data.model_vs_human import BENCHMARK, BY_CATALOG_NAME
from auditkit.records import MetricRecord, Notice
from auditkit.suite import PLAIN_CONDITIONS, Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput
from suites.human_ood.metrics import (  # noqa: F401 (error_consistency, score_condition: this suite's public names)
    BENCHMARK_SUBSET,
    CONDITION,
    PAIR_METRICS,
    SUMMARY,
    ConditionScores,
    DatasetScores,
    DecisionTable,
    benchmark_values,
    condition_values,
    decisions_csv,
    error_consistency,
    interval,
    reference_table,
    score_condition,
    score_dataset,
)


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

    accepts = ("logits", "decisions")

    def headline(self, record: MetricRecord) -> bool:
        """Model-vs-human's published headline: each dataset's ``benchmark`` subset (its benchmark
        conditions), and the means over the datasets (dataset ``model-vs-human``)."""
        if record.subset == BENCHMARK_SUBSET:
            return not record.aggregate and record.condition in PLAIN_CONDITIONS
        return super().headline(record)

    def requests(self) -> list[PredictionRequest]:
        return [PredictionRequest(name, CONDITION) for name in self.datasets]

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
                         else SIXTEEN_CLASSES.decisions_from_logits(prediction.logits))
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
            # ``level``: the distortion level of each trial (the records' subset)
            output.add_samples(prediction, {
                "correct": table.correct, "decision": table.decision, "category": table.category,
                "level": table.condition, "image_id": table.image,
            })
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
        levels = scores.conditions.items() if scores.dataset.parametric else ()
        headline = [(BENCHMARK_SUBSET, scores.benchmark)] if scores.benchmark is not None else []
        for subset, subset_scores in [*levels, *headline]:
            records.extend(self._records(model, dataset, subset, subset_scores))
        return records

    def _records(self, model: str, dataset: str, subset: str, scores: ConditionScores) -> list[MetricRecord]:
        records = [self.record(model, dataset=dataset, condition=CONDITION, subset=subset, metric=metric, value=value,
                               ci=None if None in (ci := interval(scores.draws[metric])) else ci, n=scores.n)
                   for metric, value in scores.values.items()]
        records.extend(self.record(model, dataset=dataset, condition=CONDITION, subset=subset, metric=metric,
                                   value=value, n=scores.n) for metric, value in scores.human.items())
        return records

    def _summary_records(self, model: str, scored: dict[str, DatasetScores]) -> list[MetricRecord]:
        """Dataset ``model-vs-human``: the means over the datasets' benchmark aggregates."""
        benchmarks = [s.benchmark for s in scored.values()]
        n = sum(b.n for b in benchmarks)
        records = []

        def add(metric: str, value: float, ci: tuple[float | None, float | None] = (None, None), count: int = n) -> None:
            records.append(self.record(model, dataset=SUMMARY, condition=CONDITION, subset=BENCHMARK_SUBSET,
                                       metric=metric, value=value, ci=None if None in ci else ci, n=count))

        for metric in ("accuracy", *PAIR_METRICS):
            if all(metric in b.values for b in benchmarks):
                add(metric, float(np.mean([b.values[metric] for b in benchmarks])),
                    interval(np.mean(np.stack([b.draws[metric] for b in benchmarks]), axis=0)))
        for metric in benchmarks[0].human:
            add(metric, float(np.mean([b.human[metric] for b in benchmarks])))
        add("datasets", float(len(scored)), count=len(scored))
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

    # paired comparisons (audit compare): accuracy per level is a mean of per-trial hits
    def sample_hits(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
        described = BY_CATALOG_NAME[dataset]
        levels = arrays["level"]
        hits = {}
        if described.parametric:
            for level in described.conditions:
                if np.any(levels == level):
                    hits[(level, "accuracy")] = arrays["correct"][levels == level]
        kept = np.isin(levels, described.benchmark_conditions)
        if kept.any():
            hits[(BENCHMARK_SUBSET, "accuracy")] = arrays["correct"][kept]
        return hits

    def sample_metrics(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        """The records' values per level and for the benchmark levels (``condition_values``,
        ``benchmark_values``) from per-trial arrays against the shipped humans; rows may be a
        subset or a resample (a level a resample lacks: NaN, not a missing key)."""
        described = BY_CATALOG_NAME[dataset]
        humans = reference_table("humans", described.name)
        levels = arrays["level"]
        metrics: dict[tuple[str, str], float] = {}
        kept = []
        for level in described.conditions:
            mask = levels == level
            if not mask.any():
                if described.parametric:
                    metrics.update({(level, m): float("nan") for m in ("accuracy", *PAIR_METRICS)})
                continue
            values = condition_values(arrays["correct"][mask], arrays["image_id"][mask],
                                      humans.select(humans.condition == level))
            if described.parametric:
                metrics.update({(level, m): v for m, v in values.items()})
            if level in described.benchmark_conditions:
                kept.append((int(mask.sum()), values))
        benchmark = benchmark_values(kept)
        for metric in ("accuracy", *PAIR_METRICS):
            metrics[(BENCHMARK_SUBSET, metric)] = benchmark.get(metric, float("nan"))
        return metrics
