"""``audit_into``: a Python caller gets the folder `audit run` writes (issue 22, item 3)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from auditkit.cli import main
from auditkit.run.config import RunConfig
from auditkit.run.folder import audit_into, audit_many, nothing_computed


def _files(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def test_audit_into_writes_the_folder_audit_run_writes(tiny_model_file, val_folder, tmp_path):
    no_data = tmp_path / "no-data"
    cli_out, python_out = tmp_path / "cli", tmp_path / "python"
    main(["run", "--model", f"python:{tiny_model_file}:make", "--suites", "calibration",
          "--data", f"imagenet-val={val_folder}", "--data-root", str(no_data), "--out", str(cli_out),
          "--cache", str(tmp_path / "cache-cli"), "--workers", "0", "--no-progress", "--batch-size", "5",
          "--shard-size", "8"])
    config = RunConfig(suites=("calibration",), out_dir=Path("ignored"), cache_dir=tmp_path / "cache-py",
                       data_root=no_data, data_overrides={"imagenet-val": str(val_folder)}, workers=0,
                       batch_size=5, shard_size=8, progress=False)
    results = audit_into(python_out, config, f"python:{tiny_model_file}:make")

    files = _files(cli_out)
    assert files == _files(python_out)
    for product in ("results.json", "report.html", "model_card.html"):
        assert Path(product) in files
    assert any(f.parts[0] == "figures" for f in files) and any(f.parts[0] == "per_sample" for f in files)
    cli, python = (json.loads((out / "results.json").read_text()) for out in (cli_out, python_out))
    for part in ("records", "skipped", "figures", "notices"):
        assert cli[part] == python[part], part
    assert python["records"] == results.to_json()["records"]  # what it returns is what it wrote
    assert python["header"]["images_forwarded"] == cli["header"]["images_forwarded"]  # each forwarded its own
    same = set(cli["header"]) - {"command", "seconds", "argv", "created", "model_facts"}
    assert {k: cli["header"][k] for k in same} == {k: python["header"][k] for k in same}
    for name in (f for f in files if f.suffix == ".npz"):
        with np.load(cli_out / name) as a, np.load(python_out / name) as b:
            assert sorted(a.files) == sorted(b.files)
            for key in a.files:
                assert np.array_equal(a[key], b[key]), (name, key)
    # nothing left beside the folder
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".python")) == []  # not even the lock file (issue 27, item 12)


def test_audit_many_gives_each_model_its_folder_and_the_comparison(tmp_path):
    from tests.compare.fixtures import DESIGN, make_val, model_file

    val = make_val(tmp_path / "val", DESIGN)
    specs = [f"python:{model_file(tmp_path, 0)}:make", "efficientnet_lit0", f"python:{model_file(tmp_path, 1)}:make"]
    config = RunConfig(suites=("calibration",), out_dir=Path("ignored"), cache_dir=tmp_path / "cache",
                       data_root=tmp_path / "none", data_overrides={"imagenet-val": str(val)}, workers=0,
                       batch_size=8, progress=False)
    started = []
    many = audit_many(tmp_path / "models", config, specs, starting=lambda run: started.append(run.spec))
    assert started == specs
    assert [r.spec for r in many.failed] == ["efficientnet_lit0"] and "did you mean" in str(many.failed[0].error)
    assert [(r.folder / "report.html").is_file() for r in many.runs] == [True, False, True]
    assert many.comparison == tmp_path / "models" / "compare" / "compare.html" and many.comparison.is_file()
    assert str(many.failure()) == (f"1 of 3 models failed (efficientnet_lit0); the others' runs are in "
                                   f"{tmp_path / 'models'}")


def test_a_run_that_computed_nothing_is_written_and_named(tiny_model_file, tmp_path):
    config = RunConfig(suites=("calibration",), out_dir=Path("ignored"), cache_dir=tmp_path / "cache",
                       data_root=tmp_path / "no-data", workers=0, progress=False)
    results = audit_into(tmp_path / "out", config, f"python:{tiny_model_file}:make")
    assert not results.records and (tmp_path / "out" / "report.html").is_file()
    assert "nothing could be computed (2 skipped, each in the report): imagenet-val (calibration): dataset imagenet-val not found" in str(nothing_computed(results))
