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
    optimizer: str  # "adam" | "sgd"
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
    warmup_lr: float = 0.0  # the head's learning rate during a frozen warm-up
    # after the warm-up: "plateau" (x plateau_factor when the val loss has not decreased for
    # plateau_patience epochs) or "steps" (x decay_factor at each of decay_steps)
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
    resize: str = "model"  # "model": the model's resize + crop; "square": Resize((s, s)) (task_adaptation)
    input_size: int = 224  # 0: the model's own
    seeds: tuple[int, ...] = (0, 1, 2)  # repeats; value = mean, CI = Student-t over them
    fractions: tuple[float, ...] = (1.0,)  # of the train split (stratified, seeded): Lin et al.'s low-data regimes
    select_best: bool = True  # score the best-val-loss weights (else the last)
    train_on: str = "train"  # "train" (val chooses the weights and the schedule) | "train_val" (no val used)
    drloc: float = 0.0  # lambda of Liu et al.'s dense relative localization loss (0: none)

    def __post_init__(self) -> None:
        checks = {
            "optimizer": self.optimizer in ("adam", "sgd"), "lr": self.lr > 0, "weight_decay": self.weight_decay >= 0,
            "batch_size": self.batch_size >= 1, "label_smoothing": 0 <= self.label_smoothing < 1,
            "head_dropout": 0 <= self.head_dropout < 1, "head_init": self.head_init in ("default", "zeros"),
            "warmup_steps": self.warmup_steps >= 0, "warmup": self.warmup in ("frozen", "linear"),
            "schedule": self.schedule in ("plateau", "steps"), "plateau_factor": 0 < self.plateau_factor <= 1,
            "early_stop_patience": self.early_stop_patience >= 0, "max_epochs": self.max_epochs >= 0,
            "max_steps": self.max_steps >= 0, "augment": self.augment in ("crop_rotate_flip", "none"),
            "resize": self.resize in ("model", "square"), "input_size": self.input_size >= 0,
            "seeds": len(self.seeds) >= 1, "fractions": all(0 < f <= 1 for f in self.fractions) and self.fractions != (),
            "drloc": self.drloc >= 0, "train_on": self.train_on in ("train", "train_val"),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise AuditError(f"recipe {self.name}: {bad[0]} = {getattr(self, bad[0])!r} is not allowed "
                             f"({FIELD_HELP.get(bad[0], 'see docs/suites/finetune.md')})")
        if self.drloc:  # reserved for the small_data suite's dense relative localization loss: not trained yet
            raise AuditError(f"recipe {self.name}: drloc = {self.drloc} asks for Liu et al.'s dense relative "
                             "localization loss, which the trainer does not apply yet; leave drloc at 0")
        if not (self.max_epochs or self.max_steps):
            raise AuditError(f"recipe {self.name}: give max_epochs or max_steps (both are 0: it would never stop)")

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
    "optimizer": "adam or sgd", "lr": "a positive number", "batch_size": "at least 1",
    "label_smoothing": "in [0, 1)", "head_dropout": "in [0, 1)", "head_init": "default or zeros",
    "warmup": "frozen or linear", "schedule": "plateau or steps", "plateau_factor": "in (0, 1]",
    "augment": "crop_rotate_flip or none", "resize": "model or square", "fractions": "each in (0, 1]",
    "seeds": "at least one seed", "train_on": "train or train_val",
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
RECIPES: dict[str, Recipe] = {"zhou2021": ZHOU2021, "vtab": VTAB}


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise AuditError(f"unknown fine-tuning recipe {name!r}{did_you_mean(name, list(RECIPES))}; "
                         f"one of {', '.join(RECIPES)}")
    return RECIPES[name]
