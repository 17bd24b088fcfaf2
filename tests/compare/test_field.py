"""The field section of a comparison: 60 models' headline records become a property table whose
correlations equal scipy's, with ranks, residuals, figures and a leaderboard that reads back."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy import stats

from auditkit.compare.field import ACCURACY, field_section, property_table
from auditkit.records import MetricRecord


def _records(count: int, seed: int = 0) -> tuple[list[str], list[MetricRecord], dict[str, float]]:
    rng = np.random.default_rng(seed)
    models = [f"model_{i:02d}" for i in range(count)]
    records, top1 = [], {}
    for model in models:
        accuracy = rng.uniform(0.6, 0.85)
        top1[model] = accuracy
        ece = 0.2 - 0.2 * accuracy + rng.normal(0, 0.01)
        shape = rng.uniform(0.2, 0.6)
        records += [
            MetricRecord(model=model, suite="robustness", dataset="imagenet-val", condition="none",
                         metric="top1", value=accuracy, ci_low=accuracy - 0.01, ci_high=accuracy + 0.01, n=500),
            MetricRecord(model=model, suite="robustness", dataset="imagenet-v2", condition="none",
                         metric="top1", value=accuracy - 0.12, ci_low=None, ci_high=None, n=100),
            MetricRecord(model=model, suite="calibration", dataset="imagenet-val", condition="none",
                         metric="ece", value=ece, ci_low=None, ci_high=None, n=500),
            MetricRecord(model=model, suite="shape_bias", dataset="cue-conflict", condition="native",
                         metric="shape_bias", value=shape, ci_low=None, ci_high=None, n=1200),
            MetricRecord(model=model, suite="shape_bias", dataset="cue-conflict", condition="native",
                         metric="shape_hits", value=300, ci_low=None, ci_high=None, n=1200),
            MetricRecord(model=model, suite="shape_bias", dataset="cue-conflict", condition="native",
                         metric="conflict_trials", value=1200, ci_low=None, ci_high=None, n=1280),
            MetricRecord(model=model, suite="calibration", dataset="imagenet-val", subset="texture",
                         metric="ece", value=0.1, ci_low=None, ci_high=None, n=10),
        ]
    return models, records, top1


BETTER = {"robustness": {"top1": "higher"}, "calibration": {"ece": "lower"}}


def test_sixty_models_give_a_section_whose_numbers_are_scipys(tmp_path):
    models, records, top1 = _records(60)
    section = field_section(models, records, BETTER, references={"model_00"})
    table = section.table
    assert table.properties[0] == ACCURACY
    assert "shape_bias / cue-conflict / shape_hits" not in table.properties  # counts are not properties
    assert "shape_bias / cue-conflict / conflict_trials" not in table.properties
    assert all("texture" not in p for p in table.properties)  # headline records only
    ece = table.column("calibration / imagenet-val / ece")
    (pair,) = [c for c in section.correlations if c.method == "spearman"
               and {c.first, c.second} == {ACCURACY, "calibration / imagenet-val / ece"}]
    assert pair.value == pytest.approx(stats.spearmanr([top1[m] for m in models], ece).statistic)
    assert pair.value < -0.8 and pair.p_value < 0.01
    (fit,) = [f for f in section.fits if f.prop == "calibration / imagenet-val / ece"]
    reference = stats.linregress([top1[m] for m in models], ece)
    assert fit.slope == pytest.approx(reference.slope)
    # the best model by val top-1 ranks first there
    best = max(models, key=top1.get)
    assert section.ranks.ranks[models.index(best), 0] == 1
    names = [name for name, _, _ in section.figures]
    assert names[:2] == ["correlations", "against_accuracy"]
    assert "accuracy_on_the_line_imagenet-v2" in names
    path = section.leaderboard(tmp_path / "leaderboard.csv")
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 60 and rows[0]["kind"] == "published" and rows[1]["kind"] == "audited"
    assert float(rows[5][ACCURACY]) == pytest.approx(top1["model_05"], rel=1e-5)
    residual = float(rows[5]["residual: calibration / imagenet-val / ece"])
    assert residual == pytest.approx(ece[5] - (reference.slope * top1["model_05"] + reference.intercept), abs=1e-5)


def test_too_few_models_give_no_section():
    models, records, _ = _records(2)
    assert field_section(models, records, BETTER, references=set()) is None


def test_accuracy_comes_from_whichever_suite_has_it():
    records = [MetricRecord(model="a", suite="calibration", dataset="imagenet-val", condition="none",
                            metric="top1", value=0.7, ci_low=None, ci_high=None, n=1),
               MetricRecord(model="b", suite="robustness", dataset="imagenet-val", condition="none",
                            metric="top1", value=0.8, ci_low=None, ci_high=None, n=1),
               MetricRecord(model="b", suite="calibration", dataset="imagenet-val", condition="none",
                            metric="top1", value=0.79, ci_low=None, ci_high=None, n=1)]
    table, _ = property_table(["a", "b"], records, {})
    assert table.column(ACCURACY).tolist() == [0.7, 0.8]  # robustness' top1 preferred for b
