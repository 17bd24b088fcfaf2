"""The command line as a new user meets it: option errors, --version, Ctrl-C, progress in logs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import auditkit
from auditkit.cli import main
from auditkit.errors import AuditError
from tests.engine.test_bad_input import one_error_line
from tests.engine.test_run import SLOW_MODEL, audit_args

REPO = Path(__file__).resolve().parents[2]


def audit(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """`audit ARGS` as a user's shell runs it (the installed entry point's code path)."""
    return subprocess.run(
        [sys.executable, "-m", "auditkit", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "AUDITKIT_CACHE": str(cwd / "cache")}, timeout=timeout,
    )


@pytest.mark.subprocess
def test_version_prints_the_package_version(tmp_path):
    result = audit("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"auditkit {auditkit.__version__}"


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--bogus"], "No such option: --bogus"),
        (["run", "--model", "efficientnet_lite0", "--suites", "calibration", "--bogus"], "No such option: --bogus"),
        (["run", "--suites", "calibration"], "--model"),
        (["run", "--model", "efficientnet_lite0", "--suites", "calibration", "--limit", "abc"], "--limit"),
        (["frobnicate"], "No such command"),
    ],
)
def test_option_errors_are_one_line_and_exit_2(args, expected, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert err.startswith("audit: error: ") and expected in err and "audit --help" in err


@pytest.mark.subprocess
def test_option_error_from_the_shell_is_one_line(tmp_path):
    result = audit("run", "--suites", "calibration", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("audit: error: ") and "'--model'" in lines[0], result.stderr


def test_no_arguments_prints_help_and_exits_0(capsys):
    with pytest.raises(SystemExit) as exit_:
        main([])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("Usage: audit")


@pytest.mark.subprocess
def test_ctrl_c_mid_run_exits_130_and_says_how_to_resume(tiny_model_file, val_folder, tmp_path, cache_dir):
    slow = tmp_path / "slow_model.py"
    slow.write_text(SLOW_MODEL.format(tiny=str(tiny_model_file)))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "auditkit", *audit_args(slow, val_folder, out, cache_dir)]
    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(cache_dir.glob("store/*/*/shard-*.npz")) and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "audit: interrupted; rerun the same command to resume"
    assert "Traceback" not in err
    assert not (out / "results.json").exists()


@pytest.mark.parametrize("option, value, expected", [
    ("--input-size", "0", "--input-size must be a positive number of pixels"),
    ("--input-size", "-3", "--input-size must be a positive number of pixels"),
    ("--workers", "-1", "--workers must be 0 or more"),
])
def test_bad_numbers_are_refused_up_front_naming_the_option(option, value, expected, tiny_model_file, val_folder,
                                                             tmp_path, capsys):
    args = audit_args(tiny_model_file, val_folder, tmp_path / "out", tmp_path / "cache")
    args = [a for i, a in enumerate(args) if option not in (a, args[i - 1])]  # drop the default of the option
    err = one_error_line(capsys, [*args, option, value])
    assert expected in err and "decode" not in err
    assert not (tmp_path / "cache").exists()  # refused before any forward pass


def test_a_model_config_with_no_input_size_is_refused():
    from auditkit.adapters.preprocess import PreprocessConfig

    with pytest.raises(AuditError, match="input_size must be a positive number of pixels"):
        PreprocessConfig(name="model", input_size=0)


def test_out_naming_a_file_is_refused_before_any_forward_pass(tiny_model_file, val_folder, tmp_path, capsys):
    existing = tmp_path / "notes.txt"
    existing.write_text("mine")
    err = one_error_line(capsys, audit_args(tiny_model_file, val_folder, existing, tmp_path / "cache"))
    assert f"--out {existing} is a file, not a folder" in err
    assert not (tmp_path / "cache").exists() and existing.read_text() == "mine"
    err = one_error_line(capsys, audit_args(tiny_model_file, val_folder, existing / "run", tmp_path / "cache"))
    assert f"{existing} is a file, so no folder can be made under it" in err


def test_export_and_compare_out_naming_a_file_is_one_line(tmp_path, capsys):
    existing = tmp_path / "notes.txt"
    existing.write_text("mine")
    run = tmp_path / "run"
    run.mkdir()
    err = one_error_line(capsys, ["export", str(run), "--out", str(existing)])
    assert f"--out {existing} is a file, not a folder" in err
    err = one_error_line(capsys, ["compare", str(run), str(run), "--out", str(existing / "x")])
    assert "is a file, so no folder can be made under it" in err
    assert existing.read_text() == "mine"


TUPLE_MODEL = """
exec(open({tiny!r}).read())
_make = make
def make():
    model = _make()
    forward = model.forward
    model.forward = lambda x: (forward(x), x.mean((2, 3)))  # (logits, features), as many research models do
    return model
"""

RAISING_FACTORY = """import torch


def build_backbone(depth):
    return torch.load("missing-checkpoint.pth")


def make():
    return build_backbone(50)
