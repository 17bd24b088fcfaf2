"""The report and the comparison as a reader sees them (issue 14, items 20-22): every metric
defined where it first appears, numbers at fixed decimals per metric, what differs between runs,
and a radar that never turns noise into the full axis."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from auditkit.compare.plots import Series, radar, radar_group, resolved
from auditkit.data.catalog import DATASETS
from auditkit.records import MetricRecord, RunResults
from auditkit.report import build_report
from auditkit.report.numbers import NumberFormat, column_decimals
from suites import get_suite

REPO = Path(__file__).resolve().parents[2]
SUITES = ("calibration", "imagenet_x", "robustness", "invariance", "pug", "linear_probe", "cka", "adversarial",
          "shape_bias")

# other identifiers the rows name: a timm function, a run-header key, the record's n field
NOT_METRICS = {"set_input_size", "suite_protocols", "n",
               # schema v2 field names and values the table names where records sit (conditions, subsets, aggregates)
               "condition", "subset", "aggregate", "none", "native", "all", "benchmark", "multi", "pose",
               "mean", "pooled", "normalised_sum"}


def readme_metrics() -> dict[str, set[str]]:
    """Metric names each suite's docs page lists under "## Records" (backticked identifiers,
    datasets left out): a source written apart from the suites' declarations."""
    found = {}
    for name in SUITES:
        page = (REPO / "docs" / "suites" / f"{name}.md").read_text()
        section = page.split("\n## Records\n", 1)[1].split("\n## ", 1)[0]
        names = set(re.findall(r"`([a-z][a-z0-9_]*)`", section))
        found[name] = names - set(DATASETS.names()) - NOT_METRICS
    return found


@pytest.mark.parametrize("name", SUITES)
def test_every_metric_a_suite_records_has_words_and_a_definition(name: str) -> None:
    suite = get_suite(name)
    listed = readme_metrics()[name]
    assert listed, "the suite's docs page lists its metrics under Records"
    assert listed | set(suite.better) <= set(suite.metrics), listed | set(suite.better) - set(suite.metrics)
    for metric, declared in suite.metrics.items():
        assert declared.label and "_" not in declared.label, metric  # words, not the identifier
        assert 20 < len(declared.definition) < 260 and "\n" not in declared.definition, metric  # one line


def records(model: str = "m") -> list[MetricRecord]:
    return [
        MetricRecord(model=model, suite="calibration", dataset="imagenet-val", condition="none",
                     metric="ece", value=0.0412345, ci_low=0.031, ci_high=0.052, n=500, suite_version="1"),
        MetricRecord(model=model, suite="calibration", dataset="imagenet-r", condition="none",
                     metric="ece", value=0.1, ci_low=0.09, ci_high=0.11, n=500, suite_version="1"),
        MetricRecord(model=model, suite="calibration", dataset="imagenet-val", condition="none",
                     metric="nll", value=10.97, ci_low=9.819, ci_high=12.14, n=500, suite_version="1"),
        MetricRecord(model=model, suite="calibration", dataset="imagenet-r", condition="none",
                     metric="nll", value=1.2345, ci_low=1.1, ci_high=1.3, n=500, suite_version="1"),
        MetricRecord(model=model, suite="calibration", dataset="imagenet-val", condition="none",
                     metric="top1", value=1.0, ci_low=1.0, ci_high=1.0, n=500, suite_version="1"),
        MetricRecord(model=model, suite="imagenet_x", dataset="imagenet-val", condition="none", subset="pose",
                     metric="error_ratio", value=0.695, ci_low=0.674, ci_high=0.717, n=500, suite_version="1"),
        MetricRecord(model=model, suite="imagenet_x", dataset="imagenet-val", condition="none", subset="texture",
                     metric="error_ratio", value=2.394, ci_low=2.164, ci_high=2.617, n=50, suite_version="1"),
        MetricRecord(model=model, suite="shape_bias", dataset="cue-conflict", condition="native",
                     metric="shape_hits", value=197.0, ci_low=None, ci_high=None, n=1200, suite_version="1"),
    ]


@pytest.fixture()
def page(tmp_path: Path) -> str:
    RunResults(header={"model": {"name": "m"}, "suites": {"calibration": "1", "imagenet_x": "1", "shape_bias": "1"}},
               records=records()).write(tmp_path)
    return build_report(tmp_path).read_text()


