"""Dense probes: semantic segmentation and monocular depth from a frozen backbone.

Protocol (Oquab et al. 2023, DINOv2 section 7.4, Tables 10-11; the setting of Lin et al. 2022 and
Zhou et al.: the backbone frozen, only a head trained; docs/protocols.md "DINOv2 dense probes"):
- features: request output ``dense_features`` (``ModelAdapter.dense_features``): the last block's
  patch tokens on their grid (ViTs, after the final norm) or the last stage (ConvNets); option
  ``blocks=last4`` concatenates the last four blocks (DINOv2's "lin. 4" / "+ms" features),
  ``class_token=true`` concatenates the class token to every position (DINOv2's depth "lin. 1").
  Input: the whole image resized to ``resolution`` x ``resolution`` (condition ``squash/<r>``,
  default 512 as DINOv2's segmentation; no crop, so every labelled pixel is scored). Forwarded
  once per image and cached in the store (float16 rows, the map's shape kept beside them; the dtype,
  output and resolution are in the store key), read back as float32.
- heads (``suites/dense/heads.py``), trained on the cached features of the ``train`` split only
  and scored on ``val`` (NYU: the 654 test images): ``linear`` (BatchNorm + 1 x 1 convolution,
  DINOv2's linear probe) and ``decoder`` (two 3 x 3 conv blocks, then 1 x 1), logits upsampled
  bilinearly to the label map's size, cross-entropy with the dataset's ignore label. Depth (NYU):
  DINOv2's classification head over 256 uniform bins in [1e-3, 10] m with linear normalisation
  (AdaBins), not plain regression: it is the head whose numbers DINOv2 publishes (0.399 RMSE for
  ViT-B/14 lin. 1), and its output stays inside the depth range by construction.
- training: AdamW (lr ``learning_rate``, weight decay 1e-4), ``iterations`` iterations of
  ``batch_size`` images, the rate decayed linearly to 0, seeded by the run's seed; bit-identical
  on CPU for a seed; the trained head is kept beside the features' store entry (``heads/``), so a
  rerun trains nothing, and a killed run resumes from its last checkpoint (every 100 iterations).
- metrics (``suites/dense/metrics.py``): segmentation, mmsegmentation's definitions: per-class
  IoU from the dataset-level counts, ``miou`` over the classes present in labels or predictions,
  ``pixel_accuracy``, ``mean_accuracy``; depth, per image over valid pixels (Eigen crop on NYU's
  480 x 640, ground truth in (1e-3, 10) m, predictions clipped to it), averaged over images:
  ``rmse`` (m), ``abs_rel``, ``log10``, ``delta1`` .. ``delta3``. 95 % bootstrap CIs over images.
Records: condition ``squash/<r>``; subset ``all`` for the linear head (the protocol's number),
``decoder`` for the decoder head, ``<head>/<class>`` for per-class IoU (n = images showing it).
Per-sample arrays (one row per val image): ``<head>_intersection``, ``<head>_predicted_area``,
``<head>_label_area`` (per-class pixel counts: the sufficient statistics of every segmentation
metric) and ``<head>_<depth metric>``; ``sample_metrics`` recomputes every record from them.
Deviations from DINOv2 (say so beside any comparison with its tables): no random scale / crop /
flip augmentation (impossible on cached features: the features of an augmented image are not
cached; an ``online`` mode forwarding the backbone per step is not offered: on a CPU it costs a
forward pass per image per iteration), whole images squashed to r x r instead of sliding 512
windows over aspect-kept images, a shorter schedule (default 1,000 iterations vs 40,000), no
multi-scale test, the class token off by default (ConvNets have none; turn it on for the depth
protocol's "lin. 1"). Numbers therefore compare backbones under this protocol, not with the paper.
Published (ViT-B/14): ADE20K 47.3 mIoU (lin.), VOC 82.5, NYUd RMSE 0.399 (lin. 1).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Mapping

import numpy as np

from auditkit.adapters.base import DenseSpec
from auditkit.conditions import Squash
from auditkit.data.dense_targets import IGNORE_INDEX, NYU_MAT, DenseLabels, TargetReader, dense_labels, split_of
from auditkit.data.source import DatasetSource
from auditkit.errors import AuditError
from auditkit.records import ALL, MetricRecord, Skipped
from auditkit.stats import bootstrap_intervals
from auditkit.suite import DenseFeatures, Metric, PredictionRequest, Predictions, Suite, SuiteOption, SuiteOutput
from suites.dense.heads import DEPTH_BINS, HEADS_FOLDER, FeatureRows, HeadSpec, predict_map, train_head
from suites.dense.metrics import (
    DEPTH_METRICS, DEPTH_RANGE, DepthProfile, class_iou, depth_errors, image_counts, segmentation_scores,
)

HEADS = ("linear", "decoder")
SEGMENTATION_METRICS = ("miou", "pixel_accuracy", "mean_accuracy")
COUNTS = ("intersection", "predicted_area", "label_area")
WEIGHT_DECAY = 1e-4
DEPTH_PROFILE_EDGES = np.arange(0.0, 10.5, 1.0)  # metres: the "error vs depth" figure's bins
EXAMPLES_SHOWN = 3


def head_subset(head: str) -> str:
    return ALL if head == "linear" else head


class DenseSuite(Suite):
    name = "dense"
    version = "1.0"
    title = "Dense probes"
    description = "frozen features under linear and decoder heads: ADE20K / VOC / NYU mIoU, NYU depth RMSE"
    datasets = ("ade20k", "voc2012", "nyu-depth-v2")
    accepts = tuple(DenseSpec(blocks, token).output for blocks in ("last", "last4") for token in (False, True))
    citations = ("""@article{oquab2023dinov2,
  title = {{DINOv2}: Learning Robust Visual Features without Supervision},
  author = {Oquab, Maxime and Darcet, Timoth{\\'e}e and Moutakanni, Th{\\'e}o and others},
  journal = {Transactions on Machine Learning Research},
  year = {2024}
}""", """@inproceedings{lin2022could,
  title = {Could Giant Pretrained Image Models Extract Universal Representations?},
  author = {Lin, Yutong and Liu, Ze and Zhang, Zheng and Hu, Han and Zheng, Nanning and Lin, Stephen and Cao, Yue},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year = {2022}
}""", """@inproceedings{eigen2014depth,
  title = {Depth Map Prediction from a Single Image using a Multi-Scale Deep Network},
  author = {Eigen, David and Puhrsch, Christian and Fergus, Rob},
  booktitle = {Advances in Neural Information Processing Systems (NIPS)},
  year = {2014}
}""")
    metrics = {
        "miou": Metric("mIoU", "mean over classes of intersection / union of predicted and labelled pixels, summed "
                       "over val images; classes in neither left out (mmsegmentation; higher is better)", True),
        "iou": Metric("IoU", "one class's intersection / union of predicted and labelled pixels over val images "
                      "(higher is better)", True),
        "pixel_accuracy": Metric("pixel accuracy", "share of labelled pixels whose predicted class is the label "
                                 "(higher is better)", True),
        "mean_accuracy": Metric("mean accuracy", "per-class share of a class's labelled pixels predicted as it, "
                                "averaged over the classes in the labels (higher is better)", True),
        "rmse": Metric("RMSE", "root mean squared depth error in metres over valid pixels of an image, averaged "
                       "over images (lower is better)"),
        "abs_rel": Metric("AbsRel", "mean |predicted - true| / true depth per image, averaged over images "
                          "(lower is better)"),
        "log10": Metric("log10 error", "mean |log10 predicted - log10 true depth| per image, averaged over images "
                        "(lower is better)"),
        "delta1": Metric("delta < 1.25", "share of an image's pixels with max(p/g, g/p) < 1.25, averaged over "
                         "images (higher is better)", True),
        "delta2": Metric("delta < 1.25^2", "as delta < 1.25 with 1.25^2 (higher is better)", True),
        "delta3": Metric("delta < 1.25^3", "as delta < 1.25 with 1.25^3 (higher is better)", True),
    }
    better = {"miou": "higher", "iou": "higher", "pixel_accuracy": "higher", "mean_accuracy": "higher",
              "rmse": "lower", "abs_rel": "lower", "log10": "lower", "delta1": "higher", "delta2": "higher",
              "delta3": "higher"}
    options = (
        SuiteOption("heads", str, ("both", "linear", "decoder"), "both", "which heads to train and score"),
        SuiteOption("resolution", int, (), 512, "input side in pixels (the whole image squashed to it)", asks=True),
        SuiteOption("blocks", str, ("last", "last4"), "last", "the last block, or the last four concatenated",
                    asks=True),
        SuiteOption("class_token", bool, (), False, "concatenate the class token to every position (ViTs)",
                    asks=True),
        SuiteOption("iterations", int, (), 1000, "training iterations of each head"),
        SuiteOption("batch_size", int, (), 8, "training images per iteration"),
        SuiteOption("learning_rate", float, (), 1e-3, "AdamW learning rate (decayed linearly to 0)"),
    )

    def headline(self, record: MetricRecord) -> bool:
        """The linear head's mIoU and RMSE: the numbers DINOv2's tables give."""
        return record.subset == ALL and record.metric in ("miou", "rmse")

    def requests(self) -> list[PredictionRequest]:
        """One request per dataset; the plan asks before anything runs, so bad numbers stop it here."""
        for name in ("iterations", "batch_size"):
            if int(self.setting(name)) < 1:  # type: ignore[call-overload]
                raise AuditError(f"--option dense.{name}={self.setting(name)}: give a positive whole number")
        if not float(self.setting("learning_rate")) > 0:  # type: ignore[arg-type]
            raise AuditError(f"--option dense.learning_rate={self.setting('learning_rate')}: give a positive number")
        spec = DenseSpec(str(self.setting("blocks")), bool(self.setting("class_token")))
        condition = Squash(int(self.setting("resolution")))  # type: ignore[arg-type]
        return [PredictionRequest(dataset, condition, spec.output) for dataset in self.datasets]

    def _heads(self) -> tuple[str, ...]:
        chosen = self.setting("heads")
        return HEADS if chosen == "both" else (str(chosen),)

    # ------------------------------------------------------------------ metrics from per-sample arrays
    def sample_metrics(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        """Every record's value from the per-sample arrays: summed counts (segmentation), means
        over images (depth), per head."""
        metrics: dict[tuple[str, str], float] = {}
        for head in HEADS:
            subset = head_subset(head)
            if f"{head}_intersection" in arrays:
                counts = [arrays[f"{head}_{name}"] for name in COUNTS]
                for metric, value in segmentation_scores(*counts).items():
                    metrics[(subset, metric)] = value
            for metric in DEPTH_METRICS:
                if f"{head}_{metric}" in arrays:
                    metrics[(subset, metric)] = float(np.nanmean(arrays[f"{head}_{metric}"]))
        return metrics

    # ------------------------------------------------------------------ the protocol
    def evaluate(self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int) -> SuiteOutput:
        from suites.dense.plots import class_iou_bars, depth_error_profile, examples_figure

        output = SuiteOutput()
        for request, prediction in predictions.items():
            dataset, source, dense = request.dataset, prediction.source, prediction.dense
            labels = dense_labels(source)
            if dense is None or labels is None:
                output.skipped.append(Skipped(self.name, dataset, "no dense features or no per-pixel labels"))
                continue
            train = np.array([i for i, s in enumerate(source.samples) if split_of(s) == "train"], dtype=np.int64)
            val = np.array([i for i, s in enumerate(source.samples) if split_of(s) == "val"], dtype=np.int64)
            if len(train) == 0 or len(val) == 0:
                output.skipped.append(Skipped(self.name, dataset, f"needs train and val images; {len(train)} train, "
                                              f"{len(val)} val"))
                continue
            arrays: dict[str, np.ndarray] = {}
            shown: dict[str, list[np.ndarray]] = {}
            maps = FeatureRows(dense)  # read from the entry's file, not kept resident
            with TargetReader(source) as reader:
                for task in labels.tasks:
                    read = reader.segmentation if task == "segmentation" else reader.depth
                    examples = [read(source.samples[int(row)]) for row in val[:EXAMPLES_SHOWN]]
                    profiles = {}
                    for head in self._heads():
                        spec = self._spec(head, task, dense, labels, seed)
                        trained, _ = train_head(spec, maps, train, lambda row: read(source.samples[row]),
                                                IGNORE_INDEX, dense.entry / HEADS_FOLDER, targets_key(source, labels, train))
                        # one val image at a time: ADE20K's 2,000 label maps and answers would not fit at once
                        per_image, profile, shown[f"{task}/{head}"] = [], DepthProfile(DEPTH_PROFILE_EDGES), []
                        for k, row in enumerate(val):
                            truth = read(source.samples[int(row)])
                            answer = predict_map(trained, spec, maps([int(row)])[0], truth.shape)
                            if k < EXAMPLES_SHOWN:
                                shown[f"{task}/{head}"].append(answer)
                            if task == "segmentation":
                                per_image.append(image_counts(answer, truth, len(labels.classes)))
                            else:
                                per_image.append(depth_errors(answer, truth))
                                profile.add(answer, truth)
                        if task == "segmentation":
                            for k, name in enumerate(COUNTS):
                                arrays[f"{head}_{name}"] = np.stack([c[k] for c in per_image])
                            output.records += self._segmentation_records(model, dataset, request, head, arrays,
                                                                         labels, seed)
                        else:
                            for metric in DEPTH_METRICS:
                                arrays[f"{head}_{metric}"] = np.array([e[metric] for e in per_image])
                            output.records += self._depth_records(model, dataset, request, head, arrays, seed)
                            profiles[head] = profile.rmse()
                    if task == "segmentation":
                        output.figures.append(class_iou_bars(model, dataset, arrays, labels.classes, self._heads()))
                    else:
                        output.figures.append(depth_error_profile(model, dataset, profiles, DEPTH_PROFILE_EDGES))
                    output.figures.append(examples_figure(model, dataset, task, source, val[:EXAMPLES_SHOWN],
                                                          examples, shown))
            output.add_samples(prediction, arrays, rows=val)
            output.header[dataset] = {"features": {"output": dense.output, "shape": list(dense.shape),
                                                   "stride": dense.stride}, "train_images": int(len(train)),
                                      "val_images": int(len(val))}
        return output

    def _spec(self, head: str, task: str, dense: DenseFeatures, labels: DenseLabels, seed: int) -> HeadSpec:
        blocks = DenseSpec.parse(dense.output).blocks  # type: ignore[union-attr]
        return HeadSpec(kind=head, task=task, channels=dense.shape[0],
                        levels=4 if head == "decoder" and blocks == "last4" else 1,
                        outputs=len(labels.classes) if task == "segmentation" else DEPTH_BINS,
                        iterations=int(self.setting("iterations")), batch_size=int(self.setting("batch_size")),  # type: ignore[arg-type]
                        learning_rate=float(self.setting("learning_rate")), weight_decay=WEIGHT_DECAY,  # type: ignore[arg-type]
                        seed=seed, depth_range=DEPTH_RANGE)

    def _segmentation_records(self, model: str, dataset: str, request: PredictionRequest, head: str,
                              arrays: Mapping[str, np.ndarray], labels: DenseLabels, seed: int) -> list[MetricRecord]:
        counts = [np.asarray(arrays[f"{head}_{name}"]) for name in COUNTS]
        n = len(counts[0])
        values = segmentation_scores(*counts)
        low, high = bootstrap_intervals(
            lambda index: np.array([segmentation_scores(*(c[index] for c in counts))[m] for m in SEGMENTATION_METRICS]),
            n, seed=seed)
        condition, subset = request.condition.format(), head_subset(head)
        records = [self.record(model, dataset=dataset, metric=metric, value=values[metric], n=n, condition=condition,
                               subset=subset, ci=(low[k], high[k])) for k, metric in enumerate(SEGMENTATION_METRICS)]
        iou = class_iou(*counts)
        present = (counts[2] > 0).sum(0)
        records += [self.record(model, dataset=dataset, metric="iou", value=iou[k], n=int(present[k]),
                                condition=condition, subset=f"{head}/{name}")
                    for k, name in enumerate(labels.classes) if np.isfinite(iou[k])]
        return records

    def _depth_records(self, model: str, dataset: str, request: PredictionRequest, head: str,
                       arrays: Mapping[str, np.ndarray], seed: int) -> list[MetricRecord]:
        per_image = np.stack([arrays[f"{head}_{metric}"] for metric in DEPTH_METRICS], 1)
        low, high = bootstrap_intervals(lambda index: np.nanmean(per_image[index], 0), len(per_image), seed=seed)
        return [self.record(model, dataset=dataset, metric=metric, value=float(np.nanmean(per_image[:, k])),
                            n=int(np.isfinite(per_image[:, k]).sum()), condition=request.condition.format(),
                            subset=head_subset(head), ci=(low[k], high[k]))
                for k, metric in enumerate(DEPTH_METRICS)]


def targets_key(source: DatasetSource, labels: DenseLabels, train: np.ndarray) -> str:
    """What identifies the training targets (the manifest covers the images only): each train
    sample's target file size, or the labeled .mat's and the class mapping's sizes (NYU)."""
    digest = hashlib.sha256(json.dumps(labels.describe(), sort_keys=True).encode())
    digest.update(source.manifest_hash.encode())
    if labels.storage == NYU_MAT:
        for file in labels.files:
            digest.update(f"{Path(file).name}\t{Path(file).stat().st_size}\n".encode())
    else:
        for row in train:
            sample = source.samples[int(row)]
            digest.update(f"{sample.sample_id}\t{Path(sample.attribute('target')).stat().st_size}\n".encode())
    return digest.hexdigest()
