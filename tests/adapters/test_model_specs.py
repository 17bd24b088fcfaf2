"""Model specs -> adapters: real embedded weights, timm / open_clip / python specs, offline errors."""

from __future__ import annotations

import pickle
import textwrap
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import timm
import torch
from PIL import Image
from safetensors.torch import save_file

from auditkit.adapters import ModelAdapter, ModelOptions, PreprocessConfig, load_model
from auditkit.adapters.efficientnet_lite import map_by_order
from auditkit.errors import AuditError



def one_line_error(spec: str, options: ModelOptions = ModelOptions()) -> str:
    with pytest.raises(AuditError) as error:
        load_model(spec, options)
    message = str(error.value)
    assert "\n" not in message
    return message


def batch_for(adapter: ModelAdapter, *images: Image.Image) -> torch.Tensor:
    transform = adapter.preprocess.transform()
    return torch.stack([transform(image) for image in images])


# --- the embedded real model -------------------------------------------------------------


@pytest.fixture(scope="module")
def lite0() -> ModelAdapter:
    return load_model("efficientnet_lite0")


def test_efficientnet_lite0_recognises_real_photos(lite0):
    with torch.inference_mode():
        logits = lite0.logits(batch_for(lite0, Image.fromarray(skimage.data.chelsea()),
                                        Image.fromarray(skimage.data.coffee())))
    top = logits.argmax(1).tolist()
    # measured: chelsea -> 282 tiger cat (285 Egyptian cat close behind), coffee -> 967 espresso
    assert top[0] in (281, 282, 285)
    assert top[1] == 967
    assert lite0.preprocess.mean == (0.5, 0.5, 0.5) and lite0.preprocess.interpolation == "bicubic"


def test_package_mapping_refuses_shape_mismatch():
    target = OrderedDict(a=torch.zeros(3), b=torch.zeros(2, 2))
    with pytest.raises(ValueError, match="does not fit"):
        map_by_order(OrderedDict(x=torch.zeros(2, 2), y=torch.zeros(3)), target)
    with pytest.raises(ValueError, match="source tensors"):
        map_by_order(OrderedDict(x=torch.zeros(3)), target)


# --- timm --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet18", "vit_tiny_patch16_224"])
@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_timm_with_weights_file_reproduces_the_module(name, suffix, tmp_path):
    torch.manual_seed(0)
    reference = timm.create_model(name, pretrained=False).eval()
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, path)
    else:
        torch.save({"state_dict": reference.state_dict()}, path)
    adapter = load_model(f"timm:{name}", ModelOptions(weights=str(path)))
    assert adapter.preprocess.name == "timm"  # timm:NAME defaults to timm's own config
    images = batch_for(adapter, Image.fromarray(skimage.data.coffee()))
    with torch.inference_mode():
        torch.testing.assert_close(adapter.logits(images), reference(images), atol=1e-4, rtol=1e-4)


def test_timm_offline_without_weights_names_the_option():
    assert "--weights PATH" in one_line_error("timm:resnet18.a1_in1k")


def test_timm_typo_gets_did_you_mean():
    assert "did you mean" in one_line_error("timm:resnet1")


def test_weights_for_another_architecture(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file(timm.create_model("resnet18").state_dict(), path)
    assert "do not fit" in one_line_error("timm:resnet34", ModelOptions(weights=str(path)))


class Payload:
    def __reduce__(self):
        return (Path("/tmp/auditkit-pickle-ran").touch, ())


def test_pickled_code_is_never_executed(tmp_path):
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"state_dict": Payload()}))
    message = one_line_error("timm:resnet18", ModelOptions(weights=str(path)))
    assert "cannot read weights" in message
    assert not Path("/tmp/auditkit-pickle-ran").exists()


@pytest.mark.parametrize("preset", ["vit_b_sup", "convnext_b_sup", "vit_b_clip", "convnext_b_clip"])
def test_presets_offline_fail_in_one_line_naming_weights(preset):
    assert "--weights PATH" in one_line_error(preset)


def test_preset_defaults_to_paper_preprocessing(tmp_path):
    path = tmp_path / "w.safetensors"
    save_file(timm.create_model("convnext_base").state_dict(), path)
    paper = load_model("convnext_b_sup", ModelOptions(weights=str(path)))
    assert (paper.preprocess.name, paper.preprocess.resize_size, paper.preprocess.interpolation) == ("paper", 256, "bilinear")
    own = load_model("convnext_b_sup", ModelOptions(weights=str(path), preprocess="timm"))
    assert own.preprocess.name == "timm" and own.preprocess.interpolation == "bicubic"
    assert own.fingerprint != paper.fingerprint


def test_unknown_spec_did_you_mean():
    assert "did you mean 'vit_b_sup'" in one_line_error("vit_b_su")


# --- open_clip (the zero-shot head itself is checked in test_adapters.py) ---------------


def test_open_clip_unknown_tag_and_arch():
    assert "did you mean" in one_line_error("open_clip:ViT-B-16/laion400m_e3")
    assert "did you mean" in one_line_error("open_clip:ViT-B-61/laion400m_e31")


# --- python: factories ---------------------------------------------------------------------


