"""Peak memory of caching dense features against the number of images (the store's write side).

    python benchmarks/dense_memory.py [--sizes 64,256,1024] [--shard-size 32]

For each N, a fresh process forwards N small images through a model whose dense features are
256 x 32 x 32 maps (cached as float16: 0.5 MB per image; a ViT-B/14's map at 448 px is 1.5 MB),
writes them to a store entry shard by shard, consolidates the entry, then reads every row back
once through ``FeatureRows`` as the heads do (a batch at a time), and reports its peak RSS and,
at the end, its anonymous and file-backed resident memory. The features stream when peak RSS is
flat in N: one shard of rows (``--shard-size`` x the row size) plus the process, never N rows.
Measured (2 shared cores, shard 32, 0.5 MB rows), peak RSS: N = 64: 792 MB, 256: 796 MB,
1,024: 796 MB, 4,096: 812 MB (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r'''
import json, resource, sys
from pathlib import Path
import numpy as np, torch
from PIL import Image
from torch import nn
from auditkit.adapters.base import ClassifierAdapter
from auditkit.adapters.preprocess import PreprocessConfig
from auditkit.conditions import Squash
from auditkit.data.source import DatasetSource, Sample
from auditkit.run.config import RunConfig
from auditkit.run.executor import ForwardLog, ForwardPasses
from auditkit.store import PredictionStore
from suites.dense.heads import FeatureRows

class BigMaps(nn.Module):
    def forward(self, x):
        return torch.zeros(len(x), 1000)
    def dense_features(self, x):
        return x.mean(1, keepdim=True).expand(-1, 256, -1, -1).contiguous()  # 256 x 32 x 32 from 32 px

root, n, shard = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
image = root / "image.png"
if not image.is_file():
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(image)
samples = tuple(Sample(path=image, label=-1, sample_id=f"{k:06d}") for k in range(n))
source = DatasetSource(f"memory-{n}", root, samples)
preprocess = PreprocessConfig(name="custom", input_size=32, interpolation="bilinear")
config = RunConfig(suites=(), out_dir=root / "out", cache_dir=root / "cache", data_root=root, workers=0,
                   progress=False, batch_size=16, shard_size=shard)
passes = ForwardPasses(ClassifierAdapter(BigMaps(), "big", preprocess), PredictionStore(root / "cache" / "store"),
                       config, ForwardLog())
dense = passes.predict(source, Squash(32), "dense_features").dense
after_forward = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
total = 0.0
maps = FeatureRows(dense)  # as the heads read them
for start in range(0, n, 8):
    total += float(maps(np.arange(start, min(start + 8, n))).sum())
status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
print(json.dumps({"images": n, "row_mb": dense.values.shape[1] * dense.values.itemsize / 2**20, "peak_rss_forward_mb": after_forward,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "anonymous_rss_end_mb": int(status["RssAnon"].split()[0]) / 1024,
                  "file_rss_end_mb": int(status["RssFile"].split()[0]) / 1024}))
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="64,256,1024")
    parser.add_argument("--shard-size", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for n in (int(s) for s in args.sizes.split(",")):
            out = subprocess.run([sys.executable, "-c", CHILD, folder, str(n), str(args.shard_size)],
                                 capture_output=True, text=True, check=True)
            print(json.loads(out.stdout.strip().splitlines()[-1]))


if __name__ == "__main__":
    main()
