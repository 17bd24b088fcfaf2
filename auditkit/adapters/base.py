"""The model adapter: a batch of preprocessed images -> logits over the 1000 ImageNet classes.

The representation suites (linear probe, CKA) also ask for ``features`` (the penultimate / pooled
embedding) and ``layer_features`` (pooled outputs of the stages or blocks), and the dense suite
``dense_features`` (the spatial feature map, NCHW; ``DenseSpec``); the adversarial suite
needs ``logits`` to be differentiable with respect to the images (the runner calls it under
autograd). A subclass that cannot give features raises ``UnsupportedOutput``: the suites that
need them are then listed as skipped with the reason.

An adapter carries its own preprocessing (``preprocess``) and a ``fingerprint`` that changes
whenever anything that changes its answers changes (weights, preprocessing, classifier head), so
the prediction store never hands one model's predictions to another.

To audit your own model, either return an ``nn.Module`` from a factory (``python:pkg.mod:make``;
preprocessing from its timm-style ``pretrained_cfg``) or subclass ``ModelAdapter``.
"""

from __future__ import annotations

import abc
import contextlib
import copy
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterator

import torch
from torch import nn

from auditkit.adapters.preprocess import PreprocessConfig
from auditkit.adapters.weights import fingerprint, hash_state_dict

NUM_IMAGENET_CLASSES = 1000


