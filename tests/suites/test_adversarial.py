"""Adversarial attacks: inside the eps-ball and the pixel range, eps 0 is the clean evaluation,
accuracy never rises with eps on a trained toy model, attacked predictions come from the store."""

from __future__ import annotations

import importlib.util
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from auditkit.adapters import ModelOptions, load_model
from auditkit.conditions import Fgsm, Pgd, parse
from auditkit.conditions.attacks import fgsm, pgd
from auditkit.cli import main
from auditkit.data.imagenet import read_imagenet_val
from auditkit.run import ForwardLog, ForwardPasses, RunConfig
from auditkit.store import PredictionStore
from tests.conftest import VAL_CLASSES

# A mean-colour classifier: the four classes differ by 3/255 in one channel, so attacks of a few
# /255 can flip it, while the clean images (noise averages out) are all classified right.
COLOUR_MODEL = textwrap.dedent(
    '''
    import torch
    from torch import nn

    class MeanColour(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 1000)
            with torch.no_grad():
                self.fc.weight.zero_()
                self.fc.bias.fill_(-10.0)
            self.pretrained_cfg = dict(input_size=(3, 32, 32), interpolation="bilinear", crop_pct=1.0,
                                       mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))

        def forward(self, x):
            return self.fc(x.mean((2, 3)))

    def make():
        return MeanColour()
    '''
)


def predict(adapter, source, condition: str, store, config, log, output: str = "logits"):
    """One model's answers on ``source`` under ``condition``, as a live model's forward passes give them."""
    return ForwardPasses(adapter, store, config, log).predict(source, parse(condition), output)
OFFSETS = {0: (3, 0, 0), 1: (-3, 0, 0), 2: (0, 3, 0), 151: (0, -3, 0)}  # class -> RGB offset from 128


def _colour_val(root: Path, per_class: int = 6) -> Path:
    from tests.conftest import standard_val_names

    rng = np.random.default_rng(0)
    for wnid, index in VAL_CLASSES.items():
        for name in standard_val_names(index, per_class):
            pixels = 128 + np.array(OFFSETS[index]) + rng.integers(-20, 21, (32, 32, 3))
            path = root / wnid / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels.astype(np.uint8)).save(path)
    return root


def _trained_colour_model(tmp_path: Path, val: Path) -> tuple[Path, Path]:
    """The toy model trained (Adam, cross-entropy) on the images' normalised mean colours."""
    model_file = tmp_path / "colour.py"
    model_file.write_text(COLOUR_MODEL)
    spec = importlib.util.spec_from_file_location("colour_model", model_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.make()
    source = read_imagenet_val(val)
    images = torch.stack([torch.from_numpy(np.asarray(Image.open(s.path), dtype=np.float32) / 255).permute(2, 0, 1)
                          for s in source.samples])
    labels = torch.tensor([s.label for s in source.samples])
    normalised = (images - 0.5) / 0.5
    optimiser = torch.optim.Adam(model.parameters(), lr=0.5)
    torch.manual_seed(0)
    for _ in range(300):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(model(normalised), labels).backward()
        optimiser.step()
    weights = tmp_path / "colour.safetensors"
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, weights)
    return model_file, weights


@pytest.mark.parametrize("method", ["fgsm", "pgd"])
@pytest.mark.parametrize("epsilon", [0.5, 4.0, 16.0])
def test_perturbations_stay_in_the_ball_and_the_pixel_range(method, epsilon):
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(10))
    images = torch.rand(6, 3, 12, 12)
    images[0] = 0.0  # saturated images: clipping must keep them in [0, 1]
    images[1] = 1.0
    labels = torch.arange(6)
    radius = epsilon / 255
    if method == "fgsm":
        attacked = fgsm(network, images, labels, radius)
    else:
        attacked = pgd(network, images, labels, radius, 10, torch.Generator().manual_seed(0))
    assert (attacked - images).abs().max() <= radius + 1e-7
    assert attacked.min() >= 0 and attacked.max() <= 1
    assert (attacked - images).abs().max() > 0.5 * radius  # it did move
    if method == "fgsm":  # every unclipped pixel moves by exactly eps
        free = (images > radius) & (images < 1 - radius)
        torch.testing.assert_close((attacked - images).abs()[free], torch.full_like(images[free], radius))
    # the loss goes up
    loss = torch.nn.functional.cross_entropy
    assert loss(network(attacked), labels) > loss(network(images), labels)


