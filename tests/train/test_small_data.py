"""The small_data suite: an architecture trained from scratch, with and without L_drloc, on
the finetune suite's trainer. Tested like a metric: both arms learn, scratch means scratch (the
parent's weights do not matter), the full liu2021 pipeline (timm augmentation, mixup / cutmix,
cosine, clipping, L_drloc) is bit-identical on CPU and resumes identical, and what cannot work
says so in one line."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from torch import nn

import auditkit.train.finetune as finetune
from auditkit.adapters.base import ClassifierAdapter
from auditkit.adapters.preprocess import PreprocessConfig
from auditkit.errors import AuditError
from auditkit.run import run_audit
from auditkit.run.config import RunConfig
from auditkit.train.recipes import LIU2021, recipe
from suites.small_data.suite import SmallDataSuite
from tests.train.fixtures import SIZE, interrupted_after_epoch, tiny_adapter, write_task

PREPROCESS = PreprocessConfig("custom", input_size=SIZE, crop_pct=1.0, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))


class GridNet(nn.Module):
    """A timm-style ConvNet (forward_features -> a (batch, 8, 8, 8) grid at 16 px, forward_head,
    init_weights): what L_drloc reads."""

    def __init__(self, stride: int = 2) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, stride=stride, padding=1)
        self.norm = nn.BatchNorm2d(8)
        self.classifier = nn.Linear(8, 1000)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.norm(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        pooled = x.mean(dim=(2, 3))
        return pooled if pre_logits else self.classifier(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def init_weights(self) -> None:
        nn.init.kaiming_normal_(self.stem.weight)


def grid_adapter(seed: int = 0, stride: int = 2) -> ClassifierAdapter:
    torch.manual_seed(seed)
    return ClassifierAdapter(GridNet(stride), "gridnet", PREPROCESS)


# liu2021's structure at seconds of CPU: no augmentation nor mixing unless a test asks
QUICK = {"input_size": "16", "batch_size": "8", "lr": "0.01", "warmup_epochs": "1", "warmup_lr": "0.001",
         "min_lr": "0.0001", "max_epochs": "5", "seeds": "0,1", "augment": "none", "mixup": "0", "cutmix": "0",
         "resize": "model", "drloc": "0.5", "weight_decay": "0.0001"}
FULL = {**QUICK, "augment": "timm", "mixup": "0.8", "cutmix": "1.0", "max_epochs": "4", "seeds": "0"}


def config(tmp: Path, task: Path, cache: Path | None = None, **options: str) -> RunConfig:
    return RunConfig(suites=("small_data",), out_dir=tmp / "out", cache_dir=cache or tmp / "cache",
                     data_root=tmp / "data", data_overrides={"transfer": str(task)}, batch_size=16, workers=0,
                     progress=False, suite_options={"small_data": {**QUICK, **options}}, datasets=("transfer",))


def _records(results, metric: str) -> dict[str, float]:
    return {r.condition: r.value for r in results.records if r.metric == metric and r.suite == "small_data"}


def _models(cache: Path) -> dict[str, dict]:
    return {(f := finetune.load_checkpoint(p))["condition"]: f for p in sorted((cache / "store").glob("*/*/model.pt"))}


def test_both_arms_train_from_scratch_and_the_gain_is_paired_by_seed(tmp_path):
    task = write_task(tmp_path / "task")
    results = run_audit(grid_adapter(), config(tmp_path, task))
    top1 = _records(results, "top1")
    arms = {c: v for c, v in top1.items() if not c.endswith("*")}
    assert len(arms) == 4 and min(arms.values()) >= 0.9, arms  # a separable task, learnt from random weights
    without = [v for c, v in arms.items() if "/drloc0/" in c]
    with_ = [v for c, v in arms.items() if "/drloc0.5/" in c]
    gain = _records(results, "drloc_gain")
    (pattern, value), = gain.items()
    assert pattern.endswith("/drloc0.5/seed*")
    assert value == pytest.approx(sum(with_) / 2 - sum(without) / 2)
    models = _models(tmp_path / "cache")
    drloc_histories = [m["history"] for c, m in models.items() if "/drloc0.5/" in c]
    assert all("drloc_loss" in h[0] for h in drloc_histories)
    assert all("drloc_loss" not in m["history"][0] for c, m in models.items() if "/drloc0/" in c)
    # L_drloc is learnt: the with-arm's auxiliary loss falls
    assert all(h[-1]["drloc_loss"] < h[0]["drloc_loss"] for h in drloc_histories)
    suite = SmallDataSuite()
    headline = [(r.metric, r.condition) for r in results.records if r.suite == "small_data" and suite.headline(r)]
    assert sorted(headline) == [("drloc_gain", pattern), ("top1", pattern.replace("drloc0.5", "drloc0"))]
    figures = sorted(p.name for p in (tmp_path / "out").rglob("*.png"))
    assert any("training" in f for f in figures) and any("top1" in f for f in figures)


def test_scratch_means_scratch_the_parents_weights_do_not_matter(tmp_path):
    task = write_task(tmp_path / "task")
    options = {"seeds": "0", "max_epochs": "2"}
    run_audit(grid_adapter(seed=0), config(tmp_path, task, cache=tmp_path / "a", **options))
    run_audit(grid_adapter(seed=7), config(tmp_path, task, cache=tmp_path / "b", **options))
    a, b = _models(tmp_path / "a"), _models(tmp_path / "b")
    assert sorted(a) == sorted(b)
    for condition in a:
        for name, tensor in a[condition]["state_dict"].items():
            assert torch.equal(tensor, b[condition]["state_dict"][name]), (condition, name)
    # and the two arms of one seed start from the same weights (paired): the backbone drawn afresh
    # from the seed, not from the parent
    chosen = dataclasses.replace(LIU2021, drloc=0.5, input_size=16)
    nets = [finetune.build_network(grid_adapter(seed=s), 3, chosen, 16, seed=0) for s in (0, 7)]
    for name, tensor in nets[0].backbone.state_dict().items():
        assert torch.equal(tensor, nets[1].backbone.state_dict()[name]), name
    other = finetune.build_network(grid_adapter(), 3, chosen, 16, seed=1)
    assert not torch.equal(other.backbone.model.stem.weight, nets[0].backbone.model.stem.weight)


def test_the_full_recipe_is_bit_identical_and_resumes_identical(tmp_path, monkeypatch):
    task = write_task(tmp_path / "task")
    run_audit(grid_adapter(), config(tmp_path, task, cache=tmp_path / "a", **FULL))
    run_audit(grid_adapter(), config(tmp_path, task, cache=tmp_path / "b", **FULL))
    interrupted_after_epoch(monkeypatch, 2, lambda: run_audit(grid_adapter(), config(tmp_path, task, cache=tmp_path / "cut", **FULL)))
    run_audit(grid_adapter(), config(tmp_path, task, cache=tmp_path / "cut", **FULL))
    a, b, cut = (_models(tmp_path / c) for c in ("a", "b", "cut"))
    assert sorted(a) == sorted(b) == sorted(cut) and len(a) == 2
    for condition in a:
        for name, tensor in a[condition]["state_dict"].items():
            assert torch.equal(tensor, b[condition]["state_dict"][name]), (condition, name)
            assert torch.equal(tensor, cut[condition]["state_dict"][name]), (condition, name)
        losses = [h["train_loss"] for h in a[condition]["history"]]
        assert losses == [h["train_loss"] for h in cut[condition]["history"]]


def test_mixing_changes_the_batches_and_is_seeded_per_step(tmp_path):
    """Mixup / CutMix is on (the soft-target loss differs from plain cross-entropy) and its draw
    is the same for the same (seed, epoch, step)."""
    chosen = dataclasses.replace(LIU2021, input_size=16, batch_size=8)
    mixing = finetune.batch_mixing(chosen, 3)
    images, labels = torch.randn(8, 3, 16, 16), torch.arange(8) % 3
    with finetune._numpy_seeded(5):
        a = mixing(images.clone(), labels)
    with finetune._numpy_seeded(5):
        b = mixing(images.clone(), labels)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], images) and a[1].shape == (8, 3)
    assert torch.allclose(a[1].sum(1), torch.ones(8))


def test_the_cosine_schedule_is_timms():
    from timm.scheduler import CosineLRScheduler

    class Stub(finetune.Loop):
        def __init__(self, chosen):
            self.recipe, self.lr, self.step = chosen, chosen.lr, 0
            self.per_epoch, self.total_steps = 10, 1000
            self.warmup_steps = chosen.warmup_epochs * self.per_epoch
            parameter = nn.Parameter(torch.zeros(1))
            self.optimizer = torch.optim.AdamW([{"params": [parameter], "name": "backbone"},
                                                {"params": [], "name": "head"}], lr=chosen.lr)

    loop = Stub(LIU2021)
    probe = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=LIU2021.lr)
    timm_schedule = CosineLRScheduler(probe, t_initial=1000, lr_min=LIU2021.min_lr, warmup_lr_init=LIU2021.warmup_lr,
                                      warmup_t=200, cycle_limit=1, t_in_epochs=False)
    for step in (0, 1, 100, 199, 200, 201, 500, 999):
        loop.step = step
        loop._set_learning_rates()
        timm_schedule.step_update(step)
        assert loop.optimizer.param_groups[0]["lr"] == pytest.approx(probe.param_groups[0]["lr"], rel=1e-9), step


def test_norms_and_biases_get_no_weight_decay_in_liu2021():
    network = finetune.build_network(grid_adapter(), 3, dataclasses.replace(LIU2021, input_size=16, drloc=0.5), 16)
    groups = finetune.parameter_groups(network, LIU2021)
    free = {id(p) for g in groups if g.get("weight_decay") == 0.0 for p in g["params"]}
    named = dict(network.named_parameters())
    assert id(named["backbone.model.norm.weight"]) in free and id(named["backbone.model.stem.bias"]) in free
    assert id(named["backbone.model.stem.weight"]) not in free and id(named["drloc_head.mlp.0.weight"]) not in free
    assert sum(len(g["params"]) for g in groups) == len(named)


def test_the_recipe_is_the_released_one_line_by_line():
    r = recipe("liu2021")
    assert (r.optimizer, r.lr, r.weight_decay, r.betas, r.batch_size) == ("adamw", 1e-3, 0.05, (0.9, 0.999), 1024)
    assert (r.warmup_epochs, r.warmup, r.warmup_lr, r.schedule, r.min_lr) == (20, "linear", 1e-6, "cosine", 1e-5)
    assert (r.clip_grad, r.label_smoothing, r.mixup, r.cutmix, r.mixup_prob, r.mixup_switch_prob) == \
        (5.0, 0.1, 0.8, 1.0, 1.0, 0.5)
    assert (r.augment, r.auto_augment, r.re_prob, r.input_size, r.max_epochs) == \
        ("timm", "rand-m9-mstd0.5-inc1", 0.25, 224, 100)
    assert (r.init, r.decay_norm_bias, r.select_best, r.train_on, r.seeds) == \
        ("scratch", False, False, "train_val", (0, 1, 2, 3, 4))
    assert (r.drloc_pairs, r.drloc_grid, r.drloc_hidden) == (64, 7, 512)
    assert (r.drloc_target, r.drloc_reduction, r.drloc_schedule) == ("normalised", "mean", "constant")


def test_an_architecture_without_a_grid_runs_the_baseline_only_and_says_why(tmp_path):
    task = write_task(tmp_path / "task")
    results = run_audit(tiny_adapter(), config(tmp_path, task, seeds="0", max_epochs="2"))
    arms = {c for c in _records(results, "top1") if not c.endswith("*")}
    assert arms and all("/drloc0/" in c for c in arms)
    reasons = [s.reason for s in results.skipped if s.suite == "small_data"]
    assert any("L_drloc cannot apply" in r and "final grid" in r for r in reasons), reasons


def test_a_grid_under_2x2_is_refused_in_one_line(tmp_path):
    task = write_task(tmp_path / "task")
    results = run_audit(grid_adapter(stride=16), config(tmp_path, task, seeds="0", max_epochs="2"))
    reasons = [s.reason for s in results.skipped if s.suite == "small_data"]
    assert any("1 x 1" in r and "at least 2 x 2" in r for r in reasons), reasons


@pytest.mark.parametrize("options, message", [
    ({"drloc": "-1"}, "lambda must be above 0"),
    ({"drloc_grid": "1"}, "drloc_grid"),
    ({"init": "pretrained"}, "init"),
    ({"schedule": "cosin"}, "plateau, steps or cosine"),
    ({"fractions": "0.1"}, "no option 'fractions'"),  # the whole train split: a fraction would be ignored
])
def test_bad_small_data_options_are_one_line(tmp_path, options, message):
    task = write_task(tmp_path / "task")
    with pytest.raises(AuditError, match=message) as error:
        run_audit(grid_adapter(), config(tmp_path, task, **options))
    assert "\n" not in str(error.value)


def test_randaugment_at_magnitude_10_posterizes_to_black_instead_of_raising():
    """timm asks Pillow for 0 bits at magnitude 10, which Pillow >= 11 refuses."""
    from PIL import Image

    from auditkit.train.augment import TimmRandom

    chosen = dataclasses.replace(LIU2021, auto_augment="rand-m10-n4-mstd0", re_prob=0.0)
    transform = TimmRandom(chosen, PREPROCESS, 16)
    posterize = next(op for t in transform.pipeline.transforms for op in getattr(t, "ops", []) if "Posterize" in op.name)
    image = Image.new("RGB", (16, 16), (200, 120, 30))
    assert posterize.aug_fn(image, 0).getextrema() == ((0, 0), (0, 0), (0, 0))
    assert posterize.aug_fn(image, 2).getextrema() == ((192, 192), (64, 64), (0, 0))
    for seed in range(40):
        assert transform(image, torch.Generator().manual_seed(seed)).shape == (3, 16, 16)


def test_timms_pipeline_is_drawn_from_the_images_own_generator_alone():
    """Same generator seed: the same tensor, whatever torch's, Python's and numpy's global
    generators hold; another seed: another tensor; the globals are left as they were."""
    import random

    import numpy as np
    from PIL import Image

    from auditkit.train.augment import train_pipeline

    pipeline = train_pipeline(dataclasses.replace(LIU2021, input_size=16), PREPROCESS, 16)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8))
    outputs = []
    for noise in range(3):
        torch.manual_seed(noise)
        random.seed(noise)
        np.random.seed(noise)
        before = (torch.random.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())
        outputs.append(pipeline.after_fixed(pipeline.fixed(image), torch.Generator().manual_seed(11)))
        assert torch.equal(before[0], torch.random.get_rng_state()) and before[1] == random.getstate()
        assert (before[2] == np.random.get_state()[1]).all()
    assert all(torch.equal(outputs[0], o) for o in outputs)
    other = pipeline.after_fixed(pipeline.fixed(image), torch.Generator().manual_seed(12))
    assert not torch.equal(outputs[0], other)


def test_the_released_lambda_schedule_ramps_over_20_epochs_and_decays_toward_300():
    class Stub(finetune.Loop):
        def __init__(self):
            self.recipe = dataclasses.replace(LIU2021, drloc=0.5, drloc_schedule="released")
            self.epoch = 0

    loop = Stub()
    weights = {}
    for epoch in (0, 1, 10, 20, 21, 100, 300):
        loop.epoch = epoch
        weights[epoch] = loop._drloc_weight()
    # VTs-Drloc's log: 0.0, 0.025, 0.25, 0.5, 0.4982, 0.3571 (main.py _weight_decay)
    assert weights == pytest.approx({0: 0.0, 1: 0.025, 10: 0.25, 20: 0.5, 21: 0.49821, 100: 0.35714, 300: 0.0}, abs=1e-5)
    loop.recipe = dataclasses.replace(LIU2021, drloc=0.5)
    assert loop._drloc_weight() == 0.5


def test_drloc_regularises_fine_tuning_too(tmp_path):
    """The paper's Table 5: --option finetune.drloc=<lambda> while fine-tuning a pretrained model."""
    from tests.train.fixtures import config as finetune_config

    task = write_task(tmp_path / "task")
    results = run_audit(grid_adapter(), finetune_config(tmp_path, task, drloc="0.1", max_epochs="3"))
    assert any(r.metric == "top1" and r.suite == "finetune" for r in results.records)
    (kept,) = _models(tmp_path / "cache").values()
    assert kept["recipe"]["drloc"] == 0.1 and kept["recipe"]["init"] == "pretrained"
    assert all("drloc_loss" in h for h in kept["history"])
    assert any(name.startswith("drloc_head.") for name in kept["state_dict"])