class ModelAdapter(abc.ABC):
    """Subclass and implement ``logits`` and ``identity``; set ``name`` and ``preprocess``."""

    name: str
    preprocess: PreprocessConfig
    device: torch.device = torch.device("cpu")

    @abc.abstractmethod
    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (batch, 1000) for a batch already transformed by ``preprocess``."""

    @abc.abstractmethod
    def identity(self) -> dict[str, Any]:
        """Everything besides preprocessing that changes the answers (weights hash, head, ...)."""

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(batch, d) embedding the classifier reads: the penultimate (pooled, pre-logits)
        representation. Override to give one; the base has none."""
        raise UnsupportedOutput(f"{self.name} gives no features: implement ModelAdapter.features(images)")

    def layer_features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Named (batch, d_layer) representations in depth order, the last one ``penultimate``
        (= ``features``). The base: the penultimate only."""
        return {"penultimate": self.features(images)}

    def backbone(self) -> nn.Module:
        """A trainable copy of the network up to ``features``: images -> (batch, d), the
        original left untouched (the ``finetune`` suite trains it under a new head). Override
        to make a model fine-tunable; the base has none."""
        raise UnsupportedOutput(f"{self.name} cannot be fine-tuned: implement ModelAdapter.backbone() "
                                "(a trainable nn.Module from images to features)")

    def dense_features(self, images: torch.Tensor, spec: "DenseSpec | None" = None) -> torch.Tensor:
        """(batch, C, H, W) spatial features for dense heads (``DenseSpec``: which blocks, class
        token). Override to give them; the base has none."""
        raise UnsupportedOutput(f"{self.name} gives no dense features: implement "
                                "ModelAdapter.dense_features(images) returning (batch, C, H, W)")

    def to(self, device: str | torch.device) -> "ModelAdapter":
        self.device = torch.device(device)
        return self

    def prepare(self) -> None:
        """Build what the first forward pass would otherwise build lazily (a zero-shot head from
        a text tower), so the model facts counted on that pass are the image model's alone. The
        base builds nothing."""

    @contextlib.contextmanager
    def input_resolution(self, size: int) -> Iterator[None]:
        """Run the model on size x size inputs inside the block; raise
        ``UnsupportedResolution`` (with the reason) if it cannot. The base: native size only."""
        if size != self.preprocess.input_size:
            raise UnsupportedResolution(f"{self.name} gives no way to run at {size} px")
        yield

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint(
            {
                "adapter": f"{type(self).__module__}.{type(self).__qualname__}",
                "identity": self.identity(),
                "preprocess": self.preprocess.describe(),
            }
        )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "adapter": type(self).__qualname__,
            "fingerprint": self.fingerprint,
            "preprocess": self.preprocess.describe(),
            **self.identity(),
        }


class ClassifierAdapter(ModelAdapter):
    """An ``nn.Module`` whose forward already returns 1000 ImageNet logits."""

    def __init__(
        self,
        module: nn.Module,
        name: str,
        preprocess: PreprocessConfig,
        source: dict[str, Any] | None = None,
    ) -> None:
        self.module = module.eval()
        self.name = name
        self.preprocess = preprocess
        self.source = source or {}

    def to(self, device: str | torch.device) -> "ClassifierAdapter":
        super().to(device)
        # channels_last doubles CPU throughput of depthwise ConvNets (measured: EfficientNet-
        # Lite0 22 -> 44 img/s on 2 cores) and is neutral for ViTs.
        self.module.to(self.device, memory_format=torch.channels_last)
        return self

    @cached_property
    def _weights_sha256(self) -> str:
        return hash_state_dict(self.module)

    def identity(self) -> dict[str, Any]:
        return {"weights_sha256": self._weights_sha256, "head": "classifier", **self.source}

    @contextlib.contextmanager
    def input_resolution(self, size: int) -> Iterator[None]:
        """ConvNets run natively; timm ViTs get a copy with position embeddings resampled
        (``set_input_size``: bicubic, antialiased), so the original weights stay untouched."""
        original = self.module
        if size != self.preprocess.input_size:
            self.module = resized_module(original, size, self.name)
        try:
            yield
        finally:
            self.module = original

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        output = self.module(images.to(self.device, memory_format=torch.channels_last))
        if not isinstance(output, torch.Tensor):  # e.g. (logits, features), or a dict of outputs
            raise _output_type_error(self.name, output)
        if output.ndim != 2 or output.shape[1] != NUM_IMAGENET_CLASSES:
            raise _head_error(self.name, tuple(output.shape))
        return output

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """timm models: ``forward_head(forward_features(x), pre_logits=True)`` (pooled, before the
        classifier). Other modules: the input of their last ``nn.Linear`` (the classifier)."""
        x = images.to(self.device, memory_format=torch.channels_last)
        if hasattr(self.module, "forward_features") and hasattr(self.module, "forward_head"):
            return self.module.forward_head(self.module.forward_features(x), pre_logits=True)
        return _classifier_input(self.module, x, self.name)

    def backbone(self) -> nn.Module:
        """A deep copy, in train mode: timm models through ``forward_head(forward_features(x),
        pre_logits=True)``; other modules with their last ``nn.Linear`` (the classifier)
        replaced by the identity, so the output is the classifier's input, as ``features``."""
        module = copy.deepcopy(self.module).to(self.device)
        for parameter in module.parameters():
            parameter.requires_grad_(True)
        if hasattr(module, "forward_features") and hasattr(module, "forward_head"):
            return PreLogits(module)
        named = [name for name, m in module.named_modules() if isinstance(m, nn.Linear)]
        if not named:
            raise UnsupportedOutput(f"{self.name} has no nn.Linear classifier to replace: give a ModelAdapter "
                                    "with backbone()")
        parent_name, _, attribute = named[-1].rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, attribute, nn.Identity())
        return module

    def layer_features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """timm models with ``forward_intermediates``: each stage / block output (named by timm's
        ``feature_info``) averaged over space (ViTs: over patch tokens), then the penultimate."""
        if not hasattr(self.module, "forward_intermediates"):
            return super().layer_features(images)
        x = images.to(self.device, memory_format=torch.channels_last)
        final, intermediates = self.module.forward_intermediates(x)
        info = getattr(self.module, "feature_info", None)
        names = [str(i["module"]) for i in info] if info is not None and len(info) == len(intermediates) else [
            f"layer{k}" for k in range(len(intermediates))
        ]
        layers = {name: pooled_over_space(t) for name, t in zip(names, intermediates)}
        layers["penultimate"] = self.module.forward_head(final, pre_logits=True)
        return layers

    def dense_features(self, images: torch.Tensor, spec: "DenseSpec | None" = None) -> torch.Tensor:
        """timm models: ``forward_intermediates`` (``timm_dense_features``); a user's module
        may give ``dense_features(images)`` itself (the last block, no class token)."""
        spec = spec or DenseSpec()
        x = images.to(self.device, memory_format=torch.channels_last)
        if hasattr(self.module, "forward_intermediates"):
            return timm_dense_features(self.module, x, spec, self.name)
        if hasattr(self.module, "dense_features"):
            if spec != DenseSpec():
                raise UnsupportedOutput(f"{self.name}.dense_features gives one map; {spec.output} asks for more")
            return checked_dense(self.module.dense_features(x), self.name)
        raise UnsupportedOutput(f"{self.name} has neither timm's forward_intermediates nor dense_features(images); "
                                "give the module a dense_features(images) returning (batch, C, H, W)")


