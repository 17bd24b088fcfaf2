"""Model facts for the paper's Table 1: parameters and multiply-accumulates at the input size.

Both are counted on one forward pass of the adapter at its evaluated input size (a run counts
them on its first forwarded batch, ``counted``, and keeps them in the prediction store), so they
hold for any adapter (timm, open_clip's image tower + zero-shot head, a user's module):
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
from typing import Callable, TypeVar

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
T = TypeVar("T")


def _cpu_attention_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:  # noqa: ANN001
    return sdpa_flop_count(query_shape, key_shape, value_shape)


ATTENTION_KERNELS = {aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops}


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
NORMS = {
    aten.native_layer_norm: _norm(2, 5, 4),
    aten._native_batch_norm_legit_no_training: _norm(1, 2, 1),
}
# one counter for both conventions: attention on the CPU and the normalisations are counted too,
# and each convention leaves out what it does not count (``counted``)
COUNTED = {**ATTENTION_KERNELS, **NORMS}


def _count_used_parameters(run: Callable[[], T]) -> tuple[T, int]:
    seen: dict[int, int] = {}

    def record(module: nn.Module, inputs: object, output: object) -> None:
        for parameter in module.parameters(recurse=False):
            seen.setdefault(id(parameter), parameter.numel())

    handle = nn.modules.module.register_module_forward_hook(record)
    try:
        result = run()
    finally:
        handle.remove()
    return result, sum(seen.values())


def counted(forward: Callable[[], T], batch_size: int, input_size: int) -> tuple[T, ModelFacts]:
    """``forward()``'s result and the facts of the model it ran, per image of its ``batch_size``
    images at ``input_size``: one pass counts both conventions. The counter maps the CPU attention
    kernel and the normalisations; ``macs`` is the total without the normalisations, ``macs_timm``
    the total without the fused attention kernels (the per-op breakdown gives both). Every count
    is linear in the batch, so a real batch of the run gives the same facts as a one-image batch.
    """
    counter = FlopCounterMode(display=False, custom_mapping=COUNTED)

    def run() -> T:
        with counter:
            return forward()

    result, parameters = _count_used_parameters(run)
    by_op = counter.get_flop_counts().get("Global", {})
    total = sum(by_op.values())
    norms = sum(flops for op, flops in by_op.items() if op in NORMS)
    attention = sum(flops for op, flops in by_op.items() if op in FUSED_ATTENTION)
    return result, ModelFacts(parameters=parameters, macs=(total - norms) // 2 // batch_size, input_size=input_size,
                              macs_timm=(total - attention) // 2 // batch_size)


def model_facts(adapter: ModelAdapter) -> ModelFacts:
    """Parameters and MACs per image of ``adapter`` at its preprocessing's input size, from one
    forward pass of a zero image. A run counts them on its first forwarded batch instead
    (``counted``) and keeps them in the prediction store; this pass is for a run that forwards
    nothing and finds no facts stored."""
    size = adapter.preprocess.input_size
    images = torch.zeros(1, 3, size, size, device=adapter.device)
    adapter.prepare()

    def forward() -> None:
        with torch.no_grad():
            adapter.logits(images)

    return counted(forward, 1, size)[1]
