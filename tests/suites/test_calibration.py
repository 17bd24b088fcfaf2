"""Calibration metrics against netcal, torch and hand-worked cases; the suite's schema v2 records
equal its ``sample_metrics`` of its per-sample arrays; version 1 runs of this suite's family
(calibration, adversarial, invariance, pug) migrate to the same keys (``v1_samples_reproduce``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from netcal.metrics import ECE, MCE

from auditkit.data.source import DatasetSource, Sample
from auditkit.records import read_results
from auditkit.records_v1 import v1_sample_files
from auditkit.suite import PredictionRequest, Predictions
from suites import get_suite
from suites.calibration.metrics import (
    CalibrationArrays,
    adaptive_ece,
    bin_index,
    bin_stats,
    calibration_arrays,
    calibration_metrics,
    expected_calibration_error,
    max_calibration_error,
)
from suites.calibration.suite import CalibrationSuite

V1_RUN = Path(__file__).parents[1] / "data" / "v1_run"


def random_predictions(n: int = 3000, classes: int = 20, seed: int = 0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, classes)) * 3
    labels = rng.integers(0, classes, n)
    # make it informative so bins across the range are filled
    logits[np.arange(n), labels] += rng.uniform(0, 6, n)
    return logits, labels


def test_ece_and_mce_match_netcal_on_full_probability_matrix():
    logits, labels = random_predictions()
    probs = torch.softmax(torch.tensor(logits), dim=1).numpy()
    arrays = calibration_arrays(logits, labels, None)
    # no confidence on an interior edge, so (lo, hi] and netcal's [lo, hi) agree
    assert not np.any(np.isclose(arrays.confidence[:, None], np.arange(1, 15) / 15, atol=1e-12))
    ours = expected_calibration_error(arrays.confidence, arrays.correct)
    assert ours == pytest.approx(ECE(bins=15).measure(probs, labels), abs=1e-9)
    assert max_calibration_error(arrays.confidence, arrays.correct) == pytest.approx(
        MCE(bins=15).measure(probs, labels), abs=1e-9
    )
    assert 0.01 < ours < 0.5  # a non-trivial value, so the comparison means something


def test_confidence_on_an_interior_edge_belongs_to_the_lower_bin():
    # 0.2 = 3/15 is the upper edge of bin 2 = (2/15, 3/15]; 0.21 falls in bin 3.
    confidence = np.array([0.2, 0.21])
    correct = np.array([True, False])
    assert list(bin_index(confidence)) == [2, 3]
    # separate bins: 1/2 * |1 - 0.2| + 1/2 * |0 - 0.21|
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.505)
    # netcal's [lo, hi) bins put both in one bin: |0.5 - 0.205| = 0.295 (docs/protocols.md)
    netcal = ECE(bins=15).measure(np.stack([1 - confidence, confidence], 1), correct.astype(int))
    assert netcal == pytest.approx(0.295)


def test_edge_values_one_and_smallest():
    confidence = np.array([1.0, 1 / 15])
    correct = np.array([True, True])
    assert list(bin_index(confidence)) == [14, 0]
    assert expected_calibration_error(confidence, correct) == pytest.approx(0.5 * (1 - 1 / 15))


def test_one_sample_per_bin():
    confidence = (np.arange(15) + 0.5) / 15
    correct = np.arange(15) % 2 == 0
    assert sorted(bin_index(confidence)) == list(range(15))
    expected = np.mean(np.abs(correct.astype(float) - confidence))
    assert expected_calibration_error(confidence, correct) == pytest.approx(expected)
    assert max_calibration_error(confidence, correct) == pytest.approx(np.max(np.abs(correct - confidence)))


def test_all_correct_and_all_wrong():
    confidence = np.array([0.3, 0.55, 0.9, 0.97])
    assert expected_calibration_error(confidence, np.ones(4, bool)) == pytest.approx(1 - confidence.mean())
    assert expected_calibration_error(confidence, np.zeros(4, bool)) == pytest.approx(confidence.mean())
    assert max_calibration_error(confidence, np.zeros(4, bool)) == pytest.approx(0.97)


def test_adaptive_ece_equal_mass_bins_by_hand():
    confidence = np.array([0.4, 0.1, 0.3, 0.2])
    correct = np.array([True, False, False, True])
    # two bins of two: {0.1 wrong, 0.2 right} and {0.3 wrong, 0.4 right}
    expected = 0.5 * abs(0.5 - 0.15) + 0.5 * abs(0.5 - 0.35)
    assert adaptive_ece(confidence, correct, num_bins=2) == pytest.approx(expected)


def test_adaptive_ece_against_quantile_binning():
    logits, labels = random_predictions(n=1500)  # 1500 / 15 = 100 per bin, no ragged bins
    arrays = calibration_arrays(logits, labels, None)
    order = np.argsort(arrays.confidence)
    conf, corr = arrays.confidence[order], arrays.correct[order]
    expected = np.mean([abs(corr[i:i + 100].mean() - conf[i:i + 100].mean()) for i in range(0, 1500, 100)])
    assert adaptive_ece(arrays.confidence, arrays.correct) == pytest.approx(expected)


def test_brier_nll_top1_against_torch():
    logits, labels = random_predictions()
    arrays = calibration_arrays(logits, labels, None)
    t_logits, t_labels = torch.tensor(logits), torch.tensor(labels)
    probs = torch.softmax(t_logits, 1)
    brier = ((probs - F.one_hot(t_labels, logits.shape[1]).double()) ** 2).sum(1).mean().item()
    assert arrays.brier.mean() == pytest.approx(brier, rel=1e-9)
    assert -arrays.label_log_prob.mean() == pytest.approx(F.cross_entropy(t_logits, t_labels).item(), rel=1e-9)
    assert arrays.correct.mean() == pytest.approx((probs.argmax(1) == t_labels).double().mean().item())


def test_restriction_to_200_classes_happens_before_softmax():
    from auditkit.data.classes import subset_indices

    classes = subset_indices("imagenet_r")
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(50, 1000))
    outside = sorted(set(range(1000)) - set(classes))[0]
    logits[:, outside] = 50.0  # the unrestricted argmax would always be outside the subset
    labels = np.array(classes)[rng.integers(0, 200, 50)]
    arrays = calibration_arrays(logits, labels, classes)
    restricted = torch.softmax(torch.tensor(logits[:, list(classes)]), 1)
    assert set(arrays.prediction) <= set(classes)
    np.testing.assert_allclose(arrays.confidence, restricted.max(1).values.numpy(), rtol=1e-12)
    position = {c: i for i, c in enumerate(classes)}
    np.testing.assert_allclose(
        arrays.label_log_prob,
        np.log(restricted.numpy()[np.arange(50), [position[y] for y in labels]]),
        rtol=1e-9,
    )


def fake_predictions(dataset: str, logits: np.ndarray, labels: np.ndarray, condition: str = "none") -> Predictions:
    samples = tuple(Sample(Path(f"img{i:05d}.png"), int(y), f"img{i:05d}.png") for i, y in enumerate(labels))
    source = DatasetSource(dataset, Path("/nowhere"), samples)
    sha = np.array([f"{i:040x}" for i in range(len(labels))])
    return Predictions(source=source, condition=condition, logits=logits.astype(np.float32), content_sha1=sha)


def test_bin_stats_by_hand():
    confidence = np.array([0.05, 0.06, 0.5, 0.99])
    correct = np.array([False, True, True, True])
    stats = bin_stats(confidence, correct)
    assert stats.count[0] == 2 and stats.count[7] == 1 and stats.count[14] == 1 and stats.count.sum() == 4
    assert stats.mean_confidence[0] == pytest.approx(0.055) and stats.accuracy[0] == 0.5
    assert list(np.flatnonzero(stats.filled)) == [0, 7, 14]


def test_records_are_v2_and_equal_sample_metrics_of_the_saved_arrays():
    """Each metric defined once: the records and ``sample_metrics`` of the per-sample arrays
    (also on a resample of them) come from ``calibration_metrics``."""
    logits, labels = random_predictions(n=400, classes=1000)
    suite = CalibrationSuite()
    prediction = fake_predictions("imagenet-val", logits, labels)
    output = suite.evaluate("m", {PredictionRequest("imagenet-val"): prediction}, seed=0)
    assert {(r.dataset, r.condition, r.subset, r.aggregate) for r in output.records} == {("imagenet-val", "none", "all", "")}
    # 400 images: the 80 of the default fit subset are fewer than the 1000 classes, so no temperature
    # scaling (skipped with the reason, tests/suites/test_temperature_scaling.py)
    assert [r.metric for r in output.records] == ["ece", "max_calibration_error", "adaptive_ece", "ece_em100", "brier",
                                                  "nll", "top1"]
    assert all(r.suite == "calibration" and r.suite_version == suite.version and r.n == 400 for r in output.records)
    assert all(r.ci_low <= r.value <= r.ci_high for r in output.records)
    arrays = output.per_sample[("imagenet-val", "none")]
    assert {"sample_id", "content_sha1", "confidence", "correct", "brier", "nll", "label"} <= set(arrays)
    metrics = suite.sample_metrics("imagenet-val", "none", arrays)
    assert metrics == {(r.subset, r.metric): r.value for r in output.records}
    # independent check of two records: torch's cross-entropy and accuracy on the float32 logits
    t_logits = torch.tensor(logits.astype(np.float32)).double()
    assert metrics[("all", "nll")] == pytest.approx(F.cross_entropy(t_logits, torch.tensor(labels)).item(), rel=1e-9)
    assert metrics[("all", "top1")] == pytest.approx((t_logits.argmax(1).numpy() == labels).mean())
    resample = np.random.default_rng(1).integers(0, 400, 400)
    again = suite.sample_metrics("imagenet-val", "none", {k: v[resample] for k, v in arrays.items()})
    direct = calibration_metrics(calibration_arrays(logits.astype(np.float32)[resample], labels[resample], None))
    assert again == pytest.approx({("all", m): v for m, v in direct.items()}, rel=1e-12)
    assert suite.sample_hits("imagenet-val", "none", arrays)[("all", "top1")].mean() == metrics[("all", "top1")]


def test_recorded_answers_without_logits_are_skipped_with_the_reason():
    logits, labels = random_predictions(n=10, classes=1000)
    prediction = fake_predictions("imagenet-val", logits, labels)
    recorded = Predictions(source=prediction.source, condition="none", logits=None, content_sha1=prediction.content_sha1,
                           top1=logits.argmax(1))
    suite = CalibrationSuite()
    # refused before evaluate (Suite.unscorable, asked by the plan and the runner)
    assert suite.unscorable("m", recorded.answered) == "m answers with top1; calibration scores logits"
    assert suite.unscorable("m", prediction.answered) is None


def test_arrays_round_trip_through_the_saved_form():
    logits, labels = random_predictions(n=50)
    arrays = calibration_arrays(logits, labels, None)
    back = CalibrationArrays.from_samples(arrays.samples())
    assert calibration_metrics(back) == calibration_metrics(arrays)


def v1_samples_reproduce(suite_name: str) -> int:
    """The committed version 1 run (tests/data/v1_run), read through the migration: every record of
    ``suite_name`` is schema v2 (a condition, a subset), and ``sample_metrics`` of each of its v1
    per-sample files equals the migrated records it keys. Returns how many values matched."""
    results = read_results(V1_RUN)
    assert results.read_from_version == 1
    records = {r.key: r for r in results.records if r.suite == suite_name}
    assert records, suite_name
    matched = 0
    for (suite, dataset, condition), path in v1_sample_files(V1_RUN, results.header).items():
        if suite != suite_name:
            continue
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        for (subset, metric), value in get_suite(suite).sample_metrics(dataset, condition, arrays).items():
            record = records.get((suite, dataset, condition, subset, metric))
            if record is not None:
                assert value == pytest.approx(record.value, rel=1e-9), (dataset, condition, subset, metric)
                matched += 1
    assert matched, f"no v1 {suite_name} record reproduced from its per-sample files"
    return matched


def test_v1_calibration_records_migrate():
    results = read_results(V1_RUN)
    rows = [r for r in results.records if r.suite == "calibration"]
    assert {(r.dataset, r.condition, r.subset) for r in rows} == {("imagenet-val", "none", "all")}
    assert v1_samples_reproduce("calibration") == 6  # all six metrics, ECE included