@dataclass(frozen=True)
class DenseSpec:
    """Which spatial features a dense head reads (Oquab et al. 2023, DINOv2 section 7.4): the last
    block (``last``) or the last four concatenated (``last4``, DINOv2's "lin. 4"), with the class
    token concatenated to every patch token (``class_token``, DINOv2's depth probe). Written as
    the request output ``dense_features[/last4][/cls]``, which is part of the store key.

        >>> DenseSpec.parse("dense_features/last4/cls")
        DenseSpec(blocks='last4', class_token=True)
        >>> DenseSpec(class_token=True).output
        'dense_features/cls'
    """

    blocks: str = "last"  # "last" | "last4"
    class_token: bool = False

    @property
    def output(self) -> str:
        return "/".join(["dense_features"] + (["last4"] if self.blocks == "last4" else [])
                        + (["cls"] if self.class_token else []))

    @property
    def indices(self) -> int:
        return 4 if self.blocks == "last4" else 1

    @classmethod
    def parse(cls, output: str) -> "DenseSpec | None":
        """The spec an output names; None for another output (``logits``, ``features``)."""
        head, *rest = output.split("/")
        if head != "dense_features":
            return None
        spec = cls(blocks="last4" if "last4" in rest else "last", class_token="cls" in rest)
        if spec.output != output:
            raise ValueError(f"output {output!r} is written dense_features[/last4][/cls]")
        return spec


def dense_features_of(adapter: ModelAdapter, images: torch.Tensor, spec: DenseSpec) -> torch.Tensor:
    """``adapter.dense_features`` for ``spec``, checked to be (batch, C, H, W). A user's adapter
    may define ``dense_features(images)`` alone: it gives the default spec (the last block)."""
    import inspect

    if len(inspect.signature(adapter.dense_features).parameters) < 2:
        if spec != DenseSpec():
            raise UnsupportedOutput(f"{adapter.name}.dense_features(images) gives one map; {spec.output} asks for "
                                    "more (accept a DenseSpec as its second argument)")
        return checked_dense(adapter.dense_features(images), adapter.name)  # type: ignore[call-arg]
    return checked_dense(adapter.dense_features(images, spec), adapter.name)


