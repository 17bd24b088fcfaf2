"""ImageNet-C corruptions made on the fly (``corrupt/<name>/<severity>``).

The images are made by ``auditkit.data.corruptions`` (Hendrycks & Dietterich 2019's generation:
Resize 256, CenterCrop 224, corrupt, JPEG 85): the dataset yields clean crops and each batch is
corrupted in one call on the model's device. The implementation's identity enters the store key,
so a corrected corruption recomputes instead of reusing old logits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from auditkit.conditions.base import Condition
from auditkit.data.corruptions import CORRUPTIONS, HOLD_OUT, SEVERITIES, CleanCrop, CorruptedBatch
from auditkit.data.imagenet_c import implementation

if TYPE_CHECKING:
    from auditkit.adapters.preprocess import PreprocessConfig


@dataclass(frozen=True)
class Corruption(Condition):
    kind = "corrupt"
    template = "corrupt/{corruption}/{severity}"
    description = ("ImageNet-C made from val: Resize 256, CenterCrop 224, corrupt (auditkit's own, following "
                   "Hendrycks' make_imagenet_c.py; seeded per image), JPEG 85, no further resize, the model's mean/std")
    choices = {"corruption": CORRUPTIONS + HOLD_OUT, "severity": SEVERITIES}
    corruption: str = field(metadata={"shown": "name"})
    severity: int = field(metadata={"shown": "severity"})

    def implementation(self) -> dict[str, object]:
        return {"implementation": implementation()}

    def transform(self, preprocess: "PreprocessConfig") -> CleanCrop:
        return CleanCrop()  # corrupted per batch, on the model's device (batch_inputs)

    def batch_inputs(self, preprocess: "PreprocessConfig", device: str | torch.device) -> CorruptedBatch:
        return CorruptedBatch(preprocess.native_transform(), self.corruption, self.severity, device=device)

