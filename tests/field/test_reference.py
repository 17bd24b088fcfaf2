"""Reference rows carry the published numbers unchanged: docs/protocols.md's four-model figures and
the testbed grid, checked against the source texts, not against the module's own tables."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from auditkit.errors import AuditError
from auditkit.field.reference import reference_rows

GRID = Path(__file__).resolve().parents[2] / "auditkit" / "field" / "testbed" / "robustness_top1s.csv"


def _value(row, suite, dataset, metric, condition="none", subset="all"):
    (record,) = [r for r in row.records
                 if (r.suite, r.dataset, r.metric, r.condition, r.subset) == (suite, dataset, metric, condition, subset)]
    return record.value


def test_paper_rows_hold_protocols_figures():
    rows = {r.header["model"]["name"]: r for r in reference_rows("beyond-inet")}
    assert set(rows) >= {"vit_b_sup (paper)", "convnext_b_sup (paper)", "vit_b_clip (paper)", "convnext_b_clip (paper)"}
    # docs/protocols.md: "Paper ECE: IN-1K 0.041 / 0.028 / 0.133 / 0.141"
    assert [_value(rows[f"{m} (paper)"], "calibration", "imagenet-val", "ece")
            for m in ("vit_b_sup", "convnext_b_sup", "vit_b_clip", "convnext_b_clip")] == [0.041, 0.028, 0.133, 0.141]
    # shape bias 39.9 % / 33.3 % / 46.5 % / 42.4 %; ImageNet-X texture 2.37 / 2.38 / 1.65 / 1.71
    assert _value(rows["convnext_b_sup (paper)"], "shape_bias", "cue-conflict", "shape_bias", "native") == pytest.approx(0.333)
    assert _value(rows["vit_b_clip (paper)"], "imagenet_x", "imagenet-val", "error_ratio", subset="texture") == 1.65
    assert _value(rows["convnext_b_clip (paper)"], "robustness", "imagenet-c", "top1", "corrupt/*/*") == pytest.approx(0.390)
    # every published row is a headline where auditkit's own run has it (schema v2 keys)
    from auditkit.report.headline import is_headline

    paper = rows["vit_b_sup (paper)"].records
    assert [r.metric for r in paper if not is_headline(r)] == ["error_ratio"]  # ImageNet-X texture: a subset
    # open_clip's published ViT-B-16 e31 zero-shot: 66.98 / 59.43 / 33.27 / 77.77 / 52.33
    zero_shot = rows["vit_b_clip (open_clip results)"]
    assert _value(zero_shot, "robustness", "imagenet-r", "top1") == pytest.approx(0.7777)
    # the Table 1 / robustness-table discrepancy is shown, not hidden
    assert any("83.7" in n.message for n in rows["vit_b_sup (paper)"].notices)
    assert all(r.header["reference"] == "published" for r in rows.values())
    assert "Table 2" in rows["vit_b_sup (paper)"].header["source"]["robustness/imagenet-v2/none/top1"]


def test_testbed_rows_equal_the_grid():
    with GRID.open() as handle:
        grid = {row["model"]: row for row in csv.DictReader(handle)}
    rows = {r.header["model"]["name"]: r for r in reference_rows("testbed")}
    columns = ("val", "imagenetv2-matched-frequency-format-val", "imagenet-a", "imagenet-r", "imagenet-sketch",
               "objectnet-1.0-beta")
    assert len(rows) == sum(1 for row in grid.values() if any(row[c] for c in columns)) == 335
    resnet = rows["resnet50"]
    assert _value(resnet, "robustness", "imagenet-v2", "top1") == pytest.approx(
        float(grid["resnet50"]["imagenetv2-matched-frequency-format-val"]) / 100)
    assert resnet.header["source"]["nat_model_type"] == "STANDARD"


def test_unknown_collection_is_one_line():
    with pytest.raises(AuditError, match="use testbed or beyond-inet"):
        reference_rows("paper")
