"""torchrun scale-out on CPU (gloo, 2 processes): every shard forwarded exactly once across the
ranks, one store, results written once by rank 0, records identical to a 1-process run; and
every rank leaves the process group once its last collective is done (issue 22, item 7: a rank
exiting with the group alive aborted under load)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch.distributed as dist

from auditkit.distributed import ranks_from_environment

from tests.engine.test_run import REPO, audit_args

pytestmark = [pytest.mark.subprocess, pytest.mark.slow]


def launch_env() -> dict[str, str]:
    """The environment of a launched run: offline, one thread per rank, no outer torchrun."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    return env


def torchrun_audit(args: list[str]) -> None:
    """``audit ARGS`` as 2 gloo ranks under torchrun (one node); fails with its stderr's end."""
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes", "1", "--nproc_per_node", "2",
         "-m", "auditkit", *args],
        cwd=REPO, env=launch_env(), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_two_gloo_ranks_equal_one_process(tiny_model_file, val_folder, tmp_path):
    single = tmp_path / "single"
    subprocess.run([sys.executable, "-m", "auditkit", *audit_args(tiny_model_file, val_folder, single,
                                                                  tmp_path / "cache-1")],
                   cwd=REPO, env=launch_env(), check=True, capture_output=True)
    double = tmp_path / "double"
    cache = tmp_path / "cache-2"
    torchrun_audit(audit_args(tiny_model_file, val_folder, double, cache))

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


# One rank of a 2-process gloo group made from the environment, as torchrun describes it (no
# torchrun here: the test reads the rank's own state after run_audit returns).
RANK_PROGRAM = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import torch.distributed as dist

    from auditkit.adapters.specs import load_model
    from auditkit.run.audit import run_audit
    from auditkit.run.config import RunConfig

    model_file, val, root, rank = sys.argv[1], sys.argv[2], Path(sys.argv[3]), sys.argv[4]
    config = RunConfig(suites=("calibration",), out_dir=root / f"out-{rank}", cache_dir=root / "cache",
                       data_root=root / "no-data", data_overrides={"imagenet-val": val}, workers=0,
                       progress=False, batch_size=5, shard_size=8)
    results = run_audit(load_model(f"python:{model_file}:make"), config)
    print(json.dumps({"group_alive": dist.is_initialized(), "records": len(results.records)}))
    """
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_every_rank_leaves_the_process_group_when_its_collectives_end(tiny_model_file, val_folder, tmp_path):
    """The follower returns from run_audit while rank 0 still evaluates; both must have destroyed
    the group by then. Left to interpreter exit, gloo's threads died with the interpreter and,
    under load, the follower aborted (SIGABRT) and torchrun killed rank 0."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "WORLD_SIZE": "2",
           "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port())}
    ranks = [subprocess.Popen([sys.executable, "-c", RANK_PROGRAM, str(tiny_model_file), str(val_folder),
                               str(tmp_path), str(rank)],
                              cwd=REPO, env={**env, "RANK": str(rank), "LOCAL_RANK": str(rank)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in (0, 1)]
    outputs = [rank.communicate(timeout=300) for rank in ranks]
    for rank, (stdout, stderr) in zip(ranks, outputs):
        assert rank.returncode == 0, stderr[-2000:]
    leader, follower = (json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs)
    assert leader == {"group_alive": False, "records": leader["records"]} and leader["records"] > 0
    assert follower == {"group_alive": False, "records": 0}


def test_a_group_the_caller_made_is_the_callers_to_destroy(tmp_path, monkeypatch):
    """A Python caller that set up torch.distributed itself keeps its group after a run."""
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        monkeypatch.setenv("WORLD_SIZE", "2")  # what makes a run look for a group at all
        ranks = ranks_from_environment("cpu")
        assert not ranks.joined
        ranks.leave()
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()
