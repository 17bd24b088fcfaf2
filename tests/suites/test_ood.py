"""OOD detection: metrics against scikit-learn and OpenOOD's conventions on the same score arrays,
scores against torch / hand formulas, KNN against scikit-learn's neighbours, the readers in their
released layouts, the protocol (records = ``sample_metrics`` of the per-sample files, overlap
refused, ImageNet-O's 200-class mask) and `audit run --suites ood` end to end on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as sk
from sklearn.neighbors import NearestNeighbors

from auditkit.data.classes import wnid_to_index
from auditkit.data.classes import imagenet_wnids
from auditkit.data.ood import (
    image_list, imagenet_o_wnids, read_imagenet_o, read_openood_imagenet, read_openood_set,
)
from auditkit.data.source import DatasetSource, Sample
from auditkit.errors import AuditError, DamagedDataError
from auditkit.suite import PredictionRequest, Predictions
from suites import get_suite
from suites.ood.metrics import (
    RankedScores, detection_metrics, fit_temperature, knn_scores, logit_scores, nll_optimal_temperature,
)
from tests.conftest import TINY_MODEL, VAL_CLASSES, standard_val_names, write_image


def scores(ties: bool, seed: int = 0, n_id: int = 3000, n_ood: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    conf = np.r_[rng.normal(1, 1, n_id), rng.normal(0, 1, n_ood)]
    if ties:
        conf = np.round(conf, 1)
    return conf, np.r_[np.zeros(n_id, int), np.ones(n_ood, int)]


def sklearn_reference(conf: np.ndarray, ood: np.ndarray) -> dict[str, float]:
    """Each metric from scikit-learn's curves, as OpenOOD composes them (OOD positive, -conf)."""
    fpr, tpr, _ = sk.roc_curve(ood, -conf, drop_intermediate=False)
    fpr_id, tpr_id, _ = sk.roc_curve(1 - ood, conf, drop_intermediate=False)
    precision_in, recall_in, _ = sk.precision_recall_curve(1 - ood, conf)
    precision_out, recall_out, _ = sk.precision_recall_curve(ood, -conf)
    return {"auroc": sk.roc_auc_score(ood, -conf), "aupr_in": sk.auc(recall_in, precision_in),
            "aupr_out": sk.auc(recall_out, precision_out), "fpr95_ood_detected": fpr[np.argmax(tpr >= 0.95)],
            "fpr95_id_kept": fpr_id[np.argmax(tpr_id >= 0.95)], "aupr_ood_ap": sk.average_precision_score(ood, -conf)}


@pytest.mark.parametrize("ties", [False, True])
def test_metrics_equal_scikit_learn_on_the_same_scores(ties):
    conf, ood = scores(ties)
    ours = detection_metrics(RankedScores.of(conf, ood == 1))
    reference = sklearn_reference(conf, ood)
    for name, value in reference.items():
        assert ours[name] == pytest.approx(value, abs=1e-12), name
    assert 0.6 < ours["auroc"] < 0.9  # informative scores, so the comparison means something


def test_openood_conventions_with_its_default_curve():
    """OpenOOD's own composition (``roc_curve`` with its default drop_intermediate, FPR at the
    first TPR >= 0.95, ``auc`` over the PR curves) gives the same numbers on untied scores."""
    conf, ood = scores(False, seed=3)
    fpr, tpr, _ = sk.roc_curve(ood, -conf)
    ours = detection_metrics(RankedScores.of(conf, ood == 1))
    assert ours["fpr95_ood_detected"] == pytest.approx(fpr[np.argmax(tpr >= 0.95)], abs=1e-12)
    assert ours["auroc"] == pytest.approx(sk.auc(fpr, tpr), abs=1e-12)


