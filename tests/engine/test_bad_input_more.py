"""Bad input on the newer surfaces (issue 27, items 6-12): the console says why, a dry run exits
as the run would, several models and comparisons keep to their folders, decisions CSVs,
`audit fetch`, and the smaller ones. Each through the CLI (or the function it calls)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from auditkit.cli import main
from tests.compare.fixtures import DESIGN, make_val, model_file, run_model
from tests.engine.test_bad_input import one_error_line
from tests.engine.test_run import audit_args


def exit_code(args: list[str]) -> int:
    try:
        main(args)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def snapshot(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- item 6: the console names the skip of the dataset the user gave ------------------------------

def robustness_on(folder: Path, tiny_model_file: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["run", "--model", f"python:{tiny_model_file}:make", "--suites", "robustness",
            "--data", f"imagenet-r={folder}", "--data-root", str(tmp_path / "no-data"), "--out", str(tmp_path / "out"),
            "--cache", str(tmp_path / "cache"), "--workers", "0", "--no-progress", *extra]


def test_nothing_computed_leads_with_the_named_datasets_skip(tiny_model_file, tmp_path, capsys):
    """imagenet-val (missing, not named) is the run's first skip; the line leads with imagenet-r,
    the dataset given with --data, and its real reason."""
    given = tmp_path / "r"
    (given / "n01440764").mkdir(parents=True)
    (given / "n01440764" / "a.txt").write_text("not an image")
    (given / "cats").mkdir()
    err = one_error_line(capsys, robustness_on(given, tiny_model_file, tmp_path))
    lead = err.split("each in the report): ", 1)[1]
    assert lead.startswith("imagenet-r (robustness): imagenet-r:"), err
    assert "is not one of the dataset's classes" in lead and "imagenet-val" not in lead.split("; also")[0]


# --- item 7: a dry run exits as the run would ------------------------------------------------------

def test_dry_run_refuses_what_the_run_refuses(tiny_model_file, val_folder, tmp_path, cache_dir, capsys):
    nothing = ["run", "--model", f"python:{tiny_model_file}:make", "--suites", "calibration", "--data-root",
               str(tmp_path / "no-data"), "--out", str(tmp_path / "none"), "--cache", str(cache_dir), "--dry-run"]
    assert exit_code(nothing) == 2
    captured = capsys.readouterr()
    assert "skipped imagenet-val: dataset imagenet-val not found" in captured.out  # the plan is printed first
    assert captured.err.startswith("audit: error: nothing could be computed") and not (tmp_path / "none").exists()

    out = tmp_path / "out"
    main(audit_args(tiny_model_file, val_folder, out, cache_dir))
    capsys.readouterr()
    assert exit_code([*audit_args(tiny_model_file, val_folder, out, cache_dir), "--dry-run"]) == 0  # its own run
    other = tiny_model_file.with_name("other_model.py")
    other.write_text(tiny_model_file.read_text().replace("manual_seed(0)", "manual_seed(1)"))
    capsys.readouterr()
    assert exit_code([*audit_args(other, val_folder, out, cache_dir), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds results of another model" in err and "--overwrite" in err
    assert exit_code([*audit_args(other, val_folder, out, cache_dir), "--dry-run", "--overwrite"]) == 0


# --- item 10: several models ---------------------------------------------------------------------

def several(specs: list[str], val: Path, out: Path, tmp_path: Path) -> list[str]:
    return ["run", *[a for spec in specs for a in ("--model", spec)], "--suites", "calibration",
            "--data", f"imagenet-val={val}", "--data-root", str(tmp_path / "none"), "--out", str(out),
            "--cache", str(tmp_path / "cache"), "--workers", "0", "--no-progress", "--batch-size", "8"]


def test_the_same_model_twice_is_refused(tmp_path, capsys):
    spec = f"python:{model_file(tmp_path, 0)}:make"
    err = one_error_line(capsys, several([spec, spec], tmp_path / "val", tmp_path / "models", tmp_path))
    assert f"--model {spec} is given twice" in err and not (tmp_path / "models").exists()


def test_several_models_are_refused_into_one_runs_folder(tmp_path, capsys):
    val = make_val(tmp_path / "val", DESIGN)
    single = run_model(tmp_path, 0, val, tmp_path / "single")
    before = snapshot(single)
    capsys.readouterr()
    specs = [f"python:{model_file(tmp_path, k)}:make" for k in (0, 1)]
    for extra in ([], ["--overwrite"], ["--dry-run"]):
        err = one_error_line(capsys, [*several(specs, val, single, tmp_path), *extra])
        assert "holds the results of one run" in err and "give another --out" in err
    assert snapshot(single) == before


def test_a_changed_model_list_leaves_no_stale_comparison(tmp_path, capsys):
    val = make_val(tmp_path / "val", DESIGN)
    out = tmp_path / "models"
    a, b = (f"python:{model_file(tmp_path, k)}:make" for k in (0, 1))
    main(several([a, b], val, out, tmp_path))
    assert (out / "compare" / "compare.json").is_file()
    (out / "compare" / "figures" / "of_an_earlier_list.png").write_bytes(b"old")
    main(several([a, b], val, out, tmp_path))  # rebuilt whole: the earlier figure is gone
    assert not (out / "compare" / "figures" / "of_an_earlier_list.png").exists()
    assert exit_code(several([a, "efficientnet_lit0"], val, out, tmp_path)) == 2  # one model ran: nothing compares
    assert not (out / "compare").exists()


# --- item 9: audit compare --out -----------------------------------------------------------------

@pytest.fixture
def two_runs(tmp_path) -> tuple[Path, Path]:
    val = make_val(tmp_path / "val", DESIGN)
    return run_model(tmp_path, 0, val, tmp_path / "runs" / "m0"), run_model(tmp_path, 1, val, tmp_path / "runs" / "m1")


def test_compare_into_a_runs_folder_needs_overwrite(two_runs, tmp_path, capsys):
    m0, m1 = two_runs
    before = snapshot(m0)
    capsys.readouterr()
    err = one_error_line(capsys, ["compare", str(m0), str(m1), "--out", str(m0)])
    assert f"--out {m0.absolute()} holds an audit run's results" in err and "--overwrite" in err
    assert snapshot(m0) == before
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    err = one_error_line(capsys, ["compare", str(m0), str(m1), "--out", str(mine), "--overwrite"])
    assert "not a comparison's folder" in err and (mine / "thesis.tex").read_text() == "precious"

    target = tmp_path / "cmp"
    main(["compare", str(m0), str(m1), "--out", str(target)])
    (target / "figures" / "stale.png").write_bytes(b"old")
    main(["compare", str(m0), str(m1), "--out", str(target)])  # its own folder: replaced whole
    assert not (target / "figures" / "stale.png").exists() and (target / "compare.json").is_file()
    main(["compare", str(m1), str(target.parent / "runs" / "m0"), "--out", str(m1), "--overwrite"])
    assert (m1 / "compare.json").is_file() and not (m1 / "results.json").exists()
    assert not [p for p in tmp_path.rglob(".*lock")]


def test_zero_paired_tests_say_why(two_runs, tmp_path, capsys):
    for run in two_runs:
        shutil.rmtree(run / "per_sample")
    capsys.readouterr()
    main(["compare", *map(str, two_runs), "--out", str(tmp_path / "cmp")])
    said = capsys.readouterr().out
    assert "2 runs, 0 paired tests (0 significant): no per-sample files in" in said
    assert "rerun `audit run` into that folder" in said


# --- item 12: the smaller ones -------------------------------------------------------------------

def test_progress_flags_are_not_part_of_a_runs_identity(tiny_model_file, val_folder, tmp_path, cache_dir):
    out = tmp_path / "out"
    args = audit_args(tiny_model_file, val_folder, out, cache_dir)
    main(args)
    without = [a for a in args if a != "--no-progress"]
    main(without)  # was refused as "another run" of the same model
    main([*without, "--progress"])
    assert json.loads((out / "results.json").read_text())["records"]
    assert not list(tmp_path.glob(".out*"))  # no lock file left behind


# --- item 8: decisions CSVs ----------------------------------------------------------------------

RESNET50 = Path(__file__).resolve().parents[2] / "suites" / "shape_bias" / "reference" / "cue-conflict_resnet50_session-1.csv"


def decisions_file(tmp_path: Path, lines: list[str], name: str = "cue-conflict_mine_session-1.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def decisions_args(csv: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--model", f"decisions:{csv}", "--suites", "shape_bias", "--out", str(out),
            "--cache", str(out.parent / "cache"), "--no-progress", *extra]


@pytest.mark.parametrize("delimiter, said", [(";", "semicolons (;)"), ("\t", "tabs")])
def test_a_semicolon_or_tab_file_is_named_as_such(delimiter, said, tmp_path, capsys):
    lines = RESNET50.read_text().splitlines()
    csv = decisions_file(tmp_path, [line.replace(",", delimiter) for line in lines])
    err = one_error_line(capsys, decisions_args(csv, tmp_path / "out", "--dry-run"))
    assert f"{csv}: its columns are separated by {said}, not commas" in err and "lacks columns" not in err


def test_a_header_only_file_says_so(tmp_path, capsys):
    csv = decisions_file(tmp_path, RESNET50.read_text().splitlines()[:1])
    err = one_error_line(capsys, decisions_args(csv, tmp_path / "out", "--dry-run"))
    assert f"{csv} holds only its header, no trial" in err


def answered(line: str, answer) -> str:  # type: ignore[no-untyped-def]
    """A decisions row with its object_response (column 5) replaced by ``answer(old)``."""
    cells = line.split(",")
    cells[4] = answer(cells[4])
    return ",".join(cells)


def shape_bias_values(out: Path) -> dict[tuple[str, str], tuple[float, int]]:
    records = json.loads((out / "results.json").read_text())["records"]
    return {(r["subset"], r["metric"]): (r["value"], r["n"]) for r in records}


def test_duplicated_trials_count_once_or_are_refused(tmp_path, capsys):
    lines = RESNET50.read_text().splitlines()
    copied = decisions_file(tmp_path, [*lines, *lines[1:8]])
    main(decisions_args(copied, tmp_path / "copied"))
    assert "7 trials recorded twice, with the same values, were counted once" in capsys.readouterr().err
    main(decisions_args(RESNET50, tmp_path / "plain"))
    assert shape_bias_values(tmp_path / "copied") == shape_bias_values(tmp_path / "plain")  # not counted twice
    notices = json.loads((tmp_path / "copied" / "results.json").read_text())["notices"]
    assert any("7 trials recorded twice" in n["message"] for n in notices)

    other_answer = answered(lines[1], lambda answer: "chair")
    assert other_answer != lines[1]
    capsys.readouterr()
    conflicting = decisions_file(tmp_path, [*lines, other_answer], "cue-conflict_conflicting_session-1.csv")
    err = one_error_line(capsys, decisions_args(conflicting, tmp_path / "conflicting"))
    assert f"{conflicting}:{len(lines) + 1}: subject resnet50's trial 1 on airplane1-bicycle2.png is also at " \
           f"{conflicting}:2, with other values" in err


def test_unknown_answers_and_an_all_na_file_get_a_notice(tmp_path, capsys):
    lines = RESNET50.read_text().splitlines()
    typo = decisions_file(tmp_path, [lines[0], *(answered(line, lambda a: "bottel" if a == "bottle" else a)
                                                 for line in lines[1:])])
    bottles = sum(line.split(",")[4] == "bottle" for line in lines[1:])
    main(decisions_args(typo, tmp_path / "typo", "--dry-run"))
    assert f"{typo.name}: {bottles} answers are not one of the 16 categories ('bottel')" in capsys.readouterr().out
    none = decisions_file(tmp_path, [lines[0], *(answered(line, lambda a: "na") for line in lines[1:])],
                          "cue-conflict_none_session-1.csv")
    exit_code(decisions_args(none, tmp_path / "none"))
    assert f"{none.name}: every answer is 'na' (no response)" in capsys.readouterr().err


# --- item 11: audit fetch ------------------------------------------------------------------------

def test_a_data_root_that_is_a_file_is_one_line(tmp_path, capsys):
    root = tmp_path / "data.tar"
    root.write_bytes(b"an archive, not a folder")
    for args in (["fetch", "imagenet-r"], ["ls", "datasets"], ["fetch", "imagenet-r", "--data-root", str(root / "x")],
                 ["run", "--model", "efficientnet_lite0", "--suites", "calibration", "--out", str(tmp_path / "out")]):
        if "--data-root" not in args:
            args = [*args, "--data-root", str(root)]
        err = one_error_line(capsys, args)
        assert f"data root {Path(args[-1])}" in err and "not a folder" in err and "--data-root" in err


def test_a_part_of_cue_conflict_is_not_already_there(tmp_path, capsys):
    from tests.conftest import SHARED, require

    stimuli = require(SHARED / "data" / "cue-conflict", "cue-conflict stimuli")
    part = tmp_path / "data" / "cue-conflict"
    for path in sorted(stimuli.glob("*/*.png"))[:9]:
        (part / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, part / path.parent.name / path.name)
    err = one_error_line(capsys, ["fetch", "cue-conflict", "--data-root", str(tmp_path / "data")])
    assert f"{part} is there but not whole (the stimuli do not match the published set (9 files" in err
    assert "delete it and run `audit fetch cue-conflict` again" in err
    whole = tmp_path / "whole"
    whole.mkdir()
    (whole / "cue-conflict").symlink_to(stimuli)
    main(["fetch", "cue-conflict", "--data-root", str(whole)])
    assert "already at" in capsys.readouterr().err


@pytest.fixture
def test_server(monkeypatch):
    from tests.engine.test_fetch import Server

    for variable in ("HF_HUB_OFFLINE", "AUDITKIT_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    running = Server()
    monkeypatch.setenv("HF_ENDPOINT", running.url)
    yield running
    running.close()


def test_a_half_unpacked_folder_is_not_already_there(test_server, tmp_path, monkeypatch, capsys):
    from auditkit.data import catalog
    from tests.engine.test_fetch import _entry, _imagenet_r_archive

    monkeypatch.setitem(catalog.FETCHABLE, "imagenet-r", _entry(test_server, "imagenet-r", _imagenet_r_archive()))
    main(["fetch", "imagenet-r", "--data-root", str(tmp_path), "--no-progress"])
    unpacked = sorted(p for p in (tmp_path / "imagenet-r").iterdir() if p.is_dir())
    for image in unpacked[-1].iterdir():  # tar stopped after making the last class folder
        image.unlink()
    capsys.readouterr()
    err = one_error_line(capsys, ["fetch", "imagenet-r", "--data-root", str(tmp_path)])
    assert f"{tmp_path / 'imagenet-r'} is there but not whole" in err and "holds no images" in err


def test_an_archive_already_downloaded_is_installed_offline(test_server, tmp_path, monkeypatch, capsys):
    from auditkit.data import catalog
    from tests.engine.test_fetch import _entry, _imagenet_r_archive

    archive = _imagenet_r_archive()
    monkeypatch.setitem(catalog.FETCHABLE, "imagenet-r", _entry(test_server, "imagenet-r", archive))
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".downloads" / "imagenet-r.tar").write_bytes(archive)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    main(["fetch", "imagenet-r", "--data-root", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err
    assert "offline; installing from" in err and "installed at" in err and not test_server.requests
    assert len(catalog.open_dataset("imagenet-r", tmp_path, {})) == 6
    (tmp_path / ".downloads" / "imagenet-r.tar").write_bytes(archive[:-1] + b"x")  # a changed archive: refused
    shutil.rmtree(tmp_path / "imagenet-r")
    assert exit_code(["fetch", "imagenet-r", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "does not match its published sha256" in err and not test_server.requests


# --- item 12: the smaller ones (continued) -------------------------------------------------------

def test_the_same_data_name_twice_is_refused(tiny_model_file, val_folder, tmp_path, capsys):
    args = audit_args(tiny_model_file, val_folder, tmp_path / "out", tmp_path / "cache")
    err = one_error_line(capsys, [*args, "--data", f"imagenet-val={tmp_path}"])
    assert f"--data imagenet-val= is given twice ({val_folder} and {tmp_path})" in err


SIBLING_FACTORY = """
from my_layers import Tiny

