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
from auditkit.records import FigureRef, MetricRecord, Notice, RunResults, Skipped
from auditkit.report import build_report
from auditkit.report.numbers import format_value

EVIL = "<script>alert(1)</script>"
ESCAPED_EVIL = "&lt;script&gt;alert(1)&lt;/script&gt;"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
BROWSER_TIMEOUT_S = 120
FIGURE_STEMS = ("calibration__imagenet-val__reliability", "shape_bias__cue-conflict__per_category")
MISSING_DATASET_REASON = "dataset imagenet-r not found at /x; pass --data imagenet-r=PATH"
MISSING_PACKAGE_REASON = "imagenet_x needs the imagenet-x package; pip install 'auditkit[imagenet-x]'"


def fake_run(run_dir: Path) -> Path:
    """A run folder as `audit run` leaves it: results.json plus real matplotlib PNGs."""
    figures = run_dir / "figures"
    figures.mkdir(parents=True)
    for stem in FIGURE_STEMS:
        figure, axis = plt.subplots(figsize=(4, 3))
        axis.plot([0, 1], [0, 1])
        axis.set_xlabel("confidence")
        figure.savefig(figures / f"{stem}.png", dpi=150)
        plt.close(figure)
    records = [
        MetricRecord(model=EVIL, suite="calibration", dataset="imagenet-val", condition="none",
                     metric="ece", value=0.0412345, ci_low=0.031, ci_high=0.052, n=50000, suite_version="1.0"),
        MetricRecord(model=EVIL, suite="calibration", dataset="imagenet-val", condition="none",
                     metric="top1", value=0.8123, ci_low=0.809, ci_high=0.815, n=50000, suite_version="1.0"),
        MetricRecord(model=EVIL, suite="calibration", dataset="imagenet-val", condition="scale/1.5",
                     metric="ece", value=0.0687, ci_low=0.061, ci_high=0.0761, n=50000, suite_version="1.0"),
        MetricRecord(model=EVIL, suite="shape_bias", dataset="cue-conflict", condition="native",
                     metric="shape_bias", value=0.2394, ci_low=0.2114, ci_high=0.2686, n=1200, suite_version="1.0"),
        MetricRecord(model=EVIL, suite="shape_bias", dataset="cue-conflict", condition="native",
                     metric="shape_hits", value=197.0, ci_low=None, ci_high=None, n=1280, suite_version="1.0"),
        MetricRecord(model=EVIL, suite="shape_bias", dataset="cue-conflict", condition="native", subset="airplane",
                     metric="shape_bias", value=0.07843, ci_low=0.01786, ci_high=0.1591, n=75, suite_version="1.0"),
    ]
    RunResults(
        header={
            "command": f"audit run --model '{EVIL}'",
            "created": "2026-11-24T00:00:00+00:00",
            "auditkit_version": "0.1.0",
            "versions": {"python": "3.11.7", "numpy": "2.4.6"},
            "model": {"name": EVIL, "fingerprint": "0123456789ab" + "cd" * 26,
                      "preprocess": {"name": "timm", "mean": [0.5, 0.5, 0.5]}, "weights_sha256": None},
            "datasets": {"imagenet-val": {"samples": 50000, "root": f"/data/{EVIL}",
                                          "labels": [f"label{i}" for i in range(1000)]}},
            "suites": {"calibration": "1.0", "shape_bias": "1.0", "imagenet_x": "1.0"},
            "seed": 0,
            "limit": None,
        },
        records=records,
        skipped=[Skipped("calibration", "imagenet-r", MISSING_DATASET_REASON),
                 Skipped("imagenet_x", "imagenet-val", MISSING_PACKAGE_REASON)],
        figures=[
            FigureRef("calibration", "imagenet-val", "reliability", FIGURE_STEMS[0], f"Reliability {EVIL} diagram"),
            FigureRef("shape_bias", "cue-conflict", "per_category", FIGURE_STEMS[1], "Shape bias per category"),
        ],
        notices=[Notice("shape_bias", "cue-conflict", "computed on 1200 of 1280 trials")],
    ).write(run_dir)
    return build_report(run_dir)