def test_the_two_fpr95_conventions_differ_on_a_hand_worked_case():
    # ID scores 10..1 (10 images), OOD scores 0.5 and 9.5. Flagging 95 % of OOD means flagging both,
    # so everything scoring <= 9.5 is flagged: 9 of 10 ID. Keeping 95 % of ID means keeping all ten
    # (score >= 1): the OOD image at 9.5 is accepted, the one at 0.5 is not: 1 of 2.
    conf = np.r_[np.arange(10, 0, -1.0), 0.5, 9.5]
    ood = np.r_[np.zeros(10, bool), np.ones(2, bool)]
    values = detection_metrics(RankedScores.of(conf, ood))
    assert values["fpr95_ood_detected"] == pytest.approx(0.9)
    assert values["fpr95_id_kept"] == pytest.approx(0.5)


def test_bootstrap_weights_equal_a_resampled_array():
    conf, ood = scores(True, seed=1, n_id=400, n_ood=300)
    index = np.random.default_rng(5).integers(0, len(conf), len(conf))
    weighted = detection_metrics(RankedScores.of(conf, ood == 1), np.bincount(index, minlength=len(conf)))
    resampled = detection_metrics(RankedScores.of(conf[index], ood[index] == 1))
    assert weighted == pytest.approx(resampled, abs=1e-12)


def test_scores_equal_torch_and_the_papers_formulas():
    logits = np.random.default_rng(0).normal(size=(50, 300)) * 3
    ours = logit_scores(logits, temperature=2.0)
    tensor = torch.tensor(logits)
    prob = torch.softmax(tensor, 1)
    assert ours["msp"] == pytest.approx(prob.max(1).values.numpy())
    assert ours["maxlogit"] == pytest.approx(tensor.max(1).values.numpy())
    assert ours["energy"] == pytest.approx(torch.logsumexp(tensor, 1).numpy())
    assert ours["tempscale"] == pytest.approx(torch.softmax(tensor / 2.0, 1).max(1).values.numpy())
    top = torch.sort(prob, 1).values[:, -100:]  # GEN (Liu et al. 2023): M = 100, gamma = 0.1
    assert ours["gen"] == pytest.approx((-(top**0.1 * (1 - top) ** 0.1).sum(1)).numpy())


def test_knn_equals_scikit_learn_neighbours():
    rng = np.random.default_rng(0)
    bank, queries = rng.normal(size=(300, 16)), rng.normal(size=(40, 16))
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    distances, _ = NearestNeighbors(n_neighbors=7).fit(unit(bank)).kneighbors(unit(queries))
    assert knn_scores(bank, queries, 7) == pytest.approx(-distances[:, -1] ** 2, abs=1e-9)


def test_temperature_fit_follows_openood_and_the_optimum_is_reported_beside_it():
    rng = np.random.default_rng(0)
    calibrated = rng.normal(size=(3000, 10)) * 2
    prob = np.exp(calibrated) / np.exp(calibrated).sum(1, keepdims=True)
    labels = np.array([rng.choice(10, p=row) for row in prob])
    optimum = nll_optimal_temperature(calibrated * 3, labels)
    assert optimum == pytest.approx(3.0, rel=0.05)  # logits 3x calibrated ones: T = 3 undoes it
    fitted = fit_temperature(calibrated * 3, labels)
    nll = lambda t: torch.nn.functional.cross_entropy(torch.tensor(calibrated * 3 / t), torch.tensor(labels))  # noqa: E731
    # OpenOOD's 50 LBFGS iterations at lr 0.01 move T from 1.5 towards the optimum, not onto it
    assert 1.5 < fitted < optimum and nll(fitted) < nll(1.5)
    assert fitted == fit_temperature(calibrated * 3, labels)


# --- readers ----------------------------------------------------------------------------------------

def touch_listed(root: Path, list_name: str, under: str) -> list[str]:
    listed = [path for path, _ in image_list(list_name)]
    for path in listed:
        target = root / under / path.partition("/")[2]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    return listed


def test_textures_read_in_dtd_layout_and_refuse_a_missing_file(tmp_path):
    listed = touch_listed(tmp_path, "test_textures", "dtd/images")
    (tmp_path / "dtd" / "images" / "banded" / "extra.jpg").touch()  # not listed: not read
    source = read_openood_set(tmp_path, name="textures", list_name="test_textures", layout="texture/<class>/*.jpg")
    assert len(source) == len(listed) == 5160
    assert source.samples[0].sample_id.startswith("texture/") and source.info["list_sha256"]
    (tmp_path / "dtd" / "images" / listed[7].partition("/")[2]).unlink()
    with pytest.raises(DamagedDataError, match="1 of the 5160 listed images are missing"):
        read_openood_set(tmp_path, name="textures", list_name="test_textures", layout="texture/<class>/*.jpg")


