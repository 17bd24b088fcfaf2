"""Schema v2 over every suite, on one run of a tiny model on fixtures of every dataset kind.

- every record's ``condition`` parses back through the conditions registry (a pattern with
  ``*`` exactly when the record aggregates over conditions);
- each metric is defined once: for every per-sample file the run wrote, the suite's
  ``sample_metrics`` of those arrays equals the records at that (suite, dataset, condition),
  and every file reproduces at least one record (no orphan files) — except CKA's, whose
  records are not means over images: its file holds the pooled features compare draws the
  model x model CKA from, and its ``sample_metrics`` is empty by design (recomputing CKA per
  bootstrap resample of a paired test would cost a full CKA each).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from auditkit import conditions
from auditkit.cli import main
from auditkit.records import SCHEMA_VERSION, read_results, sample_path_key
from suites import SUITES, get_suite
from tests.conftest import SHARED, TINY_MODEL, VAL_CLASSES, require, standard_val_names, write_image
from tests.suites.test_dense_layouts import write_voc2012
from tests.suites.test_human_ood import _human_names
from tests.suites.test_pug import make_release

pytestmark = pytest.mark.slow  # one run of every suite: 40 s on 2 cores


NOT_MEANS = {"cka"}  # records that are no mean over images: their per-sample file reproduces none


@pytest.fixture(scope="module")
def every_suite(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("schema")
    rng = np.random.default_rng(0)
    for wnid, index in VAL_CLASSES.items():
        for name in standard_val_names(index, 6):
            write_image(root / "val" / wnid / name, rng)
    for name, _ in _human_names("colour", 4):  # model-vs-human's colour stimuli, as released
        write_image(root / "data" / "model-vs-human" / "colour" / "dnn" / "session-1" / name, rng, (36, 36))
    pug = make_release(root / "pug")
    voc = write_voc2012(root / "voc", {split: [(rng.integers(0, 255, (16, 20, 3), dtype=np.uint8),
                                                rng.integers(0, 3, (16, 20), dtype=np.uint8)) for _ in range(3)]
                                       for split in ("train", "val")})
    (root / "tiny.py").write_text(TINY_MODEL)
    stimuli = require(SHARED / "data" / "cue-conflict", "cue-conflict stimuli")
    out = root / "run"
    main(["run", "--model", f"python:{root / 'tiny.py'}:make", "--suites", ",".join(SUITES.names()),
          "--reference-model", f"python:{root / 'tiny.py'}:make",
          "--data-root", str(root / "data"), "--data", f"imagenet-val={root / 'val'}", "--data", f"pug-imagenet={pug}",
          "--data", f"cue-conflict={stimuli}", "--data", f"voc2012={voc}", "--out", str(out), "--cache", str(root / "cache"),
          "--no-progress", "--workers", "0", "--batch-size", "256",
          "--option", "dense.resolution=32", "--option", "dense.iterations=5",
          # ood: OpenOOD's sets are absent here; ID fit / scored sets and an OOD set from the fixtures
          "--option", "ood.id_val=imagenet-val", "--option", "ood.id_test=pug-imagenet", "--option", "ood.near=",
          "--option", "ood.far=cue-conflict", "--option", "ood.knn_k=5",
          # finetune: one short repeat at the tiny model's own size (the recipe's own budget is hours)
          "--option", "finetune.input_size=0", "--option", "finetune.max_epochs=1", "--option",
          "finetune.warmup_steps=0", "--option", "finetune.seeds=0",
          # small_data: likewise, one seed, one epoch, a batch the digits hold
          "--option", "small_data.input_size=0", "--option", "small_data.max_epochs=1", "--option",
          "small_data.warmup_epochs=0", "--option", "small_data.seeds=0", "--option", "small_data.batch_size=64"])
    return out


def test_the_run_is_schema_2_and_every_suite_recorded(every_suite):
    payload = json.loads((every_suite / "results.json").read_text())
    assert payload["schema_version"] == SCHEMA_VERSION == 2
    recorded = {r["suite"] for r in payload["records"]}
    assert recorded == set(SUITES.names()), f"no records from {set(SUITES.names()) - recorded}"


def test_every_record_condition_parses_through_the_registry(every_suite):
    for record in read_results(every_suite).records:
        if record.aggregate:
            pattern = conditions.parse_pattern(record.condition)
            assert pattern is not None, record
        else:
            assert conditions.parse(record.condition).format() == record.condition, record


def test_sample_metrics_of_each_file_equal_the_records(every_suite):
    results = read_results(every_suite)
    by_key = {r.key: r for r in results.records}
    files = sorted((every_suite / "per_sample").rglob("*.npz"))
    assert files
    suites_with_files = set()
    for path in files:
        key = sample_path_key(path.relative_to(every_suite).as_posix())
        assert key is not None, path
        suite_name, dataset, condition = key
        suites_with_files.add(suite_name)
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        assert {"sample_id", "content_sha1"} <= set(arrays), path
        metrics = get_suite(suite_name).sample_metrics(dataset, condition, arrays)
        if suite_name in NOT_MEANS:
            assert metrics == {}, path
            continue
        matched = 0
        for (subset, metric), value in metrics.items():
            record = by_key.get((suite_name, dataset, condition, subset, metric))
            if record is None:
                continue
            matched += 1
            expected = np.nan if record.value is None else record.value
            assert value == pytest.approx(expected, rel=1e-9, abs=1e-12, nan_ok=True), (key, subset, metric)
        assert matched, f"{path}: sample_metrics gave {sorted(metrics)[:5]}, none of them a record"
    assert suites_with_files >= set(SUITES.names()) - {"cka"}  # CKA compares two models: no per-sample rows
