"""Training recipes: every hyper-parameter of a fine-tuning protocol, in one frozen dataclass.

A recipe is the parameters of a ``finetune`` condition (``auditkit.conditions.finetune``): all of
its fields and its ``version`` enter the prediction store's key, so a changed field retrains and
never serves another recipe's model. ``--option finetune.<field>=VALUE`` changes one field
(``Recipe.with_changes``: unknown names and wrong types are one-line errors).

``zhou2021``: Zhou et al. 2021, "ConvNets vs. Transformers: Whose Visual Representations are
More Transferable?", section 3.1 (docs/protocols.md, "Fine-tuning"): a new linear head with
dropout 0.2 before it; Adam (0.9, 0.999), weight decay 1e-6; the first 200 iterations train the
head alone (backbone frozen) at lr 1e-6, then the whole network at 1e-4, halved when the val loss
has not decreased for 3 epochs; early stop after 10 epochs without a lower val loss, the
best-val-loss weights scored; batch 32; cross-entropy with label smoothing 0.1; random crop,
rotation within +-30 degrees, horizontal flip; 224 px.

``vtab``: VTAB-1k's fine-tuning as google-research/task_adaptation's released
``scripts/run_all_tasks.sh`` runs it (with ``trainer.py`` and ``model.py``): a zero-initialised
linear head on the pre-logits; plain cross-entropy; SGD with momentum 0.9, no weight decay; batch
64; lr 0.01, linear warm-up from 0 over 80 steps, times 0.1 at steps 300, 600 and 900; 1000 steps
on the 1000 train + val images; images resized to 224 x 224 (no crop, no augmentation).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from auditkit.errors import AuditError
from auditkit.registry import did_you_mean


@dataclass(frozen=True)
class Recipe:
    """How a pretrained backbone is fine-tuned. Steps are optimiser updates (iterations)."""

    name: str
    version: int  # bump when the code behind a field changes the trained model
    optimizer: str  # "adam" | "adamw" | "sgd"
    lr: float  # the whole network's learning rate after the warm-up
    weight_decay: float
    momentum: float = 0.9  # sgd
    betas: tuple[float, float] = (0.9, 0.999)  # adam
    batch_size: int = 32  # the global batch: split over torchrun ranks
    label_smoothing: float = 0.0
    head_dropout: float = 0.0  # dropout before the new linear head
    head_init: str = "default"  # "default" (torch's nn.Linear init) | "zeros"
    # the warm-up: its steps, and whether the backbone is frozen (head only, at warmup_lr) or the
    # learning rate ramps linearly from 0 to lr (task_adaptation's apply_warmup_lr)
    warmup_steps: int = 0
    warmup: str = "frozen"  # "frozen" | "linear"
    warmup_lr: float = 0.0  # frozen: the head's learning rate; linear: where the ramp starts (timm's warmup_lr_init)
    # after the warm-up: "plateau" (x plateau_factor when the val loss has not decreased for
    # plateau_patience epochs), "steps" (x decay_factor at each of decay_steps) or "cosine" (per
    # step from lr to min_lr over all planned steps, timm's CosineLRScheduler as Swin runs it)
    schedule: str = "plateau"
    plateau_patience: int = 3
    plateau_factor: float = 0.5
    decay_steps: tuple[int, ...] = ()
    decay_factor: float = 0.1
    early_stop_patience: int = 0  # epochs without a lower val loss before stopping; 0: never
    max_epochs: int = 0  # 0: no epoch limit (max_steps decides)
    max_steps: int = 0  # 0: no step limit (epochs decide)
    augment: str = "crop_rotate_flip"  # "crop_rotate_flip" | "none"
    rotation: float = 30.0  # degrees, crop_rotate_flip
    resize: str = "model"  # "model": the model's resize + crop; "square": Resize((s, s)) (task_adaptation);
    # "deit": short side to 256/224 of the size, bicubic, centre crop (DeiT / Swin's evaluation)
    input_size: int = 224  # 0: the model's own
    seeds: tuple[int, ...] = (0, 1, 2)  # repeats; value = mean, CI = Student-t over them
    fractions: tuple[float, ...] = (1.0,)  # of the train split (stratified, seeded): Lin et al.'s low-data regimes
    select_best: bool = True  # score the best-val-loss weights (else the last)
    train_on: str = "train"  # "train" (val chooses the weights and the schedule) | "train_val" (no val used)
    drloc: float = 0.0  # lambda of Liu et al.'s dense relative localization loss (0: none)
    drloc_pairs: int = 64  # m: position pairs per image (Liu et al. Table 2a)
    drloc_grid: int = 7  # k: the final grid is average-pooled to k x k when finer
    drloc_hidden: int = 512  # the width of the MLP f's two hidden layers
    # where the paper's text and its released code (yhlleo/VTs-Drloc) differ, each selectable:
    drloc_target: str = "normalised"  # the paper's t = |i - p| / k; "cells": |i - p| (the code never divides)
    # "mean" over the batch (the code's F.l1_loss), or "sum" as Eq. 2 is written: with the paper's
    # lambda a sum weighs L_drloc batch-size times more than the cross-entropy (1024 x at batch 1024)
    drloc_reduction: str = "mean"
    drloc_schedule: str = "constant"  # the paper's lambda; "released": 0 -> lambda over 20 epochs, then linearly toward 0 at 300
    # from scratch (Liu et al.): the backbone's weights re-initialised, seeded by the repeat
    init: str = "pretrained"  # "pretrained" | "scratch"
    decay_norm_bias: bool = True  # False: biases, norms and the model's no_weight_decay() set get no weight decay
    min_lr: float = 0.0  # the cosine schedule's floor
    warmup_epochs: int = 0  # a warm-up in epochs (added to warmup_steps)
    clip_grad: float = 0.0  # the largest gradient norm (0: no clipping)
    # augment = "timm": timm's create_transform training pipeline (random resized crop, flip,
    # RandAugment, colour jitter, random erasing), the DeiT / Swin recipe
    auto_augment: str = "rand-m9-mstd0.5-inc1"
    color_jitter: float = 0.4
    re_prob: float = 0.25
    # mixup / cutmix over each batch (timm.data.Mixup; 0: off)
    mixup: float = 0.0
    cutmix: float = 0.0
    mixup_prob: float = 1.0
    mixup_switch_prob: float = 0.5

    def __post_init__(self) -> None:
        checks = {
            "optimizer": self.optimizer in ("adam", "adamw", "sgd"), "lr": self.lr > 0, "weight_decay": self.weight_decay >= 0,
            "batch_size": self.batch_size >= 1, "label_smoothing": 0 <= self.label_smoothing < 1,
            "head_dropout": 0 <= self.head_dropout < 1, "head_init": self.head_init in ("default", "zeros"),
            "warmup_steps": self.warmup_steps >= 0, "warmup": self.warmup in ("frozen", "linear"),
            "schedule": self.schedule in ("plateau", "steps", "cosine"), "plateau_factor": 0 < self.plateau_factor <= 1,
            "early_stop_patience": self.early_stop_patience >= 0, "max_epochs": self.max_epochs >= 0,
            "max_steps": self.max_steps >= 0, "augment": self.augment in ("crop_rotate_flip", "timm", "none"),
            "resize": self.resize in ("model", "square", "deit"), "input_size": self.input_size >= 0,
            "seeds": len(self.seeds) >= 1, "fractions": all(0 < f <= 1 for f in self.fractions) and self.fractions != (),
            "drloc": self.drloc >= 0, "train_on": self.train_on in ("train", "train_val"),
            "drloc_pairs": self.drloc_pairs >= 1, "drloc_grid": self.drloc_grid >= 2, "drloc_hidden": self.drloc_hidden >= 1,
            "init": self.init in ("pretrained", "scratch"),
            "drloc_target": self.drloc_target in ("normalised", "cells"),
            "drloc_reduction": self.drloc_reduction in ("mean", "sum"),
            "drloc_schedule": self.drloc_schedule in ("constant", "released"), "min_lr": 0 <= self.min_lr <= self.lr,
            "warmup_epochs": self.warmup_epochs >= 0, "clip_grad": self.clip_grad >= 0,
            "color_jitter": self.color_jitter >= 0, "re_prob": 0 <= self.re_prob <= 1, "mixup": self.mixup >= 0,
            "cutmix": self.cutmix >= 0, "mixup_prob": 0 <= self.mixup_prob <= 1,
            "mixup_switch_prob": 0 <= self.mixup_switch_prob <= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise AuditError(f"recipe {self.name}: {bad[0]} = {getattr(self, bad[0])!r} is not allowed "
                             f"({FIELD_HELP.get(bad[0], 'see docs/suites/finetune.md')})")
        if not (self.max_epochs or self.max_steps):
            raise AuditError(f"recipe {self.name}: give max_epochs or max_steps (both are 0: it would never stop)")

    @property
    def suite(self) -> str:
        """The suite whose options set this recipe's fields (messages name it)."""
        return "small_data" if self.init == "scratch" else "finetune"

    def as_dict(self) -> dict[str, Any]:
        """Every field, JSON-able: the store key and the record's description of the recipe."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in dataclasses.fields(self)}

    def training_key(self) -> dict[str, Any]:
        """What changes one trained model: every field except the repeats and fractions (each
        repeat and fraction is a model of its own, named by its condition)."""
        key = self.as_dict()
        key.pop("seeds")
        key.pop("fractions")
        return key

    def changed(self) -> dict[str, Any]:
        """The fields that differ from the named recipe's defaults."""
        base = RECIPES[self.name].as_dict() if self.name in RECIPES else {}
        return {name: value for name, value in self.as_dict().items() if base.get(name) != value}

    def with_changes(self, changes: Mapping[str, str], where: str = "--option finetune") -> "Recipe":
        """This recipe with fields set from text (``{"lr": "3e-4", "fractions": "0.01,0.1,1"}``);
        an unknown field or a value of the wrong type is a one-line ``AuditError``."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        values: dict[str, Any] = {}
        for name, text in changes.items():
            if name not in fields or name in ("name", "version"):
                settable = [n for n in fields if n not in ("name", "version")]
                raise AuditError(f"{where}.{name}: the recipe has no field {name!r}{did_you_mean(name, settable)}; "
                                 f"its fields: {', '.join(settable)}")
            values[name] = _read_field(name, getattr(self, name), str(text), where)
        return dataclasses.replace(self, **values)


def _read_field(name: str, current: object, text: str, where: str) -> object:
    """``text`` read as the type of the field's current value."""
    def one(kind: type, part: str) -> object:
        try:
            if kind is bool:
                if part.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError
                return part.lower() in ("true", "1", "yes")
            return kind(part)
        except ValueError:
            words = {int: "an integer", float: "a number", bool: "true or false", str: "a name"}[kind]
            raise AuditError(f"{where}.{name}={text}: {name} is {words}"
                             + (" (or a comma-separated list of them)" if isinstance(current, tuple) else "")
                             + f", not {part!r}") from None

    if isinstance(current, tuple):
        kind = type(current[0]) if current else float
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not parts:
            raise AuditError(f"{where}.{name}=: give a comma-separated list (e.g. {name}=0,1,2)")
        return tuple(one(kind, p) for p in parts)
    kind = type(current)
    if kind is float:  # an integer text is a fine float ("lr=1")
        return float(one(float, text))  # type: ignore[arg-type]
    return one(kind, text)


