"""A real schema-version-1 run (tests/data/v1_run, made with auditkit 662ce83) read by `audit
report`, `audit compare` and `audit export`: its records migrate to the version 2 meaning on read,
its per-sample files (version 1 names) still pair with a version 2 run, and a results file of a
later schema version is refused in one line."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from auditkit import conditions
from auditkit.cli import main
from auditkit.compare.runs import Run
from auditkit.data.cue_conflict import CATEGORIES
from auditkit.records import read_results
from tests.conftest import SHARED, require

V1_RUN = Path(__file__).resolve().parents[1] / "data" / "v1_run"
SUITES = ("calibration", "imagenet_x", "robustness", "invariance", "adversarial", "shape_bias", "pug")


@pytest.fixture
def v1_run(tmp_path: Path) -> Path:
    """A copy (report and export write beside results.json)."""
    return Path(shutil.copytree(V1_RUN, tmp_path / "v1"))


def test_the_fixture_is_a_version_1_run() -> None:
    payload = json.loads((V1_RUN / "results.json").read_text())
    assert payload["schema_version"] == 1 and not any("subset" in r for r in payload["records"])
    assert {r["suite"] for r in payload["records"]} == set(SUITES)
    assert sum(p.stat().st_size for p in V1_RUN.rglob("*") if p.is_file()) < 300_000


def test_records_migrate_to_the_version_2_meaning() -> None:
    results = read_results(V1_RUN)
    assert results.read_from_version == 1
    assert {r.suite for r in results.records} == set(SUITES)
    for record in results.records:
        # every migrated condition is an input transform (or a pattern of them) of the registry
        conditions.parse_pattern(record.condition) if record.aggregate else conditions.parse(record.condition)
    shape = [r for r in results.records if r.suite == "shape_bias"]
    assert {r.condition for r in shape} == {"native"}
    assert {r.subset for r in shape} == {"all", *CATEGORIES}  # the categories moved out of condition
    pooled = {r.metric: r.value for r in shape if r.subset == "all"}
    assert pooled["conflict_trials"] == 1200 and 0 <= pooled["shape_bias"] <= 1
    corrupted = [r for r in results.records if r.suite == "robustness" and r.dataset == "imagenet-c"]
    assert corrupted and all(r.condition.startswith("corrupt/") for r in corrupted)
    assert {r.condition for r in corrupted if not r.aggregate} >= {"corrupt/fog/3", "corrupt/brightness/1"}
    assert any(r.condition == "corrupt/*/*" and r.aggregate == "mean" and r.metric == "top1" for r in corrupted)
    factors = [r for r in results.records if r.suite == "imagenet_x" and r.subset != "all"]
    assert factors and {r.condition for r in factors} == {"none"}


def test_version_1_per_sample_files_are_found_under_their_version_2_keys() -> None:
    run = Run(V1_RUN, read_results(V1_RUN), "tiny")
    files = run.sample_files()
    assert ("shape_bias", "cue-conflict", "native") in files
    assert ("calibration", "imagenet-val", "none") in files
    assert ("invariance", "imagenet-val", "scale/1.5") in files
    keys = {(r.suite, r.dataset, r.condition) for r in run.records}
    for suite, dataset, condition in files:
        arrays = run.samples(suite, dataset, condition)
        assert len(arrays["sample_id"])
        if (suite, dataset, condition) in keys and suite in ("shape_bias", "calibration"):
            # the migrated records are what the suite computes from the version 1 arrays
            recorded = {(r.subset, r.metric): r.value for r in run.records
                        if (r.suite, r.dataset, r.condition) == (suite, dataset, condition)}
            from auditkit.compare.comparison import suite_for

            again = suite_for(suite).sample_metrics(dataset, condition, arrays)
            shared = [k for k in again if k in recorded]
            assert shared
            for key in shared:
                assert again[key] == pytest.approx(recorded[key], rel=1e-9, abs=1e-12), (suite, key)


def test_audit_report_reads_it(v1_run: Path) -> None:
    main(["report", str(v1_run)])
    html = (v1_run / "report.html").read_text()
    section = html.split('<section id="suite-shape_bias"', 1)[1].split("</section>", 1)[0]
    assert "<tr><td>native</td><td>airplane</td>" in section  # a category is a subset of native
    assert "corrupt/fog/3" in html


def test_audit_export_reads_it(v1_run: Path, tmp_path: Path) -> None:
    main(["export", str(v1_run), "--format", "csv,latex,modelcard", "--out", str(tmp_path / "export")])
    with (tmp_path / "export" / "records.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {"subset", "aggregate"} <= set(rows[0])
    assert any(r["suite"] == "shape_bias" and (r["condition"], r["subset"]) == ("native", "airplane") for r in rows)
    assert any((r["condition"], r["aggregate"]) == ("corrupt/*/*", "mean") for r in rows)
    assert "Subset" in (tmp_path / "export" / "conditions.tex").read_text()


@pytest.mark.slow
def test_audit_compare_pairs_it_with_a_version_2_run(v1_run: Path, tmp_path: Path, val_folder: Path,
                                                       tiny_model_file: Path) -> None:
    """The same tiny model and the same generated val images (tests/conftest.py, seed 0) as the
    fixture, run now: the version 1 and version 2 runs pair sample by sample."""
    cue_conflict = require(SHARED / "data" / "cue-conflict", "the cue-conflict stimuli")
    main(["run", "--model", f"python:{tiny_model_file}:make", "--suites", "calibration,shape_bias",
          "--data", f"imagenet-val={val_folder}", "--data", f"cue-conflict={cue_conflict}",
          "--out", str(tmp_path / "v2"), "--cache", str(tmp_path / "cache"), "--workers", "0", "--no-progress"])
    main(["compare", str(v1_run), str(tmp_path / "v2"), "--out", str(tmp_path / "cmp"), "--resamples", "100"])
    payload = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert payload["schema_version"] == 2
    tests = {(t["suite"], t["condition"], t["subset"], t["metric"]): t for t in payload["tests"]}
    assert ("calibration", "none", "all", "top1") in tests
    assert ("shape_bias", "native", "all", "shape_bias") in tests
    assert ("shape_bias", "native", "airplane", "shape_bias") in tests
    # the same model on the same images: every paired difference is nil
    assert all(t["difference"] == pytest.approx(0, abs=1e-12) for t in tests.values())
    assert tests[("calibration", "none", "all", "top1")]["n"] == 24


def test_a_later_schema_version_is_refused_in_one_line(v1_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = v1_run / "results.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": 3}))
    for command in (["report", str(v1_run)], ["export", str(v1_run), "--format", "csv", "--out", str(v1_run / "x")]):
        with pytest.raises(SystemExit) as exit_:
            main(command)
        assert exit_.value.code == 2
        error = capsys.readouterr().err.strip()
        assert "\n" not in error and "schema version 3" in error and "upgrade auditkit" in error
