"""Parameters and MACs against published figures: torchvision's weight metadata (``num_params``,
``_ops`` in GMACs), which ships offline with torchvision and describes the same architectures."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from torch import nn

from auditkit.adapters.base import ClassifierAdapter, ModelAdapter
from auditkit.adapters.facts import counted, model_facts
from auditkit.adapters.preprocess import PreprocessConfig


def _adapter(module: nn.Module, size: int = 224) -> ClassifierAdapter:
    return ClassifierAdapter(module, "m", PreprocessConfig(name="test", input_size=size))


@pytest.mark.parametrize("timm_name, published", [
    ("resnet50", torchvision.models.ResNet50_Weights.IMAGENET1K_V1),
    ("vit_base_patch16_224", torchvision.models.ViT_B_16_Weights.IMAGENET1K_V1),
])
def test_parameters_and_gmacs_equal_torchvisions_published_figures(timm_name, published):
    facts = model_facts(_adapter(timm.create_model(timm_name, pretrained=False)))
    assert facts.parameters == published.meta["num_params"]  # 25,557,032 and 86,567,656
    assert round(facts.macs / 1e9, 3) == published.meta["_ops"]  # 4.089 and 17.564 GMACs


@pytest.mark.parametrize("timm_name, published", [("resnet50", 4.11), ("vit_base_patch16_224", 16.87)])
def test_timm_convention_equals_timms_published_gmacs(timm_name, published):
    # timm's results tables (infer_gmacs; its model cards round them to 4.1 and 16.9), counted by fvcore
    facts = model_facts(_adapter(timm.create_model(timm_name, pretrained=False)))
    assert round(facts.macs_timm / 1e9, 2) == published


def test_vit_attention_products_are_counted_by_hand():
    # 12 blocks x 12 heads x (q k^T + attn v): 2 * 197 * 197 * 64 MACs each
    attention = 12 * 12 * 2 * 197 * 197 * 64
    vit = timm.create_model("vit_base_patch16_224")
    with_attention = model_facts(_adapter(vit)).macs
    # linear layers and the patch embedding only: what fvcore (timm's tables, 16.9) sees
    linear = sum(m.in_features * m.out_features * 197 for m in vit.modules()
                 if isinstance(m, nn.Linear)) - 768 * 1000 * 196  # the head reads the class token only
    patch_embedding = 768 * 3 * 16 * 16 * 196
    assert with_attention == linear + patch_embedding + attention


class TwoTowers(ModelAdapter):
    """An adapter holding a module its forward never runs (like open_clip's text tower)."""

    name = "two towers"
    preprocess = PreprocessConfig(name="test", input_size=32)

    def __init__(self) -> None:
        self.image = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.LazyLinear(1000))
        self.text = nn.Linear(512, 512)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        return self.image(images)

    def identity(self) -> dict:
        return {}


def test_only_the_modules_the_forward_runs_are_counted():
    adapter = TwoTowers()
    facts = model_facts(adapter)
    conv = 4 * 3 * 3 * 3 + 4
    linear = 4 * 30 * 30 * 1000 + 1000
    assert facts.parameters == conv + linear
    assert facts.macs == 4 * 3 * 3 * 3 * 30 * 30 + 4 * 30 * 30 * 1000


@pytest.mark.parametrize("timm_name", ["vit_tiny_patch16_224", "resnet18"])
def test_a_real_batch_of_the_run_counts_what_one_zero_image_counts(timm_name):
    """The run counts the facts on its first forwarded batch (several images, inference mode, as
    ``ForwardPasses`` forwards them): attention, LayerNorm and BatchNorm counted per image exactly
    as on the one zero image of ``model_facts``."""
    adapter = _adapter(timm.create_model(timm_name, pretrained=False))
    images = torch.randn(3, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        logits, facts = counted(lambda: adapter.logits(images), len(images), 224)
    assert logits.shape == (3, 1000)
    alone = model_facts(adapter)
    assert facts == alone
    assert alone.macs != alone.macs_timm  # both conventions in one pass: attention or the norms differ
