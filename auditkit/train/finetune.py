"""The training loop behind a ``finetune`` condition: a backbone fine-tuned under a recipe.

``train(job)`` trains one repeat (a ``Finetune`` condition: recipe, train fraction, seed) of one
model on one task, in its own folder of the prediction store, and returns the trained network.
The folder holds:

- ``state.pt``: the state after the last completed epoch (weights, optimiser, schedule, the best
  weights so far, the history), written whole and renamed into place: a run killed at any moment
  (kill -9) resumes from it;
- ``model.pt``: the trained model (the weights scored, the parent's description, the recipe,
  the history and the cost): its presence means done, so a rerun trains nothing. It loads as
  ``--model finetuned:PATH`` (``auditkit.train.adapted``);
- ``train.log``: one line per epoch (epoch, step, losses, val accuracy, images/s, time left).

Determinism (CPU): the batches of epoch ``e`` are a permutation seeded by (seed, e); each image's
augmentation and its dropout mask before the head are seeded by (seed, e, position)
(``augment.SeededImages``, ``Loop._dropout``), so they are the same whichever process holds the
image. Randomness inside a backbone (a ViT's stochastic depth) draws from torch's generator,
reseeded by (seed, e, rank) at the start of every epoch. Nothing random is carried from one
epoch to the next outside ``state.pt``, so a resumed run continues bit-identical to an
uninterrupted one.

Under torchrun each rank takes an equal share of every global batch (``batch_size`` stays the
global batch) and the ranks' gradients are averaged (all-reduce, the mean DistributedDataParallel
takes) before each step, so every rank holds the same weights. DistributedDataParallel's wrapper
is not used: the frozen warm-up changes which parameters have gradients mid-run, which its
reducer does not allow. BatchNorm statistics are each rank's own (converted to SyncBatchNorm on
CUDA). On CUDA the forward and backward passes run under bf16 autocast; the weights stay fp32.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from torch import nn

from auditkit.data.splits import stratified_holdout, stratified_sample
from auditkit.distributed import Ranks
from auditkit.errors import AuditError
from auditkit.paths import open_temporary
from auditkit.records import write_json_atomic
from auditkit.adapters.base import PreLogits
from auditkit.train.augment import SeededImages, eval_pipeline, sample_seed, train_pipeline
from auditkit.train.drloc import DRLocHead, NoGrid, drloc_loss, embedding_grid, pooled_grid, sample_pairs

if TYPE_CHECKING:
    from auditkit.adapters.base import ModelAdapter
    from auditkit.conditions.finetune import Finetune
    from auditkit.data.source import DatasetSource
    from auditkit.train.recipes import Recipe

STATE_FILE, MODEL_FILE, LOG_FILE, SUMMARY_FILE = "state.pt", "model.pt", "train.log", "summary.json"
PROGRESS_FILE = "state.json"  # the epoch and step state.pt holds, readable without loading weights
MODEL_FORMAT = 1
VAL_FRACTION = 0.1  # a task without a val split: 10 % of train held out (Zhou et al.'s CUB split)
VAL_SPLIT_SEED = 0  # the same held-out images for every repeat: repeats differ by their seed only
# VTs-Drloc's lambda schedule (main.py: SSL warm-up 20 epochs, the 300-epoch horizon of its config)
RELEASED_DRLOC_WARMUP, RELEASED_DRLOC_HORIZON = 20, 300


class UntrainableTask(AuditError):
    """A task this recipe cannot train on (one class, a split missing, fewer images than a
    batch): the suite skips it with this reason."""


class FineTuned(nn.Module):
    """The backbone under a new linear head (dropout before it, as Zhou et al.), and, when the
    recipe asks for L_drloc, the MLP f of Liu et al. on the backbone's final grid."""

    def __init__(self, backbone: nn.Module, width: int, classes: int, dropout: float, head_init: str,
                 drloc_width: int = 0, drloc_hidden: int = 0) -> None:
        super().__init__()
        self.backbone = backbone
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(width, classes)
        if head_init == "zeros":  # task_adaptation's kernel_initializer=tf.zeros_initializer()
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
        self.drloc_head = DRLocHead(drloc_width, drloc_hidden) if drloc_width else None

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.backbone(images)))

    def features_and_grid(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The pooled features the head reads and the final embedding grid (batch, C, H, W)."""
        return final_grid(self.backbone, images)


def final_grid(backbone: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A timm backbone's pooled pre-logits and its last layer's grid (``drloc.embedding_grid``:
    prefix tokens dropped, channels-last maps permuted); other backbones have no grid to read."""
    model = getattr(backbone, "model", None)
    if not (isinstance(backbone, PreLogits) and hasattr(model, "forward_features")):
        raise NoGrid(f"{type(backbone).__name__} gives pooled features only: L_drloc needs the final grid of a "
                     "timm model (forward_features); give the architecture as timm:NAME or arch:NAME")
    features = model.forward_features(images)
    pooled = model.forward_head(features, pre_logits=True)
    grid = embedding_grid(features, int(getattr(model, "num_prefix_tokens", 0)),
                          channels_last=getattr(model, "output_fmt", "NCHW") == "NHWC")
    return pooled, grid


def reinitialise(backbone: nn.Module, seed: int, name: str) -> None:
    """The backbone's weights drawn afresh, seeded (training from scratch): the model's own
    initialisation where it has one (timm's ``init_weights``), after every layer's
    ``reset_parameters``. A parameter neither reaches is refused: it would keep its pretrained
    value and the run would not be from scratch."""
    torch.manual_seed(seed)
    covered: set[int] = set()
    for module in backbone.modules():
        if hasattr(module, "reset_parameters") and callable(module.reset_parameters):
            module.reset_parameters()
            covered.update(id(p) for p in module.parameters(recurse=False))
    model = getattr(backbone, "model", backbone)
    if callable(getattr(model, "init_weights", None)):
        model.init_weights()
        return
    missed = [n for n, p in backbone.named_parameters() if id(p) not in covered]
    if missed:
        raise UntrainableTask(f"{name}: cannot draw {missed[0]} afresh (no reset_parameters, no init_weights()); "
                              "give the model an init_weights() method to train it from scratch")


@dataclass(frozen=True)
class Splits:
    """Positions in the task's samples: what trains, what chooses (val), what is scored."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    classes: int
    notes: tuple[str, ...] = ()


def task_splits(source: "DatasetSource", recipe: "Recipe", fraction: float, seed: int) -> Splits:
    """The train / val / test positions of one repeat. ``fraction`` < 1: a stratified sample of
    train seeded by the repeat's seed (at least one image per class). A recipe that uses val
    (``train_on`` = train) on a task without one holds out a stratified 10 % of train (seed 0).
    ``train_val`` recipes train on train + val. Bad tasks are one-line ``AuditError``s."""
    from auditkit.data.transfer import split_of

    split = np.array([split_of(s) for s in source.samples])
    labels = source.labels
    train, val, test = (np.flatnonzero(split == name) for name in ("train", "val", "test"))
    notes = []
    if not len(train) or not len(test):
        raise UntrainableTask(f"{source.name}: fine-tuning needs train and test images, has train {len(train)}, "
                         f"test {len(test)} (did --limit cut a split? raise it or drop it)")
    classes = int(labels[np.concatenate([train, val, test])].max()) + 1
    if len(np.unique(labels[train])) < 2:
        raise UntrainableTask(f"{source.name}: the train images hold one class only; fine-tuning needs at least two "
                         "(did --limit cut the split?)")
    if recipe.train_on == "train_val":
        train, val = np.sort(np.concatenate([train, val])), np.array([], dtype=np.int64)
    elif not len(val):
        held = stratified_holdout(labels[train], VAL_FRACTION, VAL_SPLIT_SEED)
        train, val = train[~held], train[held]
        notes.append(f"no val split: {len(val)} train images ({VAL_FRACTION:.0%}, stratified, seed "
                     f"{VAL_SPLIT_SEED}) hold out for choosing the weights")
    if fraction < 1:
        train = train[stratified_sample(labels[train], seed, fraction=fraction)]
    if len(train) < recipe.batch_size:
        raise UntrainableTask(f"{source.name}: {len(train)} train images, fewer than one batch of {recipe.batch_size}; "
                         f"lower --option {recipe.suite}.batch_size" + ("" if recipe.init == "scratch" else " or raise the fraction"))
    return Splits(train, val, test, classes, tuple(notes))


@dataclass(frozen=True)
class TrainingJob:
    """One repeat to train: the parent model, the task, the condition, where it lives, how it runs."""

    adapter: "ModelAdapter"
    source: "DatasetSource"
    condition: "Finetune"
    folder: Path
    splits: Splits
    workers: int = 0
    progress: bool = True
    ranks: Ranks = Ranks()
    label: str = ""  # "digits finetune/zhou2021/frac1/seed0" in progress lines
    parent_spec: str = ""  # what loads the parent again (``--model finetuned:PATH``)
    training_key: dict[str, Any] | None = None  # the store key of this training (the child's identity)

    @property
    def recipe(self) -> "Recipe":
        return self.condition.resolved

    @property
    def size(self) -> int:
        return self.condition.input_size(self.adapter.preprocess)


def precision_of(device: torch.device) -> str:
    """What training runs in: bf16 autocast on CUDA, fp32 elsewhere (part of the store key)."""
    return "bf16" if device.type == "cuda" else "fp32"


def build_network(adapter: "ModelAdapter", classes: int, recipe: "Recipe", size: int, seed: int = 0) -> FineTuned:
    """The parent's backbone (a trainable copy; drawn afresh from ``seed`` for a from-scratch
    recipe) under a new head, its width found with one blank image at the training size. The
    head's initial weights draw from torch's generator, which the caller seeds. A recipe with
    L_drloc whose backbone has no final grid (or one under 2 x 2) is an ``UntrainableTask``."""
    backbone = adapter.backbone()
    if size != adapter.preprocess.input_size:
        from auditkit.adapters.base import resized_module

        if isinstance(backbone, PreLogits):  # the timm model inside resamples (a ViT's position embedding)
            backbone = PreLogits(resized_module(backbone.model, size, adapter.name))
        else:
            backbone = resized_module(backbone, size, adapter.name)
    if recipe.init == "scratch":
        state = torch.random.get_rng_state()
        reinitialise(backbone, sample_seed(seed, "init"), adapter.name)
        torch.random.set_rng_state(state)  # the caller's head seed is drawn as without re-initialising
    backbone.eval()
    blank = torch.zeros(1, 3, size, size, device=adapter.device)
    drloc_width = 0
    with torch.no_grad():
        width = int(backbone(blank).reshape(1, -1).shape[1])
        if recipe.drloc:
            try:
                grid = pooled_grid(final_grid(backbone, blank)[1], recipe.drloc_grid)
            except NoGrid as error:
                raise UntrainableTask(f"{adapter.name}: L_drloc cannot apply: {error}") from None
            drloc_width = int(grid.shape[1])
    return FineTuned(backbone, width, classes, recipe.head_dropout, recipe.head_init, drloc_width,
                     recipe.drloc_hidden).to(adapter.device)


def steps_per_epoch(train_images: int, recipe: "Recipe") -> int:
    return train_images // recipe.batch_size  # the last partial batch is dropped (BatchNorm, equal shares)


def planned_steps(train_images: int, recipe: "Recipe") -> int:
    """The most optimiser steps the recipe can take (early stopping may take fewer)."""
    per_epoch = steps_per_epoch(train_images, recipe)
    bounds = [b for b in (recipe.max_steps, recipe.max_epochs * per_epoch) if b]
    return min(bounds)


def train(job: TrainingJob) -> FineTuned:
    """Train (or resume, or load) the repeat ``job`` names; the network holds the weights that
    are scored (the best val loss's, or the last for recipes without val). Every rank returns
    the same network."""
    folder = job.folder
    done = folder / MODEL_FILE
    recipe, splits, adapter = job.recipe, job.splits, job.adapter
    device = adapter.device
    torch.manual_seed(sample_seed(job.condition.seed, "head"))
    network = build_network(adapter, splits.classes, recipe, job.size, job.condition.seed)
    if done.is_file():
        network.load_state_dict(load_checkpoint(done)["state_dict"])
        return network.eval()
    if job.ranks.world > 1 and device.type == "cuda":
        network = nn.SyncBatchNorm.convert_sync_batchnorm(network)
    Loop(job, network).run()
    network.load_state_dict(load_checkpoint(done)["state_dict"])
    return network.eval()


class Loop:
    """The epochs of one repeat, with its optimiser, schedule, early stopping and checkpoints."""

    def __init__(self, job: TrainingJob, network: FineTuned) -> None:
        self.job, self.network, self.recipe = job, network, job.recipe
        recipe = self.recipe
        self.device = job.adapter.device
        groups = parameter_groups(network, recipe)
        if recipe.optimizer == "adam":
            self.optimizer: torch.optim.Optimizer = torch.optim.Adam(
                groups, lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay)
        elif recipe.optimizer == "adamw":
            self.optimizer = torch.optim.AdamW(groups, lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay)
        else:
            self.optimizer = torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum,
                                             weight_decay=recipe.weight_decay)
        self.loss = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
        self.mixing = batch_mixing(recipe, job.splits.classes)
        self.drloc_epoch: float | None = None
        source, splits = job.source, job.splits
        labels = source.labels
        self.train_images = SeededImages(tuple(source.samples[i] for i in splits.train),
                                         [int(labels[i]) for i in splits.train],
                                         train_pipeline(recipe, job.adapter.preprocess, job.size),
                                         job.condition.seed, source.table)
        self.val_images = SeededImages(tuple(source.samples[i] for i in splits.val),
                                       [int(labels[i]) for i in splits.val],
                                       eval_pipeline(recipe, job.adapter.preprocess, job.size), 0, source.table)
        self.per_epoch = steps_per_epoch(len(splits.train), recipe)
        self.total_steps = planned_steps(len(splits.train), recipe)
        self.warmup_steps = recipe.warmup_steps + recipe.warmup_epochs * self.per_epoch
        if self.mixing is not None and (recipe.batch_size // job.ranks.world) % 2:
            raise AuditError(f"--option {recipe.suite}.batch_size={recipe.batch_size}: mixup / cutmix pair each image with "
                             "another of its batch and need an even batch per process; choose an even one")
        if job.ranks.world > 1 and recipe.batch_size % job.ranks.world:
            raise AuditError(f"--option {recipe.suite}.batch_size={recipe.batch_size} does not split evenly over "
                             f"{job.ranks.world} torchrun processes; choose a multiple of {job.ranks.world}")
        # the state a checkpoint carries
        self.epoch = 0  # epochs completed
        self.step = 0
        self.lr = recipe.lr  # the post-warm-up learning rate, as the plateau schedule lowered it
        self.best: dict[str, Any] = {"val_loss": math.inf, "epoch": 0, "weights": None}
        self.since_best = 0  # epochs after the warm-up without a lower val loss
        self.plateau_bad = 0  # epochs after the warm-up without a lower val loss, since the last lr cut
        self.plateau_best = math.inf
        self.history: list[dict[str, Any]] = []
        self.seconds = 0.0
        self.stopped = ""

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "step": self.step, "lr": self.lr, "best": self.best,
                "since_best": self.since_best, "plateau_bad": self.plateau_bad, "plateau_best": self.plateau_best,
                "history": self.history, "seconds": self.seconds, "stopped": self.stopped,
                "network": self.network.state_dict(), "optimizer": self.optimizer.state_dict()}

    def _restore(self, state: dict[str, Any]) -> None:
        self.network.load_state_dict(state["network"])
        self.optimizer.load_state_dict(state["optimizer"])
        for name in ("epoch", "step", "lr", "best", "since_best", "plateau_bad", "plateau_best", "history",
                     "seconds", "stopped"):
            setattr(self, name, state[name])

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        job, recipe = self.job, self.recipe
        folder = job.folder
        state_file = folder / STATE_FILE
        if state_file.is_file():
            self._restore(load_checkpoint(state_file))
            self._say(f"resumed after epoch {self.epoch} (step {self.step})")
        else:
            self._say(f"training: {len(job.splits.train)} train / {len(job.splits.val)} val images, "
                      f"{self.per_epoch} steps per epoch, at most {self.total_steps} steps")
        while not self.stopped:
            started = time.perf_counter()
            train_loss, images = self._train_epoch()
            val_loss, val_top1 = self._validate()
            self.epoch += 1
            seconds = time.perf_counter() - started
            self.seconds += seconds
            self._after_epoch(val_loss)
            self.history.append({"epoch": self.epoch, "step": self.step, "train_loss": train_loss,
                                 **({"drloc_loss": self.drloc_epoch} if self.drloc_epoch is not None else {}),
                                 "val_loss": val_loss, "val_top1": val_top1, "lr": self._current_lr(),
                                 "seconds": seconds, "images_per_second": images / max(seconds, 1e-9)})
            if job.ranks.leader:
                _save(state_file, self._state())
                write_json_atomic(folder / PROGRESS_FILE, {"epoch": self.epoch, "step": self.step})
            job.ranks.barrier()
            self._report(seconds, images)
        weights = self.best["weights"] if recipe.select_best and self.best["weights"] is not None else None
        if weights is not None:
            self.network.load_state_dict(weights)
        if job.ranks.leader:
            kept = self._model_file()
            write_json_atomic(folder / SUMMARY_FILE, {k: v for k, v in kept.items() if k != "state_dict"})
            _save(folder / MODEL_FILE, kept)  # last: its presence means done
            state_file.unlink(missing_ok=True)
            (folder / PROGRESS_FILE).unlink(missing_ok=True)
        job.ranks.barrier()

    def _train_epoch(self) -> tuple[float, int]:
        job, recipe, network = self.job, self.recipe, self.network
        ranks = job.ranks
        self.train_images.keep_decoded()  # before the loader's workers fork: they share it
        self.train_images.set_epoch(self.epoch)
        order = torch.randperm(len(self.train_images),
                               generator=torch.Generator().manual_seed(sample_seed(job.condition.seed, self.epoch, "order")))
        batches = [order[k * recipe.batch_size:(k + 1) * recipe.batch_size].tolist() for k in range(self.per_epoch)]
        if recipe.max_steps:
            batches = batches[: max(0, recipe.max_steps - self.step)]
        mine = [batch[ranks.rank::ranks.world] for batch in batches]
        loader = torch.utils.data.DataLoader(self.train_images, batch_sampler=mine,
                                             num_workers=self._workers(self.train_images),
                                             pin_memory=self.device.type == "cuda")
        # randomness inside a backbone (stochastic depth) draws from each rank's own generator
        torch.manual_seed(sample_seed(job.condition.seed, self.epoch, "backbone", ranks.rank))
        total, seen, drloc_total = 0.0, 0, 0.0
        for images, labels, positions in loader:
            frozen = self._set_learning_rates()
            network.train()
            if frozen:  # the backbone as it is: no gradient, BatchNorm statistics unchanged
                network.backbone.eval()
            images = images.to(self.device, non_blocking=True)
            labels = labels.to(self.device, non_blocking=True)
            targets: torch.Tensor = labels
            if self.mixing is not None:  # timm's Mixup draws from numpy's global generator: seeded per step
                with _numpy_seeded(sample_seed(job.condition.seed, self.epoch, self.step, ranks.rank, "mixup")):
                    images, targets = self.mixing(images, labels)
            with _autocast(self.device):
                with torch.no_grad() if frozen else contextlib.nullcontext():
                    if network.drloc_head is not None:
                        features, grid = network.features_and_grid(images)
                    else:
                        features = network.backbone(images)
                features = features.reshape(len(images), -1)
                logits = network.head(self._dropout(features, positions))
                loss = self._criterion(logits.float(), targets)
                if network.drloc_head is not None:
                    auxiliary = self._drloc(grid, positions, ranks.world)
                    loss = loss + self._drloc_weight() * auxiliary
                    summed = recipe.drloc_reduction == "sum"  # this rank's sum x ranks, or its mean
                    drloc_total += float(auxiliary.detach()) * (1 / ranks.world if summed else len(images))
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if ranks.world > 1:
                _average_gradients(network, ranks.world)
            if recipe.clip_grad:
                nn.utils.clip_grad_norm_(network.parameters(), recipe.clip_grad)
            self.optimizer.step()
            self.step += 1
            total += float(loss.detach()) * len(images)
            seen += len(images)
        if recipe.max_steps and self.step >= recipe.max_steps:
            self.stopped = f"{recipe.max_steps} steps"
        train_loss = ranks_mean(ranks, total, seen)
        # L_drloc per image (before lambda), for the curves: the mean over this epoch's images
        self.drloc_epoch = ranks_mean(ranks, drloc_total, seen) if network.drloc_head is not None else None
        return train_loss, ranks.total(seen)

    def _criterion(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Cross-entropy with label smoothing; mixed batches carry soft targets (smoothing already
        in them, as timm's Mixup makes them): the cross-entropy with those."""
        if targets.ndim == 2:
            return torch.sum(-targets * torch.log_softmax(logits, dim=-1), dim=-1).mean()
        return self.loss(logits, targets)

    def _drloc_weight(self) -> float:
        """lambda this epoch: constant (the paper), or VTs-Drloc's schedule (``released``:
        main.py's ``_weight_decay(lambda, epoch, 20, 300)``, per epoch)."""
        recipe = self.recipe
        if recipe.drloc_schedule == "constant":
            return recipe.drloc
        if self.epoch <= RELEASED_DRLOC_WARMUP:
            return recipe.drloc * self.epoch / RELEASED_DRLOC_WARMUP
        return recipe.drloc * max(0.0, 1 - (self.epoch - RELEASED_DRLOC_WARMUP) / (RELEASED_DRLOC_HORIZON - RELEASED_DRLOC_WARMUP))

    def _drloc(self, grid: torch.Tensor, positions: torch.Tensor, world: int) -> torch.Tensor:
        """L_drloc of this process's images, the pairs of each drawn from (seed, epoch, position).
        A ``sum`` over the batch is scaled by the ranks under torchrun, so the averaged gradient
        is the global batch's sum, as one process computes it (a ``mean`` averages as it is)."""
        recipe = self.recipe
        grid = pooled_grid(grid, recipe.drloc_grid)
        generators = [torch.Generator().manual_seed(sample_seed(self.job.condition.seed, self.epoch, position, "drloc"))
                      for position in positions.tolist()]
        pairs = sample_pairs(len(grid), grid.shape[2], grid.shape[3], recipe.drloc_pairs, generators)
        loss = drloc_loss(grid, self.network.drloc_head, pairs, normalised=recipe.drloc_target == "normalised",  # type: ignore[arg-type]
                          reduction=recipe.drloc_reduction)
        return loss * world if recipe.drloc_reduction == "sum" else loss

    def _workers(self, images: SeededImages) -> int:
        """Loader workers: none on CPU while every image is held decoded. The network's own
        threads already take every core, and a worker forked each epoch makes this process copy
        each page it writes while the worker lives (copy-on-write): measured, the first step
        of an epoch then took several times longer (benchmarks/finetune_speed.py)."""
        return 0 if self.device.type == "cpu" and images.all_kept else self.job.workers

    def _dropout(self, features: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """The head's dropout, its mask drawn per image from (seed, epoch, position): the same
        masks whichever rank holds the image, so N processes train what one does."""
        rate = self.recipe.head_dropout
        if not rate:
            return features
        masks = []
        for position in positions.tolist():
            generator = torch.Generator().manual_seed(sample_seed(self.job.condition.seed, self.epoch, position, "dropout"))
            masks.append(torch.rand(features.shape[1], generator=generator) >= rate)
        keep = torch.stack(masks).to(features.device)
        return features * keep / (1 - rate)

    def _in_warmup(self) -> bool:
        return self.step < self.warmup_steps

    def _set_learning_rates(self) -> bool:
        """This step's learning rate per group; True while the backbone is frozen."""
        recipe = self.recipe
        frozen = self._in_warmup() and recipe.warmup == "frozen"
        if frozen:
            rates = {"backbone": 0.0, "head": recipe.warmup_lr}
        elif self._in_warmup():  # linear from warmup_lr (task_adaptation: from 0; timm: warmup_lr_init)
            rate = recipe.warmup_lr + self.step * (recipe.lr - recipe.warmup_lr) / self.warmup_steps
            rates = {"backbone": rate, "head": rate}
        else:
            rate = self._current_lr()
            rates = {"backbone": rate, "head": rate}
        for group in self.optimizer.param_groups:
            group["lr"] = rates[group["name"]]
        return frozen

    def _current_lr(self) -> float:
        recipe = self.recipe
        if recipe.schedule == "steps":
            return recipe.lr * recipe.decay_factor ** sum(self.step >= s for s in recipe.decay_steps)
        if recipe.schedule == "cosine":
            # timm's CosineLRScheduler as Swin (and VTs-Drloc) build it: t_initial = all planned
            # steps, the warm-up overriding its first steps (warmup_prefix False)
            progress = min(self.step, self.total_steps) / max(self.total_steps, 1)
            return recipe.min_lr + 0.5 * (recipe.lr - recipe.min_lr) * (1 + math.cos(math.pi * progress))
        return self.lr

    def _validate(self) -> tuple[float | None, float | None]:
        """Mean loss (the training criterion) and top-1 on the val images; None without val.
        Every rank computes it on all of them (identical weights: identical numbers)."""
        if not len(self.val_images):
            return None, None
        network = self.network.eval()
        self.val_images.keep_decoded()
        loader = torch.utils.data.DataLoader(self.val_images, batch_size=max(self.recipe.batch_size, 64),
                                             num_workers=self._workers(self.val_images))
        total, correct, seen = 0.0, 0, 0
        with torch.no_grad(), _autocast(self.device):
            for images, labels, _ in loader:
                logits = network(images.to(self.device)).float()
                labels = labels.to(self.device)
                total += float(self.loss(logits, labels)) * len(labels)
                correct += int((logits.argmax(1) == labels).sum())
                seen += len(labels)
        return total / seen, correct / seen

    def _after_epoch(self, val_loss: float | None) -> None:
        """Best weights, the plateau schedule and early stopping (after the warm-up only: the
        frozen warm-up's val loss is the head's, and the schedule starts with the full network)."""
        recipe = self.recipe
        if val_loss is not None and val_loss < self.best["val_loss"]:
            self.best = {"val_loss": val_loss, "epoch": self.epoch,
                         "weights": {k: v.detach().clone() for k, v in self.network.state_dict().items()}}
            self.since_best = 0
        elif not self._in_warmup():
            self.since_best += 1
        if val_loss is not None and not self._in_warmup() and recipe.schedule == "plateau":
            # Keras' ReduceLROnPlateau (the paper's wording: "has not decreased for 3 epochs"): the
            # rate is cut at the patience-th epoch in a row without a new low (torch's cuts one later)
            if val_loss < self.plateau_best:
                self.plateau_best, self.plateau_bad = val_loss, 0
            else:
                self.plateau_bad += 1
                if self.plateau_bad >= recipe.plateau_patience:
                    self.lr *= recipe.plateau_factor
                    self.plateau_bad = 0
        if recipe.early_stop_patience and val_loss is not None and self.since_best >= recipe.early_stop_patience:
            self.stopped = f"early stop: {self.since_best} epochs without a lower val loss"
        elif recipe.max_epochs and self.epoch >= recipe.max_epochs:
            self.stopped = f"{recipe.max_epochs} epochs"

    # ------------------------------------------------------------------ what is kept and said
    def _model_file(self) -> dict[str, Any]:
        job = self.job
        return {
            "format": MODEL_FORMAT, "condition": job.condition.format(), "recipe": self.recipe.as_dict(),
            "parent": job.adapter.describe(), "parent_fingerprint": job.adapter.fingerprint,
            "parent_spec": job.parent_spec or job.adapter.name, "training_key": job.training_key,
            "classes": job.splits.classes, "input_size": job.size, "dataset": job.source.name,
            "manifest_sha256": job.source.manifest_hash,
            "state_dict": self.network.state_dict(), "history": self.history,
            "scored_epoch": self.best["epoch"] if self.recipe.select_best and self.best["weights"] is not None else self.epoch,
            "stopped": self.stopped,
            "cost": {"train_steps": self.step, "epochs": self.epoch, "train_seconds": self.seconds,
                     "train_images_per_second": (sum(h["images_per_second"] * h["seconds"] for h in self.history)
                                                 / max(self.seconds, 1e-9)),
                     "peak_memory_mb": peak_memory_mb(self.device), "device": str(self.device),
                     "precision": precision_of(self.device), "processes": job.ranks.world},
        }

    def _report(self, seconds: float, images: int) -> None:
        last = self.history[-1]
        remaining = self.total_steps - self.step
        left = remaining / max(self.per_epoch, 1) * seconds
        val = "" if last["val_loss"] is None else f", val loss {last['val_loss']:.4f}, val top-1 {last['val_top1']:.3f}"
        end = f" -- {self.stopped}" if self.stopped else f", at most {dt.timedelta(seconds=round(left))} left"
        self._say(f"epoch {self.epoch}, step {self.step}/{self.total_steps}, loss {last['train_loss']:.4f}{val}, "
                  f"lr {last['lr']:.2g}, {images / max(seconds, 1e-9):.1f} img/s{end}")

    def _say(self, text: str) -> None:
        if not self.job.ranks.leader:
            return
        line = f"[{dt.datetime.now():%H:%M:%S}] train {self.job.label}: {text}"
        with open(self.job.folder / LOG_FILE, "a") as log:
            log.write(line + "\n")
        if self.job.progress:
            print(line, file=sys.stderr, flush=True)


def parameter_groups(network: FineTuned, recipe: "Recipe") -> list[dict[str, Any]]:
    """The optimiser's groups, named by learning-rate role (``backbone`` / ``head``; L_drloc's
    MLP learns as the head). ``decay_norm_bias`` False: biases, norms (every 1-d parameter) and
    the model's ``no_weight_decay()`` names get none, as Swin's ``set_weight_decay`` does."""
    roles = {"backbone": [network.backbone], "head": [network.head]
             + ([network.drloc_head] if network.drloc_head is not None else [])}
    groups = []
    for role, modules in roles.items():
        decayed, free = [], []
        for module in modules:
            model = getattr(module, "model", module)
            skip = set(model.no_weight_decay()) if callable(getattr(model, "no_weight_decay", None)) else set()
            for name, parameter in module.named_parameters():
                bare = name.removeprefix("model.")
                exempt = parameter.ndim <= 1 or name.endswith(".bias") or bare in skip or bare.split(".")[-1] in skip
                (free if exempt and not recipe.decay_norm_bias else decayed).append(parameter)
        groups.append({"params": decayed, "name": role})
        if free:
            groups.append({"params": free, "name": role, "weight_decay": 0.0})
    return groups


def batch_mixing(recipe: "Recipe", classes: int) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None:
    """timm's Mixup / CutMix over a batch (``mode="batch"``: one lambda per batch, as DeiT and
    Swin), the recipe's label smoothing folded into its soft targets; None when both are off."""
    if not (recipe.mixup or recipe.cutmix):
        return None
    from timm.data import Mixup

    return Mixup(mixup_alpha=recipe.mixup, cutmix_alpha=recipe.cutmix, prob=recipe.mixup_prob,
                 switch_prob=recipe.mixup_switch_prob, mode="batch", label_smoothing=recipe.label_smoothing,
                 num_classes=classes)


def _numpy_seeded(seed: int) -> contextlib.AbstractContextManager:
    """numpy's global generator seeded for a block, its state restored after."""
    @contextlib.contextmanager
    def seeded():
        state = np.random.get_state()
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            np.random.set_state(state)
    return seeded()


def ranks_mean(ranks: Ranks, total: float, count: int) -> float:
    """The mean over every rank's images of a per-image sum."""
    if ranks.world == 1:
        return total / max(count, 1)
    tensor = torch.tensor([total, float(count)], dtype=torch.float64)
    torch.distributed.all_reduce(tensor)
    return float(tensor[0] / max(tensor[1], 1))


def _average_gradients(network: nn.Module, world: int) -> None:
    """Each gradient averaged over the ranks, flattened into one all-reduce."""
    grads = [p.grad for p in network.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    torch.distributed.all_reduce(flat)
    flat /= world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _save(path: Path, payload: dict[str, Any]) -> None:
    """Written to a temporary file, synced, renamed: a kill leaves the old file or the new one."""
    handle, tmp = open_temporary(path.parent, prefix=f".{path.stem}-", suffix=".pt.tmp")
    with os.fdopen(handle, "wb") as stream:
        torch.save(payload, stream)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise AuditError(f"{path} cannot be read ({type(error).__name__}); delete it and rerun to train again") from None


def summary(folder: Path) -> dict[str, Any] | None:
    """What a finished training kept besides its weights (recipe, history, cost), or None."""
    import json

    path = folder / SUMMARY_FILE
    return json.loads(path.read_text()) if path.is_file() and (folder / MODEL_FILE).is_file() else None


def resumable_epoch(folder: Path) -> int | None:
    """The last completed epoch a killed training resumes after, or None (nothing to resume)."""
    import json

    progress = folder / PROGRESS_FILE
    if not (folder / STATE_FILE).is_file() or not progress.is_file():
        return None
    return int(json.loads(progress.read_text())["epoch"])
