"""The prediction store: consolidation into one memory-mapped file, exact values, and
concurrent writers and readers that never corrupt an entry."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from auditkit.conditions import Plain
from auditkit.store import PredictionStore

PLAIN = Plain().store_key()


def entry(root: Path, n: int = 10, shard_size: int = 4):
    return PredictionStore(root).entry("model", "manifest", PLAIN, n, describe={}, shard_size=shard_size)


def rows(start: int, end: int) -> np.ndarray:
    return np.arange(start * 7, end * 7, dtype=np.float32).reshape(end - start, 7) / 3


def fill(root: str, order: list[int]) -> None:
    e = entry(Path(root))
    ranges = e.shard_ranges()
    for i in order:
        start, end = ranges[i]
        e.write_shard(start, end, rows(start, end), [f"{k:040x}" for k in range(start, end)])
    values, hashes = e.load()
    assert np.array_equal(np.asarray(values), rows(0, 10))


def test_consolidated_values_are_exact_memory_mapped_and_replace_the_shards(tmp_path):
    e = entry(tmp_path)
    assert e.missing() == [(0, 4), (4, 8), (8, 10)]
    for start, end in e.missing():
        e.write_shard(start, end, rows(start, end), [f"{k:040x}" for k in range(start, end)])
    values, hashes = e.load()
    assert isinstance(values, np.memmap) and not values.flags.writeable
    assert np.array_equal(np.asarray(values), rows(0, 10))
    assert list(hashes.astype(str)) == [f"{k:040x}" for k in range(10)]  # 40-byte strings on disk
    assert e.complete() and e.missing() == [] and not list(e.path.glob("shard-*"))
    assert not list(e.path.glob(".*tmp"))  # no temporary file left behind
    again = entry(tmp_path, shard_size=3)  # another shard size reads the same complete entry
    assert again.missing() == [] and np.array_equal(np.asarray(again.load()[0]), rows(0, 10))


def test_loading_an_incomplete_entry_is_an_error_not_a_short_array(tmp_path):
    e = entry(tmp_path)
    e.write_shard(0, 4, rows(0, 4), ["a" * 40] * 4)
    with pytest.raises(ValueError, match="missing"):
        e.load()


@pytest.mark.slow
def test_concurrent_writers_and_consolidators_agree(tmp_path):
    """Four processes write the same entry's shards in different orders and all consolidate."""
    orders = [[0, 1, 2], [2, 1, 0], [1, 0, 2], [2, 0, 1]]
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=fill, args=(str(tmp_path), order)) for order in orders]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    values, _ = entry(tmp_path).load()
    assert np.array_equal(np.asarray(values), rows(0, 10))


def test_facts_are_kept_per_key_and_replaced_whole(tmp_path):
    store = PredictionStore(tmp_path)
    model = {"facts": "model", "model_fingerprint": "abc", "input_size": 224}
    assert store.facts(model) is None
    store.keep_facts(model, {"parameters": 10, "macs": 20})
    assert store.facts(model) == {"parameters": 10, "macs": 20}
    # another input size (or another model) is another key: nothing read across
    assert store.facts({**model, "input_size": 288}) is None
    speed = {**model, "facts": "speed", "device": "cpu", "precision": "fp32", "batch_size": 8}
    store.keep_facts(speed, {"images_per_second": 12.5, "images": 16})
    store.keep_facts(speed, {"images_per_second": 13.0, "images": 24})
    assert store.facts(speed) == {"images_per_second": 13.0, "images": 24}
    assert store.facts({**speed, "precision": "bf16"}) is None
    assert store.facts(model) == {"parameters": 10, "macs": 20}


def test_an_entry_keeps_the_layout_of_its_layers(tmp_path):
    e = entry(tmp_path)
    assert e.layout() is None
    e.keep_layout([("stage1", 64), ("penultimate", 512)])
    assert entry(tmp_path).layout() == [("stage1", 64), ("penultimate", 512)]