def test_openood_id_split_reads_val_through_its_list_and_refuses_a_missing_file(tmp_path):
    listed = image_list("val_imagenet")
    for path, label in listed:  # val/<wnid>/<file>, the labels OpenOOD's list gives
        target = tmp_path / "val" / imagenet_wnids()[label] / path.rpartition("/")[2]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
    write_image(tmp_path / "val" / imagenet_wnids()[0] / "ILSVRC2012_val_00000293.JPEG", np.random.default_rng(0))
    source = read_openood_imagenet(tmp_path, name="openood-imagenet-val", list_name="val_imagenet")
    assert len(source) == 5000 and "ILSVRC2012_val_00000293.JPEG" not in set(source.sample_ids)  # a test image
    assert sorted(source.labels.tolist()) == sorted(label for _, label in listed)
    first = listed[0][0].rpartition("/")[2]
    next((tmp_path / "val").rglob(first)).unlink()
    with pytest.raises(DamagedDataError, match="1 of the 5000 images of OpenOOD's val_imagenet list are not in"):
        read_openood_imagenet(tmp_path, name="openood-imagenet-val", list_name="val_imagenet")


def test_an_empty_ood_set_is_one_line(tmp_path):
    with pytest.raises(DamagedDataError, match=r"ninco: .* is empty \(an empty OOD set\)") as error:
        read_openood_set(tmp_path, name="ninco", list_name="test_ninco", layout="ninco/<class>/<file>")
    assert "\n" not in str(error.value)
    with pytest.raises(DamagedDataError, match="an empty OOD set"):
        read_imagenet_o(tmp_path)


def test_imagenet_o_reader_masks_its_200_classes(tmp_path):
    rng = np.random.default_rng(0)
    write_image(tmp_path / "imagenet-o" / "n01443537" / "a.jpg", rng)
    source = read_imagenet_o(tmp_path)
    assert len(source.class_indices) == 200 and 1 in source.class_indices and 0 not in source.class_indices
    assert source.labels.tolist() == [-1]
    write_image(tmp_path / "imagenet-o" / "n01440764" / "b.jpg", rng)  # tench: not an ImageNet-O class
    with pytest.raises(AuditError, match="not one of ImageNet-O's 200 classes"):
        read_imagenet_o(tmp_path)


def test_shipped_lists_have_openoods_published_sizes():
    sizes = {"val_imagenet": 5000, "test_imagenet": 45000, "test_ssb_hard": 49000, "test_ninco": 5879,
             "test_inaturalist": 10000, "test_textures": 5160, "test_openimage_o": 15869, "val_openimage_o": 1763}
    for name, size in sizes.items():
        listed = image_list(name)
        assert len(listed) == size, name
        assert all(label == -1 for _, label in listed) == (not name.endswith("imagenet")), name
    val = {p.rpartition("/")[2] for p, _ in image_list("val_imagenet")}
    assert not val & {p.rpartition("/")[2] for p, _ in image_list("test_imagenet")}  # disjoint ID splits


# --- the protocol on synthetic predictions ----------------------------------------------------------

def predictions(name: str, logits: np.ndarray, labels: np.ndarray, features: np.ndarray | None = None,
                class_indices: tuple[int, ...] | None = None, prefix: str = "") -> tuple[Predictions, Predictions]:
    samples = tuple(Sample(Path(f"/x/{name}/{i}.png"), int(y), f"{prefix or name}/{i:05d}.png")
                    for i, y in enumerate(labels))
    source = DatasetSource(name, Path("/x"), samples, class_indices=class_indices)
    sha = np.array([f"{name}-{i}" for i in range(len(labels))])
    return (Predictions(source, "none", logits.astype(np.float32), sha),
            Predictions(source, "none", None, sha, features=features))