def make():
    return Tiny()
"""


def test_a_factory_file_imports_the_module_beside_it(tiny_model_file, val_folder, tmp_path, cache_dir):
    import sys

    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "my_layers.py").write_text(tiny_model_file.read_text())
    (folder / "model.py").write_text(SIBLING_FACTORY)
    path_before = list(sys.path)
    try:
        main(audit_args(folder / "model.py", val_folder, tmp_path / "out", cache_dir))
        first = json.loads((tmp_path / "out" / "results.json").read_text())["header"]["model"]
        assert sys.path == path_before  # the folder was on the path only while the factory ran
        # the module beside it is part of the model's identity: edited, the model is another one
        (folder / "my_layers.py").write_text(tiny_model_file.read_text().replace("* 3", "* 2"))
        sys.modules.pop("my_layers")
        main(audit_args(folder / "model.py", val_folder, tmp_path / "edited", cache_dir))
        edited = json.loads((tmp_path / "edited" / "results.json").read_text())["header"]["model"]
        assert first["fingerprint"] != edited["fingerprint"]
    finally:
        sys.modules.pop("my_layers", None)


@pytest.mark.subprocess
@pytest.mark.slow  # as test_run's kill -9 test: a real process, killed mid-run
def test_sigterm_says_interrupted_and_exits_143(tiny_model_file, val_folder, tmp_path, cache_dir):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.engine.test_run import REPO, SLOW_MODEL

    slow = tmp_path / "slow_model.py"
    slow.write_text(SLOW_MODEL.format(tiny=str(tiny_model_file)))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "auditkit", *audit_args(slow, val_folder, out, cache_dir)]
    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(cache_dir.glob("store/*/*/shard-*.npz")) and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert err.strip().splitlines()[-1] == "audit: interrupted; rerun the same command to resume"
    assert not out.exists() and not list(tmp_path.glob(".out*"))  # no staging folder, no lock file
