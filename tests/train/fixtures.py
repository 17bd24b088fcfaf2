"""A tiny fine-tuning world: a separable image task in the split-folder layout and a tiny
ConvNet adapter, so a whole training takes seconds of CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from auditkit.adapters.base import ClassifierAdapter
from auditkit.adapters.preprocess import PreprocessConfig
from auditkit.run.config import RunConfig

SIZE = 16
COLOURS = ((220, 40, 40), (40, 200, 40), (40, 60, 220))  # class k: a square of colour k on grey


def write_task(root: Path, per_split: dict[str, int] | None = None, classes: int = 3, seed: int = 0) -> Path:
    """``root/{train,val,test}/<class>/<n>.png``: noise with a coloured square, the colour
    deciding the class (a ConvNet separates it in a few epochs)."""
    rng = np.random.default_rng(seed)
    for split, count in (per_split or {"train": 48, "val": 12, "test": 24}).items():
        for n in range(count):
            label = n % classes
            pixels = rng.integers(90, 160, size=(SIZE, SIZE, 3), dtype=np.uint8)
            top, left = rng.integers(0, SIZE // 2, size=2)
            pixels[top:top + SIZE // 2, left:left + SIZE // 2] = COLOURS[label]
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(folder / f"{n:03d}.png")
    return root


class TinyNet(nn.Module):
    """Conv -> ReLU -> pool -> 1000 ImageNet-style logits (the last Linear is the classifier)."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(torch.relu(self.conv(x))).flatten(1))


def tiny_adapter(seed: int = 0, width: int = 8) -> ClassifierAdapter:
    """The tiny net; ``width`` channels (1 cannot tell three colours apart, 8 can)."""
    torch.manual_seed(seed)
    preprocess = PreprocessConfig("custom", input_size=SIZE, crop_pct=1.0, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    return ClassifierAdapter(TinyNet(width), "tiny", preprocess)


# a recipe that trains the tiny net in seconds: zhou2021's structure, small numbers
QUICK = {"input_size": "16", "batch_size": "8", "lr": "0.01", "warmup_steps": "6", "warmup_lr": "0.01",
         "max_epochs": "6", "early_stop_patience": "3", "plateau_patience": "2", "seeds": "0", "rotation": "0"}


def config(tmp: Path, task: Path, cache: Path | None = None, **options: str) -> RunConfig:
    chosen = {**QUICK, **options}
    return RunConfig(suites=("finetune",), out_dir=tmp / "out", cache_dir=cache or tmp / "cache", data_root=tmp / "data",
                     data_overrides={"transfer": str(task)}, batch_size=16, workers=0, progress=False,
                     suite_options={"finetune": chosen}, datasets=("transfer",))


def interrupted_after_epoch(monkeypatch, epoch: int, run) -> None:
    """``run()`` with Ctrl-C raised right after epoch ``epoch``'s checkpoint (the loop's report
    follows it), the loop restored after: the in-process stand-in for a killed training."""
    import pytest

    import auditkit.train.finetune as finetune

    original = finetune.Loop._report

    def dies(self, seconds, images):
        original(self, seconds, images)
        if self.epoch == epoch:
            raise KeyboardInterrupt

    monkeypatch.setattr(finetune.Loop, "_report", dies)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(finetune.Loop, "_report", original)
