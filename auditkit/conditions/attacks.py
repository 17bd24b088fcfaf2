"""Untargeted L-infinity attacks (FGSM, PGD) as store conditions, run by the runner.

A suite never touches a torch module, so an attack is a *condition* the runner fulfils: it loads
the images in pixel space (resize + crop, values in [0, 1], no normalisation), perturbs them by
differentiating ``adapter.logits`` (for CLIP zero-shot: through the text head) and stores the
logits of the perturbed images like any prediction, keyed by method, epsilon, steps, seed and
the PGD step factor.

Conditions: ``fgsm/eps<E>`` and ``pgd/eps<E>/steps<S>/seed<K>``, with E in units of 1/255 of the
pixel range (``fgsm/eps0.5``, ``pgd/eps4/steps10/seed0``).
- FGSM (Goodfellow et al. 2015): x' = clip[0,1](x + eps * sign(grad_x CE(f(x), y))).
- PGD (Madry et al. 2018): random start uniform in the eps-ball, S steps of size 2.5 * eps / S
  (Madry et al.'s choice, also the `robustness` library's), each followed by projection onto the
  eps-ball around x and the valid range [0, 1]. The random start is seeded per batch from the
  seed and the batch's first sample, so a shard is the same in a fresh or a resumed run.
The loss is the cross-entropy of the label over the dataset's classes (all 1000, or its
``class_indices``). Epsilon is measured on the model's input (after resize and crop).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from auditkit.conditions.base import Condition
from auditkit.errors import AuditError

if TYPE_CHECKING:
    from auditkit.adapters.base import ModelAdapter
    from auditkit.adapters.preprocess import PreprocessConfig
    from auditkit.data.source import DatasetSource

PGD_STEP_FACTOR = 2.5  # step size = factor * eps / steps; in the store key of every PGD condition

Forward = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Attack(Condition):
    """An L-inf attack of ``epsilon`` / 255 on the resized, cropped pixels."""

    method: ClassVar[str]
    needs_grad = True
    epsilon: float = field(metadata={"shown": "E"})

    def __post_init__(self) -> None:
        if self.epsilon < 0:
            raise AuditError(f"{self.kind} condition: epsilon must be >= 0, got {self.epsilon}")

    @property
    def radius(self) -> float:
        """Epsilon in pixel units ([0, 1] range)."""
        return self.epsilon / 255.0

    def transform(self, preprocess: "PreprocessConfig") -> Callable[[Any], torch.Tensor]:
        return pixel_preprocess(preprocess).transform()

    def batch_outputs(self, adapter: "ModelAdapter", source: "DatasetSource") -> "AttackedLogits":
        labels = np.array([s.label for s in source.samples])
        return AttackedLogits(adapter, self, labels, source.class_indices)

    def perturb(self, forward: Forward, pixels: torch.Tensor, labels: torch.Tensor, first: int) -> torch.Tensor:
        """The attacked pixels of a batch whose first sample is at dataset position ``first``."""
        raise NotImplementedError


@dataclass(frozen=True)
class Fgsm(Attack):
    kind = "fgsm"
    method = "fgsm"
    template = "fgsm/eps{epsilon}"
    description = "untargeted L-inf FGSM of E/255 on the resized, cropped pixels (before normalisation)"

    def perturb(self, forward: Forward, pixels: torch.Tensor, labels: torch.Tensor, first: int) -> torch.Tensor:
        return fgsm(forward, pixels, labels, self.radius)


@dataclass(frozen=True)
class Pgd(Attack):
    kind = "pgd"
    method = "pgd"
    template = "pgd/eps{epsilon}/steps{steps}/seed{seed}"
    description = ("untargeted L-inf PGD, E/255, S steps of 2.5 E/S, seeded random start, on the resized, "
                   "cropped pixels (before normalisation)")
    steps: int = field(metadata={"shown": "S"})
    seed: int = field(metadata={"shown": "K"})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps < 1 or self.seed < 0:
            raise AuditError(f"pgd condition: steps must be >= 1 and seed >= 0, got {self.steps} and {self.seed}")

    def implementation(self) -> dict[str, object]:
        return {"step_factor": PGD_STEP_FACTOR}

    def perturb(self, forward: Forward, pixels: torch.Tensor, labels: torch.Tensor, first: int) -> torch.Tensor:
        generator = torch.Generator().manual_seed(batch_seed(self.seed, first))
        return pgd(forward, pixels, labels, self.radius, self.steps, generator)


def batch_seed(seed: int, first: int) -> int:
    """The random starts' seed for the batch whose first sample is at dataset position ``first``:
    a shard is attacked the same in a fresh or a resumed run (PGD, AutoAttack)."""
    return seed * 1_000_003 + first


def fgsm(forward: Forward, images: torch.Tensor, labels: torch.Tensor, radius: float) -> torch.Tensor:
    """One signed-gradient step of size ``radius`` from ``images`` (pixels in [0, 1])."""
    if radius == 0:
        return images.detach().clone()
    return (images + radius * _loss_gradient(forward, images, labels).sign()).clamp(0, 1).detach()


def pgd(
    forward: Forward, images: torch.Tensor, labels: torch.Tensor, radius: float, steps: int,
    generator: torch.Generator,
) -> torch.Tensor:
    """Projected gradient ascent on the cross-entropy inside the L-inf ball of ``radius``."""
    if radius == 0:
        return images.detach().clone()
    step_size = PGD_STEP_FACTOR * radius / steps
    low, high = (images - radius).clamp(min=0), (images + radius).clamp(max=1)
    start = (torch.rand(images.shape, generator=generator) * 2 - 1).to(images.device, images.dtype)
    adversarial = torch.max(torch.min(images + radius * start, high), low).detach()
    for _ in range(steps):
        adversarial = adversarial + step_size * _loss_gradient(forward, adversarial, labels).sign()
        adversarial = torch.max(torch.min(adversarial, high), low).detach()
    return adversarial


def _loss_gradient(forward: Forward, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    with torch.enable_grad():
        images = images.detach().requires_grad_(True)
        # summed, not averaged: each image's gradient is its own (eval mode), and a mean over a
        # large batch could underflow small gradients to a zero sign
        loss = F.cross_entropy(forward(images).float(), labels, reduction="sum")
        (gradient,) = torch.autograd.grad(loss, images)
    return gradient


def pixel_preprocess(preprocess: "PreprocessConfig") -> "PreprocessConfig":
    """The model's resize and crop without normalisation: the space epsilon is measured in."""
    from auditkit.adapters.preprocess import PreprocessConfig

    return PreprocessConfig(
        name=preprocess.name, input_size=preprocess.input_size, interpolation=preprocess.interpolation,
        crop_pct=preprocess.crop_pct, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
    )


