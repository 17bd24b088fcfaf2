"""Files a user hands over (or a run left) that cannot be read as they are: one line naming the
file and the fix, exit 2, never a traceback (issue 27, items 4, 5 and 8)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from auditkit.cli import main
from tests.engine.test_bad_input import one_error_line

RESNET50 = Path(__file__).resolve().parents[2] / "suites" / "shape_bias" / "reference" / "cue-conflict_resnet50_session-1.csv"


def decisions_run(csv: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--model", f"decisions:{csv}", "--suites", "shape_bias", "--out", str(out),
            "--cache", str(out.parent / "cache"), "--no-progress", *extra]


def latin1_copy(folder: Path, name: str) -> Path:
    """ResNet-50's decisions with an accented subject, saved as Latin-1 (what Excel's plain
    "CSV" gives on a Western-European Windows)."""
    lines = RESNET50.read_text(encoding="utf-8").splitlines()
    text = "\n".join([lines[0], *(line.replace("resnet50", "résnet50", 1) for line in lines[1:])]) + "\n"
    path = folder / name
    path.write_bytes(gzip.compress(text.encode("latin-1")) if name.endswith(".gz") else text.encode("latin-1"))
    return path


@pytest.mark.parametrize("name", ["cue-conflict_resnet50-fr_session-1.csv", "cue-conflict_resnet50-fr_session-1.csv.gz"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_latin1_decisions_file_is_one_line_naming_it(name, dry_run, tmp_path, capsys):
    csv = latin1_copy(tmp_path, name)
    err = one_error_line(capsys, decisions_run(csv, tmp_path / "out", *(["--dry-run"] if dry_run else [])))
    # the header is ASCII: line 2 holds the first "é" (byte 0xe9 in Latin-1)
    assert f"{csv}:2: byte 0xe9 is not UTF-8" in err and "re-save the file as UTF-8" in err


@pytest.mark.parametrize("cut", ["half", "not gzip"])
def test_a_damaged_gzipped_decisions_file_is_one_line_naming_it(cut, tmp_path, capsys):
    whole = gzip.compress(RESNET50.read_bytes())
    csv = tmp_path / "cue-conflict_resnet50_session-1.csv.gz"
    csv.write_bytes(whole[: len(whole) // 2] if cut == "half" else RESNET50.read_bytes())
    err = one_error_line(capsys, decisions_run(csv, tmp_path / "out", "--dry-run"))
    assert f"{csv} is not a whole gzip file" in err and "copy it again" in err


def test_an_excel_csv_utf8_file_reads_as_the_plain_one(tmp_path):
    """Excel's "CSV UTF-8" starts with a byte-order mark and ends lines with CRLF: the same
    trials, the same numbers as the plain file (it was refused as lacking `subj`)."""
    excel = tmp_path / "excel" / RESNET50.name
    excel.parent.mkdir()
    excel.write_bytes(b"\xef\xbb\xbf" + RESNET50.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    main(decisions_run(RESNET50, tmp_path / "plain"))
    main(decisions_run(excel, tmp_path / "from_excel"))

    def values(out: Path) -> list[tuple]:
        records = json.loads((out / "results.json").read_text())["records"]
        return [(r["subset"], r["metric"], r["value"], r["n"]) for r in records]

    assert values(tmp_path / "from_excel") == values(tmp_path / "plain") and values(tmp_path / "plain")


@pytest.fixture(scope="module")
def shape_bias_runs(tmp_path_factory) -> Path:
    """Two shape_bias runs of the shipped ResNet-50 decisions (each writes a per-sample .npz)."""
    root = tmp_path_factory.mktemp("runs")
    for name in ("a", "b"):
        main(decisions_run(RESNET50, root / "runs" / name))
    return root / "runs"


def damage(path: Path, how: str) -> None:
    if how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif how == "empty":  # its EOFError read as Ctrl-C ("interrupted") before
        path.write_bytes(b"")
    elif how == "a bare .npy":
        with path.open("wb") as handle:
            np.save(handle, np.zeros(3))


@pytest.mark.parametrize("how", ["truncated", "empty", "a bare .npy"])
@pytest.mark.parametrize("command", ["compare", "export"])
def test_a_damaged_per_sample_file_is_one_line_naming_it(command, how, shape_bias_runs, tmp_path, capsys):
    runs = tmp_path / "runs"
    shutil.copytree(shape_bias_runs, runs, ignore=shutil.ignore_patterns("cache"))
    sample_file = runs / "b" / "per_sample" / "shape_bias" / "cue-conflict" / "native.npz"
    assert sample_file.is_file()
    damage(sample_file, how)
    args = {"compare": ["compare", str(runs / "a"), str(runs / "b"), "--out", str(tmp_path / "cmp"), "--resamples", "100"],
            "export": ["export", str(runs / "b"), "--out", str(tmp_path / "exp")]}[command]
    err = one_error_line(capsys, args)
    assert f"{sample_file} is damaged" in err
    assert f"rerun `audit run` into {runs / 'b'}" in err and f"delete {runs / 'b' / 'per_sample'}" in err
    # the second way on works: without the run's per-sample files the command goes through
    shutil.rmtree(runs / "b" / "per_sample")
    main(args)
