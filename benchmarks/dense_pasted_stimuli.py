"""A real-image segmentation task built offline for the dense suite, in Pascal VOC 2012's layout.

    python benchmarks/dense_pasted_stimuli.py CUE_CONFLICT_DIR OUT_DIR [--train 160] [--val 48]
    audit run --model efficientnet_lite0 --suites dense --data voc2012=OUT_DIR/VOCdevkit/VOC2012 \
        --option dense.resolution=224 --option dense.iterations=300

Each image is a cue-conflict stimulus (Geirhos et al. 2019) resized to 224 x 224 with a second
stimulus, resized to 112 x 112, pasted at a seeded random place; its label map is the pasted
stimulus' shape category (1 .. 16, in sorted folder order) inside the pasted square and 0
(background) elsewhere, written as a palette PNG. The VOC reader then names the classes by VOC's
names (background, aeroplane, ...): read class k as the k-th cue-conflict category. Seeded: the
same folders give the same task.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

SIDE, PASTED = 224, 112


def scenes(stimuli: Path, count: int, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    categories = sorted(p.name for p in stimuli.iterdir() if p.is_dir())
    files = [(k, f) for k, c in enumerate(categories) for f in sorted((stimuli / c).glob("*.png"))]
    made = []
    for _ in range(count):
        _, back = files[rng.integers(len(files))]
        shape, front = files[rng.integers(len(files))]
        with Image.open(back) as b, Image.open(front) as f:
            image = np.asarray(b.convert("RGB").resize((SIDE, SIDE))).copy()
            patch = np.asarray(f.convert("RGB").resize((PASTED, PASTED)))
        y, x = rng.integers(0, SIDE - PASTED, 2)
        image[y:y + PASTED, x:x + PASTED] = patch
        label = np.zeros((SIDE, SIDE), np.uint8)
        label[y:y + PASTED, x:x + PASTED] = shape + 1
        made.append((image, label))
    return made


def write_voc_layout(root: Path, splits: dict[str, list[tuple[np.ndarray, np.ndarray]]]) -> None:
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    palette = [v for k in range(256) for v in ((k * 37) % 256, (k * 91) % 256, (k * 53) % 256)]
    for split, items in splits.items():
        ids = []
        for k, (image, label) in enumerate(items):
            image_id = f"pasted_{split}{k:05d}"
            Image.fromarray(image).save(root / "JPEGImages" / f"{image_id}.jpg", quality=95)
            labels = Image.fromarray(label, mode="P")
            labels.putpalette(palette)
            labels.save(root / "SegmentationClass" / f"{image_id}.png")
            ids.append(image_id)
        (root / "ImageSets" / "Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stimuli", type=Path, help="the cue-conflict folder (16 category folders of PNGs)")
    parser.add_argument("out", type=Path)
    parser.add_argument("--train", type=int, default=160)
    parser.add_argument("--val", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    splits = {"train": scenes(args.stimuli, args.train, rng), "val": scenes(args.stimuli, args.val, rng)}
    write_voc_layout(args.out / "VOCdevkit" / "VOC2012", splits)
    print(f"wrote {args.train} train / {args.val} val images under {args.out / 'VOCdevkit' / 'VOC2012'}")


if __name__ == "__main__":
    main()
