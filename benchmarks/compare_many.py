"""Cost of `audit compare` for many models: wall time against the number of runs.

    python benchmarks/compare_many.py [--counts 10,55,200] [--with testbed]

Runs are results.json files written directly (compare reads only records and per-sample arrays,
so model forwards play no part): headline top-1 on val and V2, ECE and shape bias with CIs. The
time of `build_compare_page(compare(load_runs(...)))` is reported per count, and the share spent
in the field section (correlations with bootstrap and permutations, figures), each measured
in this one process so the ratios compare.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from auditkit.compare import compare, load_runs
from auditkit.compare import page as page_module
from auditkit.records import SCHEMA_VERSION

# schema v2: the input each suite's headline rests on (shape bias: the stimuli at their size)
CONDITIONS = {"shape_bias": "native"}

def write_runs(root: Path, count: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(count):
        val = rng.uniform(0.6, 0.85)
        values = {("robustness", "imagenet-val", "top1"): val,
                  ("robustness", "imagenet-v2", "top1"): val - 0.12 + rng.normal(0, 0.01),
                  ("calibration", "imagenet-val", "ece"): 0.2 - 0.2 * val + rng.normal(0, 0.01),
                  ("shape_bias", "cue-conflict", "shape_bias"): rng.uniform(0.2, 0.6)}
        folder = root / f"r{i:04d}"
        folder.mkdir(parents=True)
        records = [{"model": f"m{i}", "suite": s, "dataset": d, "condition": CONDITIONS.get(s, "none"),
                    "subset": "all", "metric": m, "value": v,
                    "ci_low": v - 0.01, "ci_high": v + 0.01, "n": 1000, "suite_version": "x"}
                   for (s, d, m), v in values.items()]
        payload = {"schema_version": SCHEMA_VERSION, "header": {"model": {"name": f"m{i}"}}, "records": records,
                   "skipped": [], "figures": [], "notices": []}
        (folder / "results.json").write_text(json.dumps(payload))
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="10,55,200")
    parser.add_argument("--with", dest="collections", default="")
    args = parser.parse_args()
    collections = tuple(c for c in args.collections.split(",") if c)
    print("| runs | published rows | compare + page (s) | field section (s) | field share |")
    print("|---|---|---|---|---|")
    for count in map(int, args.counts.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            root = write_runs(Path(folder) / "runs", count)
            timed = {"field": 0.0}
            original = page_module.field_view

            def field_view(*a, **k):  # type: ignore[no-untyped-def]
                started = time.perf_counter()
                try:
                    return original(*a, **k)
                finally:
                    timed["field"] += time.perf_counter() - started

            page_module.field_view = field_view
            started = time.perf_counter()
            comparison = compare(load_runs([str(root)], collections))
            page_module.build_compare_page(comparison, Path(folder) / "out")
            total = time.perf_counter() - started
            page_module.field_view = original
            published = sum(run.reference for run in comparison.runs)
            print(f"| {count} | {published} | {total:.1f} | {timed['field']:.1f} | {timed['field'] / total:.2f} |")


if __name__ == "__main__":
    main()
