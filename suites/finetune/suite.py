"""What a pretrained backbone becomes when the whole network is fine-tuned on a small task.

Seeds: Zhou et al. 2021, "ConvNets vs. Transformers: Whose Visual Representations are More
Transferable?" (ICCV-W; transformers gain most from whole-network fine-tuning) and Goldblum et
al. 2023, "Battle of the Backbones" (NeurIPS; transformers excel under end-to-end fine-tuning,
ConvNets under linear probing). Training is an answer to a request: each repeat is a condition
``finetune/<recipe>/frac<f>/seed<k>`` (``auditkit.conditions.finetune``) whose answer is the test
logits of a copy of the model trained on the task's train split; the training is checkpointed in
the prediction store (a killed run resumes from its last epoch, bit-identical on CPU; a rerun
trains and forwards nothing). The loop: ``auditkit.train.finetune``.

Recipes (``auditkit.train.recipes``; every field settable with ``--option finetune.<field>=V``,
the changed fields named in the condition by a digest, in the run header and in a notice):

- ``zhou2021`` (default), Zhou et al. section 3.1: a new linear head with dropout 0.2; Adam (0.9,
  0.999), weight decay 1e-6; the first 200 iterations train the head alone (backbone frozen, its
  BatchNorm statistics too) at lr 1e-6, then the whole network at 1e-4, halved when the val loss
  has not decreased for 3 epochs; early stop after 10 epochs without a lower val loss, the
  best-val-loss weights scored; batch 32; cross-entropy with label smoothing 0.1; random crop
  (after the model's resize), random rotation within +-30 degrees, horizontal flip; 224 px, the
  model's mean / std. Three repeats, seeds 0, 1, 2: ``top1`` = their mean, CI = Student-t 95 %
  over the repeats, as the paper reports the average of three runs.
- ``vtab``: VTAB-1k (Zhai et al. 2019) as google-research/task_adaptation's released
  ``scripts/run_all_tasks.sh`` fine-tunes: a zero-initialised linear head on the pre-logits, SGD
  momentum 0.9 without weight decay, batch 64, lr 0.01 with an 80-step linear warm-up, x 0.1 at
  steps 300 / 600 / 900, 1000 steps on all 1000 train + val images, images resized to 224 x 224,
  no augmentation; the last weights are scored. Give a VTAB-1k task folder (``train800.txt``,
  ``val200.txt``, ``test.txt``) as ``--data transfer=PATH``.

Deliberate differences (docs/suites/finetune.md): Zhou et al. state no epoch limit, ours is 100
(``max_epochs``); the patience of the plateau schedule and of early stopping counts epochs after
the warm-up (a frozen warm-up's val loss is the head's alone); a task without a val split holds
out a stratified 10 % of train (seed 0, the same for every repeat; Zhou et al.'s CUB split); the
last partial batch of an epoch is dropped; the val loss is the training criterion (label
smoothing included), as Keras' ``val_loss`` is. The paper's lr sweep for VTAB is not in the
released script, which fixes lr 0.01: so do we (``--option finetune.lr=`` changes it).

Records, per task: ``top1`` per repeat (condition ``.../seed<k>``, bootstrap CI over test images,
per-sample ``correct``) and over the repeats (condition ``.../seed*``, aggregate ``mean``);
``linear_probe_top1``: the linear_probe suite's probe (``suites.linear_probe``: C chosen on val,
refit on train + val) on the same features and the same splits; ``finetune_gain`` = fine-tuned
minus probe top-1; the training cost per repeat: ``train_steps``, ``train_seconds``,
``train_images_per_second``, ``peak_memory_mb``, and ``scored_epoch``.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from typing import Any

import numpy as np

from auditkit.conditions.base import number_text
from auditkit.conditions.finetune import Finetune
from auditkit.records import ALL, MetricRecord, Notice, Skipped
from auditkit.stats import bootstrap_ci
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOption, SuiteOutput
from auditkit.train.recipes import RECIPES, Recipe, recipe

RECIPE_FIELDS = [f for f in dataclasses.fields(Recipe) if f.name not in ("name", "version")]


def _field_help(name: str) -> str:
    values = {r: getattr(rec, name) for r, rec in RECIPES.items()}
    shown = ", ".join(f"{r} {','.join(map(str, v)) if isinstance(v, tuple) else v}" for r, v in values.items())
    return f"recipe field ({shown})"


class FinetuneSuite(Suite):
    name = "finetune"
    version = "0.1"
    description = "whole-network fine-tuning on a small task (Zhou et al. 2021 recipe, or VTAB-1k's), vs the linear probe"
    title = "Fine-tuning"
    datasets = ("digits", "transfer")
    accepts = ("logits", "features")
    metrics = {
        "top1": Metric("top-1 accuracy", "test accuracy of the fine-tuned copy (over repeats: their mean, "
                       "Student-t CI; higher is better)", True),
        "linear_probe_top1": Metric("linear-probe top-1", "test accuracy of the linear probe on the frozen "
                                    "features, same splits (the linear_probe suite's protocol)", True),
        "finetune_gain": Metric("fine-tune gain", "fine-tuned top-1 minus linear-probe top-1 (points of accuracy "
                                "as a fraction)", True),
        "train_steps": Metric("train steps", "optimiser steps the training took"),
        "train_seconds": Metric("train seconds", "wall-clock seconds of training (epochs and validation)"),
        "train_images_per_second": Metric("train images/s", "training images per second, over the epochs"),
        "peak_memory_mb": Metric("peak memory (MB)", "the process's peak resident memory (CUDA: peak allocated)"),
        "scored_epoch": Metric("scored epoch", "the epoch whose weights are scored (best val loss, or the last)"),
    }
    better = {"top1": "higher", "linear_probe_top1": "higher", "finetune_gain": "higher"}
    options = (
        SuiteOption("recipe", str, tuple(RECIPES), "zhou2021", "the fine-tuning protocol (zhou2021: Zhou et al. 2021 "
                    "section 3.1; vtab: task_adaptation's VTAB-1k script)", asks=True),
        *(SuiteOption(f.name, str, (), None, _field_help(f.name), asks=True) for f in RECIPE_FIELDS),
    )

    def recipe(self) -> Recipe:
        """The recipe this run trains with: the chosen one, its fields changed by the options."""
        chosen = recipe(str(self.setting("recipe")))
        changes = {f.name: str(self.settings[f.name]) for f in RECIPE_FIELDS if self.settings.get(f.name) is not None}
        return chosen.with_changes(changes) if changes else chosen

    def conditions(self) -> list[Finetune]:
        chosen = self.recipe()
        return [Finetune.of(chosen, fraction, seed) for fraction in chosen.fractions for seed in chosen.seeds]

    def requests(self) -> list[PredictionRequest]:
        requests = []
        for dataset in self.datasets:
            requests += [PredictionRequest(dataset, condition) for condition in self.conditions()]
            requests.append(PredictionRequest(dataset, output="features"))  # the linear probe's baseline
        return requests

    def headline(self, record: MetricRecord) -> bool:
        """The mean over repeats of the full train split's fine-tuned top-1 and its gain."""
        return (record.metric in ("top1", "finetune_gain") and record.aggregate == "mean"
                and record.condition.split("/")[2] == "frac1")

    def evaluate(self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int) -> SuiteOutput:
        from suites.finetune.plots import probe_vs_finetune, training_curves

        output = SuiteOutput()
        chosen = self.recipe()
        changed = {k: v for k, v in chosen.changed().items() if k not in ("seeds", "fractions")}
        by_dataset: dict[str, dict[str, Any]] = defaultdict(lambda: {"runs": {}, "features": None})
        for request, prediction in predictions.items():
            slot = by_dataset[request.dataset]
            if isinstance(request.condition, Finetune):
                slot["runs"][request.condition] = prediction
            elif request.output == "features":
                slot["features"] = prediction
        summary: dict[str, dict[str, float]] = {}
        for dataset, slot in sorted(by_dataset.items()):
            runs: dict[Finetune, Predictions] = slot["runs"]
            if not runs:
                continue
            if changed:
                output.notices.append(Notice(self.name, dataset, f"recipe {chosen.name} with changed fields: "
                                             + ", ".join(f"{k}={v}" for k, v in sorted(changed.items()))))
            notes = next((p.training or {} for p in runs.values() if p.training), {}).get("notes", [])
            for note in notes:
                output.notices.append(Notice(self.name, dataset, note))
            curves, scored = {}, {}
            for fraction in sorted({c.fraction for c in runs}):
                repeats = {c: p for c, p in runs.items() if c.fraction == fraction}
                top1 = repeat_records(self, model, dataset, repeats, seed, output)
                first = next(iter(repeats))
                pattern = f"finetune/{first.recipe}/frac{number_text(first.fraction)}/seed*"
                n_test = len(next(iter(repeats.values())).labels)
                values = np.array(list(top1.values()))
                output.records.append(self.record(model, dataset=dataset, condition=pattern, aggregate="mean",
                                                  metric="top1", value=float(values.mean()), ci=t_interval_of(values),
                                                  n=n_test))
                probe = self._probe(slot["features"], repeats, output, dataset)
                if probe is not None:
                    output.records.append(self.record(model, dataset=dataset, condition=pattern, aggregate="mean",
                                                      metric="linear_probe_top1", value=probe, n=n_test))
                    output.records.append(self.record(model, dataset=dataset, condition=pattern, aggregate="mean",
                                                      metric="finetune_gain", value=float(values.mean()) - probe,
                                                      n=n_test))
                if fraction == 1.0:
                    summary[dataset] = {"finetune": float(values.mean()), **({"probe": probe} if probe is not None else {})}
                curves.update({str(c): p.training["history"] for c, p in repeats.items() if p.training})
                scored.update({str(c): p.training["scored_epoch"] for c, p in repeats.items() if p.training})
            if curves:
                output.figures.append(SuiteFigure(dataset, "training", training_curves(model, dataset, curves, scored),
                                                  "Training of each repeat: train and val loss (left), val top-1 "
                                                  "(right) per epoch; dotted: the epoch whose weights are scored."))
        if summary:
            output.figures.append(SuiteFigure("all-tasks", "finetune_vs_probe", probe_vs_finetune(model, summary),
                                              "Top-1 of the fine-tuned copy (mean of the repeats) and of the linear "
                                              "probe on the frozen features, same splits."))
        return output

    def _probe(self, features: Predictions | None, repeats: dict[Finetune, Predictions], output: SuiteOutput,
               dataset: str) -> float | None:
        """The linear probe's top-1 on the frozen features with each repeat's train / val / test
        split (the same images as the fine-tuning), averaged over the repeats (one probe when
        every repeat trains on the same images)."""
        from suites.linear_probe.suite import linear_probe
        from auditkit.train.finetune import task_splits

        if features is None or features.features is None:
            output.skipped.append(Skipped(self.name, dataset, "no features for the linear-probe baseline: "
                                          "linear_probe_top1 and finetune_gain left out"))
            return None
        x = np.asarray(features.features, dtype=np.float64)
        y = features.labels
        done: dict[tuple[bytes, bytes], float] = {}
        scores = []
        for condition in repeats:
            splits = task_splits(features.source, condition.resolved, condition.fraction, condition.seed)
            if not len(splits.val):  # train_val recipes: the probe chooses C on a held-out 20 %, as linear_probe
                from auditkit.data.splits import stratified_holdout
                from suites.linear_probe.suite import HELD_OUT_FRACTION

                held = stratified_holdout(y[splits.train], HELD_OUT_FRACTION, 0)
                train, val = splits.train[~held], splits.train[held]
            else:
                train, val = splits.train, splits.val
            key = (train.tobytes(), val.tobytes())
            if key not in done:
                done[key] = linear_probe(x[train], y[train], x[val], y[val], x[splits.test], y[splits.test]).test_top1
            scores.append(done[key])
        return float(np.mean(scores))


