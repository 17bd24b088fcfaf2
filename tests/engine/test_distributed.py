"""torchrun scale-out on CPU (gloo, 2 processes): every shard forwarded exactly once across the
ranks, one store, results written once by rank 0, records identical to a 1-process run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.engine.test_run import REPO, audit_args

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]


def test_two_gloo_ranks_equal_one_process(tiny_model_file, val_folder, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    single = tmp_path / "single"
    subprocess.run([sys.executable, "-m", "auditkit", *audit_args(tiny_model_file, val_folder, single,
                                                                  tmp_path / "cache-1")],
                   cwd=REPO, env=env, check=True, capture_output=True)
    double = tmp_path / "double"
    cache = tmp_path / "cache-2"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
         "-m", "auditkit", *audit_args(tiny_model_file, val_folder, double, cache)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]

    one = json.loads((single / "results.json").read_text())
    two = json.loads((double / "results.json").read_text())
    assert two["records"] == one["records"]
    assert two["header"]["world_size"] == 2 and one["header"]["world_size"] == 1
    # 24 images in shards of 8: all forwarded once in total, none read back as cached
    assert two["header"]["images_forwarded"] == {"imagenet-val/none": 24}
    (entry,) = [p.parent for p in cache.glob("store/*/*/values.npy")]
    assert np.load(entry / "values.npy").shape == (24, 1000)  # the ranks' shards, consolidated
    assert not list(entry.glob("shard-*"))
    assert (double / "report.html").is_file()
