"""Shape bias on the cue-conflict stimuli (Geirhos et al., ICLR 2019; model-vs-human).

Protocol (docs/protocols.md "Shape bias"; the paper's Sec. "Shape / texture bias"):
- 1280 stimuli; shape = folder, texture = file name after the last '-' (digits, '.png'
  stripped). The 80 stimuli with shape == texture carry no conflict and are excluded.
- Input: the 224x224 stimuli with NO resize or crop, the model's mean/std (store condition
  ``native``; for open_clip models this equals their preprocess on a 224 image).
- 16-class decision: softmax over all 1000 logits; for each category the MEAN probability of
  its ImageNet indices; decision = argmax over the 16 categories (the shared label-space mapping
  ``auditkit.data.label_spaces.SIXTEEN_CLASSES``, human_ood's too).
- shape_bias = shape hits / (shape hits + texture hits) over conflict trials, pooled (subset
  ``all``); per category (subset = the SHAPE category) the same over that category's trials.
- Records sit at dataset ``cue-conflict``, condition ``native`` (the input transform requested).
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

from typing import Mapping

import numpy as np

from auditkit.data.cue_conflict import CATEGORIES
from auditkit.data.label_spaces import SIXTEEN_CLASSES
from auditkit.records import ALL, MetricRecord, Notice, Skipped
from auditkit.stats import bootstrap_intervals
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput
from suites.shape_bias.metrics import (  # noqa: F401 (decisions_csv: this module's public name)
    COUNT_METRICS,
    DEGENERATE_SHARE,
    RATE_METRICS,
    Trials,
    count,
    decisions_csv,
    dominant_answer,
    metric_values,
    rates,
    reference_trials,
)

CONDITION = "native"  # the stimuli at their size, no resize or crop: the request and the records' condition


class ShapeBiasSuite(Suite):
    name = "shape_bias"
    version = "1.1"  # 1.1: shape_match / texture_match over the conflict trials (was: all trials)
    # BibTeX of the protocol this suite follows (audit export's CITATIONS.bib)
    citations = (
        """@inproceedings{geirhos2019imagenettrained,
  title = {{ImageNet}-trained {CNNs} are biased towards texture; increasing shape bias improves accuracy and robustness},
  author = {Geirhos, Robert and Rubisch, Patricia and Michaelis, Claudio and Bethge, Matthias and Wichmann, Felix A. and Brendel, Wieland},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2019}
}""",
        """@inproceedings{geirhos2021partial,
  title = {Partial success in closing the gap between human and machine vision},
  author = {Geirhos, Robert and Narayanappa, Kantharaju and Mitzkus, Benjamin and Thieringer, Tizian and Bethge, Matthias and Wichmann, Felix A. and Brendel, Wieland},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year = {2021}
}""",
    )
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

    accepts = ("logits", "decisions")

    def requests(self) -> list[PredictionRequest]:
        return [PredictionRequest("cue-conflict", CONDITION)]

    def sample_hits(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
        return {}  # no record here is a mean of per-trial hits

    def sample_metrics(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        """The records' values (``metric_values``) from the per-trial shape, texture and decision."""
        return metric_values(Trials(arrays["shape"], arrays["texture"], arrays["decision"]))

    def paper_figures(self, samples: Mapping[str, Mapping[tuple[str, str], Mapping[str, np.ndarray]]],
                      width: float) -> list[SuiteFigure]:
        """Each model's per-category shape bias against the ten humans and ResNet-50, for export."""
        from suites.shape_bias.plots import per_category_plot

        figures = []
        humans, resnet50 = reference_trials("humans"), reference_trials("resnet50")
        for model, by_request in samples.items():
            for (dataset, _), arrays in by_request.items():  # one file: cue-conflict, native
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
                else SIXTEEN_CLASSES.decisions_from_logits(prediction.logits)
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
            values = metric_values(trials)
            output.records.extend(self._records(model, request.dataset, prediction.condition, ALL, trials, values, seed))
            absent = []
            for category in CATEGORIES:
                selected = trials.subset(trials.shape == category)
                if not count(selected).conflict_trials:
                    absent.append(category)
                    continue
                output.records.extend(self._records(model, request.dataset, prediction.condition, category, selected,
                                                    values, seed, only=("shape_bias",)))
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
            output.add_samples(prediction, {"shape": trials.shape, "texture": trials.texture,
                                            "decision": trials.decision})
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
        self, model: str, dataset: str, condition: str, subset: str, trials: Trials,
        values: dict[tuple[str, str], float], seed: int, only: tuple[str, ...] = RATE_METRICS,
    ) -> list[MetricRecord]:
        """The records of one subset (``all`` or a shape category): values from ``metric_values``
        of all the trials, CIs from resampling the subset's conflict trials."""
        counts = count(trials)
        # every rate is a fraction of the conflict trials: resample those
        conflict = trials.subset(trials.conflict)
        low, high = bootstrap_intervals(lambda index: rates(conflict.subset(index)), len(conflict.decision), seed=seed)
        records = [
            self.record(model, dataset=dataset, condition=condition, subset=subset, metric=metric,
                        value=values[(subset, metric)], ci=(low[k], high[k]), n=counts.conflict_trials)
            for k, metric in enumerate(RATE_METRICS) if metric in only
        ]
        if subset == ALL:
            for metric in COUNT_METRICS:
                # hits are counted among the conflict trials; those among all trials
                records.append(self.record(
                    model, dataset=dataset, condition=condition, subset=subset, metric=metric,
                    value=values[(subset, metric)],
                    n=counts.trials if metric == "conflict_trials" else counts.conflict_trials,
                ))
        return records