def test_conditions_round_trip():
    for spec in (Fgsm(0.5), Pgd(4.0, 10, 3)):
        assert parse(spec.format()) == spec and spec.needs_grad
    assert spec.format() == "pgd/eps4/steps10/seed3" and Fgsm(0.5).format() == "fgsm/eps0.5"
    assert parse("pgd/eps2/steps10/seed0").radius == pytest.approx(2 / 255)
    assert not parse("none").needs_grad and not parse("scale/1.5").needs_grad


def test_eps_zero_is_the_clean_evaluation(tmp_path):
    val = _colour_val(tmp_path / "val")
    model_file, weights = _trained_colour_model(tmp_path, val)
    adapter = load_model(f"python:{model_file}:make", ModelOptions(weights=str(weights)))
    source = read_imagenet_val(val)
    config = RunConfig(suites=(), out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path,
                       workers=0, progress=False, batch_size=8)
    store = PredictionStore(tmp_path / "cache" / "store")
    clean = predict(adapter, source, "none", store, config, ForwardLog())
    for condition in ("fgsm/eps0", "pgd/eps0/steps10/seed0"):
        attacked = predict(adapter, source, condition, store, config, ForwardLog())
        np.testing.assert_array_equal(attacked.predicted_class, clean.predicted_class)
        np.testing.assert_allclose(attacked.logits, clean.logits, atol=1e-5)
    assert (clean.predicted_class == clean.labels).mean() == 1.0  # the toy model is trained


def test_accuracy_never_rises_with_eps_and_attacks_are_cached(tmp_path):
    val = _colour_val(tmp_path / "val")
    model_file, weights = _trained_colour_model(tmp_path, val)
    run = ["run", "--model", f"python:{model_file}:make", "--weights", str(weights), "--suites", "adversarial",
           "--data", f"imagenet-val={val}", "--data-root", str(tmp_path / "none"), "--cache", str(tmp_path / "cache"),
           "--no-progress", "--workers", "0", "--batch-size", "16"]
    main([*run, "--out", str(tmp_path / "out")])
    payload = json.loads((tmp_path / "out" / "results.json").read_text())
    top1 = {r["condition"]: r["value"] for r in payload["records"] if r["metric"] == "top1"}
    assert top1["none"] == 1.0
    for method, steps in (("fgsm", ""), ("pgd", "/steps10/seed0")):
        curve = [top1["none"]] + [top1[f"{method}/eps{e:g}{steps}"] for e in (0.5, 1, 2, 4)]
        assert all(later <= earlier for earlier, later in zip(curve, curve[1:])), (method, curve)
        assert curve[-1] <= 0.25  # 4/255 > the 3/255 class margin: the attack must succeed
    drops = {r["condition"]: r["value"] for r in payload["records"] if r["metric"] == "top1_drop"}
    assert drops["pgd/eps4/steps10/seed0"] == pytest.approx(1.0 - top1["pgd/eps4/steps10/seed0"])
    assert any(f["name"] == "accuracy_vs_epsilon" for f in payload["figures"])
    # a second run reads every attacked condition from the store: identical records
    main([*run, "--out", str(tmp_path / "again")])
    again = json.loads((tmp_path / "again" / "results.json").read_text())
    assert sum(again["header"]["images_forwarded"].values()) == 0
    assert [r["value"] for r in again["records"]] == [r["value"] for r in payload["records"]]
    from auditkit.records import per_sample_path

    saved = np.load(tmp_path / "out" / per_sample_path("adversarial", "imagenet-val", "pgd/eps4/steps10/seed0"))
    assert saved["correct"].dtype == bool and len(saved["correct"]) == 24


