"""`audit compare`: paired tests against hand-worked counts, shared samples only, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from auditkit.cli import main
from auditkit.compare import compare, load_runs
from auditkit.compare.paired import align, bootstrap_p, holm, mcnemar_exact, PairedTest
from auditkit.errors import AuditError
from tests.compare.fixtures import DESIGN, make_runs, make_val, records, run_model, val_names
from tests.suites.test_imagenet_x import partial_val  # noqa: F401  (a fixture: two annotated images per factor)


@pytest.fixture(scope="module")
def four_runs(tmp_path_factory) -> Path:
    """Four fixture models on the same 24 images: runs/m0 .. runs/m3."""
    return make_runs(tmp_path_factory.mktemp("four"), 4)


def paired_of(payload: dict, suite: str, metric: str, a: str, b: str) -> dict:
    found = [t for t in payload["tests"] if t["suite"] == suite and t["metric"] == metric
             and t["model_a"] == a and t["model_b"] == b and t["condition"] == "none"]
    assert len(found) == 1, found
    return found[0]


def test_mcnemar_and_bootstrap_match_hand_worked_counts(four_runs: Path, tmp_path: Path) -> None:
    runs = four_runs / "runs"
    main(["compare", str(runs / "m0"), str(runs / "m1"), "--out", str(tmp_path / "cmp"), "--resamples", "400"])
    payload = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    a, b = (r["name"] for r in payload["runs"])
    top1 = paired_of(payload, "calibration", "top1", a, b)
    assert top1["n"] == 24
    assert top1["value_a"] == pytest.approx(16 / 24) and top1["value_b"] == pytest.approx(21 / 24)
    assert top1["difference"] == pytest.approx(-5 / 24)
    assert (top1["only_a_right"], top1["only_b_right"]) == (1, 6)
    assert top1["p_mcnemar"] == pytest.approx(0.125)  # 2 * (C(7,0) + C(7,1)) / 2^7, by hand
    assert top1["p_mcnemar"] == pytest.approx(stats.binomtest(1, 7, 0.5).pvalue)  # and by scipy
    assert top1["ci_low"] <= top1["difference"] <= top1["ci_high"]
    # a binned metric is paired too (recomputed by the suite on the shared samples)
    ece = paired_of(payload, "calibration", "ece", a, b)
    recorded = {(r["model"], r["metric"]): r["value"] for r in payload["records"] if r["condition"] == "none"
                and r["suite"] == "calibration"}
    assert ece["value_a"] == pytest.approx(recorded[(a, "ece")]) and ece["value_b"] == pytest.approx(recorded[(b, "ece")])
    assert ece["p_mcnemar"] is None and 0 <= ece["p_bootstrap"] <= 1
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert ">0.12 <span class=\"ci\">(1 / 6)</span>" in html  # McNemar p (2 digits) with b / c


def test_four_models_with_significance_marks(four_runs: Path, tmp_path: Path) -> None:
    # a parent folder of runs is accepted, in sorted order
    main(["compare", str(four_runs / "runs"), "--out", str(tmp_path / "cmp"), "--resamples", "300"])
    payload = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    names = [r["name"] for r in payload["runs"]]
    assert len(names) == 4 and len(set(names)) == 4
    # model 2 is always right, model 3 wrong on 12 of 24: McNemar b = 12, c = 0
    test = paired_of(payload, "calibration", "top1", names[2], names[3])
    assert (test["only_a_right"], test["only_b_right"]) == (12, 0)
    assert test["p_mcnemar"] == pytest.approx(2 * 0.5 ** 12)
    # Holm over every test on the page: adjusted p lies between the raw p and m times it
    assert test["p_mcnemar"] <= test["p_adjusted"] <= len(payload["tests"]) * test["p_mcnemar"]
    assert test["stars"] and test["p_adjusted"] < 0.05
    html = (tmp_path / "cmp" / "compare.html").read_text()
    assert f"&gt; D<span class=\"sig-mark\">{test['stars']}</span>" in html  # under C's value
    for name in names:
        assert name in html
    # Figure 1 panels, radar, reliability overlay, and the field section's correlation heat map and
    # properties against val top-1 (calibration's top-1: four models share its properties)
    assert html.count('<img src="data:image/png;base64,') == 5
    assert 'id="field"' in html and "Against the field — 4 models" in html
    # the reliability overlay comes from the calibration suite's optional hook
    assert "Reliability diagrams overlaid" in html


def test_glob_and_identical_runs_show_no_difference(four_runs: Path, tmp_path: Path) -> None:
    copy = tmp_path / "runs" / "m0-again"
    shutil.copytree(four_runs / "runs" / "m0", copy)
    shutil.copytree(four_runs / "runs" / "m0", tmp_path / "runs" / "m0")
    comparison = compare(load_runs([str(tmp_path / "runs" / "m0*")]), resamples=200)
    assert len(comparison.runs) == 2 and comparison.runs[1].name.endswith("(m0-again)")
    for test in comparison.tests:
        assert test.difference == 0 and test.ci_low == 0 == test.ci_high
        assert test.p == 1 and not test.stars


def test_different_manifests_use_only_shared_samples(tmp_path: Path) -> None:
    full = make_val(tmp_path / "val-full", DESIGN)
    # B's folder lacks images 16..19 (four of A's six 'only B right' images)
    part = make_val(tmp_path / "val-part", DESIGN, keep=slice(None))
    for name, _ in val_names()[16:20]:
        next(part.glob(f"*/{name}")).unlink()
    run_model(tmp_path, 0, full, tmp_path / "runs" / "a")
    run_model(tmp_path, 1, part, tmp_path / "runs" / "b")
    comparison = compare(load_runs([str(tmp_path / "runs" / "a"), str(tmp_path / "runs" / "b")]), resamples=200)
    top1 = next(t for t in comparison.tests if t.metric == "top1")
    assert top1.n == 20
    # shared: 15 both right, 1 only A right, 2 only B right, 2 both wrong (counted by hand)
    assert (top1.only_a_right, top1.only_b_right) == (1, 2)
    assert top1.value_a == pytest.approx(16 / 20) and top1.value_b == pytest.approx(17 / 20)
    notices = " ".join(comparison.notices)
    assert "imagenet-val: the runs' data differ" in notices and "20 shared samples" in notices
    assert "4 samples only in" in notices


def test_align_leaves_out_changed_images_and_refuses_pooled_trials() -> None:
    a = {"sample_id": np.array(["x", "y", "z"]), "content_sha1": np.array(["1", "2", "3"])}
    b = {"sample_id": np.array(["z", "y", "w"]), "content_sha1": np.array(["3", "changed", "9"])}
    alignment = align(a, b)
    assert alignment.rows_a.tolist() == [2] and alignment.rows_b.tolist() == [0]
    assert alignment.content_differs == 1 and alignment.only_a == 1 and alignment.only_b == 1
    pooled = {"sample_id": np.array(["x", "x"]), "content_sha1": np.array(["", ""])}
    assert "repeat" in align(pooled, a)


def test_mcnemar_holm_and_bootstrap_p_by_hand() -> None:
    hits_a = np.array([1, 1, 0, 0, 1, 0, 0, 0, 1], dtype=bool)
    hits_b = np.array([1, 0, 1, 1, 1, 1, 1, 1, 0], dtype=bool)
    p, b, c = mcnemar_exact(hits_a, hits_b)
    assert (b, c) == (2, 5) and p == pytest.approx(2 * (1 + 7 + 21) / 128)
    assert mcnemar_exact(hits_a, hits_a)[0] == 1.0
    tests = [PairedTest(suite="s", dataset="d", condition="none", subset="all", metric=m, model_a="A", model_b="B",
                        n=10, value_a=0, value_b=0, difference=0, ci_low=0, ci_high=0, p_bootstrap=p)
             for m, p in (("x", 0.01), ("y", 0.04), ("z", 0.03))]
    assert [t.p_adjusted for t in holm(tests)] == pytest.approx([0.03, 0.06, 0.06])
    draws = np.random.default_rng(0).normal(0.5, 0.25, 4000)
    assert bootstrap_p(0.5, draws) == pytest.approx(2 * stats.norm.sf(2), rel=0.05)


def test_bad_input_is_one_line_naming_the_fix(four_runs: Path, tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="at least two runs"):
        load_runs([str(four_runs / "runs" / "m0")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(AuditError, match="no results.json"):
        load_runs([str(tmp_path / "empty"), str(four_runs / "runs" / "m0")])
    with pytest.raises(AuditError, match="matches no folder"):
        load_runs([str(tmp_path / "nothing-*")])
    # two runs on disjoint images of the same dataset: nothing to pair
    make_val(tmp_path / "first", DESIGN, keep=slice(0, 12))
    make_val(tmp_path / "second", DESIGN, keep=slice(12, 24))
    run_model(tmp_path, 0, tmp_path / "first", tmp_path / "runs" / "a")
    run_model(tmp_path, 1, tmp_path / "second", tmp_path / "runs" / "b")
    with pytest.raises(AuditError, match="share no samples") as error:
        compare(load_runs([str(tmp_path / "runs")]), resamples=100)
    assert "\n" not in str(error.value)
    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(four_runs / "runs" / "m0")])
    assert exit_.value.code == 2


def reproduced(run_dir: Path) -> int:
    """Check every record a suite can recompute from its saved per-sample arrays; return how many."""
    from auditkit.compare.comparison import suite_for

    from auditkit.compare.runs import Run
    from auditkit.records import read_results

    run = Run(run_dir, read_results(run_dir), "m")
    recorded = {r.key: r.value for r in run.records}
    checked = 0
    for suite, dataset, condition in run.sample_files():
        arrays = {k: v for k, v in run.samples(suite, dataset, condition).items() if k not in ("sample_id", "content_sha1")}
        for (subset, metric), value in suite_for(suite).sample_metrics(dataset, condition, arrays).items():
            key = (suite, dataset, condition, subset, metric)
            if key in recorded and recorded[key] is not None and np.isfinite(value):
                assert value == pytest.approx(recorded[key], rel=1e-9, abs=1e-12), key
                checked += 1
    return checked


def test_per_sample_arrays_reproduce_the_records(four_runs: Path) -> None:
    # calibration: top1, brier, nll (the convention) and ece, mce, adaptive ece, ece_em100 (the override)
    assert reproduced(four_runs / "runs" / "m0") == 7
    # and the records themselves, worked by hand: model 0 answers one-hot logits x 4, wrong on 8 of
    # the 24 images (DESIGN), so every image has confidence c = e^4 / (e^4 + 999) and every other
    # class q = 1 / (e^4 + 999)
    c, q = np.exp(4) / (np.exp(4) + 999), 1 / (np.exp(4) + 999)
    recorded = {r["metric"]: r for r in records(four_runs / "runs" / "m0")
                if r["suite"] == "calibration" and r["condition"] == "none" and r["dataset"] == "imagenet-val"}
    assert recorded["top1"]["value"] == pytest.approx(16 / 24)
    assert recorded["ece"]["value"] == pytest.approx(16 / 24 - c)  # one bin holds every image: |acc - conf|
    assert c == pytest.approx(0.051821, abs=1e-6)
    right_brier = (1 - c) ** 2 + 999 * q ** 2
    wrong_brier = (1 - q) ** 2 + c ** 2 + 998 * q ** 2
    assert recorded["brier"]["value"] == pytest.approx((16 * right_brier + 8 * wrong_brier) / 24)
    assert recorded["nll"]["value"] == pytest.approx((16 * -np.log(c) + 8 * -np.log(q)) / 24)
    # the top-1 CI (percentile bootstrap over images) against scipy's, on 16 hits of 24
    reference = stats.bootstrap((np.r_[np.ones(16), np.zeros(8)],), np.mean, n_resamples=20000,
                                method="percentile", random_state=0).confidence_interval
    assert recorded["top1"]["ci_low"] == pytest.approx(reference.low, abs=1 / 24)
    assert recorded["top1"]["ci_high"] == pytest.approx(reference.high, abs=1 / 24)
    card = (four_runs / "runs" / "m0" / "model_card.html").read_text()  # audit run writes the card
    assert "Model card" in card and "0.6667" in card and "[0.4990, 0.8333]" in card


def test_imagenet_x_per_sample_arrays_reproduce_its_ratios(partial_val, tmp_path: Path) -> None:
    root, model = partial_val
    main(["run", "--model", f"python:{model}:make", "--suites", "imagenet_x", "--data", f"imagenet-val={root}",
          "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--no-progress", "--workers", "0"])
    # every record (schema v2: each metric defined once): 16 factors x (error ratio, accuracy,
    # annotated images) x (top, multi) + the two means, the two accuracies and the coverage
    assert reproduced(tmp_path / "out") == 16 * 3 * 2 + 5 == len(records(tmp_path / "out"))


def test_the_convention_names_metrics_for_any_suite() -> None:
    from suites import get_suite

    arrays = {"correct": np.array([True, False, True, True]), "consistency": np.array([True, True, False, True]),
              "true_class_probability": np.array([0.5, 0.1, 0.9, 0.7]), "prediction": np.array([1, 2, 3, 4])}
    invariance = get_suite("invariance")
    assert invariance.sample_metrics("imagenet-val", "scale/1.5", arrays) == pytest.approx({
        ("all", "top1"): 0.75, ("all", "consistency"): 0.75, ("all", "true_class_probability"): 0.55})
    assert set(invariance.sample_hits("imagenet-val", "scale/1.5", arrays)) == {("all", "top1"), ("all", "consistency")}
    robustness = get_suite("robustness")
    assert robustness.sample_metrics("imagenet-val", "none", {"correct": arrays["correct"], "top5": np.ones(4, bool)}) == {
        ("all", "top1"): 0.75, ("all", "top5"): 1.0}


def test_a_subset_missing_from_a_resample_is_undefined_there_not_an_error() -> None:
    """sample_metrics of a resample may lack a subset (an ImageNet-X factor with no image drawn):
    that resample's difference is NaN, and the test rests on the others."""
    from auditkit.compare.paired import paired_tests
    from auditkit.suite import Suite

    class Grouped(Suite):
        name, datasets = "grouped", ()

        def evaluate(self, model, predictions, seed):  # type: ignore[no-untyped-def]
            raise NotImplementedError

        def sample_metrics(self, dataset, condition, arrays):  # type: ignore[no-untyped-def]
            rare = arrays["group"] == "rare"
            found = {("all", "top1"): float(arrays["correct"].mean())}
            if rare.any():
                found[("rare", "top1")] = float(arrays["correct"][rare].mean())
            return found

    ids = np.array([f"s{i}" for i in range(40)])
    group = np.array(["rare"] + ["common"] * 39)
    a = {"sample_id": ids, "correct": np.arange(40) % 2 == 0, "group": group}
    b = {"sample_id": ids, "correct": np.arange(40) % 3 == 0, "group": group}
    tests, _ = paired_tests(Grouped(), "d", "none", ("A", "B"), a, b, {("all", "top1"), ("rare", "top1")},
                            resamples=200)
    rare = next(t for t in tests if t.subset == "rare")
    assert rare.difference == 0 and np.isfinite(rare.ci_low)  # from the resamples that drew it