def synthetic_run(rng: np.random.Generator, sizes: dict[str, int]) -> dict[PredictionRequest, Predictions]:
    run = {}
    for name, n in sizes.items():
        is_id = name.startswith("id-")
        labels = rng.integers(0, 5, n) if is_id else np.full(n, -1)
        logits = rng.normal(size=(n, 1000))
        if is_id:
            logits[np.arange(n), labels] += 4
        features = rng.normal(size=(n, 8)) + (1.5 if is_id else 0)
        logit_answers, feature_answers = predictions(name, logits, labels, features)
        run[PredictionRequest(name)] = logit_answers
        run[PredictionRequest(name, output="features")] = feature_answers
    return run


def configured(**settings: str):
    suite = get_suite("ood")
    suite.configure({"id_val": "id-val", "id_test": "id-test", "imagenet_o": "false", "knn_k": "5", **settings})
    return suite


def test_records_equal_sample_metrics_and_groups_are_means_of_sets():
    run = synthetic_run(np.random.default_rng(0), {"id-val": 60, "id-test": 80, "a": 40, "b": 30, "c": 50})
    suite = configured(near="a,b", far="c")
    output = suite.evaluate("m", run, seed=0)
    by_key = {(r.dataset, r.metric): r for r in output.records}
    assert ("id-val", "temperature") in by_key and output.header["temperature"]["fitted_on"] == "id-val"
    for (dataset, condition), arrays in output.per_sample.items():
        for (subset, metric), value in suite.sample_metrics(dataset, condition, arrays).items():
            assert by_key[(dataset, metric)].value == value
    for metric in ("msp_auroc", "knn_fpr95_ood_detected", "gen_aupr_in"):
        assert by_key[("near-ood", metric)].value == pytest.approx(
            (by_key[("a", metric)].value + by_key[("b", metric)].value) / 2)
        assert by_key[("far-ood", metric)].value == by_key[("c", metric)].value
        record = by_key[("a", metric)]
        assert record.ci_low <= record.value <= record.ci_high and record.n == 80 + 40
    # an independent check of one record: scikit-learn on the suite's own saved arrays
    arrays = output.per_sample[("a", "none")]
    assert by_key[("a", "energy_auroc")].value == pytest.approx(
        sk.roc_auc_score(arrays["is_ood"], -arrays["score_energy"]), abs=1e-12)


def test_a_knn_bank_smaller_than_k_leaves_knn_out_with_a_notice():
    run = synthetic_run(np.random.default_rng(3), {"id-val": 8, "id-test": 20, "a": 10})
    output = configured(near="a", far="", knn_k="50").evaluate("m", run, seed=0)
    metrics = {r.metric for r in output.records}
    assert "msp_auroc" in metrics and not any(m.startswith("knn_") for m in metrics)
    assert any("KNN left out: K = 50" in n.message for n in output.notices)


def test_an_ood_set_sharing_images_with_the_id_set_is_refused_with_the_count():
    run = synthetic_run(np.random.default_rng(1), {"id-val": 20, "id-test": 20, "a": 10})
    a = run[PredictionRequest("a")]
    shared = np.array([*run[PredictionRequest("id-test")].content_sha1[:3], *a.content_sha1[3:]])
    run[PredictionRequest("a")] = Predictions(a.source, "none", a.logits, shared)
    with pytest.raises(AuditError, match=r"^ood: 3 images of a have the same content as images of id-test") as error:
        configured(near="a", far="").evaluate("m", run, seed=0)
    assert "\n" not in str(error.value)


