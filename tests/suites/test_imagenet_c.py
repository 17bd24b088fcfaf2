"""ImageNet-C: seeded on-the-fly generation, released folders, CE / mCE by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from torchvision import transforms as T

from auditkit.cli import main
from auditkit.data.classes import imagenet_wnids
from auditkit.data.corruptions import CORRUPTIONS, corrupt_image
from suites.robustness.suite import ALEXNET_ERROR, corruption_errors
from tests.conftest import standard_val_names
from tests.suites.test_imagenet_x import COLOUR_MODEL, encode


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return Image.fromarray(skimage.data.astronaut())


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_generation_is_deterministic_and_really_corrupts(corruption, photo):
    clean = np.asarray(T.Compose([T.Resize(256), T.CenterCrop(224)])(photo)).astype(float)
    state = np.random.get_state()
    distortion = []
    for severity in range(1, 6):
        first = np.asarray(corrupt_image(photo, corruption, severity))
        np.random.seed(12345)  # unrelated global state must not change the result
        second = np.asarray(corrupt_image(photo, corruption, severity))
        assert first.shape == (224, 224, 3)
        assert np.array_equal(first, second)
        distortion.append(np.abs(first.astype(float) - clean).mean())
        assert distortion[-1] > 3, (corruption, severity)  # more than JPEG noise
    np.random.set_state(state)
    if corruption != "elastic_transform":  # its parameter table is not monotone in pixels (as in ImageNet-C)
        assert distortion[4] > distortion[0]


# AlexNet's corruption errors (mean over severities), typed again from docs/protocols.md / Hendrycks &
# Dietterich, independently of the suite's table
PROTOCOL_ALEXNET = {
    "gaussian_noise": 0.886428, "shot_noise": 0.894468, "impulse_noise": 0.922640, "defocus_blur": 0.819880,
    "glass_blur": 0.826268, "motion_blur": 0.785948, "zoom_blur": 0.798360, "snow": 0.866816,
    "frost": 0.826572, "fog": 0.819324, "brightness": 0.564592, "contrast": 0.853204,
    "elastic_transform": 0.646056, "pixelate": 0.717840, "jpeg_compression": 0.606500,
}


def test_corruption_error_by_hand():
    assert ALEXNET_ERROR == PROTOCOL_ALEXNET
    accuracy = {(c, s): 0.5 for c in ALEXNET_ERROR for s in range(1, 6)}
    accuracy[("fog", 5)] = 0.0
    errors, mce = corruption_errors(accuracy)
    assert errors["brightness"] == pytest.approx(0.5 / 0.564592)  # 2.5 / (5 x 0.564592) = 0.885595
    assert errors["fog"] == pytest.approx(0.732311, abs=1e-6)  # (4 x 0.5 + 1) / (5 x 0.819324)
    # mCE by hand: (sum over the 15 of 0.5 / a_c = 9.700886) / 15 = 0.646726, plus fog's extra
    # 0.1 / 0.819324 / 15 = 0.008137
    assert mce == pytest.approx(0.654863, abs=1e-6)
    del accuracy[("snow", 3)]
    errors, mce = corruption_errors(accuracy)
    assert "snow" not in errors and mce is None


def run(root, model, out, *extra):
    main(["run", "--model", f"python:{model}:make", "--suites", "robustness", "--data-root", str(root),
          "--out", str(out), "--cache", str(out.parent / "cache"), "--no-progress", "--workers", "0", *extra])
    return json.loads((out / "results.json").read_text())


def test_on_the_fly_imagenet_c_from_a_val_folder(tmp_path):
    wnids = imagenet_wnids()
    root = tmp_path / "data"
    paths = []
    for index in (0, 1, 2):
        for name in standard_val_names(index, 1):
            paths.append((root / "imagenet-val" / wnids[index] / name, index))
            encode(paths[-1][0], index)
    model_file = tmp_path / "colour_model.py"
    model_file.write_text(COLOUR_MODEL)
    payload = run(root, model_file, tmp_path / "out")
    records = [r for r in payload["records"] if r["dataset"] == "imagenet-c"]
    per_condition = {r["condition"]: r["value"] for r in records if r["metric"] == "top1" and not r["aggregate"]}
    assert len(per_condition) == 75 and all(c.startswith("corrupt/") for c in per_condition)
    # independent: corrupt each image ourselves and ask the model directly
    namespace: dict = {}
    exec(model_file.read_text(), namespace)
    model = namespace["make"]()
    to_tensor = T.ToTensor()  # the colour model's mean 0 / std 1 and 16 px input: resize only
    for corruption, severity in (("gaussian_noise", 1), ("fog", 5), ("pixelate", 3)):
        batch = torch.stack([to_tensor(corrupt_image(Image.open(p), corruption, severity).resize((16, 16), Image.BILINEAR))
                             for p, _ in paths])
        with torch.no_grad():
            predicted = model(batch).argmax(1).numpy()
        expected = np.mean(predicted == np.array([label for _, label in paths]))
        assert per_condition[f"corrupt/{corruption}/{severity}"] == pytest.approx(expected)
    (mce,) = [r for r in records if r["metric"] == "mean_corruption_error"]
    assert (mce["condition"], mce["aggregate"]) == ("corrupt/*/*", "mean")
    # Hendrycks & Dietterich's definition written out: mean over corruptions of
    # sum over severities of (1 - top-1) / (5 x AlexNet's mean error)
    expected = np.mean([sum(1 - per_condition[f"corrupt/{c}/{s}"] for s in range(1, 6)) / (5 * a)
                        for c, a in PROTOCOL_ALEXNET.items()])
    assert mce["value"] == pytest.approx(expected)
    # per-sample hits under the records' own key (dataset imagenet-c), not the request's
    from auditkit.records import per_sample_path

    saved = np.load(tmp_path / "out" / per_sample_path("robustness", "imagenet-c", "corrupt/fog/5"))
    assert saved["correct"].mean() == per_condition["corrupt/fog/5"] and len(saved["sample_id"]) == 3
    assert payload["header"]["images_forwarded"]["imagenet-val/corrupt/fog/5"] == 3
    # which images: auditkit's implementation, named in the header and in the store's keys
    from auditkit.data.imagenet_c import implementation

    assert payload["header"]["imagenet_c"].startswith(f"made on the fly: {implementation()}")
    metas = [json.loads(p.read_text()) for p in (tmp_path / "out").parent.glob("cache/store/*/*/meta.json")]
    key = {"kind": "corrupt", "version": 1, "parameters": {"corruption": "fog", "severity": 5},
           "implementation": implementation()}
    assert sum(m["condition"] == key for m in metas) == 1
    assert not any(s["dataset"] == "imagenet-c" for s in payload["skipped"])


def test_released_imagenet_c_folders(tmp_path):
    wnids = imagenet_wnids()
    root = tmp_path / "data"
    for severity in range(1, 6):
        for index in (0, 1):
            right = not (severity == 5 and index == 1)
            encode(root / "imagenet-c" / "brightness" / str(severity) / wnids[index] / "x.JPEG", index if right else 9)
    encode(root / "imagenet-c" / "fog" / "1" / wnids[3] / "y.JPEG", 3)
    model_file = tmp_path / "colour_model.py"
    model_file.write_text(COLOUR_MODEL)
    payload = run(root, model_file, tmp_path / "out")
    records = {(r["condition"], r["metric"]): r["value"] for r in payload["records"] if r["dataset"] == "imagenet-c"}
    assert records[("corrupt/brightness/5", "top1")] == 0.5 and records[("corrupt/brightness/1", "top1")] == 1.0
    assert records[("corrupt/brightness/*", "corruption_error")] == pytest.approx(0.5 / (5 * 0.564592))
    assert ("corrupt/*/*", "mean_corruption_error") not in records  # 1 of 15 corruptions complete
    from auditkit.records import per_sample_path

    saved = np.load(tmp_path / "out" / per_sample_path("robustness", "imagenet-c", "corrupt/brightness/5"))
    assert sorted(saved["sample_id"]) == [f"brightness/5/{wnids[i]}/x.JPEG" for i in (0, 1)]
    assert any("mCE needs all 15" in n["message"] for n in payload["notices"])
    assert "imagenet-c/native" in payload["header"]["images_forwarded"]
    assert payload["header"]["imagenet_c"].startswith("released files")


def _answers(dataset: str, condition: str, ids: list[str], right: list[bool]):
    """Predictions whose top-1 is the label exactly where ``right``."""
    from pathlib import Path

    from auditkit.data.source import DatasetSource, Sample
    from auditkit.suite import Predictions

    labels = np.arange(len(ids)) % 7
    logits = np.zeros((len(ids), 1000), np.float32)
    logits[np.arange(len(ids)), np.where(right, labels, labels + 100)] = 5
    source = DatasetSource(dataset, Path("/nowhere"),
                           tuple(Sample(Path("/nowhere"), int(l), i) for l, i in zip(labels, ids)))
    return Predictions(source, condition, logits, np.array([f"sha-{i}" for i in ids]))


def _right(corruption: str, severity: int) -> list[bool]:
    """4 images per condition; k of them right, k from the names (a hand-made table)."""
    k = (len(corruption) + severity) % 5
    return [j < k for j in range(4)]


def _check_imagenet_c_records(output, suite) -> None:
    from suites.robustness.suite import ALEXNET_ERROR as TABLE

    records = {(r.condition, r.metric): r for r in output.records if r.dataset == "imagenet-c"}
    assert {r.subset for r in output.records} == {"all"}
    for c in CORRUPTIONS:
        for s in range(1, 6):
            record = records[(f"corrupt/{c}/{s}", "top1")]
            assert record.value == np.mean(_right(c, s)) and record.n == 4 and not record.aggregate
            # the per-sample arrays under the record's own key give it back
            arrays = output.per_sample[("imagenet-c", f"corrupt/{c}/{s}")]
            assert suite.sample_metrics("imagenet-c", f"corrupt/{c}/{s}", arrays) == {("all", "top1"): record.value}
        ce = records[(f"corrupt/{c}/*", "corruption_error")]
        assert ce.aggregate == "normalised_sum"
        assert ce.value == pytest.approx(sum(1 - np.mean(_right(c, s)) for s in range(1, 6)) / (5 * TABLE[c]))
    mean = records[("corrupt/*/*", "top1")]
    assert mean.aggregate == "mean" and mean.n == 15 * 5 * 4
    assert mean.value == pytest.approx(np.mean([np.mean(_right(c, s)) for c in CORRUPTIONS for s in range(1, 6)]))
    mce = records[("corrupt/*/*", "mean_corruption_error")]
    assert mce.aggregate == "mean"
    assert mce.value == pytest.approx(np.mean([records[(f"corrupt/{c}/*", "corruption_error")].value
                                               for c in CORRUPTIONS]))
    assert {c for c, _ in records} == {f"corrupt/{c}/{s}" for c in CORRUPTIONS for s in range(1, 6)} | {
        f"corrupt/{c}/*" for c in CORRUPTIONS} | {"corrupt/*/*"}


def test_imagenet_c_made_from_val_records_under_imagenet_c_with_its_conditions():
    from auditkit.suite import PredictionRequest
    from suites.robustness.suite import RobustnessSuite

    ids = [f"n0/ILSVRC2012_val_{i:08d}.JPEG" for i in range(4)]
    predictions = {PredictionRequest("imagenet-val", f"corrupt/{c}/{s}"):
                   _answers("imagenet-val", f"corrupt/{c}/{s}", ids, _right(c, s))
                   for c in CORRUPTIONS for s in range(1, 6)}
    predictions[PredictionRequest("imagenet-val")] = _answers("imagenet-val", "none", ids, [True, True, True, False])
    suite = RobustnessSuite()
    output = suite.evaluate("m", predictions, seed=0)
    _check_imagenet_c_records(output, suite)
    assert list(output.per_sample[("imagenet-c", "corrupt/fog/3")]["sample_id"]) == ids
    gap = [r for r in output.records if r.metric == "top1_gap" and r.dataset == "imagenet-c"][0]
    mean = [r for r in output.records if (r.dataset, r.condition, r.metric) == ("imagenet-c", "corrupt/*/*", "top1")][0]
    assert (gap.condition, gap.aggregate) == ("corrupt/*/*", "mean") and gap.value == pytest.approx(0.75 - mean.value)
    assert set(output.per_sample) == {("imagenet-val", "none"), *(
        ("imagenet-c", f"corrupt/{c}/{s}") for c in CORRUPTIONS for s in range(1, 6))}


def test_released_imagenet_c_is_one_request_split_into_its_conditions():
    from auditkit.suite import PredictionRequest
    from suites.robustness.suite import RobustnessSuite

    ids, right = [], []
    for c in reversed(CORRUPTIONS):  # the release's file order is not the records' order
        for s in range(1, 6):
            ids += [f"{c}/{s}/n0144/{c}_{s}_{j}.JPEG" for j in range(4)]
            right += _right(c, s)
    ids += ["speckle_noise/2/n0144/h.JPEG"]  # a hold-out corruption: its top-1 only
    right += [True]
    suite = RobustnessSuite()
    output = suite.evaluate("m", {PredictionRequest("imagenet-c", "native"): _answers("imagenet-c", "native", ids, right)},
                            seed=0)
    hold_out = [r for r in output.records if r.condition == "corrupt/speckle_noise/2"]
    assert [(r.metric, r.value, r.n) for r in hold_out] == [("top1", 1.0, 1)]
    output.records = [r for r in output.records if r not in hold_out]
    _check_imagenet_c_records(output, suite)
    fog = output.per_sample[("imagenet-c", "corrupt/fog/3")]
    assert list(fog["sample_id"]) == [f"fog/3/n0144/fog_3_{j}.JPEG" for j in range(4)]
    assert list(fog["content_sha1"]) == [f"sha-fog/3/n0144/fog_3_{j}.JPEG" for j in range(4)]
    assert list(fog["correct"]) == _right("fog", 3)
    assert ("imagenet-c", "native") not in output.per_sample


def test_version_1_imagenet_c_rows_migrate_to_corrupt_conditions():
    from auditkit.records import MetricRecord
    from auditkit.records_v1 import SAMPLE_KEYS, migrate_record

    def v1(dataset: str, condition: str, metric: str) -> dict:  # as robustness 0.2 wrote them (git show 662ce83)
        return {"model": "m", "suite": "robustness", "dataset": dataset, "condition": condition, "metric": metric,
                "value": 0.5, "ci_low": None, "ci_high": None, "n": 3, "suite_version": "0.2"}

    rows = [v1("imagenet-c", "fog/3", "top1"), v1("imagenet-c", "none", "top1"),
            v1("imagenet-c", "fog", "corruption_error"), v1("imagenet-c", "none", "mean_corruption_error"),
            v1("imagenet-c", "none", "top1_gap"), v1("imagenet-val", "none", "top5"),
            v1("imagenet-real", "none", "unlabelled"), v1("imagenet-a", "none", "effective_robustness")]
    moved = [MetricRecord(**migrate_record(row)) for row in rows]
    assert [(r.dataset, r.condition, r.subset, r.metric, r.aggregate) for r in moved] == [
        ("imagenet-c", "corrupt/fog/3", "all", "top1", ""),
        ("imagenet-c", "corrupt/*/*", "all", "top1", "mean"),
        ("imagenet-c", "corrupt/fog/*", "all", "corruption_error", "normalised_sum"),
        ("imagenet-c", "corrupt/*/*", "all", "mean_corruption_error", "mean"),
        ("imagenet-c", "corrupt/*/*", "all", "top1_gap", "mean"),
        ("imagenet-val", "none", "all", "top5", ""),
        ("imagenet-real", "none", "all", "unlabelled", ""),
        ("imagenet-a", "none", "all", "effective_robustness", ""),
    ]
    # version 1 wrote per-sample files for the plain datasets only, under the same key
    assert SAMPLE_KEYS["robustness"]("imagenet-val", "none") == ("imagenet-val", "none")


def test_the_committed_version_1_run_reads_as_version_2():
    """tests/data/v1_run (auditkit 662ce83, ImageNet-C made from val): robustness and imagenet_x
    records carry the v2 meaning, and the v1 per-sample files reproduce them through sample_metrics."""
    from pathlib import Path

    from auditkit import conditions
    from auditkit.records import read_results
    from auditkit.records_v1 import v1_sample_files
    from suites import get_suite

    run_dir = Path(__file__).resolve().parents[1] / "data" / "v1_run"
    results = read_results(run_dir)
    mine = [r for r in results.records if r.suite in ("robustness", "imagenet_x")]
    c = {(r.condition, r.metric): r for r in mine if r.dataset == "imagenet-c"}
    assert len([k for k in c if k[1] == "top1" and "*" not in k[0]]) == 75
    assert c[("corrupt/*/*", "top1")].aggregate == c[("corrupt/*/*", "mean_corruption_error")].aggregate == "mean"
    assert c[("corrupt/fog/*", "corruption_error")].aggregate == "normalised_sum"
    for record in mine:  # every condition in the registry's grammar
        if record.aggregate:
            conditions.parse_pattern(record.condition)
        else:
            assert conditions.parse(record.condition).format() == record.condition
    x = {r.subset for r in mine if r.suite == "imagenet_x"}
    assert {r.condition for r in mine if r.suite == "imagenet_x"} == {"none"} and {"all", "multi", "pose", "multi/pose"} <= x
    by_key = {r.key: r for r in results.records}
    files = v1_sample_files(run_dir, results.header)
    for suite in ("robustness", "imagenet_x"):
        (key,) = [k for k in files if k[0] == suite]
        assert key == (suite, "imagenet-val", "none")
        with np.load(files[key]) as archive:
            arrays = {name: archive[name] for name in archive.files}
        metrics = get_suite(suite).sample_metrics("imagenet-val", "none", arrays)
        assert metrics and all(by_key[(suite, "imagenet-val", "none", *k)].value == pytest.approx(v, nan_ok=True)
                               for k, v in metrics.items())
