"""A run forwards exactly the images it owes (issue 22, 1): a cached rerun none, a resumed run the
lost shards' images, two torchrun processes N for N. Counted by the model itself: its forward
appends one line per call (process id, batch size) to a log, so a pass made only to measure the
model (as the facts once took: two zero-image batches per run) shows up as a call."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.engine.test_run import audit_args, header, run_cli

# The tiny test model, its forward counted; a process fails after the number of calls written in
# the ".stop" file beside the log (a run killed mid-way), the model and its fingerprint unchanged.
COUNTING_MODEL = '''
import os
from pathlib import Path

namespace = {{}}
exec(Path({tiny!r}).read_text(), namespace)
LOG = Path({log!r})
STOP = LOG.with_suffix(".stop")


def make():
    model = namespace["make"]()
    forward = model.forward
    calls = []

    def counted(images):
        if STOP.is_file() and len(calls) >= int(STOP.read_text()):
            raise RuntimeError("the run dies here (test)")
        calls.append(len(images))
        with open(LOG, "a") as stream:
            stream.write(f"{{os.getpid()}} {{len(images)}}\\n")
        return forward(images)

    model.forward = counted
    return model
'''


@pytest.fixture
def counting(tmp_path, tiny_model_file) -> tuple[Path, Path]:
    """(the counting model's file, its call log)."""
    log = tmp_path / "forward-calls.log"
    model = tmp_path / "counting_model.py"
    model.write_text(COUNTING_MODEL.format(tiny=str(tiny_model_file), log=str(log)))
    return model, log


def calls(log: Path) -> list[tuple[int, int]]:
    """(process id, images) of every forward call logged so far; the log is emptied."""
    if not log.is_file():
        return []
    logged = [tuple(int(v) for v in line.split()) for line in log.read_text().splitlines()]
    log.unlink()
    return logged  # type: ignore[return-value]


def test_a_second_identical_run_makes_no_forward_call(counting, val_folder, tmp_path, cache_dir):
    model, log = counting
    # 24 images, shards of 8, batches of 5: 5 + 3 per shard, and nothing else (no pass for the facts)
    run_cli(*audit_args(model, val_folder, tmp_path / "first", cache_dir))
    assert [n for _, n in calls(log)] == [5, 3] * 3
    first = header(tmp_path / "first")
    assert first["images_forwarded"] == {"imagenet-val/none": 24}

    run_cli(*audit_args(model, val_folder, tmp_path / "second", cache_dir))
    assert calls(log) == []
    second = header(tmp_path / "second")
    assert second["images_forwarded"] == {"imagenet-val/none": 0}
    assert second["model_facts"]["macs"] == first["model_facts"]["macs"] > 0
    assert second["model_facts"]["parameters"] == first["model_facts"]["parameters"] > 0


def test_a_resumed_run_forwards_exactly_the_lost_shards(counting, val_folder, tmp_path, cache_dir):
    model, log = counting
    log.with_suffix(".stop").write_text("4")  # shards 0 and 1 written (2 calls each), then the run dies
    with pytest.raises(RuntimeError, match="the run dies here"):
        run_cli(*audit_args(model, val_folder, tmp_path / "killed", cache_dir))
    assert [n for _, n in calls(log)] == [5, 3, 5, 3]
    log.with_suffix(".stop").unlink()

    run_cli(*audit_args(model, val_folder, tmp_path / "resumed", cache_dir))
    assert [n for _, n in calls(log)] == [5, 3]  # shard 2 alone: its 8 images
    resumed = header(tmp_path / "resumed")
    assert resumed["images_forwarded"] == {"imagenet-val/none": 8}
    run_cli(*audit_args(model, val_folder, tmp_path / "fresh", tmp_path / "fresh-cache"))
    calls(log)
    assert resumed["model_facts"]["macs"] == header(tmp_path / "fresh")["model_facts"]["macs"]


def test_facts_not_kept_cost_one_image_once(counting, val_folder, tmp_path, cache_dir):
    """A store written before facts were kept: the first cached run counts them on one zero image
    (the only pass a run may make for them), the next forwards nothing."""
    model, log = counting
    run_cli(*audit_args(model, val_folder, tmp_path / "first", cache_dir))
    calls(log)
    shutil.rmtree(cache_dir / "store" / "facts")
    run_cli(*audit_args(model, val_folder, tmp_path / "second", cache_dir))
    assert [n for _, n in calls(log)] == [1]
    run_cli(*audit_args(model, val_folder, tmp_path / "third", cache_dir))
    assert calls(log) == []
    counted_in_run = header(tmp_path / "first")["model_facts"]
    for later in ("second", "third"):
        facts = header(tmp_path / later)["model_facts"]
        assert {k: facts[k] for k in ("parameters", "macs", "macs_timm")} == {
            k: counted_in_run[k] for k in ("parameters", "macs", "macs_timm")}


@pytest.mark.subprocess
@pytest.mark.slow
def test_two_torchrun_processes_forward_each_image_once(counting, val_folder, tmp_path, cache_dir):
    from tests.engine.test_distributed import torchrun_audit

    model, log = counting
    out = tmp_path / "double"
    torchrun_audit(audit_args(model, val_folder, out, cache_dir))
    logged = calls(log)
    assert sum(n for _, n in logged) == 24 and sorted(n for _, n in logged) == sorted([5, 3] * 3)
    assert len({pid for pid, _ in logged}) == 2  # both ranks forwarded their shards
    facts = json.loads((out / "results.json").read_text())["header"]["model_facts"]
    assert facts["macs"] > 0 and facts["parameters"] > 0
