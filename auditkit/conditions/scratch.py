"""The ``scratch`` condition: the architecture trained from random weights on the task.

``scratch/<recipe>/drloc<lambda>/seed<k>``: the answer is the test-split logits of the model's
architecture, its weights drawn afresh from seed ``k`` (``auditkit.train.finetune.reinitialise``),
trained with recipe ``<recipe>`` (``auditkit.train.recipes``; ``liu2021`` by default) on the
task's train split, with Liu et al.'s dense relative localization loss weighted by ``lambda``
(0: without it; ``auditkit.train.drloc``). The small_data suite asks for both. As for
``finetune``, a recipe changed by ``--option small_data.<field>=`` is named ``<recipe>_<digest>``
and every field enters the store key.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from auditkit.conditions.finetune import TrainedCondition

if TYPE_CHECKING:
    from auditkit.train.recipes import Recipe


@dataclass(frozen=True)
class Scratch(TrainedCondition):
    kind: ClassVar[str] = "scratch"
    template: ClassVar[str] = "scratch/{recipe}/drloc{drloc}/seed{seed}"
    description: ClassVar[str] = "the architecture trained from random weights on the task's train split, scored on test"

    recipe: str = field(metadata={"shown": "recipe"})
    drloc: float = field(metadata={"shown": "lambda"})
    seed: int = field(metadata={"shown": "k"})
    spec: "Recipe | None" = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, recipe: "Recipe", drloc: float, seed: int) -> "Scratch":
        """Repeat ``seed`` of ``recipe`` (from scratch) with L_drloc weighted by ``drloc``."""
        recipe = dataclasses.replace(recipe, drloc=float(drloc), init="scratch")
        return cls(cls.recipe_token(recipe, "drloc", "init"), float(drloc), int(seed), recipe)

    @property
    def fraction(self) -> float:
        """The whole train split (the small datasets are small already)."""
        return 1.0

    @property
    def resolved(self) -> "Recipe":
        if self.spec is not None:
            return self.spec
        return dataclasses.replace(self.named_recipe(), drloc=float(self.drloc), init="scratch")