FIELD_HELP = {
    "optimizer": "adam, adamw or sgd", "lr": "a positive number", "batch_size": "at least 1",
    "label_smoothing": "in [0, 1)", "head_dropout": "in [0, 1)", "head_init": "default or zeros",
    "warmup": "frozen or linear", "schedule": "plateau, steps or cosine", "plateau_factor": "in (0, 1]",
    "augment": "crop_rotate_flip, timm or none", "resize": "model, square or deit", "drloc_target": "normalised or cells",
    "drloc_reduction": "mean or sum", "drloc_schedule": "constant or released", "fractions": "each in (0, 1]",
    "seeds": "at least one seed", "train_on": "train or train_val", "drloc": "lambda, at least 0",
    "drloc_grid": "at least 2 (a 2 x 2 grid)", "init": "pretrained or scratch", "min_lr": "in [0, lr]",
    "re_prob": "in [0, 1]", "mixup_prob": "in [0, 1]", "mixup_switch_prob": "in [0, 1]",
}

ZHOU2021 = Recipe(
    name="zhou2021", version=1, optimizer="adam", lr=1e-4, weight_decay=1e-6, betas=(0.9, 0.999), batch_size=32,
    label_smoothing=0.1, head_dropout=0.2, warmup_steps=200, warmup="frozen", warmup_lr=1e-6,
    schedule="plateau", plateau_patience=3, plateau_factor=0.5, early_stop_patience=10,
    # the paper stops early and states no epoch limit; ours: 100 as a bound (docs/suites/finetune.md)
    max_epochs=100, augment="crop_rotate_flip", rotation=30.0, resize="model", input_size=224,
    seeds=(0, 1, 2),
)
VTAB = Recipe(
    name="vtab", version=1, optimizer="sgd", lr=0.01, weight_decay=0.0, momentum=0.9, batch_size=64,
    head_init="zeros", warmup_steps=80, warmup="linear", schedule="steps", decay_steps=(300, 600, 900),
    decay_factor=0.1, max_steps=1000, augment="none", resize="square", input_size=224, seeds=(0, 1, 2),
    select_best=False, train_on="train_val",
)
LIU2021 = Recipe(
    # Liu et al. 2021 train every architecture from scratch with one recipe, the DeiT / Swin one
    # (yhlleo/VTs-Drloc config.py, train.sh: 8 GPUs x 128): AdamW (0.9, 0.999), lr 5e-4 x 1024 /
    # 512, warm-up from 5e-7 x 2 over 20 epochs, cosine to 5e-6 x 2, weight decay 0.05 (none on
    # biases, norms, position tables), gradient norm clipped at 5, label smoothing 0.1, mixup 0.8
    # / cutmix 1.0 (prob 1, switch 0.5), RandAugment rand-m9-mstd0.5-inc1, random erasing 0.25,
    # 224 px, 100 epochs; the last epoch's weights are scored (the released code reports the best
    # test epoch: a selection on the test set we do not repeat; docs/suites/small_data.md)
    name="liu2021", version=1, optimizer="adamw", lr=1e-3, weight_decay=0.05, betas=(0.9, 0.999), batch_size=1024,
    label_smoothing=0.1, warmup_epochs=20, warmup="linear", warmup_lr=1e-6, schedule="cosine", min_lr=1e-5,
    decay_norm_bias=False, clip_grad=5.0, max_epochs=100, augment="timm", auto_augment="rand-m9-mstd0.5-inc1",
    color_jitter=0.4, re_prob=0.25, mixup=0.8, cutmix=1.0, mixup_prob=1.0, mixup_switch_prob=0.5, resize="deit",
    input_size=224, seeds=(0, 1, 2, 3, 4), select_best=False, train_on="train_val", init="scratch",
)
RECIPES: dict[str, Recipe] = {"zhou2021": ZHOU2021, "vtab": VTAB, "liu2021": LIU2021}


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise AuditError(f"unknown fine-tuning recipe {name!r}{did_you_mean(name, list(RECIPES))}; "
                         f"one of {', '.join(RECIPES)}")
    return RECIPES[name]
