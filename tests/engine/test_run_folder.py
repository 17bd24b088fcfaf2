"""The --out folder: swapped in whole, refused when it holds another run, locked while written;
result files readable under the user's umask; --datasets restricts suites (issue 14, items 14-16)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

from auditkit.cli import main
from auditkit.data.source import DatasetSource, Sample
from auditkit.records import RunResults, write_json_atomic
from auditkit.run.folder import lock_path
from auditkit.run import RunConfig, build_plan
from auditkit.store import PredictionStore
from auditkit.subjects import Subject, Unavailable
from suites import get_suite
from tests.engine.test_run import audit_args

REPO = Path(__file__).resolve().parents[2]


def second_model(tiny_model_file: Path) -> Path:
    other = tiny_model_file.with_name("other_model.py")
    other.write_text(tiny_model_file.read_text().replace("manual_seed(0)", "manual_seed(1)"))
    return other


def test_reused_out_holds_only_the_new_runs_files(tiny_model_file, val_folder, tmp_path, cache_dir):
    out = tmp_path / "out"
    main(audit_args(tiny_model_file, val_folder, out, cache_dir))
    first = sorted(p.relative_to(out) for p in out.rglob("*"))
    # what another model's run (shape bias) would have left there before this fix
    (out / "figures" / "left_by_an_earlier_run.png").write_bytes(b"old")
    (out / "per_sample" / "shape_bias").mkdir(parents=True)
    (out / "decisions.csv").write_text("old")

    main(audit_args(tiny_model_file, val_folder, out, cache_dir))  # the same command: replaced
    assert not (out / "figures" / "left_by_an_earlier_run.png").exists()
    assert not (out / "decisions.csv").exists() and not (out / "per_sample" / "shape_bias").exists()
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == first
    # nothing left beside it, not even the lock file (issue 27, item 12)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []


def test_another_models_results_are_refused_unless_overwrite(tiny_model_file, val_folder, tmp_path, cache_dir, capsys):
    out = tmp_path / "out"
    main(audit_args(tiny_model_file, val_folder, out, cache_dir))
    before = (out / "results.json").read_text()
    other = second_model(tiny_model_file)
    with pytest.raises(SystemExit) as exit_:
        main(audit_args(other, val_folder, out, cache_dir))
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "holds results of another model" in error and "--overwrite" in error
    assert (out / "results.json").read_text() == before  # untouched

    main(audit_args(other, val_folder, out, cache_dir, "--overwrite"))
    assert json.loads((out / "results.json").read_text())["header"]["model"]["name"] != \
        json.loads(before)["header"]["model"]["name"]


def test_a_folder_of_other_files_is_never_replaced(tiny_model_file, val_folder, tmp_path, cache_dir, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(SystemExit):
        main(audit_args(tiny_model_file, val_folder, out, cache_dir, "--overwrite"))
    assert "not an audit run's folder" in capsys.readouterr().err
    assert (out / "thesis.tex").read_text() == "precious"


def test_a_failed_run_keeps_the_previous_results(tiny_model_file, val_folder, tmp_path, cache_dir):
    out = tmp_path / "out"
    main(audit_args(tiny_model_file, val_folder, out, cache_dir))
    before = (out / "results.json").read_text()
    with pytest.raises(SystemExit):  # a bad argument found after the folder was staged
        main(audit_args(tiny_model_file, val_folder, out, cache_dir, "--precision", "fp16"))
    assert (out / "results.json").read_text() == before
    assert not list(tmp_path.glob(".out.partial-*"))


def test_a_rerun_that_computes_nothing_keeps_the_previous_results(tiny_model_file, val_folder, tmp_path, cache_dir, capsys):
    """Issue 27, item 1: the dataset lost its files since the run; the rerun exits 2 in one line
    and leaves the complete previous folder (records, figures, per-sample files) byte for byte."""
    out, root = tmp_path / "out", tmp_path / "data"
    root.mkdir()
    val_folder.rename(root / "imagenet-val")
    args = ["run", "--model", f"python:{tiny_model_file}:make", "--suites", "calibration", "--data-root", str(root),
            "--out", str(out), "--cache", str(cache_dir), "--workers", "0", "--no-progress", "--batch-size", "5"]
    main(args)
    before = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert json.loads(before[Path("results.json")])["records"] and Path("report.html") in before
    assert any(p.parts[0] == "per_sample" for p in before) and any(p.parts[0] == "figures" for p in before)
    capsys.readouterr()

    shutil.rmtree(root / "imagenet-val")  # the dataset is gone: every suite is skipped
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    assert err.startswith("audit: error: nothing could be computed") and "\n" not in err, err
    assert f"{out} keeps its previous results, unchanged" in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".out")) == []


def test_a_run_that_computes_nothing_into_a_new_folder_lists_its_skips(tiny_model_file, tmp_path, cache_dir, capsys):
    """Into a new --out the folder is written all the same: its report says what to fix."""
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--model", f"python:{tiny_model_file}:make", "--suites", "calibration", "--data-root",
              str(tmp_path / "no-data"), "--out", str(out), "--cache", str(cache_dir), "--no-progress"])
    assert exit_.value.code == 2 and "nothing could be computed" in capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert results["records"] == [] and results["skipped"] and (out / "report.html").is_file()
    assert not list(tmp_path.glob(".out.partial-*"))


@pytest.mark.subprocess
def test_a_second_concurrent_run_gets_one_line(tiny_model_file, val_folder, tmp_path, cache_dir):
    out = tmp_path / "out"
    with FileLock(str(lock_path(out.absolute()))):  # a run in another process holds the folder
        command = [sys.executable, "-m", "auditkit", *audit_args(tiny_model_file, val_folder, out, cache_dir)]
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "another audit run is writing" in lines[0] and "--out" in lines[0], done.stderr
    assert not out.exists()


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_results_and_shards_follow_the_umask(tmp_path, umask):
    # tempfile.mkstemp made results.json / compare.json 0600: colleagues could not read them
    previous = os.umask(umask)
    try:
        path = write_json_atomic(tmp_path / "results.json", {"a": 1})
        RunResults(header={}).write(tmp_path / "run")
        entry = PredictionStore(tmp_path / "store").entry("f" * 16, "m" * 16, {"kind": "none"}, 2, describe={},
                                                         shard_size=2)
        entry.write_shard(0, 2, np.zeros((2, 3), np.float32), ["a", "b"])
        plain = tmp_path / "plain.txt"
        plain.write_text("x")
    finally:
        os.umask(previous)
    expected = 0o666 & ~umask
    assert stat.S_IMODE(plain.stat().st_mode) == expected
    for written in (path, tmp_path / "run" / "results.json", *entry.path.glob("shard-*")):
        assert stat.S_IMODE(written.stat().st_mode) == expected, written


def test_compare_json_follows_the_umask(tmp_path):
    from tests.compare.fixtures import make_runs

    root = make_runs(tmp_path, 2)
    previous = os.umask(0o022)
    try:
        main(["compare", str(root / "runs"), "--out", str(root / "cmp"), "--resamples", "100"])
    finally:
        os.umask(previous)
    for name in ("compare.json", "compare.html"):
        assert stat.S_IMODE((root / "cmp" / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE((root / "runs" / "m0" / "results.json").stat().st_mode) == 0o644


def test_datasets_restricts_suites_and_lists_the_rest_as_not_requested(tiny_model_file, val_folder, tmp_path, cache_dir):
    out = tmp_path / "out"
    args = audit_args(tiny_model_file, val_folder, out, cache_dir, "--datasets", "imagenet-val")
    main([*args[:4], "calibration,robustness", *args[5:]])
    results = json.loads((out / "results.json").read_text())
    conditions = results["header"]["conditions"]
    assert conditions == {"imagenet-val/none": conditions["imagenet-val/none"]}  # no ImageNet-C made from val
    skipped = {(s["suite"], s["dataset"]): s["reason"] for s in results["skipped"]}
    assert skipped[("calibration", "imagenet-r")] == "not requested (--datasets imagenet-val)"
    for dataset in ("imagenet-v2", "imagenet-a", "imagenet-c"):
        assert skipped[("robustness", dataset)] == "not requested (--datasets imagenet-val)"
    assert {r["dataset"] for r in results["records"]} <= {"imagenet-val", "imagenet-real"}
    assert "not requested" in (out / "report.html").read_text()


@pytest.mark.parametrize("given, expected", [
    ("imagenet-vall", "did you mean 'imagenet-val'"),
    ("cue-conflict", "no suite of this run reads it"),
    (",", "--datasets is empty"),
])
def test_datasets_names_are_checked(given, expected, tiny_model_file, val_folder, tmp_path, cache_dir, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(audit_args(tiny_model_file, val_folder, tmp_path / "out", cache_dir, "--datasets", given))
    assert exit_.value.code == 2
    assert expected in capsys.readouterr().err


def test_imagenet_c_made_from_val_is_announced_with_its_count(tmp_path):
    suite = get_suite("robustness")
    samples = tuple(Sample(tmp_path / f"{i}.JPEG", 0, f"ILSVRC2012_val_{i:08d}.JPEG") for i in range(8))
    sources = {"imagenet-val": DatasetSource("imagenet-val", tmp_path, samples)}
    config = RunConfig(suites=("robustness",), out_dir=tmp_path, cache_dir=tmp_path, data_root=tmp_path)
    plan = build_plan(_OnlyThese(sources), [suite], config)
    assert len(plan.notices) == 1
    message = plan.notices[0].message
    assert "75 conditions, 600 forward passes" in message  # 75 x 8 images
    assert "--datasets imagenet-val,imagenet-v2,imagenet-a,imagenet-r,imagenet-sketch,imagenet-hard" in message
    # the plan lists each of the 75 requests that make it, to forward
    lines = plan.lines()
    assert sum("(stands in for imagenet-c)" in line and line.endswith("forward  (stands in for imagenet-c)")
               for line in lines) == 75
    assert any(line.startswith("note: robustness: imagenet-c is not present") for line in lines)


class _OnlyThese(Subject):
    """A subject shown only the given datasets (nothing is answered: the plan alone is tested)."""

    name = "planned"
    fingerprint = "0" * 64

    def __init__(self, sources: dict[str, DatasetSource]) -> None:
        self.sources = sources

    def describe(self) -> dict:
        return {"name": self.name}

    def open_dataset(self, name, data_root, overrides) -> DatasetSource:  # type: ignore[no-untyped-def]
        from auditkit.errors import AuditError

        if name not in self.sources:
            raise AuditError(f"dataset {name} not found")
        return self.sources[name]

    def answer(self, request, source):  # type: ignore[no-untyped-def]
        return Unavailable("not asked")

    def stored(self, request, source) -> bool:  # type: ignore[no-untyped-def]
        return False
