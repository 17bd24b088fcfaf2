"""Conditions: one string form per kind, every suite's conditions parse, and the store key holds
the kind, its version and the code behind it, so a changed transform recomputes (issue 15 part 2)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import auditkit
from auditkit import conditions
from auditkit.adapters import ModelOptions, load_model
from auditkit.adapters.preprocess import PreprocessConfig, paper_supervised
from auditkit.conditions import (
    KINDS, AutoAttack, Corruption, Fgsm, Finetune, Native, Pgd, Plain, Resolution, Scale, Scratch, Shift, Squash,
    describe,
    matches, parse, parse_pattern,
)
from auditkit.data.imagenet import read_imagenet_val
from auditkit.errors import AuditError
from auditkit.run import ForwardLog, ForwardPasses, RunConfig
from auditkit.store import PredictionStore


def predict(adapter, source, condition: str, store, config, log, output: str = "logits"):
    """One model's answers on ``source`` under ``condition``, as a live model's forward passes give them."""
    return ForwardPasses(adapter, store, config, log).predict(source, parse(condition), output)

EXAMPLES = {
    "none": (Plain(), "none"),
    "native": (Native(), "native"),
    "scale": (Scale(1.25), "scale/1.25"),
    "shift": (Shift(30), "shift/30"),
    "resolution": (Resolution(336), "resolution/336"),
    "squash": (Squash(512), "squash/512"),
    "corrupt": (Corruption("fog", 3), "corrupt/fog/3"),
    "fgsm": (Fgsm(0.5), "fgsm/eps0.5"),
    "pgd": (Pgd(2.0, 10, 0), "pgd/eps2/steps10/seed0"),
    "autoattack": (AutoAttack(4.0, 100, 5000, 0), "autoattack/eps4/steps100/queries5000/seed0"),
    "finetune": (Finetune("zhou2021", 1.0, 0), "finetune/zhou2021/frac1/seed0"),
    "scratch": (Scratch("liu2021", 0.5, 2), "scratch/liu2021/drloc0.5/seed2"),
}


def test_every_kind_has_an_example_and_a_one_line_description():
    assert set(EXAMPLES) == set(KINDS)
    for name, kind in KINDS.items():
        assert kind.kind == name and isinstance(kind.version, int)
        assert kind.description and "\n" not in kind.description
        assert describe(EXAMPLES[name][1]) == kind.description
    assert conditions.forms() == ["none", "native", "scale/<s>", "shift/<px>", "resolution/<r>",
                                  "squash/<r>", "corrupt/<name>/<severity>", "fgsm/eps<E>", "pgd/eps<E>/steps<S>/seed<K>",
                                  "autoattack/eps<E>/steps<S>/queries<Q>/seed<K>", "finetune/<recipe>/frac<f>/seed<k>",
                                  "scratch/<recipe>/drloc<lambda>/seed<k>"]


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_kind_round_trips_through_its_string_form(name):
    condition, text = EXAMPLES[name]
    assert condition.format() == text and str(condition) == text  # the hand-written form
    assert parse(text) == condition and type(parse(text)).parse(text) == condition
    assert parse(condition.format()).format() == text
    json.dumps(condition.store_key())  # JSON-able


def test_numbers_are_written_shortest_and_read_back_exactly():
    assert Scale(1.0).format() == "scale/1" and Scale(3).format() == "scale/3"
    assert Fgsm(4).format() == "fgsm/eps4" and parse("fgsm/eps4") == Fgsm(4.0)
    for scale in (0.5, 1.25, 1.5, 2.0, 0.1 + 0.2):  # 0.30000000000000004 too
        assert parse(Scale(scale).format()) == Scale(scale)


def test_every_suite_request_condition_parses():
    import suites
    from suites import get_suite

    seen = set()
    for name in suites.SUITES.names():
        suite = get_suite(name)
        requests = list(suite.requests())
        for dataset in dict.fromkeys(r.dataset for r in requests):
            requests += suite.fallback_requests(dataset)
        for request in requests:
            assert parse(request.condition.format()) == request.condition, (name, request)
            seen.add(request.condition.kind)
    assert {"none", "scale", "shift", "resolution", "corrupt", "fgsm", "pgd"} <= seen


@pytest.mark.parametrize("text, words", [
    ("foo", "unknown condition 'foo'"),
    ("scael/1.5", "did you mean 'scale'"),
    ("scale/", "does not read as scale/<s>"),
    ("scale/1.0", "is written 'scale/1'"),
    ("scale/0", "must be positive"),
    ("shift/3.5", "does not read as shift/<px>"),
    ("resolution/-3", "must be a positive number of pixels"),
    ("corrupt/fgo/3", "corruption 'fgo' is not one of"),
    ("corrupt/fog/6", "severity '6' is not one of"),
    ("fgsm/eps-1", "does not read as fgsm/eps<E>"),
    ("pgd/eps2", "does not read as pgd/eps<E>/steps<S>/seed<K>"),
    ("pgd/eps2/steps0/seed0", "steps must be >= 1"),
    ("", "unknown condition"),
])
def test_unknown_or_malformed_conditions_are_one_line_errors(text, words):
    with pytest.raises(AuditError) as error:
        parse(text)
    message = str(error.value)
    assert words in message and "\n" not in message
    if message.startswith("unknown condition"):  # names every form, so the fix is in the message
        assert "pgd/eps<E>/steps<S>/seed<K>" in message and "corrupt/<name>/<severity>" in message


def test_patterns_stand_for_the_conditions_of_an_aggregate():
    assert matches("corrupt/*/*", "corrupt/fog/3") and matches("corrupt/*/*", Corruption("snow", 1))
    assert matches("corrupt/fog/*", "corrupt/fog/5") and not matches("corrupt/fog/*", "corrupt/snow/5")
    assert matches("corrupt/*/2", "corrupt/snow/2") and not matches("corrupt/*/2", "corrupt/snow/3")
    assert matches("scale/*", "scale/1.5") and not matches("scale/*", "shift/5") and not matches("scale/*", "none")
    assert matches("resolution/*", "resolution/336")
    assert matches("pgd/eps*/steps10/seed0", "pgd/eps4/steps10/seed0")
    assert not matches("pgd/eps*/steps10/seed0", "pgd/eps4/steps5/seed0")
    assert matches("scale/1.5", "scale/1.5") and not matches("scale/1.5", "scale/2")  # no *: one condition
    for text in ("corrupt/*/*", "corrupt/fog/*", "scale/*", "pgd/eps*/steps10/seed0", "none"):
        assert parse_pattern(text).format() == text
    for bad in ("corrupt/fgo/*", "corrupt/*", "scale/*/*", "bogus/*", "scale/1.0"):
        with pytest.raises(AuditError):
            parse_pattern(bad)


def test_store_keys_hold_kind_version_parameters_and_the_code_behind_them():
    from auditkit.data.imagenet_c import implementation

    assert Plain().store_key() == {"kind": "none", "version": 1, "parameters": {}}
    assert Pgd(2.0, 10, 0).store_key() == {"kind": "pgd", "version": 1, "step_factor": 2.5,
                                           "parameters": {"epsilon": 2.0, "steps": 10, "seed": 0}}
    assert Scale(1.5).store_key()["views"] == Shift(5).store_key()["views"] == "views-2-bilinear"
    assert Corruption("fog", 3).store_key()["implementation"] == implementation()
    keys = [json.dumps(c.store_key(), sort_keys=True) for c, _ in EXAMPLES.values()]
    keys += [json.dumps(c.store_key(), sort_keys=True) for c in (Scale(1.5), Shift(31), Pgd(2.0, 10, 1))]
    assert len(set(keys)) == len(keys)


def test_transforms_give_what_each_condition_says():
    preprocess = paper_supervised()  # bilinear, Resize 256 + CenterCrop 224
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8))
    plain = Plain().transform(preprocess)(image)
    assert plain.shape == (3, 224, 224)
    # scale 1 with bilinear preprocessing is the plain evaluation (docs/protocols.md "Invariance")
    torch.testing.assert_close(Scale(1.0).transform(preprocess)(image), plain)
    assert Resolution(112).transform(preprocess)(image).shape == (3, 112, 112)
    assert Resolution(112).input_resolution(preprocess) == 112 and Plain().input_resolution(preprocess) is None
    # attacks load un-normalised pixels in [0, 1]: the same crop as the plain view, before mean/std
    pixels = Fgsm(1.0).transform(preprocess)(image)
    mean, std = torch.tensor(preprocess.mean).view(3, 1, 1), torch.tensor(preprocess.std).view(3, 1, 1)
    torch.testing.assert_close((pixels - mean) / std, plain, atol=1e-5, rtol=0)
    crop = Corruption("brightness", 1).transform(preprocess)(image)  # clean crop, corrupted per batch
    assert crop.dtype == torch.uint8 and crop.shape == (224, 224, 3)
    native = Native().transform(PreprocessConfig("x", 300, "bilinear", 1.0))(image.crop((0, 0, 300, 300)))
    assert native.shape == (3, 300, 300)


def test_batch_hooks_belong_to_the_kinds_that_need_them():
    from auditkit.data.corruptions import CorruptedBatch

    preprocess = paper_supervised()
    assert isinstance(Corruption("fog", 1).batch_inputs(preprocess, "cpu"), CorruptedBatch)
    for condition, _ in EXAMPLES.values():
        if not isinstance(condition, Corruption):
            assert condition.batch_inputs(preprocess, "cpu") is None
        assert condition.needs_grad == isinstance(condition, (Fgsm, Pgd, AutoAttack))
    assert Plain().batch_outputs(None, None) is None  # type: ignore[arg-type]  (attacks': through predict below)


def test_data_imports_no_private_adapter_names():
    """``auditkit.data`` uses the public ``auditkit.images`` helpers, never ``adapters._names``."""
    for path in (Path(auditkit.__file__).parent / "data").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("auditkit.adapters"):
                assert not [a.name for a in node.names if a.name.startswith("_")], path


# ------------------------------------------------------------------ stale cache, with a real model


@pytest.fixture
def setup(tmp_path, val_folder, tiny_model_file):
    adapter = load_model(f"python:{tiny_model_file}:make", ModelOptions())
    source = read_imagenet_val(val_folder).limited(4)
    config = RunConfig(suites=(), out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path,
                       workers=0, progress=False, batch_size=4)
    store = PredictionStore(tmp_path / "cache" / "store")

    def run(condition: str):
        log = ForwardLog()
        prediction = predict(adapter, source, condition, store, config, log)
        return log.forwarded[f"{source.name}/{condition}"], np.array(prediction.logits)

    return run, len(source)


def test_an_unchanged_condition_is_served_from_the_store(setup, tmp_path):
    run, n = setup
    for condition in ("none", "scale/1.5", "shift/5", "fgsm/eps1"):
        forwarded, first = run(condition)
        assert forwarded == n
        forwarded, again = run(condition)
        assert forwarded == 0 and np.array_equal(first, again)
    metas = [json.loads(p.read_text()) for p in (tmp_path / "cache" / "store").rglob("meta.json")]
    assert {json.dumps(m["condition"], sort_keys=True) for m in metas} == {
        json.dumps(parse(c).store_key(), sort_keys=True) for c in ("none", "scale/1.5", "shift/5", "fgsm/eps1")}


def test_a_bumped_kind_version_recomputes_only_that_kind(setup, monkeypatch):
    run, n = setup
    assert run("scale/1.5")[0] == n and run("shift/5")[0] == n
    monkeypatch.setattr(Scale, "version", Scale.version + 1)
    assert run("scale/1.5")[0] == n  # recomputed
    assert run("scale/1.5")[0] == 0 and run("shift/5")[0] == 0  # the rest is reused


def test_a_changed_pgd_step_factor_recomputes(setup, monkeypatch):
    import auditkit.conditions.attacks as attacks

    run, n = setup
    forwarded, before = run("pgd/eps8/steps2/seed0")
    assert forwarded == n and run("pgd/eps8/steps2/seed0")[0] == 0
    monkeypatch.setattr(attacks, "PGD_STEP_FACTOR", 1.0)
    forwarded, after = run("pgd/eps8/steps2/seed0")
    assert forwarded == n
    assert not np.allclose(before, after)  # the factor changes the numbers: serving `before` would be wrong


def test_a_changed_geometry_or_imagenet_c_implementation_recomputes(setup, monkeypatch):
    import auditkit.conditions.corruption as corruption
    import auditkit.conditions.views as views

    run, n = setup
    assert run("shift/5")[0] == n and run("resolution/48")[0] == n and run("corrupt/brightness/1")[0] == n
    assert run("corrupt/brightness/1")[0] == 0
    monkeypatch.setattr(views, "GEOMETRY_VIEWS", "views-3-test")
    assert run("shift/5")[0] == n
    assert run("resolution/48")[0] == 0  # resolution views are the model's own preprocessing
    monkeypatch.setattr(corruption, "implementation", lambda: "auditkit-test/imagenet-c-r999")
    assert run("corrupt/brightness/1")[0] == n
    assert run("none")[0] == n and run("none")[0] == 0


def test_the_documented_grammar_is_the_registry():
    page = (Path(auditkit.__file__).parent.parent / "docs" / "conditions.md").read_text()
    section = page.split("## Grammar\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| `")]
    assert [(form.strip("| `"), text.rstrip(" |")) for form, text in rows] == [
        (kind.form(), kind.description) for kind in KINDS.values()]
