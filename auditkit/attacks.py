"""Untargeted L-infinity attacks (FGSM, PGD) as store conditions, run by the runner.

A suite never touches a torch module, so an attack is a *condition* the runner fulfils: it loads
the images in pixel space (resize + crop, values in [0, 1], no normalisation), perturbs them by
differentiating ``adapter.logits`` (for CLIP zero-shot: through the text head) and stores the
logits of the perturbed images like any prediction, keyed by method, epsilon, steps and seed.

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

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from auditkit.adapters.base import ModelAdapter
from auditkit.adapters.preprocess import PreprocessConfig

_CONDITION = re.compile(r"^(fgsm)/eps([0-9.]+)$|^(pgd)/eps([0-9.]+)/steps(\d+)/seed(\d+)$")
PGD_STEP_FACTOR = 2.5

Forward = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AttackSpec:
    method: str  # "fgsm" | "pgd"
    epsilon: float  # in units of 1/255
    steps: int = 1
    seed: int = 0

    @property
    def condition(self) -> str:
        if self.method == "fgsm":
            return f"fgsm/eps{self.epsilon:g}"
        return f"pgd/eps{self.epsilon:g}/steps{self.steps}/seed{self.seed}"

    @property
    def radius(self) -> float:
        """Epsilon in pixel units ([0, 1] range)."""
        return self.epsilon / 255.0


def parse_attack(condition: str) -> AttackSpec | None:
    """The attack a condition names, or None for a condition that is not an attack."""
    match = _CONDITION.match(condition)
    if not match:
        return None
    if match.group(1):
        return AttackSpec("fgsm", float(match.group(2)))
    return AttackSpec("pgd", float(match.group(4)), int(match.group(5)), int(match.group(6)))


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


def pixel_preprocess(preprocess: PreprocessConfig) -> PreprocessConfig:
    """The model's resize and crop without normalisation: the space epsilon is measured in."""
    return PreprocessConfig(
        name=preprocess.name, input_size=preprocess.input_size, interpolation=preprocess.interpolation,
        crop_pct=preprocess.crop_pct, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
    )


class AttackedLogits:
    """Logits of the attacked images of a batch (pixels in [0, 1], ``positions`` in the dataset)."""

    def __init__(
        self, adapter: ModelAdapter, spec: AttackSpec, labels: np.ndarray,
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
            from auditkit.errors import AuditError

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
        if self.spec.method == "fgsm":
            attacked = fgsm(self._loss_logits, pixels, labels, self.spec.radius)
        else:
            generator = torch.Generator().manual_seed(self.spec.seed * 1_000_003 + positions[0])
            attacked = pgd(self._loss_logits, pixels, labels, self.spec.radius, self.spec.steps, generator)
        with torch.no_grad():
            return self.normalised_logits(attacked)
