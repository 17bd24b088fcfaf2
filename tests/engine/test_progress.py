"""Progress where a SLURM job writes it: plain lines every N seconds when stderr is not a terminal."""

from __future__ import annotations

import io
import re

import pytest

from auditkit.cli import main
from auditkit.errors import AuditError
from auditkit.progress import PlainProgress, progress_interval
from tests.engine.test_run import audit_args

LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] forward imagenet-val/none: (\d+)/24 images \([\d.]+ %\), ([\d.]+) img/s, "
                  r"\d+:\d\d:\d\d left$")


def test_lines_come_every_interval_with_done_total_rate_and_time_left():
    clock = iter([0.0, 10.0, 29.0, 31.0, 40.0, 62.0, 70.0, 75.0]).__next__
    stream = io.StringIO()
    progress = PlainProgress("imagenet-val/none", 1000, 30.0, stream, clock=clock)  # starts at t = 0
    for _ in range(6):  # 100 images at t = 10, 29, 31, 40, 62, 70
        progress.advance(100)
    progress.finish()  # t = 75
    lines = [line.split("] ", 1)[1] for line in stream.getvalue().splitlines()]
    assert lines == [
        "forward imagenet-val/none: 1000 images",
        # 300 images in 31 s: 9.7 img/s, 700 left -> 72 s
        "forward imagenet-val/none: 300/1000 images (30.0 %), 9.7 img/s, 0:01:12 left",
        # 30 s later: 500 images in 62 s: 8.1 img/s, 500 left -> 62 s
        "forward imagenet-val/none: 500/1000 images (50.0 %), 8.1 img/s, 0:01:02 left",
        "forward imagenet-val/none: stopped, 600/1000 images in 0:01:15 (8.0 img/s)",
    ]


def test_a_run_logged_to_a_file_prints_plain_progress_lines(tiny_model_file, val_folder, tmp_path, capsys,
                                                            monkeypatch):
    monkeypatch.setenv("AUDITKIT_PROGRESS_SECONDS", "0")  # a line after every batch
    args = [a for a in audit_args(tiny_model_file, val_folder, tmp_path / "out", tmp_path / "cache") if a != "--no-progress"]
    main(args)  # capsys: stderr is not a terminal, as in a SLURM log
    err = capsys.readouterr().err
    assert "\x1b[" not in err and "\r" not in err  # no live bar's control codes in the log
    lines = [line for line in err.splitlines() if "forward imagenet-val/none" in line]
    assert lines[0].endswith("forward imagenet-val/none: 24 images")
    done = [int(LINE.match(line).group(1)) for line in lines[1:-1]]
    assert done == [5, 8, 13, 16, 21]  # --batch-size 5 within --shard-size 8 (batches never straddle a shard)
    assert re.search(r"forward imagenet-val/none: done, 24/24 images in \d+:\d\d:\d\d \([\d.]+ img/s\)$", lines[-1])


@pytest.mark.parametrize("text, seconds", [("", 30.0), ("5", 5.0), ("0", 0.0), ("2.5", 2.5)])
def test_interval_from_the_environment(text, seconds, monkeypatch):
    monkeypatch.setenv("AUDITKIT_PROGRESS_SECONDS", text)
    assert progress_interval() == seconds


@pytest.mark.parametrize("text", ["soon", "-1", "nan"])
def test_a_bad_interval_is_one_line_naming_the_variable(text, monkeypatch):
    monkeypatch.setenv("AUDITKIT_PROGRESS_SECONDS", text)
    with pytest.raises(AuditError, match="AUDITKIT_PROGRESS_SECONDS="):
        progress_interval()
