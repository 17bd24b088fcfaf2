"""Engine throughput, cache speed-up, forwards per image and memory — ratios from one run.

    python benchmarks/throughput.py [--images 96] [--models convnext_base,vit_base_patch16_224,efficientnet_lite0]

For each model (random init is fine for timing; efficientnet_lite0 is the embedded real one):
- pipeline ÷ raw: images/s of `audit run --suites calibration` end to end (file reading, JPEG
  decoding, resize/crop, DataLoader workers, store writes, metrics, figures, report) ÷ images/s
  of `model(x)` on pre-made tensors of the same batch size (channels_last, inference_mode, as
  the adapter runs it). Target ≥ 0.9 for ConvNeXt-B / ViT-B sized models on CPU.
- second run ÷ first run (wall time of the same audit, predictions now in the store): ≤ 1/50.
- forwards per image with calibration + imagenet_x + robustness (ReaL) in one run: exactly 1.
- peak RSS of a run at N and 4N images (a subprocess each).
Images: scikit-image photos re-encoded as 500x375 JPEGs under real val file names (so the
ImageNet-X and ReaL labels apply). Prints a table; results kept in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")


def make_val(root: Path, count: int) -> Path:
    from auditkit.data.classes import imagenet_wnids
    from auditkit.data.imagenet import imagenet_x_val_labels

    wnids = imagenet_wnids()
    photos = []
    for name in PHOTOS:
        array = getattr(skimage.data, name)()
        if array.ndim == 2:
            array = np.stack([array] * 3, -1)
        photos.append(Image.fromarray(array[..., :3]).resize((500, 375)))
    labels = imagenet_x_val_labels()
    for i, name in enumerate(sorted(labels)[:count]):
        path = root / wnids[labels[name]] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        photos[i % len(photos)].save(path, quality=90)
    return root


def model_spec(name: str, folder: Path) -> str:
    if name == "efficientnet_lite0":
        return name
    factory = folder / f"bench_{name}.py"
    # seeded: the store keys on the weights, so an unseeded random init would never be reused
    factory.write_text(f"import timm, torch\n\ndef make():\n    torch.manual_seed(0)\n"
                       f"    return timm.create_model({name!r}, pretrained=False)\n")
    return f"python:{factory}:make"


TINY = """import torch
from torch import nn


class Tiny(nn.Module):  # 1000 logits for almost no compute: what is left of a run is the engine
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 1000)
        self.pretrained_cfg = dict(input_size=(3, 224, 224), interpolation="bicubic", crop_pct=0.875,
                                   mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))

    def forward(self, x):
        return self.fc(x.mean((2, 3)))


def make():
    torch.manual_seed(0)
    return Tiny()