def test_imagenet_o_scores_are_over_its_200_classes_with_val_images_of_them_as_id():
    rng = np.random.default_rng(2)
    run = synthetic_run(rng, {"id-val": 30, "id-test": 30})
    o_logits = rng.normal(size=(12, 1000))
    classes = tuple(sorted(wnid_to_index()[w] for w in imagenet_o_wnids()))
    run[PredictionRequest("imagenet-o")], _ = predictions("imagenet-o", o_logits, np.full(12, -1),
                                                         class_indices=classes)
    suite = configured(near="", far="", imagenet_o="true")
    output = suite.evaluate("m", run, seed=0)
    arrays = output.per_sample[("imagenet-o", "none")]
    in_mask = [np.isin(run[PredictionRequest(n)].labels, classes).sum() for n in ("id-val", "id-test")]
    assert (~arrays["is_ood"]).sum() == sum(in_mask) > 0  # labels 0..4: class 1 is an ImageNet-O class
    masked = torch.softmax(torch.tensor(o_logits[:, list(classes)]), 1).max(1).values.numpy()
    assert arrays["score_msp"][arrays["is_ood"]] == pytest.approx(masked)
    metrics = {r.metric for r in output.records if r.dataset == "imagenet-o"}
    assert "msp_aupr_ood_ap" in metrics and "msp_aupr_in" not in metrics
    expected = sk.average_precision_score(arrays["is_ood"], -arrays["score_msp"])
    assert next(r.value for r in output.records if r.metric == "msp_aupr_ood_ap") == pytest.approx(expected)


# --- end to end -------------------------------------------------------------------------------------

def test_audit_run_ood_end_to_end_on_a_tiny_model(tmp_path):
    from auditkit.cli import main

    rng = np.random.default_rng(0)
    model = tmp_path / "tiny.py"
    model.write_text(TINY_MODEL)
    for wnid, index in VAL_CLASSES.items():
        for name in standard_val_names(index, 4):
            write_image(tmp_path / "val" / wnid / name, rng)
        for i in range(4):
            write_image(tmp_path / "v2" / str(index) / f"img{i}.jpeg", rng)
    for wnid in ("n01440764", "n02085620"):
        for i in range(6):
            write_image(tmp_path / "sketch" / wnid / f"s{i}.JPEG", rng, size=(60, 60))
    out = tmp_path / "out"
    main(["run", "--model", f"python:{model}:make", "--suites", "ood", "--data", f"imagenet-val={tmp_path / 'val'}",
          "--data", f"imagenet-v2={tmp_path / 'v2'}", "--data", f"imagenet-sketch={tmp_path / 'sketch'}",
          "--data-root", str(tmp_path / "none"), "--out", str(out), "--cache", str(tmp_path / "cache"),
          "--workers", "0", "--no-progress", "--option", "ood.id_val=imagenet-val", "--option",
          "ood.id_test=imagenet-v2", "--option", "ood.near=", "--option", "ood.far=imagenet-sketch",
          "--option", "ood.knn_k=3", "--option", "ood.imagenet_o=false"])
    results = json.loads((out / "results.json").read_text())
    metrics = {(r["dataset"], r["metric"]) for r in results["records"]}
    assert {("imagenet-sketch", "knn_auroc"), ("far-ood", "msp_fpr95_id_kept"),
            ("imagenet-val", "temperature")} <= metrics
    assert list(out.glob("per_sample/ood/*"))
    # the published leaderboard rows enter a comparison beside the run (the stretch goal of issue 26)
    main(["compare", str(out), "--with", "openood", "--out", str(tmp_path / "compare")])
    page = (tmp_path / "compare" / "compare.html").read_text()
    assert "ResNet50 (OpenOOD v1.5)" in page


def test_openood_rows_are_the_published_leaderboard_as_suite_records():
    from auditkit.field.reference import reference_rows

    rows = {r.header["model"]["name"]: r for r in reference_rows("openood")}
    assert set(rows) == {"ResNet50 (OpenOOD v1.5)", "Swin-T (OpenOOD v1.5)", "ViT-B/16 (OpenOOD v1.5)"}
    resnet = {(r.dataset, r.metric): r.value for r in rows["ResNet50 (OpenOOD v1.5)"].records}
    # docs/protocols.md's figures: MSP 76.02 / 85.23, Energy 75.89 / 89.47, KNN 71.10 / 90.18
    assert resnet[("near-ood", "msp_auroc")] == pytest.approx(0.7602)
    assert resnet[("far-ood", "energy_auroc")] == pytest.approx(0.8947)
    assert resnet[("far-ood", "knn_auroc")] == pytest.approx(0.9018)
    suite = get_suite("ood")
    assert all(r.metric in suite.metrics and r.suite == "ood" for row in rows.values() for r in row.records)
