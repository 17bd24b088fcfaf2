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
- MACs as timm's tables count them (``macs_timm``), for comparison with its published figures:
  fused attention left out, normalisation layers counted as fvcore does (LayerNorm 5 per element
  with an affine, 4 without; BatchNorm at inference 2 per element with an affine, 1 without).
  ResNet-50 4.11 and ViT-B/16 16.87 GMACs, timm's published numbers.
"""

from __future__ import annotations

import math
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
    macs_timm: int = 0  # the same as timm's tables (fvcore) count them: no fused attention, norms counted

    def describe(self) -> dict[str, float | int]:
        return {**asdict(self), "parameters_millions": round(self.parameters / 1e6, 2),
                "gmacs": round(self.macs / 1e9, 2), "gmacs_timm": round(self.macs_timm / 1e9, 2)}


aten = torch.ops.aten


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:  # noqa: ANN001
    return sdpa_flop_count(query_shape, key_shape, value_shape)


ATTENTION_KERNELS = {aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops}


def _nothing(*args, out_shape=None, **kwargs) -> int:  # noqa: ANN001, ANN002, ANN003
    return 0


def _norm(weight_index: int, affine: int, plain: int) -> Callable[..., int]:
    """fvcore's count of a normalisation (per input element), doubled: FlopCounterMode's total is
    halved into MACs, and fvcore's norm units are taken as MACs by timm's tables."""

    def count(*args, out_shape=None, **kwargs) -> int:  # noqa: ANN001, ANN002, ANN003
        elements = math.prod(args[0])
        return 2 * elements * (affine if args[weight_index] is not None else plain)

    return count


FUSED_ATTENTION = [getattr(aten, name) for name in (
    "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention") if hasattr(aten, name)]
TIMM_CONVENTION = {
    **{kernel: _nothing for kernel in FUSED_ATTENTION},
    aten.native_layer_norm: _norm(2, 5, 4),
    aten._native_batch_norm_legit_no_training: _norm(1, 2, 1),
}


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
    timm_counter = FlopCounterMode(display=False, custom_mapping=TIMM_CONVENTION)
    with torch.no_grad(), timm_counter:
        adapter.logits(images)
    return ModelFacts(parameters=parameters, macs=counter.get_total_flops() // 2, input_size=size,
                      macs_timm=timm_counter.get_total_flops() // 2)