"""


def test_a_model_returning_a_tuple_is_one_line(tiny_model_file, val_folder, tmp_path, capsys):
    model = tmp_path / "tuple_model.py"
    model.write_text(TUPLE_MODEL.format(tiny=str(tiny_model_file)))
    err = one_error_line(capsys, audit_args(model, val_folder, tmp_path / "out", tmp_path / "cache"))
    assert "returned a tuple of 2, not a tensor" in err and "(N, 1000) tensor" in err


def user_code_error(capsys, args: list[str]) -> tuple[list[str], str]:
    """The frames block and the one error line of a failing user file."""
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("audit: error: ") and not any(line.startswith("audit:") for line in lines[:-1])
    block = "\n".join(lines[:-1])
    for foreign in ("Traceback", "auditkit/", "importlib", "site-packages", "<frozen"):
        assert foreign not in block, block
    return lines[:-1], lines[-1]


@pytest.mark.parametrize("source, frames, message", [
    (RAISING_FACTORY, ['line 9, in make', '    return build_backbone(50)', 'line 5, in build_backbone',
                       '    return torch.load("missing-checkpoint.pth")'],
     "raised FileNotFoundError: [Errno 2] No such file or directory: 'missing-checkpoint.pth'"),
    ("import torch\ndef make(:\n    return None\n", ["line 2", "    def make(:"], "invalid syntax"),
    ("import torch\nraise RuntimeError('no GPU weights here')\n", ["line 2, in <module>", "    raise RuntimeError"],
     "raised RuntimeError: no GPU weights here"),
])
def test_a_failing_model_file_shows_the_users_frames_then_one_line(source, frames, message, val_folder, tmp_path,
                                                                    capsys):
    model = tmp_path / "my_model.py"
    model.write_text(source)
    block, line = user_code_error(capsys, audit_args(model, val_folder, tmp_path / "out", tmp_path / "cache"))
    assert len(block) <= 2 * 5
    assert f'File "{model}"' in block[0]
    for expected in frames:
        assert any(expected in b for b in block), (expected, block)
    assert line.startswith(f"audit: error: python:{model}:make") and message in line


def test_a_module_spec_whose_import_fails_shows_its_frames(tmp_path, monkeypatch, capsys):
    (tmp_path / "lab_models.py").write_text("import torch\nimport no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    block, line = user_code_error(capsys, ["run", "--model", "python:lab_models:make", "--suites", "calibration",
                                           "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c")])
    assert "lab_models.py" in block[0] and "import no_such_dependency_xyz" in block[1]
    assert "ModuleNotFoundError: No module named 'no_such_dependency_xyz'" in line
    err = one_error_line(capsys, ["run", "--model", "python:no_such_lab_module:make", "--suites", "calibration",
                                  "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c")])
    assert "cannot import module 'no_such_lab_module'" in err and "PYTHONPATH" in err


def damaged_results(tmp_path: Path, damage: str) -> Path:
    """A run folder whose results.json was truncated or hand-edited."""
    import json

    from auditkit.records import MetricRecord, RunResults

    run = tmp_path / f"run-{damage}"
    record = MetricRecord(model="m", suite="calibration", dataset="imagenet-val", metric="ece", value=0.1, ci_low=0.05,
                          ci_high=0.15, n=24, suite_version="1")
    payload = RunResults(header={"model": {"name": "m"}}, records=[record]).to_json()
    run.mkdir()
    text = json.dumps(payload, indent=2)
    if damage == "truncated":
        text = text[: len(text) // 2]
    elif damage == "string":
        text = json.dumps("results")
    elif damage == "no records":
        del payload["records"]
        text = json.dumps(payload)
    elif damage == "string value":
        payload["records"][0]["value"] = "0.1"
        text = json.dumps(payload)
    (run / "results.json").write_text(text)
    return run


@pytest.mark.parametrize("damage, expected", [
    ("truncated", "is not valid JSON ("),
    ("string", "holds a string, not the results object"),
    ("no records", "has no 'records' list"),
    ("string value", "record 1 (calibration/imagenet-val/ece) has value \"0.1\", a string, where a number"),
])
@pytest.mark.parametrize("command", ["report", "compare", "export"])
def test_a_damaged_results_file_is_one_line_naming_it(command, damage, expected, tmp_path, capsys):
    run = damaged_results(tmp_path, damage)
    args = {"report": ["report", str(run)],
            "compare": ["compare", str(damaged_results(tmp_path, "none")), str(run), "--out", str(tmp_path / "cmp")],
            "export": ["export", str(run), "--out", str(tmp_path / "exp")]}[command]
    err = one_error_line(capsys, args)
    assert "results.json" in err and str(run.name) in err and expected in err and "rerun" in err


def test_a_damaged_compare_file_is_one_line_for_export(tmp_path, capsys):
    folder = tmp_path / "cmp"
    folder.mkdir()
    (folder / "compare.json").write_text('{"runs": [], "records": ')
    err = one_error_line(capsys, ["export", str(folder), "--out", str(tmp_path / "exp")])
    assert "compare.json is not valid JSON" in err and "rerun `audit compare`" in err
    (folder / "compare.json").write_text('{"runs": "a, b", "records": []}')
    err = one_error_line(capsys, ["export", str(folder), "--out", str(tmp_path / "exp")])
    assert "compare.json: 'runs' is not a list" in err


def test_the_console_gives_one_line_per_skipped_dataset(tiny_model_file, val_folder, tmp_path, capsys):
    main(audit_args(tiny_model_file, val_folder, tmp_path / "out", tmp_path / "cache"))
    err = capsys.readouterr().err
    skips = [line for line in err.splitlines() if line.startswith("skipped")]
    root = tmp_path / "out" / "no-data"
    assert skips == [f"skipped on imagenet-r (calibration): dataset imagenet-r not found at {root / 'imagenet-r'}",
                     "skipped on imagenet-val (calibration): temperature scaling needs at least 1000 images (one per "
                     "class) in the minderer fit subset, which holds 6 of the 24 images, 18 left to score"]
    assert "(each skip in full, with how to fix it: the report, in its suite's section)" in err


def test_dry_run_prints_the_plan_and_forwards_and_writes_nothing(tiny_model_file, val_folder, tmp_path, cache_dir,
                                                                 capsys):
    out = tmp_path / "out"
    args = audit_args(tiny_model_file, val_folder, out, cache_dir)
    args[args.index("calibration")] = "calibration,invariance,cka"
    main([*args, "--datasets", "imagenet-val,imagenet-r", "--dry-run"])  # digits would be built on first use
    plan = capsys.readouterr().out.splitlines()
    assert not out.exists() and not list(cache_dir.glob("store/*/*"))  # nothing forwarded, nothing written
    assert plan[0].endswith("17 requests, 408 images to forward")  # 24 images: val, 15 views, val's layers
    assert "  imagenet-val  none  logits  24 images  forward" in plan
    assert "  imagenet-val  resolution/336  logits  24 images  forward" in plan
    assert "  imagenet-val  none  layers  24 images  forward" in plan
    skipped = [line for line in plan if line.startswith("  skipped")]
    assert any(line.startswith("  skipped imagenet-r: dataset imagenet-r not found") for line in skipped)
    assert "  skipped imagenet-val: condition none: needs a second model: pass --reference-model SPEC" in skipped
    # after a run the same plan reads everything from the store
    main([*audit_args(tiny_model_file, val_folder, out, cache_dir)])
    capsys.readouterr()
    main([*audit_args(tiny_model_file, val_folder, tmp_path / "other", cache_dir), "--dry-run"])
    again = capsys.readouterr().out.splitlines()
    assert "  imagenet-val  none  logits  24 images  store" in again
    assert again[0].endswith("1 request, 0 images to forward")


def test_dry_run_downloads_and_builds_nothing(tiny_model_file, tmp_path, cache_dir, capsys, monkeypatch):
    """An absent dataset a run would make (digits: built; cue-conflict: downloaded when online)
    is planned as skipped, saying what the run would do; the data root stays empty."""
    import auditkit.data.catalog as catalog

    fetched = []
    monkeypatch.setenv("AUDITKIT_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")
    from dataclasses import replace

    entry = catalog.DATASETS.get("cue-conflict")
    monkeypatch.setitem(catalog.DATASETS._entries, "cue-conflict", replace(entry, fetch=fetched.append))
    root = tmp_path / "data"
    root.mkdir()
    main(["run", "--model", f"python:{tiny_model_file}:make", "--suites", "shape_bias,linear_probe",
          "--data-root", str(root), "--datasets", "cue-conflict,digits", "--cache", str(cache_dir),
          "--out", str(tmp_path / "out"), "--dry-run"])
    plan = capsys.readouterr().out
    assert not fetched and not list(root.iterdir()) and not (tmp_path / "out").exists()
    assert "skipped cue-conflict: dataset cue-conflict is not at" in plan and "downloads it there" in plan
    assert "skipped digits: dataset digits is not at" in plan and "builds it there" in plan


def test_the_printed_summary_holds_every_headline_also_at_native(tmp_path, cache_dir, capsys):
    """Shape bias records at condition native (the stimuli as released): the summary table the
    run prints shows them, as the report's summary does (it once filtered on condition none and
    printed an empty table for the demo)."""
    decisions = Path(__file__).resolve().parents[2] / "suites" / "shape_bias" / "reference" / "cue-conflict_resnet50_session-1.csv"
    main(["run", "--model", f"decisions:{decisions}", "--suites", "shape_bias", "--out", str(tmp_path / "out"),
          "--cache", str(cache_dir), "--no-progress"])
    summary = capsys.readouterr().err
    rows = [line for line in summary.splitlines() if "shape_bias" in line and "cue-conflict" in line]
    assert any("│ shape_bias " in line.replace("┃", "│") and "0.2" in line for line in rows), summary
    assert not any("airplane" in line for line in summary.splitlines())  # per-category rows stay in the report