def repeat_records(suite: Suite, model: str, dataset: str, repeats: dict[Any, Predictions], seed: int,
                   output: SuiteOutput) -> dict[int, float]:
    """Each trained repeat's records (``top1`` with a bootstrap CI over test images, the training
    cost) and per-sample hits; its top-1 by seed. Shared by the finetune and small_data suites."""
    top1 = {}
    for condition, prediction in sorted(repeats.items(), key=lambda item: item[0].seed):
        assert prediction.logits is not None
        predicted = np.asarray(prediction.logits).argmax(axis=1)
        correct = predicted == prediction.labels
        output.records.append(suite.record(model, dataset=dataset, condition=condition, metric="top1",
                                           value=float(correct.mean()),
                                           ci=bootstrap_ci(np.mean, correct.astype(float), seed=seed), n=len(correct)))
        output.add_samples(prediction, {"correct": correct, "label": prediction.labels, "prediction": predicted},
                           dataset=dataset, condition=str(condition))
        top1[condition.seed] = float(correct.mean())
        cost = (prediction.training or {}).get("cost")
        if cost:
            for metric in ("train_steps", "train_seconds", "train_images_per_second", "peak_memory_mb"):
                output.records.append(suite.record(model, dataset=dataset, condition=condition, metric=metric,
                                                   subset="training", value=float(cost[metric]), n=len(correct)))
            output.records.append(suite.record(model, dataset=dataset, condition=condition, metric="scored_epoch",
                                               subset="training", value=float(prediction.training["scored_epoch"]),
                                               n=len(correct)))
    return top1


def t_interval_of(values: np.ndarray) -> tuple[float, float] | None:
    """Student-t 95 % interval of a mean over repeats (None for one repeat)."""
    from suites.linear_probe.suite import t_interval

    low, high = t_interval(values)
    return None if low is None or high is None else (low, high)
