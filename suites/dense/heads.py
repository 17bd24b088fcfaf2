"""The heads trained on cached frozen features, their training loop, and their checkpoints.

``linear``: DINOv2's linear probe (Oquab et al. 2023, 7.4; mmsegmentation's ``BNHead``):
BatchNorm over the feature channels, then a 1 x 1 convolution to the outputs.
``decoder``: a small trainable decoder (ours, after Lin et al. 2022's finding that tunable
parameters placed in the head close most of the gap to fine-tuning). Over one feature level
(``dense_features``): two 3 x 3 convolution blocks (conv, BatchNorm, ReLU; 256 channels), then a
1 x 1 convolution. Over several (``dense_features/last4``: four blocks concatenated along
channels, ``levels`` = 4; ``LevelDecoder``): each level projected (1 x 1 conv, BatchNorm, ReLU)
and resampled to its own stride, the deepest coarsest, as mmsegmentation's ``MultiLevelNeck``
turns a ViT's blocks into a pyramid (scales 4, 2, 1, 1/2 of the patch grid, in block order), a
3 x 3 block at that scale, then every level upsampled to the finest (4 x the grid) and summed,
BatchNorm, ReLU, 1 x 1 convolution.
Segmentation: logits upsampled bilinearly (align_corners False) to each label map's own size,
cross-entropy over the labelled pixels (the ignore index left out), averaged over the batch's
pixels. Depth: 256 outputs read as DINOv2's classification head over uniform bins from 1e-3 to
10 m with "linear" normalisation (Bhat et al. 2021, AdaBins: ReLU + 0.1, divided by the sum),
depth = the bin centres weighted by it; features are upsampled x 4 before the head (DINOv2's
"upsample 4") and the depth map bilinearly to the ground truth's size; loss: the scale-invariant
log loss (Eigen et al. 2014, lambda 0.85 as in the Toolbox's SigLoss: sqrt(var g + 0.15 mean(g)^2),
g = log p - log gt over valid pixels).

Training (``train_head``): AdamW, learning rate decayed linearly to 0 over a fixed number of
iterations, each iteration a batch of training images drawn with a generator seeded by
(seed, iteration), so an iteration's batch does not depend on whether the run was resumed. The
head's initial weights come from the seed. A checkpoint (head, optimiser, iteration) is written
atomically every ``CHECKPOINT_EVERY`` iterations, so a killed run resumes where it stopped and
ends with the weights an uninterrupted run ends with; the trained head is kept under its key
(every setting that changes it) beside the features' store entry, so a rerun trains nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from auditkit.paths import open_temporary
from auditkit.suite import DenseFeatures

DEPTH_BINS = 256
BIN_EPSILON = 0.1  # AdaBins' linear normalisation
CHECKPOINT_EVERY = 100
DECODER_WIDTH = 256
DEPTH_UPSAMPLE = 4
HEADS_FOLDER = "heads"
# One CPU thread: float sums then run in one order on every machine (bit-identical heads whatever
# the core count), and on small maps threads cost more than they give (measured on a loaded 2-core
# machine: upsampling a 21 x 8 x 8 map to 64 x 64 and back 2.4 ms on one thread, 115 ms on two).
TRAINING_THREADS = 1


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """torch's intra-op threads set to ``count`` inside the block, restored after it."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class HeadSpec:
    """Everything that changes a trained head (its checkpoint key with the training targets')."""

    kind: str  # "linear" | "decoder"
    task: str  # "segmentation" | "depth"
    channels: int
    outputs: int  # classes, or DEPTH_BINS
    iterations: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    seed: int
    depth_range: tuple[float, float] = (1e-3, 10.0)
    version: int = 1  # bump on any change of the heads or the training loop
    levels: int = 1  # feature levels the decoder reads (the channel blocks of dense_features/last4)

    def key(self, targets: str) -> str:
        described = asdict(self)
        if self.levels == 1:  # keys of one-level heads stay as they were before levels existed
            del described["levels"]
        payload = json.dumps([described, targets], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:32]


LEVEL_SCALES = (4.0, 2.0, 1.0, 0.5)  # MultiLevelNeck's, shallowest block first


