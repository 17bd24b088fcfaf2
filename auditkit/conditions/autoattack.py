"""AutoAttack, standard version (Croce & Hein, ICML 2020), as a store condition run by the runner.

RobustBench's protocol for its leaderboards: four attacks, each on the images the ones before it
left correct, an image robust only if all four fail (the worst case per image):
- APGD-CE: untargeted APGD on the cross-entropy, 1 restart;
- APGD-T: targeted APGD on the DLR loss, 9 target classes (the 2nd to 10th highest logits), 1 restart;
- FAB-T: targeted FAB, 9 target classes, 1 restart;
- Square: score-based random search on the margin loss, ``p_init`` 0.8, its schedule of square
  sizes not rescaled to the budget, 1 restart.
The standard version runs APGD and FAB for 100 iterations and Square for 5,000 queries
(``autoattack/eps4/steps100/queries5000/seed0`` at RobustBench's ImageNet L-inf budget of
4/255); a smaller budget is a different condition (the budget is in its text) and not the
standard version.

The attacks are torchattacks' (``APGD``, ``APGDT``, ``FAB``, ``Square``, ``MultiAttack`` for the
worst case, the ensemble ``torchattacks.AutoAttack`` builds), set to the parameters of the
reference code (fra31/auto-attack ``AutoAttack.__init__`` and ``set_version('standard')``):
torchattacks' own ``AutoAttack`` keeps its attacks' default 10 iterations, targets every other
class (999 on ImageNet) and rescales Square's schedule, which is not the standard version. The attack set, its parameters and the torchattacks version
are the condition's ``implementation()``, so they key the prediction store.

As for FGSM and PGD (``auditkit.conditions.attacks``), epsilon is measured on the resized,
cropped pixels in [0, 1] before normalisation, and the loss sees the dataset's classes (all 1000,
or its ``class_indices``). The random starts are seeded per batch from the seed and the batch's
first sample (a shard is the same in a fresh or a resumed run); torchattacks seeds torch's global
generator, so it runs inside ``torch.random.fork_rng`` and leaves the caller's state as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from auditkit.conditions.attacks import Attack, Forward, batch_seed
from auditkit.errors import AuditError

if TYPE_CHECKING:
    from torchattacks.attack import Attack as TorchAttack

STANDARD_STEPS = 100  # APGD-CE, APGD-T and FAB-T iterations of the standard version
STANDARD_QUERIES = 5000  # Square's queries
TARGET_CLASSES = 9  # APGD-T's and FAB-T's targets: the 2nd to 10th highest logits
SQUARE_P_INIT = 0.8
COMPONENTS = ("apgd-ce", "apgd-t", "fab-t", "square")  # in the order they run
INSTALL = "pip install --no-deps torchattacks==3.5.1"  # --no-deps: it pins requests~=2.25.1, never imported


def torchattacks_module() -> Any:
    """torchattacks, imported on first use; without it one line naming the install."""
    try:
        import torchattacks
    except ImportError:
        raise AuditError(f"the autoattack condition runs torchattacks' attacks, which is not installed: `{INSTALL}` "
                         "(or pass --option adversarial.autoattack=false)") from None
    return torchattacks


@dataclass(frozen=True)
class AutoAttack(Attack):
    kind = "autoattack"
    method = "autoattack"
    template = "autoattack/eps{epsilon}/steps{steps}/queries{queries}/seed{seed}"
    description = ("AutoAttack (APGD-CE, APGD-T, FAB-T, Square; worst case per image), L-inf E/255, S iterations, "
                   "Q Square queries (standard: steps100/queries5000), on the resized, cropped pixels (before "
                   "normalisation)")
    steps: int = field(metadata={"shown": "S"})
    queries: int = field(metadata={"shown": "Q"})
    seed: int = field(metadata={"shown": "K"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < 1 or self.queries < 1 or self.seed < 0:
            raise AuditError(f"autoattack condition: steps and queries must be >= 1 and seed >= 0, got "
                             f"{self.steps}, {self.queries} and {self.seed}")

    @property
    def standard(self) -> bool:
        """Whether this is the standard version's budget (RobustBench's leaderboards)."""
        return self.steps == STANDARD_STEPS and self.queries == STANDARD_QUERIES

    def implementation(self) -> dict[str, object]:
        return {"attacks": list(COMPONENTS), "target_classes": TARGET_CLASSES, "restarts": 1,
                "square_p_init": SQUARE_P_INIT, "square_rescaled_schedule": False, "torchattacks": torchattacks_module().__version__}

    def perturb(self, forward: Forward, pixels: torch.Tensor, labels: torch.Tensor, first: int) -> torch.Tensor:
        return autoattack(forward, pixels, labels, self.radius, self.steps, self.queries,
                          batch_seed(self.seed, first))


class LogitsModule(torch.nn.Module):
    """A forward function as the ``nn.Module`` torchattacks attacks (logits in float32)."""

    def __init__(self, forward: Forward, device: torch.device | str) -> None:
        super().__init__()
        self.forward_logits = forward
        # torchattacks takes its device from the model's first parameter: an empty one says where
        self.anchor = torch.nn.Parameter(torch.empty(0, device=device), requires_grad=False)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.forward_logits(pixels).float()


def component_attacks(model: torch.nn.Module, radius: float, steps: int, queries: int, seed: int) -> list["TorchAttack"]:
    """The standard version's four torchattacks attacks on ``model``, in the order they run."""
    torchattacks = torchattacks_module()
    common = dict(norm="Linf", eps=radius, seed=seed, n_restarts=1)
    attacks = [
        torchattacks.APGD(model, loss="ce", steps=steps, **common),
        torchattacks.APGDT(model, steps=steps, n_classes=TARGET_CLASSES + 1, **common),
        torchattacks.FAB(model, steps=steps, multi_targeted=True, n_classes=TARGET_CLASSES + 1, **common),
        # the reference keeps Square's schedule of p fixed (resc_schedule=False); torchattacks'
        # default rescales it to the query budget
        torchattacks.Square(model, n_queries=queries, p_init=SQUARE_P_INIT, resc_schedule=False, **common),
    ]
    for attack in attacks[1:3]:  # n_classes only sets the target count (n_classes - 1); say it outright
        attack.n_target_classes = TARGET_CLASSES
    return attacks


def autoattack(
    forward: Forward, images: torch.Tensor, labels: torch.Tensor, radius: float, steps: int, queries: int, seed: int,
) -> torch.Tensor:
    """The attacked images: each image's first successful adversarial of the four attacks run in
    turn on the images still correct (torchattacks' ``MultiAttack``), itself where all fail."""
    if radius == 0:
        return images.detach().clone()
    model = LogitsModule(forward, images.device)
    attack = torchattacks_module().MultiAttack(component_attacks(model, radius, steps, queries, seed))
    devices = [images.device] if images.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.enable_grad():
        return attack(images.detach(), labels).detach()
