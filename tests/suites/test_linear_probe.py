"""Linear probe, few-shot and retrieval: separable features reach 100 %, shuffled labels give
chance, retrieval agrees with scikit-learn, and the suite runs end to end on the built-in digits."""

from __future__ import annotations

import json

import numpy as np
import pytest

from auditkit.cli import main
from auditkit.data.splits import stratified_holdout, stratified_sample
from auditkit.records import per_sample_path
from suites.linear_probe.suite import (
    LinearProbeSuite,
    average_precisions,
    choose_c,
    linear_probe,
    nearest_neighbour,
)


def _blobs(rng: np.random.Generator, n: int, classes: int, dim: int, spread: float) -> tuple[np.ndarray, np.ndarray]:
    labels = np.arange(n) % classes
    centres = rng.normal(size=(classes, dim)) * 3
    return centres[labels] + rng.normal(size=(n, dim)) * spread, labels


def test_linearly_separable_features_reach_100_percent():
    rng = np.random.default_rng(0)
    # each class owns one coordinate: separable by a hyperplane, with nuisance dimensions
    labels = np.arange(600) % 4
    features = rng.normal(size=(600, 16)) * 0.3
    features[np.arange(600), labels] += 3.0
    train, val, test = slice(0, 300), slice(300, 400), slice(400, 600)
    result = linear_probe(features[train], labels[train], features[val], labels[val], features[test], labels[test])
    assert result.test_top1 == 1.0
    assert max(result.validation_top1.values()) == result.validation_top1[result.c] == 1.0


def test_shuffled_labels_give_chance():
    rng = np.random.default_rng(1)
    features, labels = _blobs(rng, 2000, 4, 8, 1.0)
    shuffled = rng.permutation(labels)
    result = linear_probe(features[:800], shuffled[:800], features[800:1000], shuffled[800:1000],
                          features[1000:], shuffled[1000:])
    assert abs(result.test_top1 - 0.25) < 0.05  # 1000 test images: chance +- 3 standard errors
    honest = linear_probe(features[:800], labels[:800], features[800:1000], labels[800:1000],
                          features[1000:], labels[1000:])
    assert honest.test_top1 > 0.9  # the same features with their labels are easy