class FeatureRows:
    """``DenseFeatures.maps`` read with plain file reads instead of through the store's memory map:
    the rows pass through the page cache without staying in this process's resident memory, so
    peak RSS does not grow with the number of images the heads read (benchmarks/dense_memory.py).
    Values that are not a file-backed map (a test's array) are read as they are."""

    def __init__(self, dense: DenseFeatures) -> None:
        self.dense = dense
        values = dense.values
        self.file = values.filename if isinstance(values, np.memmap) and values.flags.c_contiguous else None

    def __call__(self, rows: np.ndarray | list[int]) -> np.ndarray:
        if self.file is None:
            return self.dense.maps(rows)
        values = self.dense.values
        row_bytes = values.shape[1] * values.itemsize
        out = np.empty((len(rows), values.shape[1]), values.dtype)
        with open(self.file, "rb", buffering=0) as stream:
            for k, row in enumerate(np.asarray(rows, dtype=np.int64)):
                stream.seek(values.offset + int(row) * row_bytes)
                stream.readinto(memoryview(out[k]).cast("B"))
        return out.astype(np.float32).reshape(-1, *self.dense.shape)


def _block(channels_in: int, channels_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels_in, channels_out, kernel, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(channels_out), nn.ReLU())


class LevelDecoder(nn.Module):
    """The decoder over several feature levels (module docstring): (B, levels x C, h, w) in,
    (B, outputs, 4h, 4w) out."""

    def __init__(self, channels: int, levels: int, outputs: int) -> None:
        super().__init__()
        if channels % levels or levels > len(LEVEL_SCALES):
            raise ValueError(f"{channels} channels do not split into {levels} levels (at most {len(LEVEL_SCALES)})")
        self.scales = LEVEL_SCALES[-levels:]  # the deepest levels keep the coarse end of the pyramid
        self.project = nn.ModuleList(_block(channels // levels, DECODER_WIDTH, 1) for _ in self.scales)
        self.refine = nn.ModuleList(_block(DECODER_WIDTH, DECODER_WIDTH, 3) for _ in self.scales)
        self.fuse = nn.Sequential(nn.BatchNorm2d(DECODER_WIDTH), nn.ReLU(), nn.Conv2d(DECODER_WIDTH, outputs, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        height, width = features.shape[-2:]
        finest = (round(height * self.scales[0]), round(width * self.scales[0]))
        fused = features.new_zeros(())
        for level, project, refine, scale in zip(features.chunk(len(self.scales), 1), self.project, self.refine,
                                                 self.scales):
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
            at_scale = refine(F.interpolate(project(level), size=size, mode="bilinear", align_corners=False))
            fused = fused + F.interpolate(at_scale, size=finest, mode="bilinear", align_corners=False)
        return self.fuse(fused)


def make_head(spec: HeadSpec) -> nn.Module:
    """The head, its weights drawn from the spec's seed (the global generator left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        if spec.kind == "linear":
            return nn.Sequential(nn.BatchNorm2d(spec.channels), nn.Conv2d(spec.channels, spec.outputs, 1))
        if spec.levels > 1:
            return LevelDecoder(spec.channels, spec.levels, spec.outputs)
        return nn.Sequential(
            nn.Conv2d(spec.channels, DECODER_WIDTH, 3, padding=1, bias=False), nn.BatchNorm2d(DECODER_WIDTH), nn.ReLU(),
            nn.Conv2d(DECODER_WIDTH, DECODER_WIDTH, 3, padding=1, bias=False), nn.BatchNorm2d(DECODER_WIDTH), nn.ReLU(),
            nn.Conv2d(DECODER_WIDTH, spec.outputs, 1),
        )


def bin_centres(spec: HeadSpec) -> torch.Tensor:
    return torch.linspace(spec.depth_range[0], spec.depth_range[1], spec.outputs)


def head_output(head: nn.Module, spec: HeadSpec, features: torch.Tensor) -> torch.Tensor:
    """Segmentation: (B, K, h, w) logits on the feature grid (4h x 4w from the level decoder).
    Depth: (B, 1, 4h, 4w) metres (the level decoder's output is at 4 x the grid already)."""
    if spec.task == "segmentation":
        return head(features)
    if isinstance(head, LevelDecoder):
        weights = torch.relu(head(features)) + BIN_EPSILON
    else:
        upsampled = F.interpolate(features, scale_factor=DEPTH_UPSAMPLE, mode="bilinear", align_corners=False)
        weights = torch.relu(head(upsampled)) + BIN_EPSILON
    weights = weights / weights.sum(1, keepdim=True)
    return torch.einsum("bkhw,k->bhw", weights, bin_centres(spec).to(weights))[:, None]


def to_target_size(output: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """One image's output (1, K, h, w) resized bilinearly to the target map's (H, W)."""
    return F.interpolate(output, size=size, mode="bilinear", align_corners=False)


def batch_loss(spec: HeadSpec, outputs: torch.Tensor, targets: list[np.ndarray], ignore_index: int) -> torch.Tensor:
    """The batch's loss over each image's full-size target (sizes may differ between images)."""
    if spec.task == "segmentation":
        total, pixels = outputs.new_zeros(()), 0
        for output, target in zip(outputs, targets):
            label = torch.from_numpy(target.astype(np.int64))
            logits = to_target_size(output[None], target.shape)
            total = total + F.cross_entropy(logits, label[None], ignore_index=ignore_index, reduction="sum")
            pixels += int((label != ignore_index).sum())
        return total / max(pixels, 1)
    losses = []
    low, high = spec.depth_range
    for output, target in zip(outputs, targets):
        truth = torch.from_numpy(target.astype(np.float32))
        depth = to_target_size(output[None], target.shape)[0, 0]
        valid = (truth > low) & (truth < high)
        if valid.any():
            g = torch.log(depth[valid]) - torch.log(truth[valid])
            losses.append(torch.sqrt(g.var(unbiased=False) + 0.15 * g.mean() ** 2 + 1e-12))
    return torch.stack(losses).mean() if losses else outputs.sum() * 0


def _save_atomic(payload: object, path: Path) -> None:
    handle, tmp = open_temporary(path.parent, prefix=f".{path.name}-", suffix=".tmp")
    with os.fdopen(handle, "wb") as stream:
        torch.save(payload, stream)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(tmp, path)


def train_head(
    spec: HeadSpec, maps: Callable[[np.ndarray], np.ndarray], train_rows: np.ndarray,
    target: Callable[[int], np.ndarray], ignore_index: int, folder: Path, targets_key: str,
    stop_after: int | None = None,
) -> tuple[nn.Module, bool]:
    """The trained head (eval mode) and whether it was trained now (False: read from ``folder``).

    ``maps(rows)``: (len(rows), C, H, W) features; ``target(row)``: that sample's target map.
    ``stop_after``: stop (as a kill would) after that many iterations, for the resume test."""
    with torch_threads(TRAINING_THREADS):
        return _train_head(spec, maps, train_rows, target, ignore_index, folder, targets_key, stop_after)


def _train_head(
    spec: HeadSpec, maps: Callable[[np.ndarray], np.ndarray], train_rows: np.ndarray,
    target: Callable[[int], np.ndarray], ignore_index: int, folder: Path, targets_key: str,
    stop_after: int | None,
) -> tuple[nn.Module, bool]:
    folder.mkdir(parents=True, exist_ok=True)
    key = spec.key(targets_key)
    final, partial = folder / f"{spec.kind}-{spec.task}-{key}.pt", folder / f"{spec.kind}-{spec.task}-{key}.partial.pt"
    head = make_head(spec)
    if final.is_file():
        head.load_state_dict(torch.load(final, weights_only=True))
        return head.eval(), False
    optimiser = torch.optim.AdamW(head.parameters(), lr=spec.learning_rate, weight_decay=spec.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: 1 - step / spec.iterations)
    start = 0
    if partial.is_file():
        state = torch.load(partial, weights_only=True)
        head.load_state_dict(state["head"])
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        start = int(state["iteration"])
    head.train()
    batch = min(spec.batch_size, len(train_rows))
    for iteration in range(start, spec.iterations):
        if stop_after is not None and iteration >= stop_after:
            return head.eval(), True
        rows = np.sort(np.random.default_rng([spec.seed, iteration]).choice(train_rows, batch, replace=False))
        features = torch.from_numpy(maps(rows))
        loss = batch_loss(spec, head_output(head, spec, features), [target(int(r)) for r in rows], ignore_index)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        done = iteration + 1
        if done % CHECKPOINT_EVERY == 0 and done < spec.iterations:
            _save_atomic({"head": head.state_dict(), "optimiser": optimiser.state_dict(),
                          "schedule": schedule.state_dict(), "iteration": done}, partial)
    _save_atomic(head.state_dict(), final)
    partial.unlink(missing_ok=True)
    return head.eval(), True


@torch.inference_mode()
def predict_map(head: nn.Module, spec: HeadSpec, features: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """One image's prediction at its target's size: classes (uint8 / int) or depth (float32)."""
    with torch_threads(TRAINING_THREADS):
        return _predict_map(head, spec, features, size)


def _predict_map(head: nn.Module, spec: HeadSpec, features: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    output = to_target_size(head_output(head, spec, torch.from_numpy(features[None])), size)[0]
    if spec.task == "segmentation":
        return output.argmax(0).numpy()
    return output[0].numpy()
