"""Rival conventions side by side: ImageNet-A and -R top-1 on their 200 classes (``top1``) and
1000-way (``top1_1000way``), each counted here by hand; every metric with a rival says which
convention it is (``Metric.convention``), docs/conventions.md lists each, and the report prints
the line under the metric's definition."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from markupsafe import escape

from auditkit.data.classes import subset_indices
from auditkit.data.source import DatasetSource, Sample
from auditkit.records import FigureRef, MetricRecord, RunResults
from auditkit.suite import PredictionRequest, Predictions
from suites import SUITES, get_suite
from suites.robustness.suite import RobustnessSuite

CONVENTIONS_PAGE = Path(__file__).parents[2] / "docs" / "conventions.md"


def shifted(dataset: str, logits: np.ndarray, labels: np.ndarray) -> Predictions:
    key = "imagenet_a" if dataset == "imagenet-a" else "imagenet_r"
    samples = tuple(Sample(Path("/nowhere"), int(y), f"{dataset}-{i}") for i, y in enumerate(labels))
    source = DatasetSource(dataset, Path("/nowhere"), samples, class_indices=subset_indices(key))
    return Predictions(source, "none", logits.astype(np.float32), np.full(len(labels), ""))


@pytest.mark.parametrize("dataset", ["imagenet-a", "imagenet-r"])
def test_a_and_r_top1_on_200_classes_and_1000_way_each_named(dataset):
    classes = list(subset_indices("imagenet_a" if dataset == "imagenet-a" else "imagenet_r"))
    outside = sorted(set(range(1000)) - set(classes))
    rng = np.random.default_rng(0)
    n = 60
    labels = np.array(classes)[rng.integers(0, 200, n)]
    logits = rng.normal(size=(n, 1000))
    logits[np.arange(n), labels] += 4.0  # the label wins among the 200 ...
    tempted = np.arange(n) % 3 == 0
    logits[np.flatnonzero(tempted), outside[0]] = 50.0  # ... but a third of the images prefer a class outside them
    wrong = np.arange(n) % 5 == 0
    logits[np.flatnonzero(wrong), classes[0]] = 60.0 * (labels[wrong] != classes[0])  # wrong among the 200 too
    output = RobustnessSuite().evaluate("m", {PredictionRequest(dataset): shifted(dataset, logits, labels)}, seed=0)
    records = {r.metric: r for r in output.records if r.dataset == dataset}
    # by hand, with torch: argmax among the 200 (the masked logits) and over all 1000
    t = torch.tensor(logits.astype(np.float32))
    masked = torch.full_like(t, float("-inf"))
    masked[:, classes] = t[:, classes]
    among_200 = (masked.argmax(1).numpy() == labels).mean()
    all_1000 = (t.argmax(1).numpy() == labels).mean()
    assert records["top1"].value == pytest.approx(among_200)
    assert records["top1_1000way"].value == pytest.approx(all_1000)
    assert all_1000 < among_200 < 1  # the fixture tells the two apart
    assert records["top1_1000way"].ci_low <= records["top1_1000way"].value <= records["top1_1000way"].ci_high
    arrays = output.per_sample[(dataset, "none")]
    assert arrays["top1_1000way"].dtype == bool  # a per-sample hit: compare pairs it (McNemar)
    suite = RobustnessSuite()
    assert suite.sample_metrics(dataset, "none", arrays)[("all", "top1_1000way")] == records["top1_1000way"].value
    assert suite.headline(records["top1_1000way"])


def test_val_has_no_1000_way_rival():
    labels = np.arange(10)
    logits = np.eye(10, 1000, dtype=np.float32) * 5
    source = DatasetSource("imagenet-val", Path("/nowhere"),
                           tuple(Sample(Path("/nowhere"), int(y), f"v{i}") for i, y in enumerate(labels)))
    output = RobustnessSuite().evaluate(
        "m", {PredictionRequest("imagenet-val"): Predictions(source, "none", logits, np.full(10, ""))}, seed=0)
    assert "top1_1000way" not in {r.metric for r in output.records}


# metric -> words its convention line must hold: the number's convention and its rival's record
RIVALS = {
    ("robustness", "top1"): ("200 classes", "top1_1000way"),
    ("robustness", "top1_1000way"): ("1000", "top1"),
    ("calibration", "ece"): ("15 equal-width", "ece_em100"),
    ("calibration", "ece_em100"): ("100 equal-mass", "ece"),
    ("calibration", "ece_ts"): ("15 equal-width", "ece_em100"),
    ("calibration", "temperature"): ("minderer", "guo"),
}


def test_every_metric_with_a_rival_says_which_convention_and_the_page_lists_it():
    page = CONVENTIONS_PAGE.read_text()
    for (suite_name, metric), words in RIVALS.items():
        convention = get_suite(suite_name).metrics[metric].convention
        assert all(w in convention for w in words), (suite_name, metric, convention)
    # the page names records exactly (`top1`) or as a pattern (`<method>_fpr95_id_kept`)
    listed = set(re.findall(r"`([a-z0-9_<>]+)`", page))
    patterns = [re.compile(re.sub(r"<[a-z]+>", "[a-z0-9]+", name) + "$") for name in listed if "<" in name]
    for name in SUITES.names():
        for metric, declared in get_suite(name).metrics.items():
            if declared.convention:  # each such metric is on the page
                assert metric in listed or any(p.match(metric) for p in patterns), \
                    f"docs/conventions.md does not list {name}.{metric}"


def test_the_report_prints_the_convention_under_the_definition(tmp_path):
    from auditkit.report.html import build_report

    records = [
        MetricRecord(model="m", suite="robustness", dataset="imagenet-a", metric="top1", value=0.4, n=60),
        MetricRecord(model="m", suite="robustness", dataset="imagenet-a", metric="top1_1000way", value=0.3, n=60),
        MetricRecord(model="m", suite="calibration", dataset="imagenet-val", metric="ece", value=0.05, n=60),
        MetricRecord(model="m", suite="calibration", dataset="imagenet-val", subset="minderer_fit",
                     metric="temperature", value=1.3, n=12),
    ]
    RunResults(header={"model": {"name": "m"}, "suites": {"robustness": "0.3", "calibration": "1.1"}},
               records=records, figures=list[FigureRef]()).write(tmp_path)
    html = build_report(tmp_path).read_text()
    for suite_name, metric in [("robustness", "top1"), ("robustness", "top1_1000way"), ("calibration", "ece"),
                               ("calibration", "temperature")]:
        convention = get_suite(suite_name).metrics[metric].convention
        assert f'<span class="convention">{escape("Convention: " + convention)}</span>' in html, metric
    # one line per metric that has a rival, where its definition is (nothing for a metric without one)
    assert html.count('class="convention"') == 4
