"""The finetune suite's training, tested like a metric: it learns, it is seeded and
bit-identical on CPU, a rerun trains nothing, a changed recipe field retrains, the frozen
warm-up freezes, and bad tasks are one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import auditkit.train.finetune as finetune
from auditkit.errors import AuditError
from auditkit.records import per_sample_path
from auditkit.run import run_audit
from auditkit.train.recipes import ZHOU2021, recipe
from tests.train.fixtures import config, interrupted_after_epoch, tiny_adapter, write_task


def _records(results, metric: str) -> dict[str, float]:
    return {r.condition: r.value for r in results.records if r.metric == metric and r.suite == "finetune"}


def _trained_folders(cache: Path) -> list[Path]:
    return sorted(p.parent for p in (cache / "store").glob("*/*/summary.json"))


def test_a_separable_task_goes_from_chance_to_high_accuracy(tmp_path):
    task = write_task(tmp_path / "task")
    results = run_audit(tiny_adapter(), config(tmp_path, task))
    top1 = _records(results, "top1")
    condition = next(c for c in top1 if c.endswith("seed0"))
    assert top1[condition] >= 0.95, top1
    # the gain is the fine-tuned mean minus the probe on the same splits
    mean = {r.metric: r.value for r in results.records if r.aggregate == "mean"}
    assert mean["finetune_gain"] == pytest.approx(mean["top1"] - mean["linear_probe_top1"])
    summary = json.loads((_trained_folders(tmp_path / "cache")[0] / "summary.json").read_text())
    first_val = summary["history"][0]["val_top1"]
    assert first_val < 0.7 and max(h["val_top1"] for h in summary["history"]) >= 0.95
    # per-sample hits reproduce the repeat's top-1
    arrays = np.load(tmp_path / "out" / per_sample_path("finetune", "transfer", condition))
    assert arrays["correct"].mean() == pytest.approx(top1[condition])


def test_training_is_bit_identical_and_a_rerun_trains_and_forwards_nothing(tmp_path, monkeypatch):
    task = write_task(tmp_path / "task")
    first = run_audit(tiny_adapter(), config(tmp_path, task, cache=tmp_path / "a"))
    second = run_audit(tiny_adapter(), config(tmp_path, task, cache=tmp_path / "b"))
    a, b = (finetune.load_checkpoint(_trained_folders(tmp_path / c)[0] / "model.pt") for c in ("a", "b"))
    timing = ("seconds", "images_per_second")
    assert [{k: v for k, v in h.items() if k not in timing} for h in a["history"]] == \
        [{k: v for k, v in h.items() if k not in timing} for h in b["history"]]
    for name, tensor in a["state_dict"].items():
        assert torch.equal(tensor, b["state_dict"][name]), name
    assert _records(first, "top1") == _records(second, "top1")

    def no_training(job):
        raise AssertionError("a rerun must not train")

    monkeypatch.setattr(finetune, "train", no_training)
    third = run_audit(tiny_adapter(), config(tmp_path, task, cache=tmp_path / "a"))
    assert _records(third, "top1") == _records(first, "top1")
    assert third.header["images_forwarded"] and not any(third.header["images_forwarded"].values()), third.header["images_forwarded"]


def test_a_changed_recipe_field_retrains_under_its_own_condition(tmp_path):
    task = write_task(tmp_path / "task")
    cache = tmp_path / "cache"
    run_audit(tiny_adapter(), config(tmp_path, task, cache=cache))
    changed = run_audit(tiny_adapter(), config(tmp_path, task, cache=cache, lr="0.005"))
    assert len(_trained_folders(cache)) == 2
    conditions = set(_records(changed, "top1"))
    assert all("zhou2021_" in c for c in conditions)
    assert any("lr=0.005" in n.message for n in changed.notices)


def test_killed_after_an_epoch_resumes_and_ends_identical(tmp_path, monkeypatch):
    """A run that dies after its second epoch's checkpoint resumes from it and ends with the
    weights of an uninterrupted run (the subprocess kill -9 test: test_finetune_kill.py)."""
    task = write_task(tmp_path / "task")
    run_audit(tiny_adapter(), config(tmp_path, task, cache=tmp_path / "whole"))
    interrupted_after_epoch(monkeypatch, 2, lambda: run_audit(tiny_adapter(), config(tmp_path, task, cache=tmp_path / "cut")))
    folder = next(p.parent for p in (tmp_path / "cut" / "store").glob("*/*/state.pt"))
    assert finetune.resumable_epoch(folder) == 2
    run_audit(tiny_adapter(), config(tmp_path, task, cache=tmp_path / "cut"))
    whole = finetune.load_checkpoint(_trained_folders(tmp_path / "whole")[0] / "model.pt")
    cut = finetune.load_checkpoint(_trained_folders(tmp_path / "cut")[0] / "model.pt")
    for name, tensor in whole["state_dict"].items():
        assert torch.equal(tensor, cut["state_dict"][name]), name
    assert [h["val_loss"] for h in whole["history"]] == [h["val_loss"] for h in cut["history"]]
    assert "resumed after epoch 2" in (folder / "train.log").read_text()


def test_the_frozen_warm_up_leaves_every_backbone_parameter_and_buffer_unchanged(tmp_path):
    task = write_task(tmp_path / "task")
    adapter = tiny_adapter()
    before = {k: v.clone() for k, v in adapter.backbone().state_dict().items()}
    # the whole budget inside the warm-up: only the head may move
    run_audit(adapter, config(tmp_path, task, warmup_steps="1000", max_epochs="2"))
    kept = finetune.load_checkpoint(_trained_folders(tmp_path / "cache")[0] / "model.pt")["state_dict"]
    for name, tensor in before.items():
        assert torch.equal(kept[f"backbone.{name}"], tensor), name
    # the head did train: it left the initial weights train() drew for it
    torch.manual_seed(finetune.sample_seed(0, "head"))
    start = finetune.build_network(adapter, 3, recipe("zhou2021").with_changes({"input_size": "16"}), 16)
    assert not torch.equal(kept["head.weight"], start.head.weight.detach())


def test_the_recipes_are_the_papers_line_by_line():
    z = ZHOU2021
    assert (z.optimizer, z.betas, z.weight_decay, z.lr) == ("adam", (0.9, 0.999), 1e-6, 1e-4)
    assert (z.warmup, z.warmup_steps, z.warmup_lr) == ("frozen", 200, 1e-6)
    assert (z.schedule, z.plateau_patience, z.plateau_factor, z.early_stop_patience) == ("plateau", 3, 0.5, 10)
    assert (z.batch_size, z.label_smoothing, z.head_dropout, z.input_size) == (32, 0.1, 0.2, 224)
    assert (z.augment, z.rotation, z.seeds, z.select_best) == ("crop_rotate_flip", 30.0, (0, 1, 2), True)
    v = recipe("vtab")
    assert (v.optimizer, v.momentum, v.weight_decay, v.batch_size, v.lr) == ("sgd", 0.9, 0.0, 64, 0.01)
    assert (v.warmup, v.warmup_steps, v.decay_steps, v.decay_factor, v.max_steps) == ("linear", 80, (300, 600, 900), 0.1, 1000)
    assert (v.head_init, v.augment, v.resize, v.train_on, v.select_best) == ("zeros", "none", "square", "train_val", False)


def test_the_learning_rate_follows_each_schedule():
    class Stub(finetune.Loop):
        def __init__(self, recipe):  # the schedule only: no network, no data
            self.recipe, self.lr, self.step = recipe, recipe.lr, 0
            self.warmup_steps = recipe.warmup_steps

    vtab = Stub(recipe("vtab"))
    rates = {}
    for step in (0, 40, 80, 299, 300, 600, 900, 999):
        vtab.step = step
        rates[step] = vtab._current_lr() if step >= 80 else step * 0.01 / 80
    assert rates == pytest.approx({0: 0, 40: 0.005, 80: 0.01, 299: 0.01, 300: 0.001, 600: 1e-4, 900: 1e-5, 999: 1e-5})


def test_plateau_halves_after_three_epochs_without_a_lower_val_loss_and_stops_after_ten():
    class Stub(finetune.Loop):
        def __init__(self):
            self.recipe, self.lr, self.step, self.epoch = ZHOU2021, ZHOU2021.lr, 10_000, 0
            self.warmup_steps = ZHOU2021.warmup_steps
            self.best = {"val_loss": float("inf"), "epoch": 0, "weights": None}
            self.since_best = self.plateau_bad = 0
            self.plateau_best = float("inf")
            self.stopped = ""
            self.network = torch.nn.Linear(1, 1)

    loop = Stub()
    rates = []
    for loss in [1.0] + [1.5] * 10:
        loop.epoch += 1
        loop._after_epoch(loss)
        rates.append(loop.lr)
        if loop.stopped:
            break
    # epochs 2-4 without a new low: halved at the 3rd; again at 7 and 10; stop at the 10th bad epoch
    assert rates[:4] == pytest.approx([1e-4, 1e-4, 1e-4, 5e-5])
    assert loop.stopped.startswith("early stop") and loop.epoch == 11


@pytest.mark.parametrize("per_split, reason", [
    ({"train": 20, "val": 6, "test": 6}, "one class"),
    ({"train": 4, "val": 3, "test": 3}, "fewer than one batch"),
])
def test_a_task_it_cannot_train_on_is_skipped_with_one_line(tmp_path, per_split, reason):
    classes = 1 if reason == "one class" else 3
    task = write_task(tmp_path / "task", per_split, classes=classes)
    results = run_audit(tiny_adapter(), config(tmp_path, task))
    assert not [r for r in results.records if r.metric == "top1"]
    reasons = [s.reason for s in results.skipped if s.suite == "finetune"]
    assert any(reason in r for r in reasons), reasons
    assert not list((tmp_path / "cache" / "store").glob("*/*/model.pt"))


@pytest.mark.parametrize("options, message", [
    ({"lrr": "0.1"}, "no option 'lrr'"),
    ({"lr": "fast"}, "lr is a number"),
    ({"seeds": "0,x"}, "seeds is an integer"),
    ({"optimizer": "adagrad"}, "adam, adamw or sgd"),
])
def test_a_bad_recipe_field_is_one_line(tmp_path, options, message):
    task = write_task(tmp_path / "task", {"train": 9, "val": 3, "test": 3})
    with pytest.raises(AuditError, match=message):
        run_audit(tiny_adapter(), config(tmp_path, task, **options))
    assert not (tmp_path / "cache" / "store").exists() or not list((tmp_path / "cache" / "store").glob("*/*/state.pt"))


def test_the_trained_copy_loads_as_a_model_and_answers_as_it_was_scored(tmp_path):
    import auditkit.train.adapted as adapted
    from auditkit.data.transfer import read_transfer

    task = write_task(tmp_path / "task")
    parent = tiny_adapter()
    results = run_audit(parent, config(tmp_path, task))
    path = _trained_folders(tmp_path / "cache")[0] / "model.pt"
    child = adapted.from_model_file(adapted.read_model_file(path.parent), parent, path)
    assert child.fingerprint != parent.fingerprint and child.name.startswith("tiny+finetune/")
    condition = next(r.condition for r in results.records if r.metric == "top1" and not r.aggregate)
    arrays = np.load(tmp_path / "out" / per_sample_path("finetune", "transfer", condition))
    source = read_transfer(task, "transfer")
    test = [s for s in source.samples if s.attribute("split") == "test"]
    transform = child.preprocess.transform()
    from PIL import Image

    images = torch.stack([transform(Image.open(s.path)) for s in test])
    with torch.no_grad():
        predicted = child.logits(images).argmax(1).numpy()
    assert list(arrays["sample_id"]) == [s.sample_id for s in test]
    assert (predicted == arrays["prediction"]).all()
    # a parent with other weights is refused in one line
    with pytest.raises(AuditError, match="other weights"):
        adapted.from_model_file(adapted.read_model_file(path), tiny_adapter(seed=1), path)
    with pytest.raises(AuditError, match="not a model.pt"):
        bad = tmp_path / "bad.pt"
        torch.save({"something": 1}, bad)
        adapted.read_model_file(bad)


def test_recorded_answers_cannot_be_fine_tuned_and_say_so(tmp_path):
    from auditkit.adapters.specs import load_model
    from tests.engine.test_subjects import _spec

    task = write_task(tmp_path / "task", {"train": 9, "val": 3, "test": 3})
    observer = load_model(_spec("decisions", tmp_path))
    results = run_audit(observer, config(tmp_path, task))
    reasons = [s.reason for s in results.skipped if s.suite == "finetune"]
    assert reasons and not [r for r in results.records if r.suite == "finetune"], results.skipped
    assert not (tmp_path / "cache" / "store").exists() or not list((tmp_path / "cache" / "store").glob("*/*/state.pt"))


def test_the_dry_run_shows_the_training_cost_and_trains_nothing(tmp_path):
    from auditkit.run import plan_audit

    task = write_task(tmp_path / "task")
    before = plan_audit(tiny_adapter(), config(tmp_path, task)).lines()
    trained = [line for line in before if "finetune/" in line]
    # 48 train images less a held-out nothing (the task has val), batches of 8, at most 6 epochs
    assert trained and "48 train / 12 val / 24 test images" in trained[0] and "at most 36 steps of 8" in trained[0], before
    assert not (tmp_path / "cache" / "store").exists() or not list((tmp_path / "cache" / "store").glob("*/*/*.pt"))
    run_audit(tiny_adapter(), config(tmp_path, task))
    after = plan_audit(tiny_adapter(), config(tmp_path, task)).lines()
    assert any("finetune/" in line and "store (trained" in line for line in after), after


def test_compare_puts_the_probe_and_fine_tune_rankings_side_by_side_with_spearman(tmp_path):
    """Battle of the Backbones' question on any set of models: the field section of `audit
    compare` correlates the linear-probe and fine-tuned top-1 across the compared models."""
    from auditkit.cli import main

    task = write_task(tmp_path / "task")
    folders, models, records = [], [], []
    for width in (1, 2, 8):  # capacities that rank apart on both protocols
        adapter = tiny_adapter(0, width)
        adapter.name = f"tiny{width}"
        chosen = config(tmp_path, task, cache=tmp_path / "cache")
        from dataclasses import replace

        chosen = replace(chosen, out_dir=tmp_path / f"run{width}", suites=("linear_probe", "finetune"),
                         suite_options={"finetune": chosen.suite_options["finetune"]})
        records += run_audit(adapter, chosen).records
        models.append(adapter.name)
        folders.append(str(tmp_path / f"run{width}"))
    main(["compare", *folders, "--out", str(tmp_path / "compare")])
    assert "Against the field" in (tmp_path / "compare" / "compare.html").read_text()
    from auditkit.compare.field import field_section
    from suites import get_suite

    section = field_section(models, records, {s: dict(get_suite(s).better) for s in ("linear_probe", "finetune")}, set())
    assert section is not None
    pairs = {(c.first, c.second): c for c in section.correlations if c.method == "spearman"}
    probe, tuned = "linear_probe / transfer / top1", "finetune / transfer / top1"
    found = pairs.get((probe, tuned)) or pairs.get((tuned, probe))
    assert found is not None and found.n == 3, sorted(pairs)
    table = {r.model: r.value for r in records if r.suite == "finetune" and r.metric == "top1" and r.aggregate}
    assert len(set(table.values())) == 3, table  # three different fine-tuned accuracies to rank
    assert -1 <= found.value <= 1 and found.ci_low <= found.value <= found.ci_high