"""


def second_run_cost(work: Path, sizes: list[int], batch_size: int) -> list[tuple[int, float, float]]:
    """(images, engine s, process s) of a repeated audit whose predictions are all in the store,
    for a model with no compute, at several dataset sizes: the fixed cost and the cost per image
    of a cached run (listing and stat of the files, loading the store, metrics, figures, report)."""
    factory = work / "tiny.py"
    factory.write_text(TINY)
    rows = []
    for size in sizes:
        val = make_val(work / f"val-{size}", size)
        cache = work / f"tiny-cache-{size}"
        audit(f"python:{factory}:make", val, work / f"tiny-{size}-1", cache, "calibration", batch_size)
        second = audit(f"python:{factory}:make", val, work / f"tiny-{size}-2", cache, "calibration", batch_size)
        assert second["header"]["images_forwarded"].get("imagenet-val/none", 0) == 0
        rows.append((size, second["header"]["seconds"], second["wall"]))
    return rows


def raw_throughput(spec: str, batch_size: int, seconds: float = 20.0) -> float:
    from auditkit.adapters import ModelOptions, load_model

    adapter = load_model(spec, ModelOptions())
    size = adapter.preprocess.input_size
    batch = torch.randn(batch_size, 3, size, size)
    with torch.inference_mode():
        adapter.logits(batch)  # warm-up
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds or done < 2 * batch_size:
            adapter.logits(batch)
            done += batch_size
    return done / (time.perf_counter() - started)


def decode_throughput(spec: str, val: Path, seconds: float = 10.0) -> float:
    """Images/s of the data pipeline alone (read, sha1, JPEG decode, resize, crop, normalise) on
    one core: the work a DataLoader worker does for every image the model sees."""
    from auditkit.adapters import ModelOptions, load_model
    from auditkit.data import open_dataset
    from auditkit.data.source import ImageDataset

    adapter = load_model(spec, ModelOptions())
    source = open_dataset("imagenet-val", val.parent, {"imagenet-val": str(val)})
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dataset = ImageDataset(source.samples, adapter.preprocess.transform(), source.table)
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            dataset[done % len(dataset)]
            done += 1
        return done / (time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)


def audit(spec: str, val: Path, out: Path, cache: Path, suites: str, batch_size: int, *extra: str) -> dict:
    command = [sys.executable, "-m", "auditkit", "run", "--model", spec, "--suites", suites, *extra,
               "--data", f"imagenet-val={val}", "--data-root", str(out / "none"), "--out", str(out),
               "--cache", str(cache), "--no-progress", "--batch-size", str(batch_size)]
    started = time.perf_counter()
    child = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"})
    wall = time.perf_counter() - started
    if child.returncode not in (0, 2):
        raise SystemExit(child.stderr[-2000:])
    header = json.loads((out / "results.json").read_text())["header"]
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"wall": wall, "header": header, "max_rss_mb": usage.ru_maxrss / 1024}


def peak_rss(spec: str, val: Path, out: Path, cache: Path, batch_size: int) -> float:
    """Peak RSS (MB) of one fresh `audit run` process, measured by /usr/bin/time-like rusage."""
    code = (
        "import resource, subprocess, sys, os;"
        f"subprocess.run({[sys.executable, '-m', 'auditkit', 'run', '--model', spec, '--suites', 'calibration', '--data', f'imagenet-val={val}', '--data-root', str(out / 'none'), '--out', str(out), '--cache', str(cache), '--no-progress', '--workers', '0', '--batch-size', str(batch_size)]!r}, env={{**os.environ, 'HF_HUB_OFFLINE': '1'}}, capture_output=True);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)"
    )
    return float(subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True).stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--models", default="convnext_base,vit_base_patch16_224,efficientnet_lite0")
    parser.add_argument("--at", type=int, default=50_000, help="dataset size the 2nd ÷ 1st ratio is projected to")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads; {args.images} images, batch {args.batch_size}")
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        val = make_val(work / "val", args.images)
        joint_val = make_val(work / "val-joint", min(32, args.images))
        # a one-image released ImageNet-C folder, so robustness does not make 75 conditions from val
        make_val(work / "imagenet-c" / "gaussian_noise" / "1", 1)
        print("| model | raw img/s | decode img/s (1 core) | run img/s (engine) | engine ÷ raw | run img/s (process) "
              "| process ÷ raw | 2nd ÷ 1st (engine) | 2nd ÷ 1st (process) | forwards/image (cal+inx+rob) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        rates = {}
        for name in filter(None, args.models.split(",")):
            spec = model_spec(name, work)
            raw = raw_throughput(spec, args.batch_size)
            decode = decode_throughput(spec, val)
            first = audit(spec, val, work / f"{name}-1", work / f"{name}-cache", "calibration", args.batch_size)
            second = audit(spec, val, work / f"{name}-2", work / f"{name}-cache", "calibration", args.batch_size)
            engine = args.images / first["header"]["seconds"]
            process = args.images / first["wall"]
            joint = audit(spec, joint_val, work / f"{name}-3", work / f"{name}-cache-3",
                          "calibration,imagenet_x,robustness", args.batch_size,
                          "--data", f"imagenet-c={work / 'imagenet-c'}")
            rates[name] = (engine, process)
            forwards = joint["header"]["images_forwarded"].get("imagenet-val/none", 0) / min(32, args.images)
            print(f"| {name} | {raw:.1f} | {decode:.0f} | {engine:.1f} | {engine / raw:.2f} | {process:.1f} | {process / raw:.2f} | "
                  f"1/{first['header']['seconds'] / max(second['header']['seconds'], 1e-3):.0f} | "
                  f"1/{first['wall'] / second['wall']:.1f} | {forwards:g} |", flush=True)
        sizes = [args.images, 8 * args.images]
        cost = second_run_cost(work, sizes, args.batch_size)
        print("\nrepeated audit, predictions all in the store (a 1000-logit model with no compute):")
        for size, engine, wall in cost:
            print(f"- {size} images: {engine:.2f} s engine, {wall:.2f} s process")
        (n0, e0, w0), (n1, e1, w1) = cost
        per_image = [max((e1 - e0) / (n1 - n0), 0.0), max((w1 - w0) / (n1 - n0), 0.0)]  # noise can dip below 0
        fixed = [e0 - per_image[0] * n0, w0 - per_image[1] * n0]
        print(f"  fixed {fixed[0]:.2f} s engine / {fixed[1]:.2f} s process, then {1e3 * per_image[0]:.3f} / "
              f"{1e3 * per_image[1]:.3f} ms per image")
        for name, (engine, process) in rates.items():
            first = [args.at / engine, args.at / process]
            second = [fixed[i] + per_image[i] * args.at for i in range(2)]
            print(f"  {name} at {args.at} images: first run {first[0]:.0f} s at the measured rate, second "
                  f"{second[0]:.1f} s engine (1/{first[0] / second[0]:.0f}) / {second[1]:.1f} s process "
                  f"(1/{first[1] / second[1]:.0f})")
        name = "efficientnet_lite0"
        small = peak_rss(name, val, work / "rss-1", work / "rss-cache-1", args.batch_size)
        big_val = make_val(work / "val-4x", 4 * args.images)
        big = peak_rss(name, big_val, work / "rss-4", work / "rss-cache-4", args.batch_size)
        print(f"\npeak RSS of `audit run` ({name}, calibration): {args.images} images {small:.0f} MB, "
              f"{4 * args.images} images {big:.0f} MB")


if __name__ == "__main__":
    main()
