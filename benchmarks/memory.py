"""Peak memory of scoring ImageNet-C against the number of images (the store's read side).

    python benchmarks/memory.py [--sizes 2000,8000,32000]

ImageNet-C is 75 conditions x 50,000 images per model: 15 GB of float32 logits. For each size N
this writes 75 store entries of N random 1000-class rows (as a run would), then, in a fresh
process, loads them through the store (consolidated, memory-mapped) and runs the robustness
suite's ImageNet-C scoring (top-1 per condition, CE, mCE), and reports that process's peak RSS.
Flat in N means the store streams; the target is under 4 GB at any N.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

SCORE = r"""
import json, resource, sys
from pathlib import Path
import numpy as np
from auditkit.conditions import parse
from auditkit.conditions.corruption import Corruption
from auditkit.data.corruptions import CORRUPTIONS, SEVERITIES
from auditkit.data.source import DatasetSource, Sample
from auditkit.store import PredictionStore
from auditkit.suite import PredictionRequest, Predictions
from suites.robustness.suite import RobustnessSuite

root, n = Path(sys.argv[1]), int(sys.argv[2])
source = DatasetSource("imagenet-val", root, tuple(Sample(root, i % 1000, f"{i:08d}", row=i, size=1) for i in range(n)))
store = PredictionStore(root / "store")
predictions = {}
for c in CORRUPTIONS:
    for s in SEVERITIES:
        condition = Corruption(c, s).format()
        values, hashes = store.entry("bench", "manifest", parse(condition).store_key(), n, describe={}).load()
        predictions[PredictionRequest("imagenet-val", condition)] = Predictions(source, condition, values, hashes)
output = RobustnessSuite().evaluate("bench", predictions, seed=0)
mce = [r.value for r in output.records if r.metric == "mean_corruption_error"][0]
print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "mCE": mce}))
"""


def write_entries(root: Path, n: int) -> None:
    from auditkit.conditions.corruption import Corruption
    from auditkit.data.corruptions import CORRUPTIONS, SEVERITIES
    from auditkit.store import SHARD_SIZE, PredictionStore

    store = PredictionStore(root / "store")
    rng = np.random.default_rng(0)
    for c in CORRUPTIONS:
        for s in SEVERITIES:
            entry = store.entry("bench", "manifest", Corruption(c, s).store_key(), n, describe={})
            for start, end in entry.missing():
                rows = rng.standard_normal((end - start, 1000), dtype=np.float32)
                entry.write_shard(start, end, rows, [f"{i:040x}" for i in range(start, end)])
            entry.load()  # consolidate, as the run that wrote them would


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,8000,32000")
    args = parser.parse_args()
    print("| images per condition | stored logits (75 conditions) | peak RSS of scoring |")
    print("|---|---|---|")
    for n in (int(x) for x in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(dir=Path.cwd()) as work:
            write_entries(Path(work), n)
            child = subprocess.run([sys.executable, "-c", SCORE, work, str(n)], capture_output=True, text=True, check=True)
            result = json.loads(child.stdout.strip().splitlines()[-1])
            print(f"| {n} | {75 * n * 4000 / 1e9:.1f} GB | {result['peak_rss_mb']:.0f} MB |", flush=True)


if __name__ == "__main__":
    main()
