"""The HTML report: self-contained, escaped, and rendered by a real browser."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from auditkit.errors import AuditError
from auditkit.records import FigureRef, MetricRecord, RunResults, Skipped
from auditkit.report import build_report

EVIL = "<script>alert(1)</script>"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]


def fake_run(run_dir: Path) -> Path:
    figures = run_dir / "figures"
    figures.mkdir(parents=True)
    for stem in ("calibration__imagenet-val__reliability", "shape_bias__cue-conflict__per_category"):
        figure, axis = plt.subplots(figsize=(4, 3))
        axis.plot([0, 1], [0, 1])
        figure.savefig(figures / f"{stem}.png")
        plt.close(figure)
    records = [
        MetricRecord(EVIL, "calibration", "imagenet-val", "none", "ece", 0.0412345, 0.031, 0.052, 50000, "1.0"),
        MetricRecord(EVIL, "calibration", "imagenet-val", "none", "top1", 0.8123, 0.809, 0.815, 50000, "1.0"),
        MetricRecord(EVIL, "shape_bias", "cue-conflict", "none", "shape_bias", 0.2394, 0.2114, 0.2686, 1200, "1.0"),
        MetricRecord(EVIL, "shape_bias", "cue-conflict", "none", "shape_hits", 197.0, None, None, 1280, "1.0"),
    ]
    RunResults(
        header={"model": {"name": EVIL, "fingerprint": "ab" * 32, "preprocess": {"name": "timm"}},
                "created": "2026-11-24T00:00:00+00:00", "command": f"audit run --model '{EVIL}'",
                "suites": {"calibration": "1.0", "shape_bias": "1.0"}, "auditkit_version": "0.1.0"},
        records=records,
        skipped=[Skipped("calibration", "imagenet-r", "dataset imagenet-r not found at /x; pass --data imagenet-r=PATH")],
        figures=[
            FigureRef("calibration", "imagenet-val", "reliability", "calibration__imagenet-val__reliability", "Reliability <b>diagram</b>"),
            FigureRef("shape_bias", "cue-conflict", "per_category", "shape_bias__cue-conflict__per_category", "Per category"),
        ],
    ).write(run_dir)
    return build_report(run_dir)


def test_report_is_self_contained_and_escaped(tmp_path):
    html = fake_run(tmp_path).read_text()
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Reliability <b>diagram</b>" not in html
    assert html.count('src="data:image/png;base64,') == 2
    assert not re.search(r'(src|href)="(?!data:|#)', html), "only embedded resources"
    assert "http://" not in html and "https://" not in html
    assert "0.04123" in html and "[0.031, 0.052]" in html
    assert "pass --data imagenet-r=PATH" in html


def test_missing_figure_is_one_line_error(tmp_path):
    fake_run(tmp_path)
    (tmp_path / "figures" / "calibration__imagenet-val__reliability.png").unlink()
    with pytest.raises(AuditError, match="is missing"):
        build_report(tmp_path)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; .ci/run must install Debian's chromium")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return found


def render(report: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args, report.as_uri()],
        capture_output=True, text=True, timeout=120,
    )


def test_report_renders_in_headless_chromium(tmp_path):
    report = fake_run(tmp_path / "run")
    dom = render(report, tmp_path, "--dump-dom", "--virtual-time-budget=2000").stdout
    assert dom.count("<img") == 2 and "Skipped (1)" in dom
    # every image decoded: naturalWidth > 0 (checked by a script the browser runs)
    probe = tmp_path / "probe.html"
    probe.write_text(
        report.read_text().replace(
            "</body>",
            "<script>window.onload=()=>{const bad=[...document.images].filter(i=>!i.complete||i.naturalWidth===0);"
            "document.title='images:'+document.images.length+':broken:'+bad.length;}</script></body>",
        )
    )
    probe_dom = render(probe, tmp_path, "--dump-dom", "--virtual-time-budget=2000").stdout
    assert "<title>images:2:broken:0</title>" in probe_dom
    shot = tmp_path / "shot.png"
    render(report, tmp_path, f"--screenshot={shot}", "--window-size=1280,1600")
    assert shot.stat().st_size > 10_000