def test_c_is_the_best_on_val_and_the_middle_of_ties():
    rng = np.random.default_rng(2)
    features, labels = _blobs(rng, 400, 3, 6, 2.5)
    c, scores = choose_c(features[:200], labels[:200], features[200:], labels[200:])
    best = max(scores.values())
    tied = sorted(k for k, v in scores.items() if v == best)
    assert scores[c] == best and c == tied[(len(tied) - 1) // 2]
    assert len(scores) >= 13 + 1  # coarse grid plus a fine one


def test_few_shot_and_held_out_samples():
    labels = np.repeat(np.arange(5), 30)
    chosen = stratified_sample(labels, 3, shots=10)
    assert np.bincount(labels[chosen]).tolist() == [10] * 5
    np.testing.assert_array_equal(chosen, stratified_sample(labels, 3, shots=10))
    assert not np.array_equal(chosen, stratified_sample(labels, 4, shots=10))
    held = stratified_holdout(labels, 0.2, seed=0)
    assert np.bincount(labels[held]).tolist() == [6] * 5


def test_retrieval_matches_scikit_learn():
    from sklearn.metrics import average_precision_score
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(4)
    gallery, gallery_y = _blobs(rng, 120, 4, 5, 3.0)
    query, query_y = _blobs(rng, 30, 4, 5, 3.0)
    ours = average_precisions(query, query_y, gallery, gallery_y)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    for k in range(len(query)):
        scores = g @ (query[k] / np.linalg.norm(query[k]))
        assert ours[k] == pytest.approx(average_precision_score(gallery_y == query_y[k], scores), abs=1e-12)
    neighbours = NearestNeighbors(n_neighbors=1, metric="cosine").fit(gallery).kneighbors(query)[1][:, 0]
    np.testing.assert_array_equal(nearest_neighbour(query, gallery), neighbours)


@pytest.mark.slow
def test_suite_on_digits_end_to_end(tmp_path, tiny_model_file):
    out = tmp_path / "out"
    main(["run", "--model", f"python:{tiny_model_file}:make", "--suites", "linear_probe",
          "--data-root", str(tmp_path / "data"), "--out", str(out), "--cache", str(tmp_path / "cache"),
          "--no-progress", "--workers", "0", "--batch-size", "256"])
    payload = json.loads((out / "results.json").read_text())
    assert {r["condition"] for r in payload["records"]} == {"none"}  # the plain features throughout
    records = {(r["dataset"], r["subset"], r["metric"]): r for r in payload["records"]}
    top1 = records[("digits", "all", "top1")]
    assert top1["n"] == 798 and top1["ci_low"] <= top1["value"] <= top1["ci_high"]
    assert top1["value"] > 0.3  # chance is 0.1: random 8-d conv features still carry digit shape
    shots = [records[("digits", f"k={k}", "top1")]["value"] for k in (1, 5, 10, 25)]
    assert shots[0] < shots[-1] <= top1["value"] + 0.05
    assert 0.1 < records[("digits", "all", "retrieval_map")]["value"] < 1
    # the features went through the store in an entry of their own: a second run forwards nothing
    assert payload["header"]["images_forwarded"]["digits/none [features]"] == 1797
    main(["run", "--model", f"python:{tiny_model_file}:make", "--suites", "linear_probe",
          "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "again"), "--cache", str(tmp_path / "cache"),
          "--no-progress", "--workers", "0"])
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    assert again["header"]["images_forwarded"]["digits/none [features]"] == 0
    assert [r["value"] for r in again["records"]] == [r["value"] for r in payload["records"]]
    skipped = {s["dataset"]: s["reason"] for s in payload["skipped"]}
    assert "not found" in skipped["vtab-1k"] and set(skipped) == {"transfer", "vtab-1k", "roxford5k", "rparis6k"}
    assert (out / "figures" / "linear_probe__all-tasks__transfer.png").is_file()
    saved = np.load(out / per_sample_path("linear_probe", "digits", "none"))
    assert (saved["probe_prediction"] >= 0).sum() == 798 and len(saved["content_sha1"]) == 1797
    # the saved arrays give the record back (the one definition paired comparisons use)
    test = saved["split"] == "test"
    assert np.mean(saved["probe_prediction"][test] == saved["label"][test]) == top1["value"]
    assert LinearProbeSuite().sample_metrics("digits", "none", dict(saved)) == {("all", "top1"): top1["value"]}


def test_feature_entries_leave_the_logits_keys_unchanged():
    import hashlib

    from auditkit.conditions import Plain
    from auditkit.store import STORE_FORMAT, store_key

    plain = Plain().store_key()
    payload = json.dumps([STORE_FORMAT, "model", "manifest", plain], sort_keys=True)
    assert store_key("model", "manifest", plain) == hashlib.sha256(payload.encode()).hexdigest()
    assert store_key("model", "manifest", plain, "logits") == store_key("model", "manifest", plain)
    keys = {store_key("model", "manifest", plain, output) for output in ("logits", "features", "layers")}
    assert len(keys) == 3


def test_vtab_1k_tasks_are_probed_one_by_one(tmp_path):
    from auditkit.data.catalog import open_dataset
    from auditkit.suite import PredictionRequest, Predictions
    from suites.linear_probe.suite import LinearProbeSuite
    from tests.data.test_transfer import _vtab_task

    _vtab_task(tmp_path / "vtab-1k" / "dtd", 0)
    _vtab_task(tmp_path / "vtab-1k" / "cifar", 10)
    source = open_dataset("vtab-1k", tmp_path, {})
    rng = np.random.default_rng(0)
    labels = np.array([s.label for s in source.samples])
    features = rng.normal(size=(len(labels), 30)) * 0.1
    features[np.arange(len(labels)), labels] += 3.0  # every task separable
    request = PredictionRequest("vtab-1k", output="features")
    prediction = Predictions(source=source, condition="none", logits=None,
                             content_sha1=np.full(len(labels), ""), features=features)
    output = LinearProbeSuite().evaluate("m", {request: prediction}, seed=0)
    assert {r.condition for r in output.records} == {"none"}
    values = {(r.subset, r.metric): r for r in output.records}
    assert values[("dtd", "top1")].value == values[("cifar100", "top1")].value == 1.0
    assert values[("dtd", "top1")].n == 4
    assert values[("all", "top1_mean")].value == 1.0 and values[("all", "top1_mean")].n == 2
    assert ("cifar100/k=5", "top1") in values and ("dtd", "retrieval_map") in values
    assert any("2 of the 19" in n.message for n in output.notices)
    saved = output.per_sample[("vtab-1k", "none")]
    assert set(saved["task"]) == {"dtd", "cifar100"} and (saved["probe_prediction"] >= 0).sum() == 8
    recomputed = LinearProbeSuite().sample_metrics("vtab-1k", "none", saved)
    assert recomputed == {key: values[key].value for key in recomputed}
    assert set(recomputed) == {("dtd", "top1"), ("cifar100", "top1"), ("all", "top1_mean")}


def test_probe_hits_by_hand():
    from suites.linear_probe.suite import LinearProbeSuite

    arrays = {"label": np.array([0, 1, 1, 0, 2, 2, 1]),
              "split": np.array(["train", "test", "test", "test", "test", "val", "test"]),
              "task": np.array(["a", "a", "a", "a", "b", "b", "c"]),
              "probe_prediction": np.array([-1, 1, 0, 0, 2, -1, -1])}  # task c: no probe ran
    metrics = LinearProbeSuite().sample_metrics("vtab-1k", "none", arrays)
    assert metrics == {("a", "top1"): pytest.approx(2 / 3), ("b", "top1"): 1.0,
                       ("all", "top1_mean"): pytest.approx((2 / 3 + 1) / 2)}
    single = {**arrays, "task": np.full(7, "digits")}
    assert LinearProbeSuite().sample_metrics("digits", "none", single) == {("all", "top1"): pytest.approx(3 / 4)}


def test_query_gallery_layout_gets_retrieval_only(tmp_path):
    from auditkit.data.transfer import read_transfer
    from auditkit.suite import PredictionRequest, Predictions
    from suites.linear_probe.suite import LinearProbeSuite
    from tests.conftest import write_image

    rng = np.random.default_rng(0)
    for split, count in (("query", 2), ("gallery", 5)):
        for name in ("a", "b", "c"):
            for i in range(count):
                write_image(tmp_path / "task" / split / name / f"{name}{i}.png", rng, size=(8, 8))
    source = read_transfer(tmp_path / "task", "transfer")
    assert source.describe()["splits"] == {"train": 0, "val": 0, "test": 0, "query": 6, "gallery": 15}
    labels = np.array([s.label for s in source.samples])
    features = np.eye(3)[labels] + rng.normal(size=(len(labels), 3)) * 0.05
    prediction = Predictions(source=source, condition="none", logits=None,
                             content_sha1=np.full(len(labels), ""), features=features)
    output = LinearProbeSuite().evaluate("m", {PredictionRequest("transfer", output="features"): prediction}, seed=0)
    values = {r.metric: r for r in output.records}
    assert set(values) == {"retrieval_map", "retrieval_top1"}
    assert values["retrieval_map"].value == 1.0 and values["retrieval_map"].n == 6


def test_revisited_average_precision_hand_worked():
    from suites.linear_probe.suite import revisited_average_precision

    # ranking: P N P J P (database indices 0..4); without the junk: P N P P at ranks 0, 2, 3
    # AP = [(1 + 1) + (1/2 + 2/3) + (2/3 + 3/4)] / 2 / 3 = 0.763888...
    order = np.array([0, 1, 2, 3, 4])
    assert revisited_average_precision(order, [0, 2, 4], [3]) == pytest.approx(0.7638888888888888, abs=1e-12)
    assert revisited_average_precision(np.array([4, 3, 2, 1, 0]), [4, 3], []) == 1.0
    # junk ranked first is ignored entirely
    assert revisited_average_precision(np.array([3, 0, 1, 2]), [0], [3]) == 1.0


def _revisited_fixture(root, rng) -> None:
    import pickle

    from tests.conftest import write_image

    names = [f"img{k}" for k in range(6)]
    for name in names:
        write_image(root / "jpg" / f"{name}.jpg", rng, size=(60, 80))
    ground_truth = {
        "imlist": names, "qimlist": ["img0", "img3"],
        "gnd": [{"bbx": [10, 5, 50, 45], "easy": [1], "hard": [2], "junk": [5]},
                {"bbx": [0, 0, 40, 30], "easy": [4], "hard": [], "junk": []}],
    }
    (root / "gnd_roxford5k.pkl").write_bytes(pickle.dumps(ground_truth))


def test_revisited_oxford_queries_are_cropped_and_scored(tmp_path):
    from PIL import Image

    from auditkit.data.catalog import open_dataset
    from auditkit.suite import PredictionRequest, Predictions
    from suites.linear_probe.suite import LinearProbeSuite

    _revisited_fixture(tmp_path / "roxford5k", np.random.default_rng(0))
    source = open_dataset("roxford5k", tmp_path, {})
    queries = [s for s in source.samples if s.sample_id.startswith("query/")]
    assert [s.sample_id for s in queries] == ["query/000-img0@10,5,50,45", "query/001-img3@0,0,40,30"]
    crop = Image.open(__import__("io").BytesIO(source.table.read(queries[0].row)))
    assert crop.size == (40, 40)
    original = np.asarray(Image.open(tmp_path / "roxford5k" / "jpg" / "img0.jpg").convert("RGB"))
    np.testing.assert_array_equal(np.asarray(crop), original[5:45, 10:50])
    # features: query 0 nearest img1 (easy), then img5 (junk), img2 (hard); query 1 nearest img4
    ids = [s.sample_id for s in source.samples]
    features = np.zeros((len(ids), 3))
    direction = {"gallery/img1": [1, 0.1, 0], "gallery/img5": [1, 0.2, 0], "gallery/img2": [1, 0.3, 0],
                 "gallery/img0": [0, 1, 0], "gallery/img3": [0, 0, 1], "gallery/img4": [0.2, 0, 1],
                 queries[0].sample_id: [1, 0, 0], queries[1].sample_id: [0.1, 0, 1]}
    for k, sample_id in enumerate(ids):
        features[k] = direction[sample_id]
    prediction = Predictions(source=source, condition="none", logits=None,
                             content_sha1=np.full(len(ids), ""), features=features)
    output = LinearProbeSuite().evaluate("m", {PredictionRequest("roxford5k", output="features"): prediction}, seed=0)
    values = {r.metric: r for r in output.records}
    assert values["map_easy"].value == pytest.approx(1.0)  # q0: img1 first; q1: img4 first
    assert values["map_medium"].n == 2
    # q0 medium: img1 rank 0, img2 rank 1 once the junk img5 is removed -> AP 1
    assert values["map_medium"].value == pytest.approx(1.0)
    assert values["map_hard"].n == 1  # q1 has no hard positive: left out
    assert values["map_hard"].value == pytest.approx(1.0)  # img1 (easy) is junk in the hard protocol


@pytest.mark.slow
def test_revisited_oxford_end_to_end(tmp_path, tiny_model_file):
    _revisited_fixture(tmp_path / "data" / "roxford5k", np.random.default_rng(1))
    out = tmp_path / "out"
    main(["run", "--model", f"python:{tiny_model_file}:make", "--suites", "linear_probe",
          "--data-root", str(tmp_path / "data"), "--out", str(out), "--cache", str(tmp_path / "cache"),
          "--no-progress", "--workers", "0"])
    payload = json.loads((out / "results.json").read_text())
    maps = {r["metric"]: r["value"] for r in payload["records"] if r["dataset"] == "roxford5k"}
    assert set(maps) == {"map_easy", "map_medium", "map_hard"} and all(0 < v <= 1 for v in maps.values())
    assert payload["header"]["images_forwarded"]["roxford5k/none [features]"] == 8


def _task_records(x: np.ndarray, y: np.ndarray, split: np.ndarray, with_result: bool = False):
    from auditkit.suite import SuiteOutput
    from suites.linear_probe.suite import LinearProbeSuite

    output = SuiteOutput()
    result = LinearProbeSuite()._task("m", "transfer", "all", x, y, split, 0, output)
    return (output, result) if with_result else output


def test_a_split_cut_by_limit_is_skipped_with_the_reason():
    # --limit 300 on digits keeps the first 300 sample ids: all of them test/...
    rng = np.random.default_rng(0)
    x, y = _blobs(rng, 300, 10, 8, 1.0)
    output = _task_records(x, y, np.array(["test"] * 300))
    assert not output.records
    (skipped,) = output.skipped
    assert "needs train and test images, has train 0, val 0, test 300" in skipped.reason
    assert "--limit" in skipped.reason
    # train with a single class cannot be probed either
    split = np.array(["train"] * 20 + ["test"] * 280)
    y_one = y.copy()
    y_one[:20] = 3
    output = _task_records(x, y_one, split)
    assert not output.records and "one class" in output.skipped[0].reason


def test_few_shot_never_sees_the_val_labels(monkeypatch):
    """CLIP_benchmark issue 125: a few-shot probe tuned on the full val split has seen more than
    k labels per class. Scrambling every val label must leave every few-shot record unchanged
    (while the full probe, which tunes C on val, does see them)."""
    import suites.linear_probe.suite as probe

    monkeypatch.setattr(probe, "SHOTS", (1, 5))  # one untuned and one cross-validated k: enough, faster
    monkeypatch.setattr(probe, "FEW_SHOT_SEEDS", (0, 1, 2))
    rng = np.random.default_rng(5)
    x, y = _blobs(rng, 270, 3, 6, 2.5)
    split = np.array(["train"] * 90 + ["val"] * 90 + ["test"] * 90)
    honest, honest_probe = _task_records(x, y, split, with_result=True)
    scrambled_y = y.copy()
    scrambled_y[90:180] = rng.permutation(2 - y[90:180])  # mostly wrong, shuffled
    scrambled, scrambled_probe = _task_records(x, scrambled_y, split, with_result=True)

    def few_shot(output):
        return {(r.subset, r.metric): (r.value, r.ci_low, r.ci_high) for r in output.records
                if r.subset.startswith("k=")}

    assert few_shot(honest) == few_shot(scrambled) and len(few_shot(honest)) == 2 + 2  # top1 and C at each k
    full = {r.metric: r.value for r in honest.records if r.subset == "all"}
    full_scrambled = {r.metric: r.value for r in scrambled.records if r.subset == "all"}
    # the full probe's C (and its top-1, returned for evaluate's record) do see the val labels
    assert (full["probe_c"], honest_probe[0]) != (full_scrambled["probe_c"], scrambled_probe[0])


def test_few_shot_c_comes_from_cross_validation_on_the_k_images(monkeypatch):
    import suites.linear_probe.suite as probe

    rng = np.random.default_rng(6)
    x, y = _blobs(rng, 30, 3, 5, 1.0)  # 10 images per class
    seen = []
    original = probe.fit_probe
    monkeypatch.setattr(probe, "fit_probe", lambda f, l, c: seen.append(len(l)) or original(f, l, c))
    c = probe.few_shot_c(x, y, seed=0)
    assert c in probe.FEW_SHOT_C
    # 7 C values x 3 folds, each fitted on about 2/3 of the 30 images, nothing else
    assert len(seen) == 7 * 3 and set(seen) <= {18, 19, 20, 21}
    seen.clear()
    assert probe.few_shot_c(x[[0, 1, 2]], y[[0, 1, 2]], seed=0) == probe.FEW_SHOT_UNTUNED_C and not seen
    # the same cross-validation written out: pooled hits per C, the middle of the best ones
    scores = {}
    from sklearn.model_selection import StratifiedKFold

    for value in (1e-6, 1e-4, 1e-2, 1.0, 1e2, 1e4, 1e6):
        hits = 0
        for fit, held in StratifiedKFold(3, shuffle=True, random_state=0).split(x, y):
            fx, hx = probe.standardise(x[fit], x[held])
            hits += (original(fx, y[fit], float(value)).predict(hx) == y[held]).sum()
        scores[float(value)] = hits
    best = [v for v in sorted(scores) if scores[v] == max(scores.values())]
    assert c == best[(len(best) - 1) // 2]
