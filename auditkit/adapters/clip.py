"""OpenCLIP zero-shot classifiers (docs/protocols.md, "Models").

Head: open_clip's ``IMAGENET_CLASSNAMES`` x the 80 ``OPENAI_IMAGENET_TEMPLATES``; per class the
text features of all templates are L2-normalised, averaged and normalised again
(``open_clip.build_zero_shot_classifier``). Logits = 100 * normalised image features @ head: a
fixed 100, as in the paper's code, not the model's learned ``logit_scale``. Building the head
takes 80,000 text forwards, so it is cached on disk under a key of the weights and the prompts.
Features (linear probe, CKA) are the image embedding ``encode_image`` before the L2
normalisation, as in CLIP's own linear-probe evaluation. The adversarial suite differentiates
``logits`` with respect to the image, i.e. through the zero-shot text head.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
import torch.nn.functional as F

from auditkit.adapters.base import (
    DenseSpec, ModelAdapter, UnsupportedOutput, UnsupportedResolution, concatenated_blocks, pooled_over_space,
    resized_module,
)
from auditkit.adapters.preprocess import PreprocessConfig
from auditkit.adapters.weights import hash_state_dict
from auditkit.errors import AuditError
from auditkit.paths import open_temporary

LOGIT_SCALE = 100.0


class ZeroShotClipAdapter(ModelAdapter):
    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        name: str,
        source: dict[str, Any],
        head_cache: Path,
        templates: Sequence[str] | None = None,
    ) -> None:
        import open_clip

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.source = source
        self.head_cache = head_cache
        self.classnames = list(open_clip.IMAGENET_CLASSNAMES)
        # Templates are callables in open_clip; render them once so they can be hashed.
        self.templates = [
            t if isinstance(t, str) else t("{}")
            for t in (templates or open_clip.OPENAI_IMAGENET_TEMPLATES)
        ]
        self.preprocess = preprocess_from_open_clip(model)

    def to(self, device: str | torch.device) -> "ZeroShotClipAdapter":
        super().to(device)
        self.model.to(self.device)
        return self

    @cached_property
    def _weights_sha256(self) -> str:
        return hash_state_dict(self.model)

    def identity(self) -> dict[str, Any]:
        return {
            "weights_sha256": self._weights_sha256,
            "head": {
                "kind": "zero-shot",
                "logit_scale": LOGIT_SCALE,
                "prompts_sha256": _prompts_hash(self.classnames, self.templates),
                "templates": len(self.templates),
            },
            **self.source,
        }

    def prepare(self) -> None:
        self.head  # noqa: B018 -- built (or read from the disk cache) outside the facts' count

    @cached_property
    def head(self) -> torch.Tensor:
        """(embed_dim, 1000) zero-shot classifier, from the disk cache when present.

        A normal tensor even when first asked for under inference mode (the runner's forward
        passes): an inference tensor cannot be saved for backward, and the adversarial attacks
        differentiate through the head."""
        with torch.inference_mode(False):
            return self._load_or_build_head().clone()

    def _load_or_build_head(self) -> torch.Tensor:
        key = hashlib.sha256(
            (self._weights_sha256 + _prompts_hash(self.classnames, self.templates)).encode()
        ).hexdigest()[:32]
        path = self.head_cache / f"{key}.pt"
        if path.is_file():
            return torch.load(path, map_location=self.device, weights_only=True)
        import open_clip

        with torch.inference_mode():
            head = open_clip.build_zero_shot_classifier(
                self.model,
                tokenizer=self.tokenizer,
                classnames=self.classnames,
                templates=[t.format for t in self.templates],
                num_classes_per_batch=10,
                device=self.device,
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = open_temporary(path.parent, prefix=".head-")
        os.close(handle)
        torch.save(head.cpu(), tmp)
        os.replace(tmp, path)
        return head

    def backbone(self) -> torch.nn.Module:
        """A trainable copy of the image tower (images -> the image embedding, unnormalised)."""
        import copy

        visual = copy.deepcopy(self.model.visual).to(self.device)
        for parameter in visual.parameters():
            parameter.requires_grad_(True)
        return visual

    @contextlib.contextmanager
    def input_resolution(self, size: int) -> Iterator[None]:
        """open_clip towers on a timm trunk (ConvNeXt) run natively or are resampled like timm
        ViTs; open_clip's own ViT has no resampling here and is reported as unsupported."""
        visual = self.model.visual
        trunk = getattr(visual, "trunk", None)
        if size == self.preprocess.input_size:
            yield
            return
        if trunk is None:
            raise UnsupportedResolution(
                f"{self.name}: open_clip's {type(visual).__name__} has no position-embedding resampling in auditkit"
            )
        visual.trunk = resized_module(trunk, size, self.name)
        try:
            yield
        finally:
            visual.trunk = trunk

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        features = self.model.encode_image(images.to(self.device))
        return LOGIT_SCALE * F.normalize(features, dim=-1) @ self.head.to(features.device, features.dtype)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The image embedding (before L2 normalisation)."""
        return self.model.encode_image(images.to(self.device))

    def layer_features(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """The image tower's blocks (open_clip ViT) or trunk stages (timm trunks, e.g. ConvNeXt)
        averaged over space, then the image embedding, via open_clip's ``forward_intermediates``."""
        if not hasattr(self.model, "forward_intermediates"):
            return super().layer_features(images)
        output = self.model.forward_intermediates(image=images.to(self.device), normalize=False)
        intermediates = output["image_intermediates"]
        visual = self.model.visual
        info = getattr(getattr(visual, "trunk", None), "feature_info", None)
        if info is not None and len(info) == len(intermediates):
            names = [str(i["module"]) for i in info]
        elif hasattr(visual, "transformer"):
            names = [f"resblocks.{k}" for k in range(len(intermediates))]
        else:
            names = [f"layer{k}" for k in range(len(intermediates))]
        layers = {name: pooled_over_space(t) for name, t in zip(names, intermediates)}
        layers["penultimate"] = output["image_features"]
        return layers


    def dense_features(self, images: torch.Tensor, spec: DenseSpec | None = None) -> torch.Tensor:
        """The image tower's last (four) blocks as NCHW maps through open_clip's
        ``visual.forward_intermediates`` (ViT patch tokens normalised, reshaped to the grid; timm
        trunks' stages), the class token concatenated to every position when asked."""
        spec = spec or DenseSpec()
        visual = self.model.visual
        if not hasattr(visual, "forward_intermediates"):
            raise UnsupportedOutput(f"{self.name}: open_clip's {type(visual).__name__} has no forward_intermediates")
        output = visual.forward_intermediates(images.to(self.device), indices=spec.indices, normalize_intermediates=True,
                                              intermediates_only=True, output_fmt="NCHW",
                                              output_extra_tokens=spec.class_token)
        maps = list(output["image_intermediates"])
        if spec.class_token:
            prefixes = output.get("image_intermediates_prefix")
            if not prefixes or prefixes[0].shape[1] == 0:
                raise UnsupportedOutput(f"{self.name} has no class token; ask for dense_features without /cls")
            maps = [torch.cat([m, p[:, 0, :, None, None].expand(-1, -1, *m.shape[2:])], 1)
                    for m, p in zip(maps, prefixes)]
        return concatenated_blocks(maps, self.name)


def _prompts_hash(classnames: Sequence[str], templates: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps([list(classnames), list(templates)]).encode()).hexdigest()


def preprocess_from_open_clip(model: torch.nn.Module) -> PreprocessConfig:
    """open_clip's eval preprocess (Resize short side, CenterCrop, OpenAI mean/std) as a config."""
    cfg = getattr(model.visual, "preprocess_cfg", {})
    size = cfg.get("size", 224)
    size = size[-1] if isinstance(size, (tuple, list)) else size
    if cfg.get("resize_mode", "shortest") != "shortest":
        raise AuditError(
            f"open_clip resize_mode {cfg.get('resize_mode')!r} is not supported; "
            "auditkit reproduces the 'shortest' (Resize + CenterCrop) eval preprocess"
        )
    return PreprocessConfig(
        name="open_clip",
        input_size=int(size),
        interpolation=cfg.get("interpolation", "bicubic"),
        crop_pct=1.0,
        mean=tuple(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))),
        std=tuple(cfg.get("std", (0.26862954, 0.26130258, 0.27577711))),
    )
