"""Robustness: top-1 under distribution shift (PROTOCOLS.md "Robustness"; the paper's Table 2).

- ``imagenet-val``: the reference, top-1 and top-5 over 1000 classes.
- ``imagenet-v2`` (matched frequency), ``imagenet-sketch``: top-1 / top-5 over 1000 classes.
- ``imagenet-a``, ``imagenet-r``: logits restricted to the dataset's 200 classes before the
  argmax (a model's best guess among the 200 is its answer).
- ``imagenet-real``: the val predictions (same forward pass) scored against the ReaL label sets
  (Beyer et al. 2020; shipped in the imagenet-x package): correct if the top-1 is in the image's
  set; images with an empty set are skipped and counted (``unlabelled``).
- ``top1_gap``: val top-1 minus the dataset's top-1, when val is in the run.
95 % bootstrap CIs over images.
Paper (ViT-sup / ConvNeXt-sup / ViT-CLIP / ConvNeXt-CLIP): V2 76.2 / 75.6 / 59.5 / 58.6;
A 60.0 / 52.9 / 33.2 / 30.9; R 61.6 / 62.3 / 77.8 / 75.8; Sketch 46.1 / 48.6 / 52.3 / 52.0;
ReaL 89.2 / 89.5 / 74.3 / 73.8.
Not yet here (issue 6): ImageNet-Hard, ImageNet-C with mCE, effective robustness.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np

from auditkit.records import MetricRecord, Skipped
from auditkit.stats import bootstrap_intervals
from auditkit.suite import PredictionRequest, Predictions, Suite, SuiteFigure, SuiteOutput

SHIFTS = ("imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch")


def restricted_topk(logits: np.ndarray, class_indices: tuple[int, ...] | None, k: int) -> np.ndarray:
    """(n, k) ImageNet class ids of the k best logits among ``class_indices`` (all if None)."""
    classes = np.arange(logits.shape[1]) if class_indices is None else np.asarray(class_indices)
    order = np.argsort(-logits[:, classes], axis=1, kind="stable")[:, :k]
    return classes[order]


@lru_cache(maxsize=None)
def real_labels() -> dict[str, frozenset[int]]:
    """ReaL label sets by val file name: the package's list is in val-file order (1..50000)."""
    table = resources.files("imagenet_x") / "annotations" / "imagenet_real_labels.jsonl"
    sets = json.loads(table.read_text())
    return {f"ILSVRC2012_val_{i:08d}.JPEG": frozenset(labels) for i, labels in enumerate(sets, start=1)}


def _accuracy_records(
    suite: "RobustnessSuite", model: str, dataset: str, hits: dict[str, np.ndarray], seed: int
) -> list[MetricRecord]:
    metrics = list(hits)
    stacked = np.stack([hits[m] for m in metrics], axis=1).astype(float)
    low, high = bootstrap_intervals(lambda index: stacked[index].mean(axis=0), len(stacked), seed=seed)
    return [
        MetricRecord(model, suite.name, dataset, "none", metric, float(stacked[:, k].mean()),
                     float(low[k]), float(high[k]), len(stacked), suite.version)
        for k, metric in enumerate(metrics)
    ]


class RobustnessSuite(Suite):
    name = "robustness"
    version = "0.1"
    description = "top-1 on ImageNet val, V2, A, R, Sketch and ReaL; gap to val"
    datasets = ("imagenet-val", *SHIFTS)

    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        from suites.robustness.plots import accuracy_bars

        output = SuiteOutput()
        top1: dict[str, float] = {}
        for request, prediction in predictions.items():
            dataset = request.dataset
            if prediction.logits is None:
                hits = {"top1": prediction.predicted_class == prediction.labels}
            else:
                top5 = restricted_topk(prediction.logits, prediction.source.class_indices, 5)
                labels = prediction.labels[:, None]
                hits = {"top1": top5[:, 0] == labels[:, 0], "top5": np.any(top5 == labels, axis=1)}
            output.records.extend(_accuracy_records(self, model, dataset, hits, seed))
            top1[dataset] = float(hits["top1"].mean())
            if dataset == "imagenet-val":
                self._real(output, model, prediction, seed, top1)
        if "imagenet-val" in top1:
            for dataset, value in top1.items():
                if dataset != "imagenet-val":
                    output.records.append(MetricRecord(
                        model, self.name, dataset, "none", "top1_gap", top1["imagenet-val"] - value,
                        None, None, 0, self.version))
        elif predictions:
            output.skipped.append(Skipped(self.name, "imagenet-real",
                                          "ReaL scores the imagenet-val predictions; imagenet-val is missing"))
        if top1:
            output.figures.append(SuiteFigure(
                "all", "accuracy", accuracy_bars(model, top1),
                "Top-1 per dataset (A and R: best of their 200 classes); dashed: ImageNet val.",
            ))
        return output

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
        hits = np.array([int(predicted[i]) in sets[names[i]] for i in rows])
        output.records.extend(_accuracy_records(self, model, "imagenet-real", {"top1": hits}, seed))
        output.records.append(MetricRecord(
            model, self.name, "imagenet-real", "none", "unlabelled", float(len(prediction.sample_ids) - len(rows)),
            None, None, len(prediction.sample_ids), self.version))
        top1["imagenet-real"] = float(hits.mean())