def test_clip_zero_shot_is_attacked_through_its_text_head(tmp_path, monkeypatch):
    """A tiny CLIP-shaped model; the zero-shot head is built under inference mode as open_clip's
    builder runs, and the attack must still differentiate through it."""
    import open_clip

    from auditkit.adapters.clip import ZeroShotClipAdapter

    class TinyClip(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.visual = torch.nn.Conv2d(3, 8, 4, stride=4)
            self.visual.preprocess_cfg = {"size": 32, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}

        def encode_image(self, images: torch.Tensor) -> torch.Tensor:
            return self.visual(images).mean((2, 3))

    def fake_head(model, **_):  # runs inside the adapter's inference_mode block
        return torch.nn.functional.normalize(torch.randn(8, 1000, generator=torch.Generator().manual_seed(1)), dim=0)

    monkeypatch.setattr(open_clip, "build_zero_shot_classifier", fake_head)
    adapter = ZeroShotClipAdapter(TinyClip(), tokenizer=None, name="tiny-clip", source={}, head_cache=tmp_path / "heads")
    val = _colour_val(tmp_path / "val", per_class=2)
    source = read_imagenet_val(val)
    config = RunConfig(suites=(), out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path,
                       workers=0, progress=False, batch_size=8)
    store = PredictionStore(tmp_path / "cache" / "store")
    clean = predict(adapter, source, "none", store, config, ForwardLog())
    attacked = predict(adapter, source, "fgsm/eps8", store, config, ForwardLog())
    labels = clean.labels
    rows = np.arange(len(labels))
    # the attack lowers every image's log-probability of its label through the 100 * cos head
    from auditkit.stats import log_softmax

    assert (log_softmax(attacked.logits)[rows, labels] < log_softmax(clean.logits)[rows, labels]).all()
    features = predict(adapter, source, "none", store, config, ForwardLog(), output="features")
    assert features.features.shape == (len(labels), 8) and features.logits is None


def _answers(condition: str, predicted: np.ndarray, labels: np.ndarray):
    from auditkit.data.source import DatasetSource, Sample
    from auditkit.suite import Predictions

    source = DatasetSource("imagenet-val", Path("/nowhere"),
                           tuple(Sample(Path(f"{i}.JPEG"), int(y), f"{i}.JPEG") for i, y in enumerate(labels)))
    logits = np.zeros((len(labels), 1000), dtype=np.float32)
    logits[np.arange(len(labels)), predicted] = 5.0
    return Predictions(source=source, condition=condition, logits=logits,
                       content_sha1=np.array([f"{i:040x}" for i in range(len(labels))]))


def test_evaluate_records_top1_and_drop_at_each_condition():
    """Schema v2 without the runner: ``top1`` at every condition, ``top1_drop`` only at the
    attacks' (clean minus attacked, by hand), subset ``all``; ``sample_metrics`` of the saved
    arrays equal the records (``attack_metrics``, one definition)."""
    from auditkit.suite import PredictionRequest
    from suites.adversarial.suite import AdversarialSuite, attacks

    rng = np.random.default_rng(0)
    labels = rng.integers(0, 1000, 200)
    clean_hit = rng.random(200) < 0.8
    answers = {PredictionRequest("imagenet-val"): _answers("none", np.where(clean_hit, labels, (labels + 1) % 1000), labels)}
    expected = {"none": clean_hit.mean()}
    for k, spec in enumerate(attacks()):
        hit = clean_hit & (rng.random(200) < 0.9 - 0.1 * k)
        hit[:3] = True  # some images the attack gets right that the clean model did not
        answers[PredictionRequest("imagenet-val", spec.format())] = _answers(
            spec.format(), np.where(hit, labels, (labels + 7) % 1000), labels)
        expected[spec.format()] = hit.mean()
    suite = AdversarialSuite()
    output = suite.evaluate("m", answers, seed=0)
    values = {(r.condition, r.subset, r.metric): r.value for r in output.records}
    assert {c for c, _, _ in values} == set(expected) and {s for _, s, _ in values} == {"all"}
    for condition, top1 in expected.items():
        assert values[(condition, "all", "top1")] == pytest.approx(top1)
        if condition != "none":
            assert values[(condition, "all", "top1_drop")] == pytest.approx(expected["none"] - top1)
    assert ("none", "all", "top1_drop") not in values
    for (dataset, condition), arrays in output.per_sample.items():
        records = {(s, m): v for (c, s, m), v in values.items() if c == condition}
        assert suite.sample_metrics(dataset, condition, arrays) == records
    assert any(f.name == "accuracy_vs_epsilon" for f in output.figures)


def test_recorded_answers_are_skipped_with_the_reason():
    from auditkit.suite import Predictions
    from suites.adversarial.suite import AdversarialSuite

    # refused before evaluate (Suite.unscorable, asked by the plan and the runner), so evaluate
    # itself never sees answers without logits
    clean = _answers("none", np.arange(4), np.arange(4))
    recorded = Predictions(source=clean.source, condition="none", logits=None, content_sha1=clean.content_sha1,
                           top1=np.arange(4))
    suite = AdversarialSuite()
    assert suite.unscorable("m", recorded.answered) == "m answers with top1; adversarial scores logits"
    assert suite.unscorable("m", clean.answered) is None


def test_v1_adversarial_records_migrate():
    from auditkit.records import read_results
    from tests.suites.test_calibration import V1_RUN, v1_samples_reproduce

    rows = [r for r in read_results(V1_RUN).records if r.suite == "adversarial"]
    assert {r.subset for r in rows} == {"all"} and "pgd/eps4/steps10/seed0" in {r.condition for r in rows}
    assert v1_samples_reproduce("adversarial") == 9  # top1 at none and the 8 attacks (v1 saved no drop column)
