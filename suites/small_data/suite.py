"""How an architecture learns from little data: trained from scratch, with and without L_drloc.

Seed: Liu et al. 2021, "Efficient Training of Visual Transformers with Small Datasets" (NeurIPS):
architectures with near-identical ImageNet-1K accuracy differ by 20-45 points when trained from
scratch on small datasets (its Table 4), and an auxiliary self-supervised task, the dense
relative localization loss L_drloc, improves every one of them. This is a property of an
architecture, not of its weights: the subject's weights are drawn afresh per repeat
(``--model arch:NAME`` builds a timm architecture with random weights and downloads nothing).

Each repeat is a condition ``scratch/<recipe>/drloc<lambda>/seed<k>``
(``auditkit.conditions.scratch``), answered by training on the task's train split with the
finetune suite's trainer (``auditkit.train.finetune``: checkpoints in the store, kill -9 resumes
bit-identical on CPU, a rerun trains nothing, torchrun data-parallel, bf16 on CUDA); the loss is
``auditkit.train.drloc``. Both arms share seeds: seed k's initial weights, batches and
augmentation are the same with and without L_drloc, so their difference is paired.

Recipe ``liu2021`` (``auditkit.train.recipes``; each field an option, ``--option
small_data.<field>=V``): the DeiT / Swin recipe the paper trains every architecture with, read in
the released code (yhlleo/VTs-Drloc config.py, train.sh, data/build.py): AdamW, lr 1e-3 (5e-4 x
1024 / 512), weight decay 0.05 (none on biases and norms), 20 warm-up epochs from 1e-6, cosine to
1e-5, gradient norm clipped at 5, batch 1024, label smoothing 0.1, mixup 0.8 / cutmix 1.0,
RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25, 224 px, 100 epochs, 5 seeds (the paper's
IN-100 mean +- std). L_drloc (section 4): k = 7, m = 64 pairs per image, f an MLP 2C -> 512 ->
512 -> 2 (VTs-Drloc drloc/aux_modules.py), lambda 0.5 by default (the paper's Swin value and the
released script's default; set ``--option small_data.drloc=0.1`` for T2T and CvT as the paper).

Deliberate differences (docs/suites/small_data.md): the last epoch is scored (the released code
reports the best test epoch, a selection on the test set); the cosine runs over the 100 epochs
trained (the released code's runs 101 epochs of a 300-epoch cosine); a finer grid is pooled to
7 x 7 with adaptive average pooling (VTs-Drloc: AvgPool2d(3, 2, 1) for T2T and CvT); timm's Swin
gives its grid after the final norm (VTs-Drloc: before); drop path is the architecture's own
(``arch:NAME,drop_path_rate=0.2`` sets Swin's). L_drloc's target is the paper's (divided by k;
``drloc_target=cells``: the code's), lambda constant (``drloc_schedule=released``: the code's
ramp), and the loss the mean over the batch as the code computes it (``drloc_reduction=sum``: Eq.
2 as written, which with the paper's lambda weighs L_drloc batch-size times the cross-entropy).

Records, per task: ``top1`` per repeat and arm (bootstrap CI over test images, per-sample
``correct``) and over the seeds per arm (condition ``.../seed*``, aggregate ``mean``, Student-t
CI); ``drloc_gain`` = with minus without (paired over seeds, Student-t CI of the differences);
the training cost per repeat as the finetune suite records it.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import numpy as np

from auditkit.conditions.base import number_text
from auditkit.conditions.scratch import Scratch
from auditkit.records import MetricRecord, Notice
from auditkit.suite import Metric, PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOption, SuiteOutput
from auditkit.train.recipes import RECIPES, Recipe, recipe
from suites.finetune.suite import repeat_records, t_interval_of

DEFAULT_LAMBDA = 0.5  # Swin's (the paper's Table 4, the released train.sh); T2T and CvT: 0.1
FIXED = ("name", "version", "init", "drloc", "fractions")  # the condition sets init (scratch), lambda, the whole split
RECIPE_FIELDS = [f for f in dataclasses.fields(Recipe) if f.name not in FIXED]


class SmallDataSuite(Suite):
    name = "small_data"
    version = "0.1"
    description = "trained from scratch on a small dataset, with and without the dense relative localization loss (Liu et al. 2021)"
    title = "Small-data training"
    # the paper's small datasets (its Table 4) as auditkit reads them, the built-in digits first
    datasets = ("digits", "transfer", "vtab-cifar10", "vtab-cifar100", "vtab-svhn", "vtab-flowers102",
                *(f"domainnet-{domain}" for domain in ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")),
                "imagenet-100")
    accepts = ("logits",)
    metrics = {
        "top1": Metric("top-1 accuracy", "test accuracy of the architecture trained from scratch (over seeds: their "
                       "mean, Student-t CI; higher is better)", True),
        "drloc_gain": Metric("L_drloc gain", "top-1 with L_drloc minus without, paired by seed (Student-t CI over "
                             "the seeds' differences)", True),
        "train_steps": Metric("train steps", "optimiser steps the training took"),
        "train_seconds": Metric("train seconds", "wall-clock seconds of training"),
        "train_images_per_second": Metric("train images/s", "training images per second, over the epochs"),
        "peak_memory_mb": Metric("peak memory (MB)", "the process's peak resident memory (CUDA: peak allocated)"),
        "scored_epoch": Metric("scored epoch", "the epoch whose weights are scored (the last)"),
    }
    better = {"top1": "higher", "drloc_gain": "higher"}
    options = (
        SuiteOption("recipe", str, tuple(r for r, rec in RECIPES.items() if rec.init == "scratch"), "liu2021",
                    "the from-scratch recipe (liu2021: the DeiT / Swin recipe of Liu et al.)", asks=True),
        SuiteOption("drloc", float, (), DEFAULT_LAMBDA, "lambda of L_drloc in the with-arm (0.5: Swin, the "
                    "released default; 0.1: T2T, CvT)", asks=True),
        *(SuiteOption(f.name, str, (), None, f"recipe field (liu2021 {getattr(RECIPES['liu2021'], f.name)})", asks=True)
          for f in RECIPE_FIELDS),
    )

    def recipe(self) -> Recipe:
        chosen = recipe(str(self.setting("recipe")))
        changes = {f.name: str(self.settings[f.name]) for f in RECIPE_FIELDS if self.settings.get(f.name) is not None}
        return chosen.with_changes(changes, where="--option small_data") if changes else chosen

    def weight(self) -> float:
        value = float(self.setting("drloc"))  # type: ignore[arg-type]
        if value <= 0:
            from auditkit.errors import AuditError

            raise AuditError(f"--option small_data.drloc={value}: lambda must be above 0 (the without-arm is "
                             "always run); e.g. 0.5 for Swin, 0.1 for T2T / CvT")
        return value

    def conditions(self) -> list[Scratch]:
        chosen, weight = self.recipe(), self.weight()
        return [Scratch.of(chosen, drloc, seed) for seed in chosen.seeds for drloc in (0.0, weight)]

    def requests(self) -> list[PredictionRequest]:
        return [PredictionRequest(dataset, condition) for dataset in self.datasets for condition in self.conditions()]

    def headline(self, record: MetricRecord) -> bool:
        """The without-arm's mean top-1 (the architecture's own small-data accuracy) and the gain."""
        if record.aggregate != "mean":
            return False
        return record.metric == "drloc_gain" or (record.metric == "top1" and "/drloc0/" in record.condition)

    def evaluate(self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int) -> SuiteOutput:
        from suites.small_data.plots import arms_top1, drloc_curves

        output = SuiteOutput()
        chosen = self.recipe()
        changed = {k: v for k, v in chosen.changed().items() if k not in ("seeds", "fractions")}
        runs: dict[str, dict[Scratch, Predictions]] = defaultdict(dict)
        for request, prediction in predictions.items():
            if isinstance(request.condition, Scratch):
                runs[request.dataset][request.condition] = prediction
        summary: dict[str, dict[str, tuple[float, tuple[float, float] | None]]] = {}
        for dataset, repeats in sorted(runs.items()):
            if changed:
                output.notices.append(Notice(self.name, dataset, f"recipe {chosen.name} with changed fields: "
                                             + ", ".join(f"{k}={v}" for k, v in sorted(changed.items()))))
            by_arm: dict[float, dict[int, float]] = {}
            token = next(iter(repeats)).recipe
            n_test = len(next(iter(repeats.values())).labels)
            for drloc in sorted({c.drloc for c in repeats}):
                arm = {c: p for c, p in repeats.items() if c.drloc == drloc}
                top1 = repeat_records(self, model, dataset, arm, seed, output)
                by_arm[drloc] = top1
                values = np.array([top1[k] for k in sorted(top1)])
                interval = t_interval_of(values)
                output.records.append(self.record(model, dataset=dataset, condition=self._pattern(token, drloc),
                                                  aggregate="mean", metric="top1", value=float(values.mean()),
                                                  ci=interval, n=n_test))
                summary.setdefault(dataset, {})["with" if drloc else "without"] = (float(values.mean()), interval)
            if 0.0 in by_arm and len(by_arm) == 2:
                weight = max(by_arm)
                seeds = sorted(set(by_arm[0.0]) & set(by_arm[weight]))
                differences = np.array([by_arm[weight][k] - by_arm[0.0][k] for k in seeds])
                output.records.append(self.record(model, dataset=dataset, condition=self._pattern(token, weight),
                                                  aggregate="mean", metric="drloc_gain",
                                                  value=float(differences.mean()), ci=t_interval_of(differences),
                                                  n=n_test))
            curves = {str(c): p.training["history"] for c, p in repeats.items() if p.training}
            if curves:
                output.figures.append(SuiteFigure(dataset, "training", drloc_curves(model, dataset, curves),
                                                  "Training of each repeat from scratch: the total loss per epoch "
                                                  "without (blue) and with L_drloc (orange; dashed: L_drloc before "
                                                  "lambda)."))
        if summary:
            output.figures.append(SuiteFigure("all-tasks", "top1", arms_top1(model, summary),
                                              "Top-1 trained from scratch without and with L_drloc: mean over "
                                              "seeds, Student-t 95 % interval."))
        return output

    @staticmethod
    def _pattern(token: str, drloc: float) -> str:
        return f"scratch/{token}/drloc{number_text(drloc)}/seed*"
