"""Model facts for the paper's Table 1: parameters and multiply-accumulates at the input size.

Both are counted on one forward pass of the adapter on a zero batch at its evaluated input
size, so they hold for any adapter (timm, open_clip's image tower + zero-shot head, a user's
module):
- parameters: those of the modules whose ``forward`` ran (each counted once), so an open_clip
  model's text tower, used only to build the cached zero-shot head, is not counted;
- MACs: ``torch.utils.flop_counter.FlopCounterMode``'s FLOPs / 2 (one multiply-accumulate is two
  FLOPs in its count): every matrix product and convolution, attention's two products included
  (its CPU kernel, ``_scaled_dot_product_flash_attention_for_cpu``, is registered here because
  torch's counter knows only the CUDA kernels). This is torchvision's convention: its published
  ``_ops`` are 4.089 GMACs for ResNet-50 and 17.564 for ViT-B/16, and so are ours. timm's tables
  give 4.1 for ResNet-50 but 16.9 for ViT-B/16: fvcore, which timm counts with, cannot see a
  fused attention kernel and leaves out its 0.72 GMACs (and adds normalisation layers).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from auditkit.adapters.base import ModelAdapter


@dataclass(frozen=True)
class ModelFacts:
    parameters: int  # parameters of the modules the forward pass runs
    macs: int  # multiply-accumulates per image at input_size
    input_size: int

    def describe(self) -> dict[str, float | int]:
        return {**asdict(self), "parameters_millions": round(self.parameters / 1e6, 2),
                "gmacs": round(self.macs / 1e9, 2)}


aten = torch.ops.aten


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:  # noqa: ANN001
    return sdpa_flop_count(query_shape, key_shape, value_shape)


ATTENTION_KERNELS = {aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops}


def _count_used_parameters(run: Callable[[], None]) -> int:
    seen: dict[int, int] = {}

    def record(module: nn.Module, inputs: object, output: object) -> None:
        for parameter in module.parameters(recurse=False):
            seen.setdefault(id(parameter), parameter.numel())

    handle = nn.modules.module.register_module_forward_hook(record)
    try:
        run()
    finally:
        handle.remove()
    return sum(seen.values())


def model_facts(adapter: ModelAdapter) -> ModelFacts:
    """Parameters and MACs per image of ``adapter`` at its preprocessing's input size."""
    size = adapter.preprocess.input_size
    images = torch.zeros(1, 3, size, size, device=adapter.device)
    counter = FlopCounterMode(display=False, custom_mapping=ATTENTION_KERNELS)

    def forward() -> None:
        with torch.no_grad(), counter:
            adapter.logits(images)

    parameters = _count_used_parameters(forward)
    return ModelFacts(parameters=parameters, macs=counter.get_total_flops() // 2, input_size=size)
