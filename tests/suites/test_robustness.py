"""Robustness: released layouts (V2 index folders, A/R masking, Sketch), ReaL vs timm's scorer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from timm.data import RealLabelsImagenet

from auditkit.cli import main
from auditkit.data import open_dataset
from auditkit.data.classes import imagenet_wnids, subset_indices
from auditkit.errors import AuditError
from auditkit.data.source import DatasetSource, Sample
from auditkit.suite import PredictionRequest, Predictions
from suites.robustness.suite import RobustnessSuite, real_labels, restricted_topk
from tests.conftest import standard_val_names
from tests.suites.test_imagenet_x import COLOUR_MODEL, encode


def test_restricted_topk_takes_the_best_of_the_subset():
    classes = subset_indices("imagenet_a")
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(40, 1000))
    outside = next(i for i in range(1000) if i not in classes)
    logits[:, outside] = 100.0  # the unrestricted winner, never an answer
    ours = restricted_topk(logits, classes, 5)
    masked = torch.full((40, 1000), float("-inf"))
    masked[:, list(classes)] = torch.tensor(logits[:, list(classes)], dtype=torch.float32)
    np.testing.assert_array_equal(ours, masked.topk(5, dim=1).indices.numpy())


def test_v2_labels_are_folder_integers_not_sort_positions(tmp_path):
    root = tmp_path / "imagenet-v2" / "imagenetv2-matched-frequency-format-val"
    for folder in ("2", "10", "100", "999"):  # string sort: 10, 100, 2, 999
        encode(root / folder / "a.jpeg", int(folder))
    source = open_dataset("imagenet-v2", tmp_path, {})
    assert sorted((s.sample_id, s.label) for s in source.samples) == [
        ("10/a.jpeg", 10), ("100/a.jpeg", 100), ("2/a.jpeg", 2), ("999/a.jpeg", 999)]
    (root / "n01440764").mkdir()
    with pytest.raises(AuditError, match="class index"):
        open_dataset("imagenet-v2", tmp_path, {})


@pytest.mark.slow
def test_real_accuracy_matches_timm_real_labels_scorer():
    from auditkit.data.source import DatasetSource, Sample
    from auditkit.suite import PredictionRequest, Predictions
    from suites.robustness.suite import RobustnessSuite

    names = [f"ILSVRC2012_val_{i:08d}.JPEG" for i in range(1, 50001)]
    sets = real_labels()
    assert sets[names[0]] == frozenset() and sets[names[1]] == frozenset({970, 795})
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50000, 1000)).astype(np.float32)
    for i, name in enumerate(names):  # make about half right under ReaL
        if sets[name] and i % 2:
            logits[i, max(sets[name])] = 50
    source = DatasetSource("imagenet-val", Path("/nowhere"),
                           tuple(Sample(Path("/nowhere"), 0, n) for n in names))
    prediction = Predictions(source, "none", logits, np.full(50000, ""))
    output = RobustnessSuite().evaluate("m", {PredictionRequest("imagenet-val"): prediction}, seed=0)
    real = {r.metric: r for r in output.records if r.dataset == "imagenet-real"}

    scorer = RealLabelsImagenet(names, topk=(1,))
    scorer.add_result(torch.from_numpy(logits))
    assert real["top1"].value * 100 == pytest.approx(scorer.get_accuracy(1), abs=1e-9)
    assert real["top1"].n == 46837 and real["unlabelled"].value == 50000 - 46837
    # ReaL's hits on its labelled val images, under its own key: they give the record back
    arrays = output.per_sample[("imagenet-real", "none")]
    assert len(arrays["sample_id"]) == 46837 and names[0] not in set(arrays["sample_id"])
    assert RobustnessSuite().sample_metrics("imagenet-real", "none", arrays) == {("all", "top1"): real["top1"].value}


@pytest.fixture
def shift_root(tmp_path):
    """Every robustness dataset present, solid-colour images whose colour encodes the class the
    colour model will answer; a few answers are wrong on purpose."""
    root = tmp_path / "data"
    wnids = imagenet_wnids()
    answers = {}
    for index in (0, 1, 151):
        for j, name in enumerate(standard_val_names(index, 3)):
            answers[name] = index if j else 2  # 1 of 3 wrong
            encode(root / "imagenet-val" / wnids[index] / name, answers[name])
    # ReaL: val file 2 has labels {970, 795}; predicting 795 is right under ReaL, wrong under val
    encode(root / "imagenet-val" / wnids[970] / "ILSVRC2012_val_00000002.JPEG", 795)
    encode(root / "imagenet-val" / wnids[65] / "ILSVRC2012_val_00000001.JPEG", 65)  # no ReaL label
    for label in (0, 5, 999):
        encode(root / "imagenet-v2" / "imagenetv2-matched-frequency-format-val" / str(label) / "x.jpeg", label)
    a_classes = subset_indices("imagenet_a")
    for index in a_classes[:4]:
        encode(root / "imagenet-a" / wnids[index] / "x.jpg", index)
    outside = next(i for i in range(1000) if i not in a_classes)
    encode(root / "imagenet-a" / wnids[a_classes[5]] / "y.jpg", outside)  # masked to the best of 200
    r_classes = subset_indices("imagenet_r")
    for index in r_classes[:2]:
        encode(root / "imagenet-r" / wnids[index] / "art_0.jpg", index)
    for index in (3, 4):
        encode(root / "imagenet-sketch" / "sketch" / wnids[index] / "sketch_0.JPEG", index if index == 3 else 7)
    model = tmp_path / "colour_model.py"
    model.write_text(COLOUR_MODEL)
    answers.update({"ILSVRC2012_val_00000002.JPEG": 795, "ILSVRC2012_val_00000001.JPEG": 65})
    return root, model, answers


@pytest.mark.slow
def test_every_dataset_scored_and_val_forwarded_once(shift_root, tmp_path):
    root, model, answers = shift_root
    out = tmp_path / "out"
    main(["run", "--model", f"python:{model}:make", "--suites", "robustness,calibration",
          "--data-root", str(root), "--out", str(out), "--cache", str(tmp_path / "c"), "--no-progress",
          "--workers", "0"])
    payload = json.loads((out / "results.json").read_text())
    top1 = {r["dataset"]: r["value"] for r in payload["records"]
            if r["suite"] == "robustness" and r["metric"] == "top1"}
    # independent: count by hand from the fixture
    assert top1["imagenet-val"] == pytest.approx(7 / 11)  # 6 of 9 + file 1 right + file 2 wrong
    sets = real_labels()
    scored = [name for name in answers if sets[name]]  # file 1 has no ReaL label: skipped
    assert "ILSVRC2012_val_00000001.JPEG" not in scored
    assert answers["ILSVRC2012_val_00000002.JPEG"] in sets["ILSVRC2012_val_00000002.JPEG"]
    assert top1["imagenet-real"] == pytest.approx(np.mean([answers[n] in sets[n] for n in scored]))
    assert top1["imagenet-v2"] == 1.0
    assert top1["imagenet-a"] == pytest.approx(4 / 5)
    assert top1["imagenet-r"] == 1.0
    assert top1["imagenet-sketch"] == 0.5
    unlabelled = [r for r in payload["records"] if r["metric"] == "unlabelled"][0]
    assert unlabelled["value"] == 11 - len(scored)
    gap = {r["dataset"]: r["value"] for r in payload["records"] if r["metric"] == "top1_gap"}
    assert gap["imagenet-sketch"] == pytest.approx(7 / 11 - 0.5)
    assert payload["header"]["images_forwarded"]["imagenet-val/none"] == 11
    forwarded = payload["header"]["images_forwarded"]
    assert {k for k in forwarded if "/corrupt/" not in k} == {
        "imagenet-val/none", "imagenet-v2/none", "imagenet-a/none", "imagenet-r/none", "imagenet-sketch/none"}
    assert len([k for k in forwarded if k.startswith("imagenet-val/corrupt/")]) == 75  # ImageNet-C made from val
    skipped = {s["dataset"]: s["reason"] for s in payload["skipped"] if s["suite"] == "robustness"}
    assert {"imagenet-hard", "objectnet"} <= set(skipped)  # listed with the reason, not dropped
    # effective robustness against the testbed's baseline, recorded in the header
    er = {r["dataset"]: r for r in payload["records"] if r["metric"] == "effective_robustness"}
    assert set(er) | {d for d, reason in skipped.items() if "effective robustness" in reason} >= {
        "imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r"}
    sketch_line = 100 / (1 + np.exp(-(1.0709 * np.log((7 / 11) / (4 / 11)) - 2.3701)))  # README fit
    assert er["imagenet-sketch"]["value"] == pytest.approx(0.5 - sketch_line / 100, abs=1e-4)
    assert er["imagenet-sketch"]["ci_low"] < er["imagenet-sketch"]["value"] < er["imagenet-sketch"]["ci_high"]
    baselines = payload["header"]["suite_protocols"]["robustness"]["effective_robustness"]
    assert baselines["imagenet-sketch"]["lines"][0]["n"] == 85
    assert baselines["imagenet-sketch"]["commit"].startswith("0170eec")


def test_recorded_predictions_never_stand_in_for_generated_imagenet_c(tmp_path, imagenet_x_predictions):
    out = tmp_path / "out"
    main(["run", "--model", f"predictions:{imagenet_x_predictions / 'ResNet50.csv'}", "--suites", "robustness",
          "--out", str(out), "--cache", str(tmp_path / "c"), "--no-progress"])
    payload = json.loads((out / "results.json").read_text())
    datasets = {r["dataset"] for r in payload["records"]}
    assert datasets == {"imagenet-val", "imagenet-real"}
    val = [r for r in payload["records"] if r["dataset"] == "imagenet-val" and r["metric"] == "top1"][0]
    assert val["value"] == pytest.approx(0.7613, abs=5e-4)  # torchvision ResNet-50 v1: 76.13 %
    assert "imagenet-c" in {s["dataset"] for s in payload["skipped"]}


def _predictions(dataset: str, labels: list[int], answers: list[int]) -> Predictions:
    logits = np.zeros((len(labels), 1000), np.float32)
    logits[np.arange(len(labels)), answers] = 5
    source = DatasetSource(dataset, Path("/nowhere"),
                           tuple(Sample(Path("/nowhere"), label, f"{dataset}-{i}") for i, label in enumerate(labels)))
    return Predictions(source, "none", logits, np.full(len(labels), ""))


def test_effective_robustness_against_a_given_baseline_fit(tmp_path):
    from scipy.special import expit, logit

    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"imagenet-sketch": {"slope": 0.9, "intercept": -0.5, "source": "test fit"}}))
    suite = RobustnessSuite()
    suite.configure({"er_baseline": str(baseline)})  # as --option robustness.er_baseline=PATH sets it
    predictions = {
        PredictionRequest("imagenet-val"): _predictions("imagenet-val", [1, 2, 3, 4], [1, 2, 3, 0]),  # 3/4
        PredictionRequest("imagenet-sketch"): _predictions("imagenet-sketch", [1, 2], [1, 0]),  # 1/2
        PredictionRequest("imagenet-v2"): _predictions("imagenet-v2", [1, 2], [1, 0]),  # 1/2, the testbed's fit
    }
    output = suite.evaluate("m", predictions, seed=0)
    er = {r.dataset: r.value for r in output.records if r.metric == "effective_robustness"}
    v2_line = expit(0.9232 * logit(0.75) - 0.4977)  # the testbed's V2 fit (README table)
    assert er == {"imagenet-sketch": pytest.approx(0.5 - expit(0.9 * logit(0.75) - 0.5)),
                  "imagenet-v2": pytest.approx(0.5 - v2_line, abs=1e-4)}
    assert output.header["effective_robustness"]["imagenet-sketch"]["source"] == "test fit"
    assert output.header["effective_robustness"]["imagenet-v2"]["source"] == "modestyachts/imagenet-testbed"

    baseline.write_text("{not json")
    with pytest.raises(AuditError, match="--option robustness.er_baseline=.*fix the file"):
        suite.evaluate("m", predictions, seed=0)


def test_effective_robustness_on_a_uses_val_on_its_classes_and_the_two_piece_line():
    from scipy.special import expit, logit

    from auditkit.data.classes import subset_indices

    a_classes = subset_indices("imagenet_a")
    inside = list(a_classes[:10])
    # 10 val images of A classes + 2 of other classes. Unrestricted, images 0-7 answer class 0 (not an
    # A class) with the label second best; restricted to A's classes the label wins: 8/10 right, while
    # plain val top-1 is 2/12.
    labels = inside + [0, 1]
    logits = np.zeros((12, 1000), np.float32)
    for i, label in enumerate(inside):
        logits[i, 0] = 9
        logits[i, label if i < 8 else a_classes[-1]] = 5
    logits[10, 0] = logits[11, 1] = 5  # right, but outside A's classes: not in x
    val_source = DatasetSource("imagenet-val", Path("/nowhere"),
                               tuple(Sample(Path("/nowhere"), l, f"v{i}") for i, l in enumerate(labels)))
    a_source = DatasetSource("imagenet-a", Path("/nowhere"),
                             tuple(Sample(Path("/nowhere"), a_classes[i], f"a{i}") for i in range(4)), class_indices=a_classes)
    a_logits = np.zeros((4, 1000), np.float32)
    a_logits[np.arange(4), [a_classes[0], a_classes[1], a_classes[0], a_classes[0]]] = 5  # 2/4 right
    output = RobustnessSuite().evaluate("m", {
        PredictionRequest("imagenet-val"): Predictions(val_source, "none", logits, np.full(12, "")),
        PredictionRequest("imagenet-a"): Predictions(a_source, "none", a_logits, np.full(4, "")),
    }, seed=0)
    records = {r.metric: r for r in output.records if r.dataset == "imagenet-a"}
    assert records["val_top1_on_shift_classes"].value == pytest.approx(0.8)
    assert records["val_top1_on_shift_classes"].n == 10
    below_split = expit(0.6894 * logit(0.8) - 5.140)  # x = 80 % < 91.86: the first line (README)
    assert records["effective_robustness"].value == pytest.approx(0.5 - below_split, abs=1e-4)
    assert any(f.name == "accuracy_on_the_line_testbed" and f.dataset == "imagenet-a" for f in output.figures)


def test_probit_scale_is_a_setting():
    from statistics import NormalDist

    suite = RobustnessSuite()
    suite.configure({"er_scale": "probit"})
    predictions = {
        PredictionRequest("imagenet-val"): _predictions("imagenet-val", [1, 2, 3, 4], [1, 2, 3, 0]),
        PredictionRequest("imagenet-v2"): _predictions("imagenet-v2", [1, 2], [1, 0]),
    }
    output = suite.evaluate("m", predictions, seed=0)
    (er,) = [r.value for r in output.records if r.metric == "effective_robustness"]
    normal = NormalDist()
    assert er == pytest.approx(0.5 - normal.cdf(0.9617 * normal.inv_cdf(0.75) - 0.3247), abs=1e-4)
    assert output.header["effective_robustness"]["imagenet-v2"]["scale"] == "probit"


def test_shift_records_and_their_per_sample_arrays_agree():
    suite = RobustnessSuite()
    predictions = {
        PredictionRequest("imagenet-val"): _predictions("imagenet-val", [1, 2, 3, 4], [1, 2, 3, 0]),  # 3/4
        PredictionRequest("imagenet-v2"): _predictions("imagenet-v2", [1, 2], [1, 0]),  # 1/2
    }
    assert {"logits", "top1"} >= set(suite.accepts) and "logits" in predictions[PredictionRequest("imagenet-v2")].answered
    output = suite.evaluate("m", predictions, seed=0)
    assert {(r.condition, r.subset, r.aggregate) for r in output.records} == {("none", "all", "")}
    records = {(r.dataset, r.metric): r for r in output.records}
    assert records[("imagenet-val", "top1")].value == 0.75 and records[("imagenet-v2", "top1")].value == 0.5
    # top-5 of the wrong val image (answer 0, label 4): the tied zero logits rank by class id
    # (stable order), so its top five are 0, 1, 2, 3, 4 and hold the label
    assert records[("imagenet-val", "top5")].value == 1.0
    for dataset in ("imagenet-val", "imagenet-v2"):
        arrays = output.per_sample[(dataset, "none")]
        assert list(arrays["sample_id"]) == [f"{dataset}-{i}" for i in range(len(arrays["correct"]))]
        assert suite.sample_metrics(dataset, "none", arrays) == {
            key: records[(dataset, key[1])].value for key in [("all", "top1"), ("all", "top5")]}
    assert records[("imagenet-v2", "top1_gap")].value == 0.25
