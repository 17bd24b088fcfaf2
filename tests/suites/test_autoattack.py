"""AutoAttack in the adversarial suite: the standard version's parameters (the reference code's),
the worst case per image never above any of its attacks alone, image by image equal to
torchattacks' own ``AutoAttack`` (at the same budget), through the store with the attack set and
torchattacks' version in the key; RobustBench's 5,000-image subset as shipped and as read.

Budgets here are tiny (a few iterations, tens of Square queries) so each test takes seconds on a
CPU; the standard budget is checked by its parameters."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

torchattacks = pytest.importorskip("torchattacks")

from auditkit.adapters import ModelOptions, load_model  # noqa: E402
from auditkit.conditions import AutoAttack, parse  # noqa: E402
from auditkit.conditions.attacks import batch_seed  # noqa: E402
from auditkit.conditions.autoattack import LogitsModule, autoattack, component_attacks  # noqa: E402
from auditkit.data.imagenet import read_imagenet_val  # noqa: E402
from auditkit.errors import AuditError  # noqa: E402
from auditkit.run import ForwardLog, RunConfig  # noqa: E402
from auditkit.store import PredictionStore  # noqa: E402
from tests.suites.test_adversarial import _colour_val, _trained_colour_model, predict  # noqa: E402

STEPS, QUERIES = 3, 20  # the tests' budget (the standard version: 100 and 5000)
BATCH = 4


def _tiny_problem() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A 10-class convnet and 6 images labelled with its own answers (two relabelled: clean
    mistakes); at 4/255 APGD-CE leaves some images correct that the later attacks may still flip."""
    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4 * 10 * 10, 10)).eval()
    images = torch.rand(6, 3, 12, 12)
    with torch.no_grad():
        labels = network(images).argmax(1)
    labels[:2] = (labels[:2] + 1) % 10
    return network, images, labels


def _torchattacks_autoattack(model: torch.nn.Module, radius: float, seed: int) -> "torchattacks.AutoAttack":
    """torchattacks' own ``AutoAttack`` (standard version, 10 classes: 9 targets, as the reference's
    standard version), its attacks' budget set to the tests' (its own: 10 iterations, 5000 queries)
    and Square's schedule to the reference's (not rescaled; torchattacks rescales it)."""
    reference = torchattacks.AutoAttack(model, norm="Linf", eps=radius, version="standard", n_classes=10, seed=seed)
    for attack in reference._autoattack.attacks:  # the ensemble AutoAttack builds (MultiAttack)
        if isinstance(attack, torchattacks.Square):
            attack.n_queries, attack.rescale_schedule = QUERIES, False
        else:
            attack.steps = STEPS
    return reference