@pytest.fixture()
def report(tmp_path: Path) -> Path:
    return fake_run(tmp_path / "run")


def test_report_is_written_beside_the_results(report: Path) -> None:
    assert report == report.parent / "report.html" and report.is_file()
    assert report.read_text().startswith("<!DOCTYPE html>")


def test_figures_are_embedded_and_nothing_is_fetched(report: Path) -> None:
    html = report.read_text()
    assert html.count('<img src="data:image/png;base64,') == 2
    assert 'width="480"' in html  # 4 inches at 150 dpi, shown at 120 CSS px per figure inch
    assert 'src="http' not in html and not re.search(r"<link[^>]*http", html)
    for url in re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', html):
        assert url.startswith(("data:image/png;base64,", "#")), url
    assert "http://" not in html and "https://" not in html and "url(" not in html
    assert "@import" not in html and "<link" not in html


def test_every_user_string_is_escaped(report: Path) -> None:
    html = report.read_text()
    assert "<script" not in html  # the page has no script of its own, so any would be injected
    assert f"<title>auditkit report — {ESCAPED_EVIL}</title>" in html
    assert f"Reliability {ESCAPED_EVIL} diagram" in html  # captions
    assert f"/data/{ESCAPED_EVIL}" in html  # header values
    assert "pip install &#39;auditkit[imagenet-x]&#39;" in html  # reasons, quotes included


def test_skips_and_caveats_are_visible(report: Path) -> None:
    html = report.read_text()
    assert "Skipped on 2 datasets" in html and "Caveats (1)" in html
    assert MISSING_DATASET_REASON in html
    assert "computed on 1200 of 1280 trials" in html
    # a suite that only skipped still gets its section, saying so
    section = html.split('<section id="suite-imagenet_x"', 1)[1].split("</section>", 1)[0]
    assert "Skipped:" in section and "imagenet-val" in section


def test_skips_collapse_to_one_line_per_dataset() -> None:
    from auditkit.report.html import skipped_by_dataset

    missing = "dataset imagenet-r not found at /data/imagenet-r; put it there or pass --data imagenet-r=PATH"
    skipped = [Skipped("calibration", "imagenet-r", missing), Skipped("robustness", "imagenet-v2", "absent; fix"),
               Skipped("robustness", "imagenet-r", missing), Skipped("invariance", "imagenet-val", "condition a: x"),
               Skipped("invariance", "imagenet-val", "condition b: y"), Skipped("cka", "imagenet-val", "needs a model")]
    lines = [d.line() for d in skipped_by_dataset(skipped)]
    assert lines == [
        "skipped on imagenet-r (calibration, robustness): dataset imagenet-r not found at /data/imagenet-r",
        "skipped on imagenet-v2 (robustness): absent",
        "skipped on imagenet-val: invariance: condition a: x; invariance: condition b: y; cka: needs a model",
    ]
    long = skipped_by_dataset([Skipped("s", "d", "x" * 300)])[0].line()
    assert long.endswith("…") and len(long) < 230


