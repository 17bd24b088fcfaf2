"""Shared fixtures: offline always, generated data in released layouts, a tiny custom model."""

from __future__ import annotations

import os
import subprocess
import sys
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

        def dense_features(self, x):  # the dense suite's features: the conv's map, stride 4
            return self.conv(x)

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


# --- the test tiers (markers in pyproject.toml; `make check` leaves out oracle, browser, slow) ---

# Tests marked slow or oracle take up to minutes on a loaded 2-core machine: they get this limit
# instead of pyproject's default (a test's own @pytest.mark.timeout wins over both).
SLOW_TIMEOUT_S = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("timeout") is None and (
                item.get_closest_marker("slow") or item.get_closest_marker("oracle")):
            item.add_marker(pytest.mark.timeout(SLOW_TIMEOUT_S))


def _starts_python(args) -> bool:
    """Whether Popen ``args`` start a Python process (the CLI, torchrun, ``python -c``): the
    processes that make a test one of the ``subprocess`` tier. Chromium, pdftoppm and the
    libraries' own probes (ldconfig) are not."""
    if isinstance(args, (str, bytes, os.PathLike)):
        args = os.fsdecode(args).split()[:1]
    if not args:
        return False
    program = os.fsdecode(args[0])
    name = Path(program).name
    return program == sys.executable or name.startswith("python") or name in ("audit", "torchrun")


class _PythonSpawns:
    """Records, per test, every Python process it starts (in its fixtures too), so a test that
    starts one without the ``subprocess`` marker fails: ``-m "not subprocess"`` must leave out
    every test that pays a Python start-up (seconds each)."""

    def __init__(self) -> None:
        self.current: list[str] = []
        self.original_init = subprocess.Popen.__init__
        spawns = self

        def recording_init(popen, args, *rest, **options):
            if _starts_python(args):
                spawns.current.append(" ".join(map(os.fsdecode, args)) if not isinstance(args, (str, bytes))
                                      else os.fsdecode(args))
            spawns.original_init(popen, args, *rest, **options)

        subprocess.Popen.__init__ = recording_init

    def restore(self) -> None:
        subprocess.Popen.__init__ = self.original_init


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SPAWNS] = _PythonSpawns()


def pytest_unconfigure(config: pytest.Config) -> None:
    spawns = config.stash.get(_SPAWNS, None)
    if spawns is not None:
        spawns.restore()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.config.stash[_SPAWNS].current = []


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    started = item.config.stash[_SPAWNS].current
    if started and item.get_closest_marker("subprocess") is None:
        pytest.fail(f"{item.nodeid} starts a Python process ({started[0][:120]}) but is not marked "
                    "@pytest.mark.subprocess (pyproject.toml: the markers)",
                    pytrace=False)


_SPAWNS = pytest.StashKey[_PythonSpawns]()
