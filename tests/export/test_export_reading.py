"""`audit export` as a reader sees it (issue 14, item 21): --decimals and --percent in the
tables, figure titles in words, the per-category shape-bias plot against humans exported."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from PIL import Image

from auditkit.cli import main

REFERENCE = Path(__file__).resolve().parents[2] / "suites" / "shape_bias" / "reference"


@pytest.fixture(scope="module")
def shape_bias_run(tmp_path_factory) -> Path:
    """ResNet-50's published cue-conflict decisions, audited as a subject."""
    out = tmp_path_factory.mktemp("export-reading") / "resnet50"
    main(["run", "--model", f"decisions:{REFERENCE / 'cue-conflict_resnet50_session-1.csv'}", "--suites", "shape_bias",
          "--out", str(out), "--no-progress"])
    return out


def test_decimals_and_percent_in_the_tables(shape_bias_run: Path, tmp_path: Path) -> None:
    main(["export", str(shape_bias_run), "--format", "latex", "--out", str(tmp_path / "plain")])
    plain = (tmp_path / "plain" / "properties.tex").read_text()
    # ResNet-50: 0.2142 shape bias (the published 21.42 %), 4 decimals for a proportion below 1
    assert re.search(r"shape\\_bias & \$0\.2142 \\pm 0\.\d{4}\$", plain), plain
    main(["export", str(shape_bias_run), "--format", "latex", "--out", str(tmp_path / "pct"),
          "--percent", "--decimals", "1"])
    percent = (tmp_path / "pct" / "properties.tex").read_text()
    assert re.search(r"shape\\_bias \(\\%\) & \$21\.4 \\pm \d\.\d\$", percent), percent
    assert re.search(r"conflict\\_trials & \$1200\$", percent)  # counts: no decimals, no percent


def test_bad_decimals_is_one_line(shape_bias_run: Path, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(shape_bias_run), "--format", "latex", "--out", str(tmp_path / "x"), "--decimals", "-1"])
    assert exit_.value.code == 2 and "--decimals must be between 0 and 8" in capsys.readouterr().err


def test_per_category_plot_against_humans_and_titles_in_words(shape_bias_run: Path, tmp_path: Path) -> None:
    main(["export", str(shape_bias_run), "--format", "svg,png", "--out", str(tmp_path / "figs")])
    figures = tmp_path / "figs" / "figures"
    per_category = figures / "shape_bias__cue-conflict__shape_bias_per_category__resnet50__column.png"
    assert per_category.is_file()
    with Image.open(per_category) as image:
        assert image.size[0] == round(3.25 * 300)  # exactly a column wide: the legend fits inside
    svg = (figures / "shape_bias__cue-conflict__shape_bias_per_category__resnet50__column.svg").read_text()
    texts = " ".join(t.text or "" for t in ElementTree.fromstring(svg).iter() if t.tag.endswith("text"))
    assert "humans" in texts and "Shape bias per category" in texts
    family = (figures / "shape_bias__cue-conflict__shape_bias__subset__page.svg").read_text()  # over the categories
    texts = " ".join(t.text or "" for t in ElementTree.fromstring(family).iter() if t.tag.endswith("text"))
    assert "Shape bias, cue-conflict: shape bias" in texts  # words, not shape_bias identifiers