def test_the_summary_shows_each_skipped_dataset_once_and_sections_keep_every_reason(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    reason = "dataset imagenet-r not found at /data/imagenet-r; put it there or pass --data imagenet-r=PATH"
    RunResults(header={"model": {"name": "m"}, "suites": {"calibration": "1", "robustness": "1"}},
               skipped=[Skipped("calibration", "imagenet-r", reason), Skipped("robustness", "imagenet-r", reason)],
               ).write(run_dir)
    html = build_report(run_dir).read_text()
    summary = html.split('<section id="summary"', 1)[1].split("</section>", 1)[0]
    assert "Skipped on 1 dataset " in summary and summary.count("<li>") == 1
    assert "not found at /data/imagenet-r (" in summary and "--data imagenet-r=PATH" not in summary
    for suite in ("calibration", "robustness"):
        assert f'<a href="#suite-{suite}">{suite}</a>' in summary
        section = html.split(f'<section id="suite-{suite}"', 1)[1].split("</section>", 1)[0]
        assert "--data imagenet-r=PATH" in section  # the fix, in full, where the suite is


def test_values_and_intervals_are_formatted(report: Path) -> None:
    html = report.read_text()
    # fixed decimals per metric: every ECE at 4 (its largest, 0.0687, keeps 3 significant digits)
    assert "0.0412" in html and "[0.0310, 0.0520]" in html and "0.04123" not in html
    assert "0.8123" in html and "[0.8090, 0.8150]" in html
    assert ">197<" in html  # counts read as counts
    assert "n = 1280" in html  # a headline resting on another n than its row says so
    assert "scale/1.5" in html and "0.0687" in html  # non-headline conditions in the suite table
    summary = html.split('<section id="summary"', 1)[1].split("</section>", 1)[0]
    assert "scale/1.5" not in summary and "airplane" not in summary
    # schema v2: the shape category is a subset of condition native, in its own column
    section = html.split('<section id="suite-shape_bias"', 1)[1].split("</section>", 1)[0]
    assert "<th scope=\"col\">subset</th>" in section
    assert "<tr><td>native</td><td>airplane</td>" in section  # the per-category pivot row
    assert "0.2394" in summary  # shape bias at native over all trials is the headline


def test_format_value_keeps_four_significant_digits() -> None:
    assert format_value(0.0412345) == "0.04123"
    assert format_value(0.1) == "0.1000"
    assert format_value(0.07843) == "0.07843"
    assert format_value(1.00713) == "1.007"
    assert format_value(-0.12028) == "-0.1203"
    assert format_value(197.0) == "197"
    assert format_value(0.0) == "0"
    assert format_value(float("nan")) == "n/a" and format_value(None) == "n/a"


def test_header_is_rendered_generically(report: Path) -> None:
    html = report.read_text()
    assert "<dt>versions</dt>" in html and "<dt>preprocess</dt>" in html and "<dt>weights_sha256</dt>" in html
    assert "0.5, 0.5, 0.5" in html and ">null<" in html
    assert "label23" in html and "label24" not in html and "976 more (1000 in all" in html
    assert "fingerprint <code" in html and "0123456789ab</code>" in html


def test_sections_follow_the_order_of_the_records(report: Path) -> None:
    html = report.read_text()
    anchors = re.findall(r'<section id="suite-([^"]+)"', html)
    assert anchors == ["calibration", "shape_bias", "imagenet_x"]


def test_missing_figure_is_one_line_error_naming_the_file(tmp_path: Path) -> None:
    fake_run(tmp_path)
    missing = tmp_path / "figures" / f"{FIGURE_STEMS[0]}.png"
    missing.unlink()
    with pytest.raises(AuditError) as error:
        build_report(tmp_path)
    assert str(missing) in str(error.value) and "\n" not in str(error.value)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; CI must install Debian's chromium (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return found


def render(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args, page.as_uri()],
        capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S,
    )


@pytest.mark.browser
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    report = fake_run(tmp_path / "run")
    dom = render(report, tmp_path, "--dump-dom", "--virtual-time-budget=2000").stdout
    assert dom.count('<img src="data:image/png;base64,') == 2, dom[-2000:]
    assert "Skipped on 2 datasets" in dom and ESCAPED_EVIL in dom and "<script>alert" not in dom
    # every image decoded (naturalWidth > 0), checked by a script the browser runs on a copy
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace(
        "</body>",
        "<script>window.onload=()=>{const bad=[...document.images].filter(i=>!i.complete||i.naturalWidth===0);"
        "document.title='images:'+document.images.length+':broken:'+bad.length;}</script></body>",
    ))
    probe_dom = render(probe, tmp_path, "--dump-dom", "--virtual-time-budget=2000").stdout
    assert "<title>images:2:broken:0</title>" in probe_dom
    shot = tmp_path / "shot.png"
    render(report, tmp_path, f"--screenshot={shot}", "--window-size=1280,1600")
    assert shot.is_file() and shot.stat().st_size > 10_000
