"""Fine-tuning speed: the finetune suite's training loop against a bare loop, in one run.

    python benchmarks/finetune_speed.py [--model efficientnet_lite0] [--size 96] [--images 256] [--epochs 3] [--workers N]

"suite" = ``auditkit.train.finetune``'s epochs (the images decoded and resized once, the recipe's
seeded augmentation per image from its own generator, a DataLoader with the default worker,
per-image dropout masks, the frozen warm-up's bookkeeping, gradient steps), timed over its
training passes only (validation and checkpoints timed apart); "bare" = the same network, batch,
optimiser and augmentation (drawn from torch's generator) on images decoded and resized
beforehand, in a plain ``for`` loop in the main process. One bare epoch runs after each suite
epoch, so a machine shared with other work slows both alike; one untimed bare step first warms
the kernels both use. Also: the seconds one checkpoint (``state.pt``, written whole and renamed)
takes, the ratio in CPU seconds per image too (on a machine shared with other work the wall
clock also counts waiting for a core), and the process's peak RSS after each suite epoch (it should stay flat: nothing
accumulates). Writes nothing outside a temporary folder; prints the load average and one Markdown
table row per model.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import auditkit.train.finetune as finetune  # noqa: E402
from auditkit.adapters.specs import load_model  # noqa: E402
from auditkit.conditions.finetune import Finetune  # noqa: E402
from auditkit.data.transfer import read_transfer  # noqa: E402
from auditkit.run.config import default_workers  # noqa: E402
from auditkit.train.augment import train_pipeline  # noqa: E402
from auditkit.train.recipes import ZHOU2021  # noqa: E402


def write_images(root: Path, count: int, size: int) -> Path:
    rng = np.random.default_rng(0)
    for split, n in (("train", count), ("val", 32), ("test", 32)):
        for k in range(n):
            folder = root / split / f"class{k % 4}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (size * 2, size * 2, 3), dtype=np.uint8)).save(folder / f"{k}.jpg")
    return root


def cpu_seconds() -> float:
    """CPU seconds of this process (all its threads) and of its reaped children (the loader's
    workers): on a machine shared with other work they count the work done, not the waiting."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="efficientnet_lite0")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=default_workers(), help="the suite's DataLoader workers")
    args = parser.parse_args()
    adapter = load_model(args.model)
    recipe = ZHOU2021.with_changes({"input_size": str(args.size), "warmup_steps": "0", "max_epochs": str(args.epochs),
                                    "early_stop_patience": "0", "seeds": "0"})
    workers = args.workers
    with tempfile.TemporaryDirectory() as tmp:
        source = read_transfer(write_images(Path(tmp) / "task", args.images, args.size), "transfer")
        condition = Finetune.of(recipe, 1.0, 0)
        splits = finetune.task_splits(source, recipe, 1.0, 0)
        job = finetune.TrainingJob(adapter, source, condition, Path(tmp) / "train", splits, workers=workers,
                                   progress=False)
        job.folder.mkdir()
        torch.manual_seed(0)
        network = finetune.build_network(adapter, splits.classes, recipe, args.size)
        loop = finetune.Loop(job, network)

        # the bare loop: the same images, decoded and resized beforehand, augmented per batch
        pipeline = train_pipeline(recipe, adapter.preprocess, args.size)
        decoded = []
        for i in splits.train:
            with Image.open(source.samples[i].path) as image:
                decoded.append(pipeline.fixed(image))
        labels = torch.tensor([int(source.labels[i]) for i in splits.train])
        torch.manual_seed(0)
        bare = finetune.build_network(adapter, splits.classes, recipe, args.size).train()
        optimizer = torch.optim.Adam(bare.parameters(), lr=recipe.lr, betas=recipe.betas, weight_decay=recipe.weight_decay)
        criterion = torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
        per_epoch = len(decoded) // recipe.batch_size

        def bare_steps(count: int) -> None:
            order = torch.randperm(len(decoded))
            for k in range(count):
                chosen = order[k * recipe.batch_size:(k + 1) * recipe.batch_size]
                images = torch.stack([pipeline.after_fixed(decoded[i], torch.default_generator) for i in chosen])
                loss = criterion(bare(images), labels[chosen])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

        bare_steps(1)  # warms the kernels both loops use
        timed = {"train": 0.0, "bare": 0.0, "train_cpu": 0.0, "bare_cpu": 0.0, "bare_steps": 0, "save": 0.0, "rss": []}
        train_epoch, save = loop._train_epoch, finetune._save

        def timed_epoch():
            started, cpu = time.perf_counter(), cpu_seconds()
            result = train_epoch()
            timed["train"] += time.perf_counter() - started
            timed["train_cpu"] += cpu_seconds() - cpu
            timed["rss"].append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
            started, cpu = time.perf_counter(), cpu_seconds()
            bare_steps(per_epoch)
            timed["bare"] += time.perf_counter() - started
            timed["bare_cpu"] += cpu_seconds() - cpu
            timed["bare_steps"] += per_epoch
            return result

        def timed_save(path, payload):
            started = time.perf_counter()
            save(path, payload)
            if path.name == finetune.STATE_FILE:
                timed["save"] += time.perf_counter() - started

        load_before = os.getloadavg()
        loop._train_epoch = timed_epoch
        finetune._save = timed_save
        loop.run()
        finetune._save = save
        suite_rate = loop.step * recipe.batch_size / timed["train"]
        bare_rate = timed["bare_steps"] * recipe.batch_size / timed["bare"]
        load_after = os.getloadavg()
        cpu_ratio = (timed["bare_cpu"] / timed["bare_steps"]) / (timed["train_cpu"] / loop.step)
    print(f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after, on {os.cpu_count()} cores; "
          f"job workers {workers} (on CPU with every image held decoded the loop loads them in-process)")
    rss = ", ".join(f"{r:.0f}" for r in timed["rss"])
    print("| model | size | suite img/s | bare img/s | **suite ÷ bare** | suite ÷ bare, CPU time | checkpoint s/epoch "
          "| peak RSS MB after each epoch |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {args.model} | {args.size} | {suite_rate:.1f} | {bare_rate:.1f} | **{suite_rate / bare_rate:.2f}** | "
          f"{cpu_ratio:.2f} | {timed['save'] / args.epochs:.2f} | {rss} |")


if __name__ == "__main__":
    main()