def test_definitions_appear_where_each_metric_first_appears(page: str) -> None:
    summary = page.split('<section id="summary"', 1)[1].split("</section>", 1)[0]
    calibration_block = summary.split("<tbody>")[1]
    assert "expected calibration error" in calibration_block  # under the block that first shows ece
    assert "negative log-likelihood" in calibration_block and "top-1 accuracy" in calibration_block
    # error_ratio appears only per condition: defined in its suite's section, before the table
    section = page.split('<section id="suite-imagenet_x"', 1)[1].split("</section>", 1)[0]
    assert section.index("fails more often on that factor") < section.index("Per condition")
    assert "fails more often" not in summary
    assert page.count("expected calibration error") == 1  # once, not in every section


def test_numbers_have_fixed_decimals_per_metric(page: str) -> None:
    # 4 significant figures gave 0.04123 beside 0.1000 in one column; now both at 4 decimals
    assert ">0.0412<" in page and ">0.1000<" in page and "0.04123" not in page
    assert "[0.0310, 0.0520]" in page
    assert ">10.97<" in page and ">1.23<" in page  # nll: two decimals for the column (largest 10.97)
    assert ">0.695<" in page and ">2.394<" in page  # error ratio: three
    assert ">197<" in page  # a count stays a count
    assert ">1.000<" in page  # a proportion that is exactly 1 is not a count


def test_column_decimals_by_hand() -> None:
    assert column_decimals([0.0412345, 0.1]) == 4
    assert column_decimals([0.7613, 0.8296, -0.0683]) == 4
    assert column_decimals([1.06, 0.5]) == 3
    assert column_decimals([10.97, 1.2345]) == 2
    assert column_decimals([60.5, 75.25]) == 2
    assert column_decimals([1234.5]) == 0
    assert column_decimals([197.0, 620.0]) == 0
    assert column_decimals([1.0], counts=False) == 3
    fixed = NumberFormat.of(records(), decimals=1, percent=True)
    ece = records()[0]
    assert fixed.value(ece) == "4.1" and fixed.ci(ece) == "[3.1, 5.2]"  # percent of a proportion
    assert fixed.value(records()[2]) == "11.0"  # nll is no proportion
    assert fixed.value(records()[-1]) == "197"  # counts keep no decimals


def prop(metric: str, cells: dict[str, tuple[float, float | None, float | None]], better: str = "higher") -> Series:
    series = Series("calibration", "imagenet-val", metric, better, ["none"])
    for model, (value, low, high) in cells.items():
        series.values[model] = {"none": MetricRecord(model=model, suite="calibration", dataset="imagenet-val", condition="none",
                                                     metric=metric, value=value, ci_low=low, ci_high=high, n=1000)}
    return series


def test_radar_leaves_out_differences_inside_the_cis() -> None:
    # fp32 vs bf16 of one model: differences of 0.002 with CIs of +- 0.01 are noise
    noise = [prop(m, {"a": (0.800, 0.790, 0.810), "b": (0.802, 0.792, 0.812)}) for m in ("top1", "ece", "nll")]
    assert not any(resolved(p, ["a", "b"]) for p in noise)
    assert radar_group(noise, ["a", "b"]) == ([], []) and radar(noise, ["a", "b"]) is None
    # without CIs a 0.002 spread on 0.8 is also below the 1 % resolution
    assert not resolved(prop("top1", {"a": (0.800, None, None), "b": (0.802, None, None)}), ["a", "b"])
    real = [prop(m, {"a": (0.80, 0.79, 0.81), "b": (0.70, 0.69, 0.71)}) for m in ("top1", "ece", "brier")]
    models, axes = radar_group(real + noise, ["a", "b"])
    assert models == ["a", "b"] and [p.metric for p in axes] == ["top1", "ece", "brier"]
    assert radar(real + noise, ["a", "b"]) is not None


def test_figure_titles_are_words() -> None:
    series = prop("top1", {"a": (0.8, 0.79, 0.81)})
    assert series.title == "Calibration, ImageNet val: top-1 accuracy"
    ece = prop("max_calibration_error", {"a": (0.1, 0.09, 0.11)})
    assert ece.label == "MCE"