FACTORY = textwrap.dedent(
    """
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self, classes=1000, cfg=True):
            super().__init__()
            torch.manual_seed(0)
            self.fc = nn.Linear(3, classes)
            if cfg:
                self.pretrained_cfg = dict(input_size=(3, 24, 24), interpolation="bilinear",
                                           crop_pct=1.0, mean=(0.5,) * 3, std=(0.5,) * 3)

        def forward(self, x):
            return self.fc(x.mean((2, 3)))

    def make():
        return Net()

    def make_no_cfg():
        return Net(cfg=False)

    def make_wrong_head():
        return Net(classes=10)

    def make_string():
        return "not a model"
    """
)


@pytest.fixture
def factory_file(tmp_path) -> Path:
    path = tmp_path / "user_models.py"
    path.write_text(FACTORY)
    return path


def test_python_file_and_module_factories(factory_file, monkeypatch):
    from_file = load_model(f"python:{factory_file}:make")
    assert from_file.preprocess.input_size == 24
    monkeypatch.syspath_prepend(str(factory_file.parent))
    from_module = load_model("python:user_models:make")
    assert from_module.fingerprint == from_file.fingerprint == load_model(f"python:{factory_file}:make").fingerprint


def test_python_factory_mistakes(factory_file):
    assert "pretrained_cfg" in one_line_error(f"python:{factory_file}:make_no_cfg")
    assert "did you mean 'make'" in one_line_error(f"python:{factory_file}:mkae")
    assert "must return an nn.Module" in one_line_error(f"python:{factory_file}:make_string")
    assert "does not exist" in one_line_error("python:/nonexistent/file.py:make")
    assert "cannot import module" in one_line_error("python:no_such_module_xyz:make")
    wrong = load_model(f"python:{factory_file}:make_wrong_head")
    with pytest.raises(AuditError, match=r"\(batch, 1000\)"):
        wrong.logits(torch.zeros(2, 3, 24, 24))


def test_fingerprint_follows_weights_preprocessing_and_code(factory_file, tmp_path):
    base = load_model(f"python:{factory_file}:make")
    weights = {k: v.clone() for k, v in base.module.state_dict().items()}
    save_file(weights, tmp_path / "same.safetensors")
    weights["fc.bias"][0] += 1e-3
    save_file(weights, tmp_path / "changed.safetensors")
    same = load_model(f"python:{factory_file}:make", ModelOptions(weights=str(tmp_path / "same.safetensors")))
    changed = load_model(f"python:{factory_file}:make", ModelOptions(weights=str(tmp_path / "changed.safetensors")))
    cropped = load_model(f"python:{factory_file}:make", ModelOptions(crop_pct=0.875))
    assert same.fingerprint == base.fingerprint
    assert len({base.fingerprint, changed.fingerprint, cropped.fingerprint}) == 3
    factory_file.write_text(factory_file.read_text() + "\n# edited\n")
    assert load_model(f"python:{factory_file}:make").fingerprint != base.fingerprint


def test_preprocess_config_rejects_nonsense():
    with pytest.raises(AuditError):
        PreprocessConfig("custom", interpolation="cubic-ish")
    with pytest.raises(AuditError):
        PreprocessConfig("custom", crop_pct=1.5)
    assert np.isclose(PreprocessConfig("custom", input_size=224, crop_pct=0.875).resize_size, 256)


def test_preprocess_choice_is_refused_where_it_would_be_ignored(factory_file):
    assert "timm models only" in one_line_error("efficientnet_lite0", ModelOptions(preprocess="paper"))
    assert "timm models only" in one_line_error(f"python:{factory_file}:make", ModelOptions(preprocess="timm"))
    # single fields still override
    assert load_model("efficientnet_lite0", ModelOptions(crop_pct=1.0)).preprocess.crop_pct == 1.0


def test_arch_builds_timms_random_init_with_its_arguments_and_downloads_nothing():
    adapter = load_model("arch:resnet10t,output_stride=8,channels=(16,32,64,128)")
    torch.manual_seed(0)
    reference = timm.create_model("resnet10t", pretrained=False, output_stride=8, channels=(16, 32, 64, 128))
    for name, tensor in reference.state_dict().items():
        assert torch.equal(adapter.module.state_dict()[name], tensor), name
    assert adapter.module.forward_features(torch.zeros(1, 3, 56, 56)).shape == (1, 128, 7, 7)
    assert load_model("arch:resnet10t,output_stride=8,channels=(16,32,64,128)").fingerprint == adapter.fingerprint
    assert load_model("arch:resnet10t").fingerprint != adapter.fingerprint


@pytest.mark.parametrize("spec, message", [
    ("arch:resnet1Ot", "did you mean"),
    ("arch:resnet10t,output_stride", "not key=value"),
    ("arch:resnet10t,no_such_argument=3", "refused the arguments"),
])
def test_arch_mistakes_are_one_line(spec, message):
    with pytest.raises(AuditError, match=message) as error:
        load_model(spec)
    assert "\n" not in str(error.value)
    with pytest.raises(AuditError, match="random weights"):
        load_model("arch:resnet10t", ModelOptions(weights="w.safetensors"))
