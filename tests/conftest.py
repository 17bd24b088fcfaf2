"""Shared fixtures: offline always, generated data in released layouts, a tiny custom model."""

from __future__ import annotations

import os
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
# datasets' parquet cache stays out of the user's home during tests
os.environ.setdefault("HF_DATASETS_CACHE", tempfile.mkdtemp(prefix="auditkit-hf-cache-"))
os.environ.setdefault("MPLBACKEND", "Agg")

# ../shared beside the repository (CI and the development machine have it; a user's clone may
# not). AUDITKIT_TEST_SHARED points elsewhere, e.g. at an empty folder to check what a fresh
# clone runs. Only the 133 MB of cue-conflict stimuli are needed from it: every small reference
# a published-number test needs ships in tests/data/reference (README there: sources, licences).
SHARED = Path(os.environ.get("AUDITKIT_TEST_SHARED") or Path(__file__).resolve().parents[1].parent / "shared")
TEST_REFERENCE = Path(__file__).resolve().parent / "data" / "reference"


def require(path: Path, what: str) -> Path:
    """``path`` if it exists; otherwise skip the test, except under ``CI=true``, where a missing
    reference or data set is a failure (a skipped published-number test must never pass CI)."""
    if path.exists():
        return path
    message = f"{what} absent at {path}"
    if os.environ.get("CI", "").strip().lower() in ("true", "1"):
        pytest.fail(f"{message}; CI=true: missing test data is a failure, not a skip")
    pytest.skip(message)

# A few real ImageNet wnids with their class indices (sorted-wnid order).
VAL_CLASSES = {"n01440764": 0, "n01443537": 1, "n01484850": 2, "n02085620": 151}

TINY_MODEL = textwrap.dedent(
    '''
    import torch
    from torch import nn

    class Tiny(nn.Module):
        """A deterministic 1000-class model on 32x32 inputs."""

        def __init__(self):
            super().__init__()
            generator = torch.Generator().manual_seed(0)
            self.conv = nn.Conv2d(3, 8, 3, stride=4)
            self.fc = nn.Linear(8, 1000)
            with torch.no_grad():
                for p in self.parameters():
                    p.copy_(torch.randn(p.shape, generator=generator) * 0.5)
            self.pretrained_cfg = dict(input_size=(3, 32, 32), interpolation="bilinear",
                                       crop_pct=0.875, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))

        def forward(self, x):
            return self.fc(self.conv(x).mean((2, 3))) * 3

    def make():
        return Tiny()
    '''
)


def write_image(path: Path, rng: np.random.Generator, size: tuple[int, int] = (40, 52)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)


def standard_val_names(class_index: int, count: int) -> list[str]:
    """The first ``count`` real val file names of a class (standard labels, imagenet-x package)."""
    from auditkit.data.imagenet import imagenet_x_val_labels

    names = sorted(n for n, label in imagenet_x_val_labels().items() if label == class_index)
    return names[:count]


@pytest.fixture
def val_folder(tmp_path: Path) -> Path:
    """ImageNet val as an ImageFolder tree: val/<wnid>/ILSVRC2012_val_XXXXXXXX.JPEG, with the
    real file names of each class (random pixels)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "val"
    for wnid, index in VAL_CLASSES.items():
        for name in standard_val_names(index, 6):
            write_image(root / wnid / name, rng)
    return root


@pytest.fixture
def tiny_model_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny_model.py"
    path.write_text(TINY_MODEL)
    return path


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def imagenet_x_predictions(tmp_path_factory) -> Path:
    """The published ImageNet-X predictions (ResNet50.csv, ViT.csv) unpacked from
    tests/data/reference into a temporary folder (the suite reads plain CSV)."""
    import gzip
    import shutil

    folder = tmp_path_factory.mktemp("imagenet-x-predictions")
    for packed in sorted(require(TEST_REFERENCE / "imagenet-x-predictions", "ImageNet-X predictions").glob("*.csv.gz")):
        with gzip.open(packed, "rb") as source, open(folder / packed.name[: -len(".gz")], "wb") as target:
            shutil.copyfileobj(source, target)
    return folder
