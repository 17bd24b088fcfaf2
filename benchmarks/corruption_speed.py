"""ImageNet-C generation speed — ratios from one run.

    python benchmarks/corruption_speed.py [--batch 64] [--seconds 20] [--e2e-images 32]

1. Per corruption (severity 3; spatter 5): images/s of auditkit's batched corruptions (one call
   per batch of ``--batch`` 224 x 224 crops, torch on CPU) against ``corrupt-tta`` and
   ``imagecorruptions`` (one image per call, as they work), on the same cue-conflict stimuli
   (scikit-image photos if ../shared is absent). The per-image libraries run for at most
   ``--seconds`` per corruption (at least 2 images). Needs ``pip install corrupt-tta`` and the
   test oracles (imagecorruptions, see tests/data/imagenet_c_oracles.py); a missing library is
   shown as "-".
2. End to end: images/s of ``audit run --suites robustness`` for EfficientNet-Lite0 making
   ImageNet-C from a val folder of ``--e2e-images`` images (75 conditions; forwards / engine
   seconds) ÷ images/s of raw ``model(x)`` at the same batch size.
Prints markdown tables; results kept in benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]

from auditkit.data.corruptions import CORRUPTIONS, HOLD_OUT  # noqa: E402
from auditkit.data.imagenet_c import corrupt_batch  # noqa: E402


def crops(count: int) -> np.ndarray:
    folder = REPO.parent / "shared" / "data" / "cue-conflict"
    if folder.is_dir():
        files = sorted(folder.glob("*/*.png"))[:count]
        return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    import skimage.data
    from torchvision import transforms as T

    crop = T.Compose([T.Resize(256), T.CenterCrop(224)])
    photos = [Image.fromarray(getattr(skimage.data, n)()).convert("RGB")
              for n in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field")]
    return np.stack([np.asarray(crop(photos[i % len(photos)])) for i in range(count)])


def per_image_rate(function, images: np.ndarray, seconds: float) -> float:
    function(images[0])  # warm-up (imports, texture loading)
    done, started = 0, time.perf_counter()
    while done < len(images) and (done < 2 or time.perf_counter() - started < seconds):
        np.random.seed(done)
        function(images[done])
        done += 1
    return done / (time.perf_counter() - started)


def libraries() -> dict[str, object]:
    found: dict[str, object] = {}
    try:
        import corrupt_tta

        found["corrupt-tta"] = lambda name, s: (lambda x: corrupt_tta.corrupt(x, severity=s, corruption_name=name))
    except ImportError:
        pass
    try:
        from tests.data.imagenet_c_oracles import imagecorruptions

        module = imagecorruptions()
        found["imagecorruptions"] = lambda name, s: (lambda x: getattr(module, name)(Image.fromarray(x), s))
    except ImportError:
        pass
    return found


def speed_table(batch: int, seconds: float) -> None:
    images = crops(batch)
    others = libraries()
    names = list(others)
    print(f"| corruption | auditkit img/s (batch {batch}) | " + " | ".join(f"{n} img/s | auditkit ÷ {n}" for n in names) + " |")
    print("|---|---|" + "---|---|" * len(names))
    for corruption in CORRUPTIONS + HOLD_OUT:
        severity = 5 if corruption == "spatter" else 3
        corrupt_batch(images[:2], corruption, severity, [0, 1])  # warm-up
        started = time.perf_counter()
        corrupt_batch(images, corruption, severity, list(range(len(images))))
        ours = len(images) / (time.perf_counter() - started)
        cells = []
        for name in names:
            try:
                rate = per_image_rate(others[name](corruption, severity), images, seconds)
                cells += [f"{rate:.1f}", f"{ours / rate:.1f}"]
            except Exception as error:  # a library without this corruption, or broken on numpy 2
                cells += [f"- ({type(error).__name__})", "-"]
        print(f"| {corruption} | {ours:.1f} | " + " | ".join(cells) + " |", flush=True)


def end_to_end(count: int, batch: int) -> None:
    from throughput import audit, make_val, raw_throughput

    batch = min(batch, count)  # one batch size for both sides of the ratio
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        val = make_val(work / "val", count)
        # raw model(x) before and after the run, averaged: on a shared machine the load moves
        raw_before = raw_throughput("efficientnet_lite0", batch)
        run = audit("efficientnet_lite0", val, work / "out", work / "cache", "robustness", batch,
                    "--datasets", "imagenet-c")
        raw_after = raw_throughput("efficientnet_lite0", batch)
        raw = (raw_before + raw_after) / 2
        forwarded = {k: v for k, v in run["header"]["images_forwarded"].items() if "/corrupt/" in k}
        seconds = run["header"]["seconds"]
        rate = sum(forwarded.values()) / seconds
        print(f"\n| model | batch | raw model(x) img/s | ImageNet-C made on the fly img/s (engine) | ratio | conditions | images |")
        print("|---|---|---|---|---|---|---|")
        print(f"| efficientnet_lite0 | {batch} | {raw:.1f} | {rate:.1f} | {rate / raw:.2f} | {len(forwarded)} | {count} |")
        print(f"(raw before / after the run: {raw_before:.1f} / {raw_after:.1f} img/s; "
              f"implementation: {run['header'].get('imagenet_c')})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--e2e-images", type=int, default=32)
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--skip-table", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load:.1f}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads")
    if not args.skip_table:
        speed_table(args.batch, args.seconds)
    if not args.skip_e2e:
        end_to_end(args.e2e_images, args.batch)


if __name__ == "__main__":
    main()
