"""Label-space mappings: a model's probabilities over the 1000 ImageNet classes turned into
decisions over a dataset's own, smaller label space.

model-vs-human's ``datasets/decision_mappings.py`` is the model (read, not copied): one mapping
object per label space, shared by every suite that scores in it, instead of one suite's private
table. A category's score is the mean softmax probability of its ImageNet classes; the decision
is the category with the highest score (ties: the first category in the mapping's order).

The 16 categories of Geirhos et al. (ICLR 2019, "ImageNet-trained CNNs are biased towards
texture"; docs/protocols.md "Shape bias") are the label space of cue-conflict and of
model-vs-human's out-of-distribution datasets (Geirhos et al., NeurIPS 2021): the shape_bias
and human_ood suites both decide through ``SIXTEEN_CLASSES``. Recorded observers (humans,
another lab's CSV) answer in the label space directly and need no mapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

import numpy as np

from auditkit.stats import log_softmax

IMAGENET_CLASSES = 1000


@dataclass(frozen=True)
class LabelSpaceMapping:
    """Decisions over ``categories`` from probabilities over the 1000 ImageNet classes.

    ``classes`` maps each category, in the label space's order, to the ImageNet class indices
    that stand for it (a category may have one class, ``knife``, or dozens, ``dog``)."""

    name: str
    classes: Mapping[str, tuple[int, ...]] = field(repr=False)

    def __post_init__(self) -> None:
        members = [c for indices in self.classes.values() for c in indices]
        if not self.classes or any(not indices for indices in self.classes.values()):
            raise ValueError(f"label space {self.name}: every category needs at least one ImageNet class")
        if len(members) != len(set(members)) or not all(0 <= c < IMAGENET_CLASSES for c in members):
            raise ValueError(f"label space {self.name}: ImageNet classes must be distinct indices in [0, 1000)")
        object.__setattr__(self, "classes", MappingProxyType({k: tuple(v) for k, v in self.classes.items()}))

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.classes)

    def scores(self, probabilities: np.ndarray) -> np.ndarray:
        """(n, categories): each category's mean probability over its ImageNet classes."""
        return np.stack([probabilities[:, list(self.classes[c])].mean(axis=1) for c in self.categories], axis=1)

    def decisions(self, probabilities: np.ndarray) -> np.ndarray:
        """(n,) category names: the highest-scoring category of each row."""
        return np.array(self.categories)[self.scores(probabilities).argmax(axis=1)]

    def decisions_from_logits(self, logits: np.ndarray) -> np.ndarray:
        """``decisions`` of the softmax of (n, 1000) logits."""
        return self.decisions(np.exp(log_softmax(logits)))


def _span(first: int, last: int) -> tuple[int, ...]:
    return tuple(range(first, last + 1))


# ImageNet indices of each category (docs/protocols.md "Shape bias"; model-vs-human's
# helper/human_categories.py), in the categories' alphabetical order, the order of cue-conflict.
SIXTEEN_CLASSES = LabelSpaceMapping("16-class-imagenet", {
    "airplane": (404,),
    "bear": _span(294, 297),
    "bicycle": (444, 671),
    "bird": (8, *_span(10, 16), *_span(18, 20), *_span(22, 24), *_span(80, 83), *_span(87, 96),
             *_span(98, 100), *_span(127, 133), *_span(135, 145)),
    "boat": (472, 554, 625, 814, 914),
    "bottle": (440, 720, 737, 898, 899, 901, 907),
    "car": (436, 511, 817),
    "cat": _span(281, 286),
    "chair": (423, 559, 765, 857),
    "clock": (409, 530, 892),
    "dog": (*_span(152, 191), *_span(193, 203), *_span(205, 226), *_span(228, 241),
            *_span(243, 250), *_span(252, 257), 259, *_span(261, 263), *_span(265, 268)),
    "elephant": (385, 386),
    "keyboard": (508, 878),
    "knife": (499,),
    "oven": (766,),
    "truck": (555, 569, 656, 675, 717, 734, 864, 867),
})
