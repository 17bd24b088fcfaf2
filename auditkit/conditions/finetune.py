"""The ``finetune`` condition: the model fine-tuned on the task's train split under a recipe.

``finetune/<recipe>/frac<f>/seed<k>``: the answer is the test-split logits of a copy of the model
trained with recipe ``<recipe>`` (``auditkit.train.recipes``) on a seeded, stratified fraction
``f`` of the train split, repeat ``k`` (its seed). A recipe whose fields were changed with
``--option finetune.<field>=VALUE`` is named ``<recipe>_<digest>`` (six hex digits of the changed
fields), so records and store keys of two recipes never meet; the run header lists the fields.

Every field of the recipe, its version and the trainer's code version enter the store key
(``implementation``); the train and val samples enter it through the dataset's manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import torch

from auditkit.conditions.base import Condition
from auditkit.errors import AuditError

if TYPE_CHECKING:
    from auditkit.adapters.preprocess import PreprocessConfig
    from auditkit.train.recipes import Recipe

TRAINER_VERSION = 1  # bump when the training loop changes what a recipe trains


class TrainedCondition(Condition):
    """A condition answered by training a copy of the model (``finetune``, ``scratch``): its
    ``spec`` carries the recipe's every field, or None when the condition was read from text
    (a record's), where only a named, unchanged recipe can be rebuilt."""

    trains: ClassVar[bool] = True  # answered by training (ForwardPasses), not by a transform
    recipe: str
    seed: int
    spec: "Recipe | None"

    @classmethod
    def fields(cls) -> list[dataclasses.Field]:
        return [f for f in dataclasses.fields(cls) if f.name != "spec"]

    @staticmethod
    def recipe_token(recipe: "Recipe", *own: str) -> str:
        """The recipe's name, with a digest of its changed fields (those the condition names
        itself, ``own``, and the repeats and fractions aside) when any changed."""
        changed = recipe.changed()
        for name in ("seeds", "fractions", *own):
            changed.pop(name, None)
        if not changed:
            return recipe.name
        return f"{recipe.name}_{hashlib.sha256(json.dumps(changed, sort_keys=True).encode()).hexdigest()[:6]}"

    def named_recipe(self) -> "Recipe":
        from auditkit.train.recipes import RECIPES

        if self.recipe not in RECIPES:
            raise AuditError(f"condition {self}: recipe {self.recipe!r} was changed by --option {self.kind}.*; "
                             f"run it through its suite with those options")
        return RECIPES[self.recipe]

    @property
    def resolved(self) -> "Recipe":
        """The recipe's fields: carried, or the named recipe's defaults."""
        return self.spec if self.spec is not None else self.named_recipe()

    def implementation(self) -> dict[str, object]:
        return {"recipe": self.resolved.training_key(), "trainer": TRAINER_VERSION}

    def input_size(self, preprocess: "PreprocessConfig") -> int:
        return self.resolved.input_size or preprocess.input_size

    def input_resolution(self, preprocess: "PreprocessConfig") -> int | None:
        size = self.input_size(preprocess)
        return None if size == preprocess.input_size else size

    def transform(self, preprocess: "PreprocessConfig") -> Callable[[Any], torch.Tensor]:
        """The test images as the recipe evaluates them (no augmentation)."""
        from auditkit.train.augment import eval_transform

        return eval_transform(self.resolved, preprocess, self.input_size(preprocess))


@dataclass(frozen=True)
class Finetune(TrainedCondition):
    kind: ClassVar[str] = "finetune"
    template: ClassVar[str] = "finetune/{recipe}/frac{fraction}/seed{seed}"
    description: ClassVar[str] = "the model fine-tuned on the task's train split (auditkit.train), scored on test"

    recipe: str = field(metadata={"shown": "recipe"})
    fraction: float = field(metadata={"shown": "f"})  # type: ignore[assignment]
    seed: int = field(metadata={"shown": "k"})
    spec: "Recipe | None" = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, recipe: "Recipe", fraction: float, seed: int) -> "Finetune":
        """The condition of one repeat of ``recipe`` at train ``fraction``."""
        return cls(cls.recipe_token(recipe), float(fraction), int(seed), recipe)
