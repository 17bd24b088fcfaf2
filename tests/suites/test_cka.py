"""CKA: the invariances Kornblith et al. prove, an independent feature-space formula, the
U-statistic definition of unbiased HSIC, the minibatch estimate, and the suite end to end."""

from __future__ import annotations

import itertools
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ortho_group

from auditkit.cli import main
from auditkit.data.source import DatasetSource, Sample
from auditkit.records import per_sample_path
from auditkit.records_v1 import migrate_record
from auditkit.suite import PredictionRequest, Predictions
from suites.cka.suite import cka, linear_gram, minibatch_cka, minibatch_cka_matrix, rbf_gram, unbiased_hsic


def _representations(seed: int = 0, n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 6))
    x = latent @ rng.normal(size=(6, 20)) + 0.3 * rng.normal(size=(n, 20))
    y = np.tanh(latent[:, :4] @ rng.normal(size=(4, 12))) + 0.5 * rng.normal(size=(n, 12))
    return x, y


def naive_linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al. eq. for linear CKA in feature space: ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)
    on column-centred features (no Gram matrices, no HSIC)."""
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    return np.linalg.norm(y.T @ x) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
@pytest.mark.parametrize("unbiased", [False, True])
def test_cka_of_a_representation_with_itself_is_one(kernel, unbiased):
    x, _ = _representations()
    assert cka(x, x, kernel, unbiased) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_invariant_to_orthogonal_transforms_and_isotropic_scaling(kernel):
    x, y = _representations()
    q = ortho_group.rvs(x.shape[1], random_state=0)
    reference = cka(x, y, kernel)
    assert cka(x @ q, y, kernel) == pytest.approx(reference, abs=1e-10)
    assert cka(7.5 * x, y, kernel) == pytest.approx(reference, abs=1e-10)
    assert cka(x, x @ q * 0.01, kernel) == pytest.approx(1.0, abs=1e-10)


def test_linear_cka_is_not_invariant_to_arbitrary_linear_maps():
    x, y = _representations()
    rng = np.random.default_rng(5)
    # an invertible but far from orthogonal map: singular values from 1e-3 to 10
    u, _, vt = np.linalg.svd(rng.normal(size=(20, 20)))
    stretch = u @ np.diag(np.logspace(-3, 1, 20)) @ vt
    assert cka(x, x @ stretch) < 0.95
    assert abs(cka(x @ stretch, y) - cka(x, y)) > 0.02


def test_linear_cka_equals_the_feature_space_formula():
    x, y = _representations(1)
    assert cka(x, y, "linear") == pytest.approx(naive_linear_cka(x, y), abs=1e-12)


def test_unbiased_hsic_is_the_u_statistic():
    """Song et al. 2012: HSIC_1 = (n)_4^-1 sum over distinct (i, j, q, r) of
    K_ij L_ij + K_ij L_qr - 2 K_ij L_iq; brute force on 7 samples."""
    x, y = _representations(2, n=7)
    k, l = rbf_gram(x), linear_gram(y)
    total, count = 0.0, 0
    for i, j, q, r in itertools.permutations(range(7), 4):
        total += k[i, j] * l[i, j] + k[i, j] * l[q, r] - 2 * k[i, j] * l[i, q]
        count += 1
    assert unbiased_hsic(k, l) == pytest.approx(total / count, rel=1e-10)


def test_rbf_bandwidth_is_half_the_median_distance():
    x = np.array([[0.0], [1.0], [3.0]])  # distances 1, 2, 3: median 2, sigma 1
    np.testing.assert_allclose(rbf_gram(x)[0, 1:], np.exp(-np.array([1.0, 9.0]) / 2))


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_minibatch_estimate_is_close_to_the_full_one(kernel):
    x, y = _representations(3, n=2048)
    full = cka(x, y, kernel, unbiased=True)
    assert 0.1 < full < 0.9  # a case where closeness means something
    assert minibatch_cka(x, y, kernel, seed=0, size=256) == pytest.approx(full, abs=0.03)
    if kernel == "linear":  # one minibatch of everything is the full unbiased estimate
        assert minibatch_cka(x, y, kernel, size=2048) == pytest.approx(full, abs=1e-10)
    matrix = minibatch_cka_matrix([x, y], [x, y], kernel)
    np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-12)
    np.testing.assert_allclose(matrix, matrix.T, atol=1e-12)


RESNETS = textwrap.dedent(
    '''
    import timm
    import torch

    def _resnet(seed):
        torch.manual_seed(seed)
        model = timm.create_model("resnet18", pretrained=False)
        model.pretrained_cfg = dict(input_size=(3, 32, 32), interpolation="bilinear", crop_pct=1.0,
                                    mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        return model

    def first():
        return _resnet(0)

    def second():
        return _resnet(1)
    '''
)


@pytest.mark.slow
def test_suite_between_layers_and_with_a_reference_model(tmp_path):
    models = tmp_path / "resnets.py"
    models.write_text(RESNETS)
    common = ["--suites", "cka", "--data-root", str(tmp_path / "data"), "--cache", str(tmp_path / "cache"),
              "--limit", "96", "--no-progress", "--workers", "0", "--batch-size", "32"]
    main(["run", "--model", f"python:{models}:first", "--out", str(tmp_path / "alone"), *common])
    alone = json.loads((tmp_path / "alone" / "results.json").read_text())
    assert any("--reference-model" in s["reason"] for s in alone["skipped"])
    assert {r["condition"] for r in alone["records"]} == {"none"}  # schema v2: the layer pair is the subset
    layers = {r["subset"] for r in alone["records"] if r["dataset"] == "digits" and r["metric"] == "linear_cka"}
    assert "layer1 vs penultimate" in layers and len(layers) == 15  # 6 layers, upper triangle

    main(["run", "--model", f"python:{models}:first", "--reference-model", f"python:{models}:second",
          "--out", str(tmp_path / "pair"), *common])
    pair = json.loads((tmp_path / "pair" / "results.json").read_text())
    values = {(r["subset"], r["metric"]): r["value"] for r in pair["records"] if r["dataset"] == "digits"}
    reference = f"python:{models}:second"
    cross = [v for (c, m), v in values.items() if f"vs {reference}:" in c and m == "linear_cka"]
    assert len(cross) == 36 and all(0 <= v <= 1 + 1e-9 for v in cross)
    assert values[("all", "linear_cka")] == values[(f"penultimate vs {reference}:penultimate", "linear_cka")]
    assert pair["header"]["reference_model"]["name"] == reference
    assert pair["header"]["images_forwarded"][f"{reference}: digits/none [layers]"] == 96
    figures = {f["name"] for f in pair["figures"]}
    assert figures == {"cka_layers", "cka_reference"}
    # the saved features reproduce the records: what `audit compare` will read
    saved = np.load(tmp_path / "pair" / per_sample_path("cka", "digits", "none"))
    assert len(saved["content_sha1"]) == 96 and saved["layer:penultimate"].dtype == np.float16
    again = minibatch_cka(saved["layer:layer1"].astype(float), saved["layer:penultimate"].astype(float))
    assert again == pytest.approx(values[("layer1 vs penultimate", "linear_cka")], abs=1e-3)

    # the same model as its own reference: every layer matches itself exactly
    main(["run", "--model", f"python:{models}:first", "--reference-model", f"python:{models}:first",
          "--out", str(tmp_path / "self"), *common])
    same = json.loads((tmp_path / "self" / "results.json").read_text())
    diagonal = [r["value"] for r in same["records"] if r["metric"] == "linear_cka" and r["dataset"] == "digits"
                and " vs " in r["subset"] and r["subset"].split(" vs ")[0] == r["subset"].rsplit(":", 1)[-1]]
    assert len(diagonal) == 6 and diagonal == pytest.approx([1.0] * 6, abs=1e-9)


def test_comparison_figure_pairs_runs_on_shared_images():
    from suites.cka.suite import CkaSuite

    x, y = _representations(4, n=64)
    ids = np.array([f"img{k:03d}" for k in range(64)])
    sha = np.array([f"{k:040x}" for k in range(64)])
    a = {"sample_id": ids, "content_sha1": sha, "layer:penultimate": x.astype(np.float16)}
    # run b holds the images in another order, one image missing and one with other bytes
    order = np.random.default_rng(0).permutation(64)[:-1]
    other_sha = sha[order].copy()
    other_sha[0] = "f" * 40
    b = {"sample_id": ids[order], "content_sha1": other_sha, "layer:penultimate": (x[order] @ ortho_group.rvs(20, random_state=1)).astype(np.float16)}
    c = {"sample_id": ids, "content_sha1": sha, "layer:penultimate": y.astype(np.float16)}
    figures = CkaSuite().comparison_figures({"A": {("digits", "none"): a}, "B": {("digits", "none"): b},
                                             "C": {("digits", "none"): c}})
    assert [f.name for f in figures] == ["cka_models"] and "62 images" in figures[0].caption
    texts = [t.get_text() for t in figures[0].figure.axes[0].texts]  # linear panel, row-major
    assert texts[1] == "1.00"  # A vs B: the same images, rotated features
    assert float(texts[2]) < 0.95  # A vs C: other representations


def test_open_clip_image_tower_gives_its_blocks_and_embedding():
    import open_clip
    import torch

    from auditkit.adapters.clip import ZeroShotClipAdapter
    from auditkit.run import layer_layout

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-S-32")  # random weights: no download
    adapter = ZeroShotClipAdapter(model, tokenizer=None, name="clip", source={}, head_cache=None)
    images = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        layers = adapter.layer_features(images)
        embedding = adapter.features(images)
    assert list(layers)[:2] == ["resblocks.0", "resblocks.1"] and list(layers)[-1] == "penultimate"
    assert len(layers) == 13 and layers["resblocks.3"].shape == (2, 384)
    torch.testing.assert_close(layers["penultimate"], embedding)
    assert layer_layout(adapter) == [(name, int(t.shape[1])) for name, t in layers.items()]


def _layer_predictions(layers: dict[str, np.ndarray], model_name: str = "") -> Predictions:
    n = len(next(iter(layers.values())))
    source = DatasetSource("digits", Path("/nowhere"), tuple(Sample(Path(f"{i}.png"), i % 10, f"{i}.png") for i in range(n)))
    return Predictions(source=source, condition="none", logits=None, content_sha1=np.array([f"{i:040x}" for i in range(n)]),
                       layers=layers, model_name=model_name)


def test_evaluate_puts_layer_pairs_in_subset():
    """Schema v2 without the runner: every record at condition ``none``; the layer pair
    (``a vs b``, ``a vs B:b``) in ``subset``; the headline (subset ``all``) is the two models'
    penultimate CKA; values equal ``minibatch_cka`` on the same layers."""
    from suites.cka.suite import CkaSuite

    x, y = _representations(5, n=80)
    subject = {"block": x, "penultimate": y}
    other = {"stem": y @ ortho_group.rvs(12, random_state=2), "penultimate": x}
    suite = CkaSuite()
    assert suite.accepts == ("layers",)
    output = suite.evaluate("A", {PredictionRequest("digits", output="layers"): _layer_predictions(subject),
                                  PredictionRequest("digits", output="layers", model="reference"): _layer_predictions(other, "B")},
                            seed=3)
    assert {(r.dataset, r.condition, r.aggregate, r.ci_low) for r in output.records} == {("digits", "none", "", None)}
    values = {(r.subset, r.metric): r.value for r in output.records}
    assert set(values) == {(s, f"{k}_cka") for k in ("linear", "rbf") for s in (
        "block vs penultimate", "block vs B:stem", "block vs B:penultimate", "penultimate vs B:stem",
        "penultimate vs B:penultimate", "all")}
    assert values[("block vs penultimate", "linear_cka")] == pytest.approx(minibatch_cka(x, y, "linear", seed=3), abs=1e-12)
    assert values[("penultimate vs B:stem", "linear_cka")] == pytest.approx(1.0, abs=1e-9)  # a rotation of the same
    assert values[("block vs B:penultimate", "linear_cka")] == pytest.approx(1.0, abs=1e-9)
    assert values[("all", "rbf_cka")] == values[("penultimate vs B:penultimate", "rbf_cka")]
    arrays = output.per_sample[("digits", "none")]
    assert arrays["layer:penultimate"].dtype == np.float16 and len(arrays["sample_id"]) == 80
    # CKA is not a mean over images: nothing for per-image paired comparisons (module docstring)
    assert suite.sample_metrics("digits", "none", arrays) == {} and suite.sample_hits("digits", "none", arrays) == {}


def test_v1_cka_records_migrate_layer_pairs_to_subset():
    row = {"model": "A", "suite": "cka", "dataset": "digits", "metric": "linear_cka", "value": 0.5, "ci_low": None,
           "ci_high": None, "n": 96, "suite_version": "0.1"}
    assert migrate_record({**row, "condition": "layer1 vs penultimate"})["subset"] == "layer1 vs penultimate"
    moved = migrate_record({**row, "condition": "layer1 vs python:m.py:second:layer2"})
    assert (moved["condition"], moved["subset"], moved["aggregate"]) == ("none", "layer1 vs python:m.py:second:layer2", "")
    headline = migrate_record({**row, "condition": "none"})
    assert (headline["condition"], headline["subset"]) == ("none", "all")