def _correct(network: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return (network(images).argmax(1) == labels).numpy()


def test_the_standard_version_has_the_reference_parameters():
    """fra31/auto-attack ``AutoAttack.set_version('standard')`` for L-inf: APGD-CE (1 restart),
    APGD-T (9 targets, 1 restart), FAB-T (9 targets, 1 restart), Square (5000 queries, p_init .8,
    resc_schedule=False), 100 iterations each (the attacks' defaults there), in this order."""
    condition = parse("autoattack/eps4/steps100/queries5000/seed0")
    assert isinstance(condition, AutoAttack) and condition.standard and condition.needs_grad
    assert condition.radius == pytest.approx(4 / 255) and not AutoAttack(4.0, 10, 5000, 0).standard
    network, _, _ = _tiny_problem()
    apgd, apgdt, fab, square = component_attacks(LogitsModule(network, "cpu"), 4 / 255, 100, 5000, 0)
    assert [type(a) for a in (apgd, apgdt, fab, square)] == [torchattacks.APGD, torchattacks.APGDT,
                                                              torchattacks.FAB, torchattacks.Square]
    assert (apgd.loss, apgd.steps, apgd.n_restarts, apgd.norm, apgd.eps) == ("ce", 100, 1, "Linf", 4 / 255)
    assert (apgdt.steps, apgdt.n_target_classes, apgdt.n_restarts) == (100, 9, 1)
    assert (fab.steps, fab.n_target_classes, fab.n_restarts, fab.multi_targeted) == (100, 9, 1, True)
    assert (square.n_queries, square.p_init, square.n_restarts, square.loss) == (5000, 0.8, 1, "margin")
    assert square.rescale_schedule is False
    assert (apgd.thr_decr, apgd.eot_iter, apgdt.thr_decr, apgdt.eot_iter) == (0.75, 1, 0.75, 1)  # rho, eot_iter
    assert (fab.alpha_max, fab.eta, fab.beta) == (0.1, 1.05, 0.9)
    key = condition.store_key()
    assert key["attacks"] == ["apgd-ce", "apgd-t", "fab-t", "square"] and key["torchattacks"] == torchattacks.__version__
    assert key["parameters"] == {"epsilon": 4.0, "steps": 100, "queries": 5000, "seed": 0}


def test_worst_case_is_never_above_any_attack_alone_and_equals_torchattacks_autoattack():
    network, images, labels = _tiny_problem()
    radius, seed = 4 / 255, 0
    attacked = autoattack(network, images, labels, radius, STEPS, QUERIES, seed)
    assert (attacked - images).abs().max() <= radius + 1e-6 and attacked.min() >= 0 and attacked.max() <= 1
    robust = _correct(network, attacked, labels)
    # each of the four alone, on every image
    alone = [_correct(network, attack(images, labels), labels)
             for attack in component_attacks(LogitsModule(network, "cpu"), radius, STEPS, QUERIES, seed)]
    assert robust.mean() <= min(a.mean() for a in alone) <= _correct(network, images, labels).mean()
    assert not (robust & ~alone[0]).any()  # APGD-CE runs first on the same images: its successes stay
    assert 0 < robust.sum() < alone[0].sum(), "the fixture must leave images that only the later attacks flip"
    # torchattacks' own AutoAttack, called directly at the same budget: the same images, pixel for pixel
    direct = _torchattacks_autoattack(network, radius, seed)(images, labels)
    torch.testing.assert_close(attacked, direct.detach(), atol=0, rtol=0)
    # torch's global generator is left as it was (torchattacks reseeds it)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    autoattack(network, images[2:4], labels[2:4], radius, 1, 1, seed)
    torch.testing.assert_close(torch.rand(3), expected)


def test_the_condition_through_the_store_equals_torchattacks_image_by_image(tmp_path, monkeypatch):
    """A trained colour model on 8 val images, attacked by the runner in batches of 4 (each
    seeded from its first sample) and cached; torchattacks' AutoAttack on the same pixel batches
    (resized, cropped, before normalisation) gives the same answer for every image."""
    val = _colour_val(tmp_path / "val", per_class=2)
    model_file, weights = _trained_colour_model(tmp_path, val)
    adapter = load_model(f"python:{model_file}:make", ModelOptions(weights=str(weights)))
    source = read_imagenet_val(val)
    config = RunConfig(suites=(), out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path,
                       workers=0, progress=False, batch_size=BATCH)
    store = PredictionStore(tmp_path / "cache" / "store")
    condition = f"autoattack/eps2/steps{STEPS}/queries{QUERIES}/seed0"
    clean = predict(adapter, source, "none", store, config, ForwardLog())
    answers = predict(adapter, source, condition, store, config, ForwardLog())

    spec = parse(condition)
    transform = spec.transform(adapter.preprocess)
    pixels = torch.stack([transform(Image.open(s.path).convert("RGB")) for s in source.samples])
    mean = torch.tensor(adapter.preprocess.mean).view(1, 3, 1, 1)
    std = torch.tensor(adapter.preprocess.std).view(1, 3, 1, 1)
    network = LogitsModule(lambda x: adapter.logits((x - mean) / std), "cpu")
    labels = torch.as_tensor(source.labels)
    direct = []
    for first in range(0, len(source), BATCH):
        batch = slice(first, first + BATCH)
        reference = _torchattacks_autoattack(network, spec.radius, batch_seed(0, first))
        with torch.no_grad():
            direct.append(network(reference(pixels[batch], labels[batch]).detach()).argmax(1).numpy())
    np.testing.assert_array_equal(answers.predicted_class, np.concatenate(direct))
    robust = answers.predicted_class == answers.labels
    assert robust.mean() < (clean.predicted_class == clean.labels).mean()  # it did attack

    # cached: a second request forwards nothing; another torchattacks version is another entry
    log = ForwardLog()
    again = predict(adapter, source, condition, store, config, log)
    np.testing.assert_array_equal(again.logits, answers.logits)
    assert sum(log.forwarded.values()) == 0
    monkeypatch.setattr(torchattacks, "__version__", "0.0.0")
    from auditkit.run import ForwardPasses

    assert ForwardPasses(adapter, store, config, ForwardLog()).stored_entry(source, spec) is None


def test_without_torchattacks_the_store_key_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchattacks", None)  # import fails as if not installed
    condition = parse("autoattack/eps4/steps100/queries5000/seed0")  # reading a record needs nothing
    with pytest.raises(AuditError) as caught:
        condition.store_key()
    message = str(caught.value)
    assert "\n" not in message and "pip install --no-deps torchattacks==3.5.1" in message
    assert "adversarial.autoattack=false" in message


def test_the_suite_requests_the_standard_version_on_the_chosen_images():
    from suites.adversarial.suite import AdversarialSuite

    suite = AdversarialSuite()
    conditions = [str(r.condition) for r in suite.requests()]
    assert conditions[-1] == "autoattack/eps4/steps100/queries5000/seed0" and len(conditions) == 10
    assert {r.dataset for r in suite.requests()} == {"imagenet-val"}
    suite.configure({"subset": "robustbench5000", "autoattack_steps": "5", "autoattack_queries": "20"})
    assert {r.dataset for r in suite.requests()} == {"imagenet-val-robustbench5000"}
    assert str(suite.requests()[-1].condition) == "autoattack/eps4/steps5/queries20/seed0"
    suite.configure({"autoattack": "false"})
    assert not [r for r in suite.requests() if "autoattack" in str(r.condition)]
    with pytest.raises(AuditError, match="use all or robustbench5000"):
        suite.configure({"subset": "robustbench"})
    suite.configure({"autoattack_steps": "0"})
    with pytest.raises(AuditError, match="adversarial.autoattack_steps=0: give at least 1"):
        suite.requests()


# ------------------------------------------------------------------ RobustBench's subset
ROBUSTBENCH_SHA256 = "d4121626d07722a0126c35b1563042e46a546f1a05ce705f2cdc635896d58574"  # README.md there


def test_the_shipped_list_is_robustbenchs_and_its_folders_are_the_labels():
    from auditkit.data.classes import imagenet_wnids
    from auditkit.data.imagenet import imagenet_x_val_labels
    from auditkit.data.robustbench import IDS_FILE, robustbench_ids

    folder = Path(__file__).resolve().parents[2] / "auditkit" / "data" / "robustbench"
    assert hashlib.sha256((folder / IDS_FILE).read_bytes()).hexdigest() == ROBUSTBENCH_SHA256
    assert "MIT License" in (folder / "LICENSE").read_text() and (folder / "README.md").is_file()
    listed = robustbench_ids()
    assert len(listed) == 5000 and all(n.startswith("ILSVRC2012_val_") and n.endswith(".JPEG") for n in listed)
    standard, wnids = imagenet_x_val_labels(), imagenet_wnids()  # the imagenet-x package's val labels
    assert all(wnids[standard[name]] == wnid for name, wnid in listed.items())


def _robustbench_val(root: Path, real: int = 0, leave_out: int = 0) -> Path:
    """An ImageNet val tree holding every listed file (the first ``real`` ones sorted by name as
    real images, the rest as placeholder bytes: listing never decodes) and two unlisted ones."""
    from auditkit.data.imagenet import imagenet_x_val_labels
    from auditkit.data.classes import imagenet_wnids
    from auditkit.data.robustbench import robustbench_ids

    rng = np.random.default_rng(0)
    listed = sorted(robustbench_ids().items())[leave_out:]
    standard, wnids = imagenet_x_val_labels(), imagenet_wnids()
    unlisted = sorted(set(standard) - set(robustbench_ids()))[:2]
    for k, (name, wnid) in enumerate(listed + [(n, wnids[standard[n]]) for n in unlisted]):
        path = root / wnid / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if k < real:
            Image.fromarray(rng.integers(0, 255, (40, 52, 3), dtype=np.uint8)).save(path, format="JPEG")
        else:
            path.write_bytes(b"x")
    return root


def test_the_subset_reads_exactly_the_listed_images_and_refuses_a_partial_folder(tmp_path):
    from auditkit.data.catalog import open_dataset
    from auditkit.data.robustbench import NAME, robustbench_ids

    val = _robustbench_val(tmp_path / "val")
    source = open_dataset(NAME, tmp_path / "elsewhere", {"imagenet-val": str(val)})  # imagenet-val's folder serves it
    assert source.name == NAME and len(source) == 5000 and set(source.sample_ids) == set(robustbench_ids())
    assert len(open_dataset("imagenet-val", tmp_path, {"imagenet-val": str(val)})) == 5002

    partial = _robustbench_val(tmp_path / "partial", leave_out=1)
    with pytest.raises(AuditError, match=r"lacks 1 of RobustBench's 5000 images \(first: n\d+/ILSVRC2012_val_\d+"):
        open_dataset(NAME, tmp_path, {"imagenet-val": str(partial)})
    # a webdataset copy of val has no file names to match: not found, never read whole
    webdataset = tmp_path / "wds"
    (webdataset / "test").mkdir(parents=True)
    (webdataset / "test" / "nshards.txt").write_text("1")
    with pytest.raises(AuditError, match="webdataset copy has no file names"):
        open_dataset(NAME, tmp_path, {"imagenet-val": str(webdataset)})


def test_a_run_on_the_robustbench_subset_records_it(tmp_path, tiny_model_file):
    from auditkit.cli import main

    val = _robustbench_val(tmp_path / "val", real=4)
    main(["run", "--model", f"python:{tiny_model_file}:make", "--suites", "adversarial", "--data",
          f"imagenet-val={val}", "--data-root", str(tmp_path / "none"), "--cache", str(tmp_path / "cache"),
          "--limit", "4", "--no-progress", "--workers", "0", "--out", str(tmp_path / "out"),
          "--option", "adversarial.subset=robustbench5000", "--option", f"adversarial.autoattack_steps={STEPS}",
          "--option", f"adversarial.autoattack_queries={QUERIES}"])
    payload = json.loads((tmp_path / "out" / "results.json").read_text())
    records = [r for r in payload["records"] if r["suite"] == "adversarial"]
    assert {r["dataset"] for r in records} == {"imagenet-val-robustbench5000"} and {r["n"] for r in records} == {4}
    top1 = {r["condition"]: r["value"] for r in records if r["metric"] == "top1"}
    assert top1[f"autoattack/eps4/steps{STEPS}/queries{QUERIES}/seed0"] <= top1["none"]
    assert json.dumps(payload["header"]).count("robustbench5000") >= 1  # the option, in the run header
