"""The dense suite: its metrics against scikit-learn and hand-worked cases, the proof fixtures
(separable features -> mIoU >= 0.95, constant features -> chance, depth linear in a feature ->
RMSE near 0), seeded bit-identical training, resume after a kill, a rerun that trains nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix
from torch import nn

from auditkit.adapters.base import ClassifierAdapter
from auditkit.adapters.preprocess import PreprocessConfig
from auditkit.conditions import Squash
from auditkit.data.catalog import open_dataset
from auditkit.data.dense_targets import IGNORE_INDEX
from auditkit.run.config import RunConfig
from auditkit.run.executor import ForwardLog, ForwardPasses
from auditkit.store import PredictionStore
from auditkit.suite import PredictionRequest
from suites.dense import heads as dense_heads
from suites.dense.metrics import (
    DepthProfile, class_iou, confusion_matrix, depth_errors, image_counts, segmentation_scores,
)
from suites.dense.suite import DenseSuite
from tests.suites.test_dense_layouts import write_nyu, write_voc2012

PREPROCESS = PreprocessConfig(name="custom", input_size=64, interpolation="bilinear", mean=(0.5,) * 3, std=(0.5,) * 3)
BLOCK = 16  # pixels per label block: two feature cells of stride 8


# ------------------------------------------------------------------ metrics
def test_confusion_matrix_equals_scikit_learn_with_the_ignore_label_left_out():
    rng = np.random.default_rng(0)
    label = rng.integers(0, 6, (30, 40)).astype(np.uint8)
    label[rng.random((30, 40)) < 0.2] = IGNORE_INDEX
    prediction = rng.integers(0, 6, (30, 40))
    keep = label != IGNORE_INDEX
    expected = sklearn_confusion_matrix(label[keep], prediction[keep], labels=range(6))
    matrix = confusion_matrix(prediction, label, 6)
    np.testing.assert_array_equal(matrix, expected)
    intersection, predicted, labelled = image_counts(prediction, label, 6)
    np.testing.assert_array_equal(intersection, np.diag(expected))
    np.testing.assert_array_equal(predicted, expected.sum(0))
    np.testing.assert_array_equal(labelled, expected.sum(1))


def test_hand_worked_iou_with_ignore_and_absent_classes():
    # 4 classes; class 3 in neither labels nor predictions (left out), class 2 only predicted (IoU 0)
    label = np.array([[0, 0, 1, 1], [0, 255, 1, 1]], np.uint8)
    prediction = np.array([[0, 1, 1, 1], [2, 0, 1, 1]])  # the 255 pixel's prediction (0) is not scored
    counts = image_counts(prediction, label, 4)
    # class 0: I 1, P 1, L 3 -> 1/3; class 1: I 4, P 5, L 4 -> 4/5; class 2: I 0, P 1, L 0 -> 0
    np.testing.assert_allclose(class_iou(*counts)[:3], [1 / 3, 4 / 5, 0])
    assert np.isnan(class_iou(*counts)[3])
    scores = segmentation_scores(*counts)
    assert scores["miou"] == pytest.approx((1 / 3 + 4 / 5 + 0) / 3)
    assert scores["pixel_accuracy"] == pytest.approx(5 / 7)
    assert scores["mean_accuracy"] == pytest.approx((1 / 3 + 1) / 2)  # class 2 absent from labels
    # summed over images = the dataset-level matrix
    other = image_counts(np.zeros((2, 4), int), np.full((2, 4), 3, np.uint8), 4)
    stacked = [np.stack([a, b]) for a, b in zip(counts, other)]
    pooled = confusion_matrix(np.concatenate([prediction, np.zeros((2, 4), int)]),
                              np.concatenate([label, np.full((2, 4), 3, np.uint8)]), 4)
    union = pooled.sum(0) + pooled.sum(1) - np.diag(pooled)
    np.testing.assert_allclose(class_iou(*stacked), np.diag(pooled) / union)


def test_hand_worked_depth_errors():
    truth = np.array([[1.0, 2.0], [4.0, 0.0]])  # 0: no measurement
    prediction = np.array([[1.0, 2.5], [2.0, 9.0]])
    errors = depth_errors(prediction, truth)
    assert errors["rmse"] == pytest.approx(np.sqrt((0 + 0.25 + 4) / 3))
    assert errors["abs_rel"] == pytest.approx((0 + 0.25 + 0.5) / 3)
    assert errors["log10"] == pytest.approx((0 + np.log10(1.25) + np.log10(2)) / 3)
    assert errors["delta1"] == pytest.approx(1 / 3)  # 1.25 is not < 1.25
    assert errors["delta2"] == pytest.approx(2 / 3) and errors["delta3"] == pytest.approx(2 / 3)
    assert depth_errors(np.full((2, 2), 20.0), np.full((2, 2), 9.0))["rmse"] == pytest.approx(1.0)  # clipped at 10 m
    full = np.full((480, 640), 2.0)
    full[:45] = 100.0  # outside the Eigen crop (and beyond 10 m): not scored
    assert depth_errors(np.full((480, 640), 2.0), np.where(full > 50, 3.0, full))["rmse"] == 0.0
    profile = DepthProfile(np.arange(0.0, 11.0, 1.0))
    profile.add(prediction, truth)  # errors 0 at 1 m, 0.5 at 2 m, 2 at 4 m; the 0 m pixel not scored
    rmse, counts = profile.rmse()
    assert list(counts[:5]) == [0, 1, 1, 0, 1] and rmse[1] == 0 and rmse[2] == 0.5 and rmse[4] == 2.0


# ------------------------------------------------------------------ fixtures and models
def _colour(k: int, classes: int) -> np.ndarray:
    """Class colours on a circle in RGB: each is linearly separable from the rest."""
    angle = 2 * np.pi * k / classes
    u, v = np.array([1.0, -1.0, 0.0]) / np.sqrt(2), np.array([1.0, 1.0, -2.0]) / np.sqrt(6)
    return np.clip(0.5 + 0.4 * (np.cos(angle) * u + np.sin(angle) * v), 0, 1)


def _block_scene(rng: np.random.Generator, classes: int, side: int = 64) -> tuple[np.ndarray, np.ndarray]:
    blocks = rng.integers(0, classes, (side // BLOCK, side // BLOCK))
    label = np.kron(blocks, np.ones((BLOCK, BLOCK), int)).astype(np.uint8)
    image = np.stack([_colour(k, classes) for k in range(classes)])[label]
    return (255 * image).round().astype(np.uint8), label


class PooledPixels(nn.Module):
    """Dense features that make the fixtures' classes linearly separable: per pixel, closeness
    to each class colour (5 channels, one high), averaged over 8 x 8 cells (stride 8). Depth
    fixtures read channel 5: the grey level itself."""

    def __init__(self):
        super().__init__()
        palette = np.stack([_colour(k, 5) for k in range(5)])
        self.register_buffer("palette", torch.tensor((palette - 0.5) / 0.5, dtype=torch.float32))

    def forward(self, x):
        return torch.zeros(len(x), 1000)

    def dense_features(self, x):
        distance = ((x[:, None] - self.palette[None, :, :, None, None]) ** 2).sum(2)
        closeness = torch.exp(-distance / 0.05)
        grey = x[:, :1].expand(-1, 32, -1, -1)  # many channels: the 256-bin head needs large logits
        return nn.functional.avg_pool2d(torch.cat([closeness, grey], 1), 8)


class Constant(PooledPixels):
    def dense_features(self, x):
        return torch.ones(len(x), 37, x.shape[2] // 8, x.shape[3] // 8)


def _predictions(module: nn.Module, source, tmp_path: Path, name: str = "m"):
    config = RunConfig(suites=(), out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path,
                       workers=0, progress=False, batch_size=8)
    adapter = ClassifierAdapter(module, name, PREPROCESS)
    passes = ForwardPasses(adapter, PredictionStore(tmp_path / "cache" / "store"), config, ForwardLog())
    request = PredictionRequest(source.name, Squash(64), "dense_features")
    return request, passes.predict(source, request.condition, request.output)


def _suite(**settings) -> DenseSuite:
    suite = DenseSuite()
    suite.configure({"resolution": 64, "iterations": 150, "batch_size": 4, "learning_rate": 0.05, **settings})
    return suite


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc")
    rng = np.random.default_rng(0)
    splits = {"train": [_block_scene(rng, 5) for _ in range(12)], "val": [_block_scene(rng, 5) for _ in range(6)]}
    write_voc2012(root / "VOCdevkit" / "VOC2012", splits)
    return open_dataset("voc2012", root, {}), root


def _records(output, subset="all"):
    return {r.metric: r for r in output.records if r.subset == subset}


def test_separable_features_reach_miou_095_and_constant_features_chance(voc, tmp_path):
    source, _ = voc
    request, separable = _predictions(PooledPixels(), source, tmp_path / "a")
    output = _suite(heads="linear").evaluate("pooled", {request: separable}, seed=0)
    linear = _records(output)
    assert linear["miou"].value >= 0.95 and linear["pixel_accuracy"].value >= 0.95
    assert linear["miou"].ci_low <= linear["miou"].value <= linear["miou"].ci_high and linear["miou"].n == 6
    assert linear["miou"].condition == "squash/64"
    request, constant = _predictions(Constant(), source, tmp_path / "b", "constant")
    flat = _records(_suite(heads="linear").evaluate("constant", {request: constant}, seed=0))
    # one class everywhere: its IoU is its pixel share, every other present class 0 -> about 1/5 of that
    assert flat["miou"].value <= 1 / 5 + 0.02 and flat["mean_accuracy"].value == pytest.approx(1 / 5)
    # the per-sample arrays give back every record (one definition of each metric)
    arrays = output.per_sample[("voc2012", "squash/64")]
    for (subset, metric), value in DenseSuite().sample_metrics("voc2012", "squash/64", arrays).items():
        assert value == pytest.approx(_records(output, subset)[metric].value, rel=1e-12)
    assert arrays["linear_intersection"].shape == (6, 21)
    assert {f.name for f in output.figures} == {"class_iou", "segmentation_examples"}


def test_decoder_head_is_recorded_beside_the_linear_one(voc, tmp_path):
    source, _ = voc
    request, separable = _predictions(PooledPixels(), source, tmp_path)
    output = _suite(iterations=60).evaluate("pooled", {request: separable}, seed=0)
    subsets = {r.subset for r in output.records if r.metric == "miou"}
    assert subsets == {"all", "decoder"}
    assert "decoder/background" in {r.subset for r in output.records if r.metric == "iou"}
    assert _records(output, "decoder")["miou"].value > 0.5


def test_features_are_cached_in_float16_and_the_head_scores_as_on_float32(voc, tmp_path, monkeypatch):
    """Issue 24: dense features are kept in float16 (half the disk); the dtype is in the store key,
    and a head trained on the rounded rows scores what it scores on the float32 rows."""
    import json

    from auditkit.run import executor

    source, _ = voc
    request, half = _predictions(PooledPixels(), source, tmp_path)
    stored = np.load(half.dense.entry / "values.npy", mmap_mode="r")
    assert stored.dtype == np.float16 and half.dense.values.dtype == np.float16
    assert json.loads((half.dense.entry / "meta.json").read_text())["dtype"] == "float16"
    monkeypatch.setattr(executor, "DENSE_STORE_DTYPE", "float32")  # what the store kept before
    _, full = _predictions(PooledPixels(), source, tmp_path)  # the same store: another key, another entry
    assert full.dense.values.dtype == np.float32 and full.dense.entry != half.dense.entry
    rounded = half.dense.values.astype(np.float32)
    assert not np.array_equal(rounded, full.dense.values)  # rounding happened ...
    np.testing.assert_allclose(rounded, full.dense.values, rtol=2 ** -11, atol=2 ** -24)  # ... to float16's precision
    # a short training (mIoU below 1, where rounding could show) on each: the same mIoU within 0.01
    scores = [_records(_suite(heads="linear", iterations=12).evaluate("m", {request: p}, seed=0))["miou"].value
              for p in (half, full)]
    assert scores[0] < 0.99 and abs(scores[0] - scores[1]) <= 0.01, scores


def test_feature_rows_read_from_the_file_what_the_memory_map_holds(voc, tmp_path):
    source, _ = voc
    _, predictions = _predictions(PooledPixels(), source, tmp_path)
    dense = predictions.dense
    rows = dense_heads.FeatureRows(dense)
    assert rows.file is not None  # the store's values.npy, read with file reads
    for chosen in ([0], [3, 1, 17], list(range(18))):
        np.testing.assert_array_equal(rows(chosen), dense.maps(chosen))
    assert rows([5]).dtype == np.float32 and rows([5]).shape == (1, *dense.shape)


class FourBlocks(ClassifierAdapter):
    """An adapter with DINOv2's "lin. 4" features: four blocks of one grid concatenated along channels
    (here the separable maps at four scales, as a ViT's blocks differ in magnitude)."""

    def dense_features(self, images, spec=None):
        maps = self.module.dense_features(images)
        if spec is None or spec.blocks == "last":
            return maps
        return torch.cat([maps * factor for factor in (0.5, 1.0, 2.0, 1.0)], 1)


@pytest.mark.slow  # the level decoder trains 60 iterations at 4 x the grid: about 20 s on 2 shared cores
def test_decoder_reads_the_last_four_blocks_as_four_levels(voc, tmp_path):
    """Lin et al.'s tunable head over several feature levels: with dense.blocks=last4 the decoder
    is the level decoder (one branch per block, each at its own scale), trained and scored."""
    source, _ = voc
    config = RunConfig(suites=(), out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path,
                       workers=0, progress=False, batch_size=8)
    adapter = FourBlocks(PooledPixels(), "four", PREPROCESS)
    passes = ForwardPasses(adapter, PredictionStore(tmp_path / "cache" / "store"), config, ForwardLog())
    request = PredictionRequest(source.name, Squash(64), "dense_features/last4")
    predictions = passes.predict(source, request.condition, request.output)
    assert predictions.dense.shape == (4 * 37, 8, 8)
    suite = _suite(blocks="last4", iterations=60)
    assert suite.requests()[0].output == "dense_features/last4"
    output = suite.evaluate("four", {request: predictions}, seed=0)
    assert _records(output, "decoder")["miou"].value > 0.9 and _records(output)["miou"].value >= 0.95
    kept = {path.name.split("-")[0]: torch.load(path, weights_only=True)
            for path in (predictions.dense.entry / "heads").glob("*.pt")}
    assert {name.split(".")[0] for name in kept["decoder"]} == {"project", "refine", "fuse"}
    assert {name.split(".")[1] for name in kept["decoder"] if name.startswith("refine")} == {"0", "1", "2", "3"}
    assert set(kept["linear"]) == {"0.weight", "0.bias", "0.running_mean", "0.running_var", "0.num_batches_tracked",
                                   "1.weight", "1.bias"}  # the linear probe stays BatchNorm + 1 x 1 over all blocks


def test_level_decoder_scales_and_depth_output():
    spec = dense_heads.HeadSpec("decoder", "depth", 8, dense_heads.DEPTH_BINS, 1, 1, 1e-3, 0.0, 0, levels=4)
    head = dense_heads.make_head(spec).eval()
    assert head.scales == (4.0, 2.0, 1.0, 0.5)
    with torch.no_grad():
        depth = dense_heads.head_output(head, spec, torch.randn(2, 8, 6, 10))
    assert depth.shape == (2, 1, 24, 40) and float(depth.min()) >= 1e-3 and float(depth.max()) <= 10.0
    one = dense_heads.HeadSpec("decoder", "depth", 8, dense_heads.DEPTH_BINS, 1, 1, 1e-3, 0.0, 0)
    assert isinstance(dense_heads.make_head(one), nn.Sequential) and one.key("t") != spec.key("t")
    with pytest.raises(ValueError, match="do not split into 4 levels"):
        dense_heads.make_head(dense_heads.HeadSpec("decoder", "depth", 6, 256, 1, 1, 1e-3, 0.0, 0, levels=4))


def test_training_is_seeded_bit_identical_resumable_and_kept(voc, tmp_path, monkeypatch):
    source, _ = voc
    request, separable = _predictions(PooledPixels(), source, tmp_path)
    dense = separable.dense
    spec = DenseSuite()._spec("linear", "segmentation", dense, __import__("auditkit.data.dense_targets", fromlist=["x"]).dense_labels(source), 3)
    spec = dense_heads.HeadSpec(**{**spec.__dict__, "iterations": 40, "batch_size": 4, "learning_rate": 0.05})
    from auditkit.data.dense_targets import TargetReader

    train = np.arange(12)  # the train ids sort before the val ids
    with TargetReader(source) as reader:
        def target(row):
            return reader.segmentation(source.samples[row])

        first, trained = dense_heads.train_head(spec, dense.maps, train, target, IGNORE_INDEX, tmp_path / "one", "t")
        second, _ = dense_heads.train_head(spec, dense.maps, train, target, IGNORE_INDEX, tmp_path / "two", "t")
        assert trained
        for a, b in zip(first.state_dict().values(), second.state_dict().values()):
            assert torch.equal(a, b)
        # a rerun reads the kept head: nothing trained
        again, trained = dense_heads.train_head(spec, dense.maps, train, target, IGNORE_INDEX, tmp_path / "one", "t")
        assert not trained and all(torch.equal(a, b) for a, b in zip(first.state_dict().values(),
                                                                       again.state_dict().values()))
        # killed after 25 iterations (checkpoints every 10), resumed: the same weights
        monkeypatch.setattr(dense_heads, "CHECKPOINT_EVERY", 10)
        dense_heads.train_head(spec, dense.maps, train, target, IGNORE_INDEX, tmp_path / "killed", "t", stop_after=25)
        assert len(list((tmp_path / "killed").glob("*.partial.pt"))) == 1
        resumed, trained = dense_heads.train_head(spec, dense.maps, train, target, IGNORE_INDEX, tmp_path / "killed", "t")
        assert trained and not list((tmp_path / "killed").glob("*.partial.pt"))
        for a, b in zip(first.state_dict().values(), resumed.state_dict().values()):
            assert torch.equal(a, b)
        # another seed is another head
        other = dense_heads.HeadSpec(**{**spec.__dict__, "seed": 4})
        assert other.key("t") != spec.key("t")


def test_a_rerun_of_the_suite_trains_nothing(voc, tmp_path, monkeypatch):
    source, _ = voc
    request, separable = _predictions(PooledPixels(), source, tmp_path)
    first = _suite(heads="linear", iterations=20).evaluate("pooled", {request: separable}, seed=0)
    assert list((separable.dense.entry / "heads").glob("linear-segmentation-*.pt"))
    monkeypatch.setattr(dense_heads, "batch_loss", lambda *a: pytest.fail("trained again"))
    again = _suite(heads="linear", iterations=20).evaluate("pooled", {request: separable}, seed=0)
    assert [r.value for r in first.records] == [r.value for r in again.records]


def test_bad_training_options_are_one_line():
    from auditkit.errors import AuditError

    for setting, words in (({"iterations": 0}, "dense.iterations=0"), ({"batch_size": -1}, "dense.batch_size=-1"),
                           ({"learning_rate": 0.0}, "dense.learning_rate=0.0")):
        suite = DenseSuite()
        suite.configure(setting)
        with pytest.raises(AuditError, match=words):
            suite.requests()
    suite = DenseSuite()
    suite.configure({"resolution": 0})
    with pytest.raises(AuditError, match="positive number of pixels"):
        suite.requests()


def _depth_scene(rng: np.random.Generator, base: float, size: tuple[int, int] = (32, 48)) -> tuple[np.ndarray, np.ndarray]:
    """A grey ramp whose level is linear in depth (1 .. 9 m) around ``base`` m: a gentle slope, so
    upsampling features of 8 x 8 cells loses almost nothing (a step would be smoothed at every edge)."""
    slope = rng.uniform(-0.02, 0.02)  # metres per pixel
    depth = base + slope * (np.arange(size[1]) - size[1] / 2)[None, :].repeat(size[0], 0)
    level = (depth - 1.0) / 8.0
    return (255 * np.repeat(level[..., None], 3, 2)).round().astype(np.uint8), depth.astype(np.float32)


@pytest.mark.slow  # two heads of 300 + 100 iterations: about 30 s on 2 shared cores
def test_depth_linear_in_a_feature_is_learned_and_segmentation_runs_beside_it(tmp_path):
    rng = np.random.default_rng(1)
    # train depths span 1.5 .. 7.5 m, val depths lie inside them (a head is not asked to extrapolate)
    # (the 256-bin head's 0.1 floor per bin pulls towards mid-range: 300 iterations fit 1.5 m to 0.4 m)
    scenes = [_depth_scene(rng, base) for base in [*np.linspace(1.5, 7.5, 12), 3.0, 4.0, 5.0, 6.0]]
    images = np.stack([s[0] for s in scenes])
    depths = np.stack([s[1] for s in scenes])
    labels = (depths > 5).astype(np.int64) + 1  # raw NYU classes 1 and 2 -> 40-class 0 and 1
    write_nyu(tmp_path / "nyu-depth-v2", images, depths, labels, train=list(range(1, 13)), test=[13, 14, 15, 16])
    source = open_dataset("nyu-depth-v2", tmp_path, {})
    request, predictions = _predictions(PooledPixels(), source, tmp_path)
    output = _suite(heads="linear", iterations=300, learning_rate=0.05).evaluate("pooled", {request: predictions}, 0)
    depth = _records(output)
    # val depths 3 .. 6 m: a constant guess is about 1.1 m off (checked below); the head that reads
    # the feature 0.25 m, most of it on the 3 m image (the bins' floor pulls towards mid-range)
    assert depth["rmse"].value < 0.3 and depth["abs_rel"].value < 0.08 and depth["delta1"].value > 0.99
    assert depth["rmse"].n == 4
    assert depth["miou"].value >= 0.9
    assert {f.name for f in output.figures} >= {"depth_error_profile", "depth_examples", "class_iou"}
    request, constant = _predictions(Constant(), source, tmp_path / "constant", "constant")
    blind = _records(_suite(heads="linear", iterations=100, learning_rate=0.05).evaluate("c", {request: constant}, 0))
    assert blind["rmse"].value > 0.9
    arrays = output.per_sample[("nyu-depth-v2", "squash/64")]
    assert DenseSuite().sample_metrics("nyu-depth-v2", "squash/64", arrays)[("all", "rmse")] == pytest.approx(
        depth["rmse"].value)


MODEL_FILE = '''
import sys
sys.path.insert(0, {root!r})
from tests.suites.test_dense import PooledPixels, NoDense


def make():
    model = PooledPixels()
    model.pretrained_cfg = dict(input_size=(3, 64, 64), interpolation="bilinear", crop_pct=0.875,
                                mean=(0.5,) * 3, std=(0.5,) * 3)
    return model


def plain():
    model = NoDense()
    model.pretrained_cfg = make().pretrained_cfg
    return model
'''


class NoDense(nn.Module):
    def forward(self, x):
        return torch.zeros(len(x), 1000)


@pytest.mark.slow  # two audits through the CLI: about 40 s on 2 cores
def test_audit_run_records_the_heads_and_skips_a_model_without_dense_features(voc, tmp_path):
    import json

    from auditkit.cli import main

    _, data = voc
    (tmp_path / "models.py").write_text(MODEL_FILE.format(root=str(Path(__file__).parents[2])))
    options = ["--option", "dense.resolution=64", "--option", "dense.iterations=60", "--option", "dense.learning_rate=0.05"]
    common = ["--suites", "dense", "--data-root", str(data), "--cache", str(tmp_path / "cache"), "--no-progress",
              "--workers", "0", *options]
    main(["run", "--model", f"python:{tmp_path / 'models.py'}:make", "--out", str(tmp_path / "run"), *common])
    payload = json.loads((tmp_path / "run" / "results.json").read_text())
    miou = {r["subset"]: r["value"] for r in payload["records"] if r["metric"] == "miou"}
    assert set(miou) == {"all", "decoder"} and miou["all"] >= 0.95
    assert (tmp_path / "run" / "per_sample" / "dense" / "voc2012" / "squash" / "64.npz").is_file()
    with pytest.raises(SystemExit):  # nothing could be computed: every dataset skipped, with the reason
        main(["run", "--model", f"python:{tmp_path / 'models.py'}:plain", "--out", str(tmp_path / "plain"), *common])
    skipped = json.loads((tmp_path / "plain" / "results.json").read_text())["skipped"]
    reason = next(s["reason"] for s in skipped if s["dataset"] == "voc2012")
    assert "dense_features(images)" in reason
