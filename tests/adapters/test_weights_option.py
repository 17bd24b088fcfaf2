"""`audit run --weights PATH` through the command line: every spec family loads the file (safely,
checked key by key and shape by shape, with a new fingerprint) or refuses the option in one line.

Issue 27, item 3: the embedded EfficientNet-Lite presets ignored --weights and ran with the
packaged weights whatever the file was (missing, empty, a list, text, another architecture)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from safetensors.torch import save_file

from auditkit.adapters import load_model
from auditkit.adapters.specs import FAMILIES, PRESETS
from auditkit.adapters.weights import hash_state_dict
from auditkit.cli import main
from tests.engine.test_bad_input import one_error_line


def run_args(model: str, weights: Path, val: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "run", "--model", model, "--weights", str(weights), "--suites", "calibration",
        "--data", f"imagenet-val={val}", "--data-root", str(out / "no-data"), "--out", str(out),
        "--cache", str(cache), "--workers", "0", "--no-progress", "--limit", "2", *extra,
    ]


def bad_weight_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """The five files a new user tried, each with the words its refusal must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    empty = folder / "empty.pth"
    empty.write_bytes(b"")
    a_list = folder / "list.pth"
    torch.save([1, 2, 3], a_list)
    text = folder / "notes.safetensors"
    text.write_text("these are not weights\n")
    other_architecture = folder / "resnet18.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), other_architecture)
    return {
        "missing": (folder / "no_such_file.pth", "does not exist"),
        "empty": (empty, "cannot read weights"),
        "list": (a_list, "holds a list, not a state dict"),
        "text": (text, "cannot read weights"),
        "other architecture": (other_architecture, "do not fit this architecture"),
    }


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_efficientnet_lite0_refuses_each_bad_weights_file_in_one_line(dry_run, val_folder, tmp_path, capsys):
    for case, (path, expected) in bad_weight_files(tmp_path / "weights").items():
        out = tmp_path / f"out-{case.replace(' ', '-')}"
        extra = ("--dry-run",) if dry_run else ()
        err = one_error_line(capsys, run_args("efficientnet_lite0", path, val_folder, out, tmp_path / "cache", *extra))
        assert expected in err, (case, err)
        assert str(path) in err, (case, err)
        assert not (out / "results.json").exists(), case


def test_efficientnet_lite0_runs_with_the_given_weights(val_folder, tmp_path):
    """The packaged weights with noise added, as a user's fine-tuned file: the run reports the
    file's tensors (weights hash, fingerprint) and computes other numbers than the preset's, and
    the shared prediction store does not hand it the packaged model's answers."""
    packaged = load_model("efficientnet_lite0")
    generator = torch.Generator().manual_seed(0)
    state = {name: tensor.clone() for name, tensor in packaged.module.state_dict().items()}
    for name in ("conv_stem.weight", "classifier.weight", "classifier.bias"):
        state[name] += 0.05 * state[name].std() * torch.randn(state[name].shape, generator=generator)
    weights = tmp_path / "fine_tuned.safetensors"
    save_file(state, weights)
    expected_model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    expected_model.load_state_dict(state, strict=True)

    cache = tmp_path / "cache"
    main([arg for arg in run_args("efficientnet_lite0", weights, val_folder, tmp_path / "packaged", cache)
          if arg not in ("--weights", str(weights))])
    main(run_args("efficientnet_lite0", weights, val_folder, tmp_path / "given", cache))

    def header(out: Path) -> dict:
        return json.loads((out / "results.json").read_text())["header"]

    def confidence(out: Path) -> np.ndarray:
        return np.load(out / "per_sample" / "calibration" / "imagenet-val" / "none.npz")["confidence"]

    given, preset = header(tmp_path / "given")["model"], header(tmp_path / "packaged")["model"]
    assert preset["weights_sha256"] == hash_state_dict(packaged.module)
    assert given["weights_sha256"] == hash_state_dict(expected_model) != preset["weights_sha256"]
    assert given["fingerprint"] != preset["fingerprint"]
    assert given["source"] == "weights-file" and given["architecture"] == "tf_efficientnet_lite0"
    assert header(tmp_path / "given")["images_forwarded"] == {"imagenet-val/none": 2}
    assert not np.allclose(confidence(tmp_path / "given"), confidence(tmp_path / "packaged"))


# One spec per family (a new family must be added here to say whether it loads or refuses).
LOADS = "loads"


def family_specs(tiny_model_file: Path, tmp_path: Path) -> dict[str, tuple[str, str]]:
    """family -> (spec, what --weights with a missing file must say)."""
    recorded = tmp_path / "recorded.csv"
    recorded.write_text("subj,session,trial,rt,object_response,category,condition,imagename\n")
    return {
        "timm": ("timm:resnet18", LOADS),
        "arch": ("arch:resnet18", "is an architecture with random weights"),
        "open_clip": ("open_clip:ViT-S-32", LOADS),
        "python": (f"python:{tiny_model_file}:make", LOADS),
        "decisions": (f"decisions:{recorded}", "holds recorded answers; it takes no --weights"),
        "predictions": (f"predictions:{recorded}", "holds recorded answers; it takes no --weights"),
        "finetuned": (f"finetuned:{tmp_path / 'model.pt'}", "is its own weights; it takes no --weights"),
    }


def test_every_family_and_preset_loads_or_refuses_weights(tiny_model_file, val_folder, tmp_path, capsys):
    missing = tmp_path / "no_such_weights.safetensors"
    specs = family_specs(tiny_model_file, tmp_path)
    assert set(specs) == set(FAMILIES.names()), "say here whether the new family loads --weights"
    adapter_factory = tmp_path / "adapter_factory.py"  # python: giving a whole adapter: its own loading
    adapter_factory.write_text("from auditkit.adapters import load_model\n\n"
                               "def make():\n    return load_model('efficientnet_lite0')\n")
    cases = {**specs, **{name: (name, LOADS) for name in PRESETS.names()},
             "python (an adapter)": (f"python:{adapter_factory}:make", "returns a ModelAdapter; load --weights inside it")}
    for label, (spec, expected) in cases.items():
        out = tmp_path / f"out-{len(label)}-{label.split()[0]}"
        err = one_error_line(capsys, run_args(spec, missing, val_folder, out, tmp_path / "cache", "--dry-run"))
        if expected == LOADS:  # it reads the file: a missing one is named, never silently ignored
            assert str(missing) in err and ("does not exist" in err or "not a known tag or valid file" in err), (label, err)
        else:
            assert expected in err, (label, err)

