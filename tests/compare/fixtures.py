"""Fixture models whose answers the test controls, and runs of them on a generated val folder.

Each image's colour encodes its class (red, green: as ``tests/suites/test_imagenet_x.py``'s
``encode``) and, in the blue channel, which of four models answer it wrongly (bit k: model k
predicts class + 1). So every model's top-1 on every image is known before anything runs.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from PIL import Image

from auditkit.cli import main
from auditkit.data.classes import imagenet_wnids
from tests.conftest import VAL_CLASSES, standard_val_names

MODELS = 4
MODEL_CODE = textwrap.dedent(
    """
    import torch
    from torch import nn

    class WrongOnMarked(nn.Module):
        # Reads the class an image encodes (R = 8 * (c // 32) + 4, G = 8 * (c % 32) + 4) and answers
        # class + 1 where bit BIT of the blue level (B = 8 + 16 * bits) is set.
        def __init__(self, bit):
            super().__init__()
            self.bit = bit
            self.pretrained_cfg = dict(input_size=(3, 16, 16), interpolation="bilinear", crop_pct=1.0,
                                       mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

        def forward(self, x):
            rgb = x.mean((2, 3)) * 255
            c = torch.round((rgb[:, 0] - 4) / 8) * 32 + torch.round((rgb[:, 1] - 4) / 8)
            bits = torch.round((rgb[:, 2] - 8) / 16).long()
            wrong = (bits >> self.bit) & 1
            answer = (c.long() + wrong).clamp(0, 999)
            # confidence differs by model so calibration metrics differ too
            return torch.nn.functional.one_hot(answer, 1000).float() * (4.0 + self.bit)
    """
)


def encode(path: Path, label: int, wrong: set[int]) -> None:
    bits = sum(1 << k for k in wrong)
    colour = (8 * (label // 32) + 4, 8 * (label % 32) + 4, 8 + 16 * bits)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 20), colour).save(path, format="JPEG", quality=95)


def val_names() -> list[tuple[str, int]]:
    """24 real val file names (6 per class) with their labels, in sample-id order."""
    names = [(name, index) for index in VAL_CLASSES.values() for name in standard_val_names(index, 6)]
    return sorted(names)


def make_val(root: Path, wrong_by_image: list[set[int]], keep: slice | None = None) -> Path:
    """A val folder: image i (sorted by id) is answered wrongly by the models in wrong_by_image[i]."""
    wnids = imagenet_wnids()
    for i, (name, label) in enumerate(val_names()):
        if keep is not None and i not in range(24)[keep]:
            continue
        encode(root / wnids[label] / name, label, wrong_by_image[i])
    return root


def run_model(folder: Path, k: int, val: Path, out: Path, suites: str = "calibration") -> Path:
    """Model k's run. Calibration only: robustness would make ImageNet-C from val (75 conditions)."""
    main(["run", "--model", f"python:{model_file(folder, k)}:make", "--suites", suites, "--data", f"imagenet-val={val}",
          "--data-root", str(out.parent / "no-data"), "--out", str(out), "--cache", str(out.parent / "cache"),
          "--workers", "0", "--no-progress", "--batch-size", "8"])
    return out


def make_runs(root: Path, count: int) -> Path:
    """Models 0 .. count-1 on the same DESIGN images: root/runs/m0 .. m{count-1}."""
    val = make_val(root / "val", DESIGN)
    for k in range(count):
        run_model(root, k, val, root / "runs" / f"m{k}")
    return root


def model_file(folder: Path, k: int) -> Path:
    # One file per model: python: models without weights are fingerprinted by their source file,
    # so two factories in one file would share cached predictions (see the report of issue 8).
    path = folder / f"marked_model_{k}.py"
    path.write_text(MODEL_CODE + f"\n\ndef make():\n    return WrongOnMarked({k})\n")
    return path


def records(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["records"]


# Hand-worked design for models 0 (A) and 1 (B) on 24 images:
#  - 15 both right, 1 only A right (B wrong), 6 only B right (A wrong), 2 both wrong
#  => A top-1 16/24, B top-1 21/24; McNemar b = 1, c = 6, exact p = 2 * (1 + 7) / 2^7 = 0.125.
# Models 2 and 3 are wrong on a further 0 / 12 images, so 2 matches A's errors on none and 3 is
# far worse than everyone (significant).
DESIGN: list[set[int]] = (
    [set()] * 15 + [{1}] + [{0}] * 6 + [{0, 1}] * 2
)
DESIGN = [wrong | ({3} if i % 2 == 0 else set()) for i, wrong in enumerate(DESIGN)]