class AttackedLogits:
    """Logits of the attacked images of a batch (pixels in [0, 1], ``positions`` in the dataset)."""

    def __init__(
        self, adapter: "ModelAdapter", spec: Attack, labels: np.ndarray,
        class_indices: tuple[int, ...] | None,
    ) -> None:
        self.adapter = adapter
        self.spec = spec
        self.labels = labels
        self.classes = None if class_indices is None else torch.tensor(class_indices)
        if self.classes is not None:
            position = {int(c): i for i, c in enumerate(class_indices or ())}
            self.labels = np.array([position[int(y)] for y in labels])
        if (self.labels < 0).any():
            raise AuditError("adversarial attacks need a label for every image; this dataset has unlabelled images")
        mean = torch.tensor(adapter.preprocess.mean, device=adapter.device).view(1, 3, 1, 1)
        std = torch.tensor(adapter.preprocess.std, device=adapter.device).view(1, 3, 1, 1)
        self.mean, self.std = mean, std

    def normalised_logits(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.adapter.logits((pixels - self.mean) / self.std)

    def _loss_logits(self, pixels: torch.Tensor) -> torch.Tensor:
        logits = self.normalised_logits(pixels)
        return logits if self.classes is None else logits[:, self.classes.to(logits.device)]

    def __call__(self, pixels: torch.Tensor, positions: list[int]) -> torch.Tensor:
        pixels = pixels.to(self.adapter.device)
        labels = torch.as_tensor(self.labels[positions], device=self.adapter.device)
        attacked = self.spec.perturb(self._loss_logits, pixels, labels, positions[0])
        with torch.no_grad():
            return self.normalised_logits(attacked)