def checked_dense(features: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(features, torch.Tensor) or features.ndim != 4:
        shape = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise UnsupportedOutput(f"{name}.dense_features returned {shape}; it must be a (batch, C, H, W) tensor")
    return features


def timm_dense_features(module: nn.Module, x: torch.Tensor, spec: DenseSpec, name: str) -> torch.Tensor:
    """The last (or last four) blocks of a timm model as NCHW maps: ConvNet stages as they are,
    ViT patch tokens (after the final norm, as DINOv2's ``get_intermediate_layers(norm=True)``)
    reshaped to the patch grid, the class token broadcast over the grid and concatenated when
    asked. Blocks are concatenated along channels; they must share one grid."""
    import inspect

    accepted = inspect.signature(module.forward_intermediates).parameters
    options: dict[str, Any] = {"indices": spec.indices, "intermediates_only": True, "output_fmt": "NCHW"}
    vit = "return_prefix_tokens" in accepted
    if vit:
        options.update(norm=True, return_prefix_tokens=spec.class_token)
    elif spec.class_token:
        raise UnsupportedOutput(f"{name} has no class token (a ConvNet); ask for dense_features without /cls")
    maps = []
    for block in module.forward_intermediates(x, **options):
        if vit and spec.class_token:
            patches, prefix = block
            if prefix.shape[1] == 0:
                raise UnsupportedOutput(f"{name} has no class token; ask for dense_features without /cls")
            token = prefix[:, 0, :, None, None].expand(-1, -1, *patches.shape[2:])
            block = torch.cat([patches, token], 1)
        maps.append(block)
    return concatenated_blocks(maps, name)


def concatenated_blocks(maps: list[torch.Tensor], name: str) -> torch.Tensor:
    grids = {tuple(m.shape[2:]) for m in maps}
    if len(grids) != 1:
        raise UnsupportedOutput(f"{name}: its last blocks have grids {sorted(grids)}; dense_features/last4 "
                                "concatenates blocks of one grid (ViTs): use dense_features")
    return torch.cat(maps, 1)


class PreLogits(nn.Module):
    """A timm model cut before its classifier: the pooled, pre-logits embedding."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.forward_head(self.model.forward_features(images), pre_logits=True)


def pooled_over_space(tensor: torch.Tensor) -> torch.Tensor:
    """(batch, C, H, W) -> mean over space; (batch, tokens, C) -> mean over tokens."""
    if tensor.ndim == 4:
        return tensor.mean(dim=(2, 3))
    if tensor.ndim == 3:
        return tensor.mean(dim=1)
    return tensor.flatten(1)


def _classifier_input(module: nn.Module, x: torch.Tensor, name: str) -> torch.Tensor:
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise UnsupportedOutput(
            f"{name} has no nn.Linear classifier to read features from; return a ModelAdapter "
            "that implements features(images)"
        )
    captured: list[torch.Tensor] = []
    handle = linears[-1].register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0]))
    try:
        module(x)
    finally:
        handle.remove()
    return captured[-1].flatten(1)


class UnsupportedResolution(Exception):
    """A model that cannot be run at a requested input size; the message is the reason."""


class UnsupportedOutput(Exception):
    """A model that cannot give a requested output (e.g. features); the message is the reason."""


def resized_module(module: nn.Module, size: int, name: str) -> nn.Module:
    """``module`` for size x size inputs: itself if it takes any size, a resampled copy of a timm
    ViT, or ``UnsupportedResolution``."""
    if hasattr(module, "set_input_size"):
        resized = copy.deepcopy(module)
        resized.set_input_size(img_size=(size, size))
        return resized
    if getattr(module, "pretrained_cfg", {}).get("fixed_input_size"):
        raise UnsupportedResolution(f"{name} has a fixed input size and no set_input_size to resample it")
    return module


def _output_type_error(name: str, output: object) -> Exception:
    from auditkit.errors import AuditError

    what = f"a {type(output).__name__}" + (f" of {len(output)}" if isinstance(output, (tuple, list, dict)) else "")
    return AuditError(
        f"model {name} returned {what}, not a tensor; its forward must return the logits alone, a "
        f"(N, {NUM_IMAGENET_CLASSES}) tensor (wrap a model that also returns features, e.g. "
        "`return logits` instead of `return logits, features`)"
    )


def _head_error(name: str, shape: tuple[int, ...]) -> Exception:
    from auditkit.errors import AuditError

    return AuditError(
        f"model {name} returned logits of shape {shape}; auditkit needs (batch, "
        f"{NUM_IMAGENET_CLASSES}) ImageNet logits: give the model a 1000-class ImageNet head"
    )
