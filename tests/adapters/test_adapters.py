"""Adapters checked against computations that do not use them: timm's and open_clip's own
transforms and modules, the real embedded EfficientNet-Lite0 on scikit-image photos, a zero-shot
head rebuilt by hand from open_clip's prompts, and a one-line ``AuditError`` for every user
mistake, with the network refused (a test suite must never need weights from it)."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import textwrap
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import open_clip
import pytest
import skimage.data
import timm
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from timm.data import create_transform, resolve_data_config
from timm.models import get_pretrained_cfg
from torchvision import transforms as T

from auditkit.adapters import ModelAdapter, ModelOptions, PreprocessConfig, load_model
from auditkit.adapters.clip import preprocess_from_open_clip
from auditkit.adapters.efficientnet_lite import ARCHITECTURE, map_by_order, package_state_dict
from auditkit.adapters.preprocess import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    from_pretrained_cfg,
    paper_supervised,
)
from auditkit.errors import AuditError

# A name of its own: test_model_specs.py registers another config as "auditkit-test-tiny".
TINY_CLIP = "auditkit-test-tiny-e32"
TINY_CLIP_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


def audit_error(spec: str, options: ModelOptions = ModelOptions()) -> str:
    """The message of the AuditError that loading ``spec`` must raise; it must be one line."""
    with pytest.raises(AuditError) as caught:
        load_model(spec, options)
    message = str(caught.value)
    assert message and "\n" not in message, message
    return message


def refuse_network(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Make every connection attempt fail at once, and record it."""
    attempts: list[tuple] = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] if args and isinstance(args[0], socket.socket) else args)
        raise OSError("network refused by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


@pytest.fixture
def no_network(monkeypatch) -> list[tuple]:
    return refuse_network(monkeypatch)


def save_weights(module: torch.nn.Module, path: Path) -> Path:
    state = {k: v.detach().clone().contiguous() for k, v in module.state_dict().items()}
    if path.suffix == ".safetensors":
        save_file(state, path)
    else:
        torch.save(state, path)  # a plain state dict, as the error message asks for
    return path


@pytest.fixture(scope="module")
def random_photo() -> Image.Image:
    """Non-square (333 x 517) so that resize-short-side and crop both matter."""
    rng = np.random.default_rng(7)
    return Image.fromarray(rng.integers(0, 256, (333, 517, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    return [Image.fromarray(skimage.data.chelsea()), Image.fromarray(skimage.data.coffee())]


# --- 1. preprocessing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        paper_supervised(),
        PreprocessConfig("timm", 224, "bicubic", 1.0),
        PreprocessConfig("timm", 224, "bicubic", 0.9, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),  # 224/0.9 -> 248
        PreprocessConfig("timm", 224, "bicubic", 0.95),  # 224/0.95 = 235.8 -> 235, floored like timm
        PreprocessConfig("timm", 288, "bilinear", 0.8),
        PreprocessConfig("timm", 64, "nearest", 0.875),
    ],
    ids=lambda c: f"{c.input_size}-{c.interpolation}-{c.crop_pct}",
)
def test_transform_equals_timm_create_transform(config, random_photo, photos):
    timm_transform = create_transform(
        input_size=config.input_size,
        interpolation=config.interpolation,
        crop_pct=config.crop_pct,
        mean=config.mean,
        std=config.std,
    )
    ours = config.transform()
    for image in (random_photo, *photos):
        expected = timm_transform(image)
        assert expected.shape == (3, config.input_size, config.input_size)
        torch.testing.assert_close(ours(image), expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "name",
    [
        "deit3_base_patch16_224.fb_in22k_ft_in1k",  # vit_b_sup's own config: bicubic, crop 1.0
        "convnext_base.fb_in22k_ft_in1k",  # convnext_b_sup's: bicubic, crop 0.875
        "tf_efficientnet_lite0.in1k",  # mean = std = 0.5
        "vit_tiny_patch16_224.augreg_in21k_ft_in1k",  # crop 0.9
        "resnet18.a1_in1k",  # crop 0.95
    ],
)
def test_timm_pretrained_cfg_gives_timms_own_eval_transform(name, random_photo):
    cfg = get_pretrained_cfg(name).to_dict()
    expected = create_transform(**resolve_data_config(pretrained_cfg=cfg))(random_photo)
    ours = from_pretrained_cfg(cfg, name="timm").transform()(random_photo)
    torch.testing.assert_close(ours, expected, atol=1e-6, rtol=0)


def test_a_crop_mode_other_than_center_is_refused_not_silently_replaced(random_photo):
    # timm's ConvNeXt-T at 384 squashes the whole image to 384 x 384 (no crop): a center crop
    # would silently evaluate another protocol (timm PR #1383).
    cfg = get_pretrained_cfg("convnext_tiny.fb_in22k_ft_in1k_384").to_dict()
    assert cfg["crop_mode"] == "squash"
    squashed = create_transform(**resolve_data_config(pretrained_cfg=cfg))(random_photo)
    center = PreprocessConfig("timm", 384, cfg["interpolation"], cfg["crop_pct"]).transform()(random_photo)
    assert not torch.allclose(squashed, center, atol=1e-2)  # the two protocols really differ
    with pytest.raises(AuditError, match="crop_mode 'squash'") as caught:
        from_pretrained_cfg(cfg, name="timm")
    assert "\n" not in str(caught.value) and "--preprocess paper" in str(caught.value)
    # a center-crop config spelled out explicitly is accepted
    assert from_pretrained_cfg({**cfg, "crop_mode": "center"}).input_size == 384


def test_paper_preset_is_resize_256_bilinear_then_center_crop_224(random_photo, photos):
    config = paper_supervised()
    assert (config.input_size, config.resize_size, config.interpolation) == (224, 256, "bilinear")
    assert (config.mean, config.std) == (IMAGENET_MEAN, IMAGENET_STD)
    by_hand = T.Compose(
        [
            T.Resize(256, interpolation=T.InterpolationMode.BILINEAR),
            T.CenterCrop(224),
            T.ToTensor(),
            T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        ]
    )
    for image in (random_photo, *photos):
        torch.testing.assert_close(config.transform()(image), by_hand(image), atol=1e-6, rtol=0)


@pytest.fixture(scope="module")
def tiny_clip_config(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("open_clip_config") / f"{TINY_CLIP}.json"
    path.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(path)
    assert TINY_CLIP in open_clip.list_models()
    return TINY_CLIP


def test_open_clip_preprocess_equals_open_clips_image_transform(tiny_clip_config, random_photo, photos):
    model = open_clip.create_model(tiny_clip_config, pretrained=None)
    cfg = model.visual.preprocess_cfg
    theirs = open_clip.image_transform(
        cfg["size"], is_train=False, mean=cfg["mean"], std=cfg["std"],
        interpolation=cfg["interpolation"], resize_mode=cfg["resize_mode"],
    )
    config = preprocess_from_open_clip(model)
    assert (config.input_size, config.crop_pct, config.interpolation) == (32, 1.0, "bicubic")
    grey = random_photo.convert("L")  # open_clip converts to RGB after resizing, we before
    for image in (random_photo, grey, *photos):
        torch.testing.assert_close(config.transform()(image), theirs(image), atol=1e-6, rtol=0)


@pytest.mark.parametrize("arch", ["ViT-B-16", "convnext_base"])  # the CLIP presets' architectures
def test_open_clip_preprocess_equals_create_model_and_transforms(arch, random_photo, photos):
    model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=None)
    config = preprocess_from_open_clip(model)
    assert (config.input_size, config.interpolation) == (224, "bicubic")
    for image in (random_photo, *photos):
        torch.testing.assert_close(config.transform()(image), preprocess(image), atol=1e-6, rtol=0)


# --- 2. the embedded EfficientNet-Lite0 ---------------------------------------------------------


@pytest.fixture(scope="module")
def lite0() -> ModelAdapter:
    with pytest.MonkeyPatch.context() as monkeypatch:
        attempts = refuse_network(monkeypatch)
        adapter = load_model("efficientnet_lite0")
    assert attempts == []
    return adapter


def test_efficientnet_lite0_recognises_real_photos(lite0, photos):
    batch = torch.stack([lite0.preprocess.transform()(image) for image in photos])
    with torch.inference_mode():
        probabilities = lite0.logits(batch).softmax(1)
    top5 = probabilities.topk(5, dim=1)
    for name, values, indices in zip(("chelsea", "coffee"), top5.values, top5.indices):
        print(name, [(int(i), round(float(v), 3)) for v, i in zip(values, indices)])
    # Measured top-5 (class, probability) with torch 2.14.1 CPU, timm 1.0.31:
    #   chelsea [(282, 0.393), (285, 0.356), (281, 0.17), (287, 0.014), (904, 0.001)]
    #     282 tiger cat, 285 Egyptian Mau, 281 tabby cat: the top three are all domestic cats, and
    #     the first two are close, so the top-1 may flip between them on other builds
    #   coffee  [(967, 0.951), (968, 0.015), (925, 0.007), (960, 0.004), (504, 0.003)]
    #     967 espresso, 968 tea cup, 925 consomme, 960 chocolate syrup, 504 coffee mug
    assert int(top5.indices[0, 0]) in (281, 282, 285)
    assert set(top5.indices[0, :3].tolist()) <= {281, 282, 283, 285, 287}
    assert int(top5.indices[1, 0]) == 967
    assert lite0.preprocess.describe()["resize_size"] == 256


def test_package_weights_map_onto_every_timm_tensor(lite0):
    package = package_state_dict()
    target = timm.create_model(ARCHITECTURE, pretrained=False).state_dict()
    assert len(package) == len(target) == 296
    mapped = map_by_order(package, target)
    assert list(mapped) == list(target)
    for (source_key, source), (target_key, value) in zip(package.items(), mapped.items()):
        assert value is source
        # an order mapping that pairs a BatchNorm's weight with its bias would still fit by
        # shape; the parameter kinds (weight, bias, running_mean, ...) must agree too
        assert source_key.rsplit(".", 1)[1] == target_key.rsplit(".", 1)[1], (source_key, target_key)
    loaded = lite0.module.state_dict()
    torch.testing.assert_close(loaded["conv_stem.weight"], package["_conv_stem.weight"], atol=0, rtol=0)
    torch.testing.assert_close(loaded["classifier.bias"], package["_fc.bias"], atol=0, rtol=0)


@pytest.mark.parametrize("variant, size, crop", [(1, 240, 0.882), (2, 260, 0.89)])
def test_efficientnet_lite1_and_lite2_load_their_package_weights(variant, size, crop, photos):
    package = package_state_dict(variant)
    with pytest.MonkeyPatch.context() as monkeypatch:
        attempts = refuse_network(monkeypatch)
        adapter = load_model(f"efficientnet_lite{variant}")
    assert attempts == []
    target = adapter.module.state_dict()
    assert len(package) == len(target) == 386
    for (source_key, source), (target_key, value) in zip(package.items(), target.items()):
        assert source_key.rsplit(".", 1)[1] == target_key.rsplit(".", 1)[1], (source_key, target_key)
        torch.testing.assert_close(value, source, atol=0, rtol=0)
    assert (adapter.preprocess.input_size, adapter.preprocess.crop_pct) == (size, crop)
    batch = torch.stack([adapter.preprocess.transform()(image) for image in photos])
    with torch.inference_mode():
        top1 = adapter.logits(batch).argmax(1).tolist()
    # measured: chelsea -> 285 Egyptian Mau (a domestic cat), coffee -> 967 espresso, for both
    assert top1[0] in (281, 282, 285) and top1[1] == 967


def test_package_mapping_refuses_a_shuffled_state_dict():
    package = package_state_dict()
    target = timm.create_model(ARCHITECTURE, pretrained=False).state_dict()
    items = list(package.items())
    random.Random(0).shuffle(items)
    with pytest.raises(ValueError, match="does not fit"):
        map_by_order(OrderedDict(items), target)
    with pytest.raises(ValueError, match="295 source tensors for 296"):
        map_by_order(OrderedDict(list(package.items())[:-1]), target)


# --- 3. timm:NAME -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def timm_models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {name: timm.create_model(name, pretrained=False).eval()
            for name in ("resnet18", "vit_tiny_patch16_224")}


@pytest.mark.parametrize("name", ["resnet18", "vit_tiny_patch16_224"])  # a ConvNet and a ViT
@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_timm_weights_file_reproduces_the_module(name, suffix, timm_models, photos, tmp_path, no_network):
    reference = timm_models[name]
    path = save_weights(reference, tmp_path / f"{name}{suffix}")
    adapter = load_model(f"timm:{name}", ModelOptions(weights=str(path)))
    # the batch comes from timm's own eval transform for the model, not from the adapter
    timm_transform = create_transform(**resolve_data_config(model=reference))
    batch = torch.stack([timm_transform(image) for image in photos])
    torch.testing.assert_close(torch.stack([adapter.preprocess.transform()(i) for i in photos]), batch,
                               atol=1e-6, rtol=0)
    with torch.inference_mode():
        expected = reference(batch)
        logits = adapter.logits(batch)
    assert logits.shape == (2, 1000)
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-4)
    assert no_network == []


@pytest.mark.parametrize("name", ["resnet18", "vit_tiny_patch16_224", "efficientnet_b0.ra_in1k"])
def test_timm_without_weights_offline_names_the_weights_option(name, no_network):
    started = time.perf_counter()
    assert "--weights PATH" in audit_error(f"timm:{name}")
    assert time.perf_counter() - started < 30


def test_timm_typo_gets_did_you_mean():
    message = audit_error("timm:resnet1")
    assert "did you mean" in message and "resnet18" in message


def test_timm_weights_of_another_architecture(timm_models, tmp_path):
    resnet = save_weights(timm_models["resnet18"], tmp_path / "resnet18.safetensors")
    assert "do not fit" in audit_error("timm:resnet34", ModelOptions(weights=str(resnet)))
    # same key names, other shapes: ViT-Ti weights for a ViT-S
    vit = save_weights(timm_models["vit_tiny_patch16_224"], tmp_path / "vit_tiny.pth")
    assert "wrong shape" in audit_error("timm:vit_small_patch16_224", ModelOptions(weights=str(vit)))


EXECUTED_MARKER = "auditkit-test-pickle-executed"


def record_execution(marker: str) -> "NotAStateDict":
    Path(marker).write_text("the pickle ran code")
    return NotAStateDict()


class NotAStateDict:
    """Anything but weights; unpickling it would run ``record_execution``."""

    marker = ""

    def __reduce__(self):
        return (record_execution, (self.marker,))


def test_pickled_object_is_refused_without_running_it(tmp_path):
    marker = tmp_path / EXECUTED_MARKER
    payload = NotAStateDict()
    payload.marker = str(marker)
    path = tmp_path / "not_weights.pth"
    torch.save(payload, path)
    assert not marker.exists()
    assert "cannot read weights" in audit_error("timm:resnet18", ModelOptions(weights=str(path)))
    assert not marker.exists()


def test_unreadable_weight_files_are_one_line_errors(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"this is not a safetensors file")
    assert "cannot read weights" in audit_error("timm:resnet18", ModelOptions(weights=str(garbage)))
    a_tensor = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), a_tensor)
    assert "not a state dict" in audit_error("timm:resnet18", ModelOptions(weights=str(a_tensor)))
    assert "does not exist" in audit_error("timm:resnet18", ModelOptions(weights=str(tmp_path / "no.pth")))


# --- 4. presets offline -------------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["vit_b_sup", "convnext_b_sup", "vit_b_clip", "convnext_b_clip"])
def test_presets_offline_without_weights_fail_fast_in_one_line(preset, no_network):
    started = time.perf_counter()
    message = audit_error(preset)
    assert "--weights PATH" in message and preset in message
    assert time.perf_counter() - started < 30
    assert no_network == []  # offline means no connection attempted, not a slow timeout


# --- 5. open_clip:ARCH zero-shot -----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_clip(tiny_clip_config, tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("open_clip_weights")
    torch.manual_seed(1)
    model = open_clip.create_model(tiny_clip_config, pretrained=None).eval()
    weights = folder / "weights.pth"
    torch.save(model.state_dict(), weights)
    return {"model": model, "weights": weights, "folder": folder}


def zero_shot_column(model: torch.nn.Module, classname: str) -> torch.Tensor:
    """docs/protocols.md "Models": 80 prompts, each text feature L2-normalised, mean, normalised."""
    prompts = [template(classname) for template in open_clip.OPENAI_IMAGENET_TEMPLATES]
    assert len(prompts) == 80
    with torch.no_grad():
        text = F.normalize(model.encode_text(open_clip.tokenize(prompts)), dim=-1)
    return F.normalize(text.mean(0), dim=0)


@pytest.mark.slow
def test_open_clip_zero_shot_head_logits_and_cache(tiny_clip, photos, tmp_path, monkeypatch):
    heads = tmp_path / "heads"
    options = ModelOptions(weights=str(tiny_clip["weights"]), head_cache=heads)
    adapter = load_model(f"open_clip:{TINY_CLIP}", options)
    started = time.perf_counter()
    head = adapter.head
    seconds = time.perf_counter() - started
    print(f"zero-shot head, 1000 classes x 80 templates, tiny model: {seconds:.1f} s")
    assert seconds < 60  # measured about 15 s on 2 CPU cores
    assert head.shape == (32, 1000)

    model = tiny_clip["model"]
    classes = (0, 1, 500, 999)
    for index in classes:
        torch.testing.assert_close(head[:, index], zero_shot_column(model, open_clip.IMAGENET_CLASSNAMES[index]),
                                   atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(head.norm(dim=0), torch.ones(1000), atol=1e-5, rtol=0)

    cfg = model.visual.preprocess_cfg
    transform = open_clip.image_transform(cfg["size"], is_train=False, mean=cfg["mean"], std=cfg["std"])
    batch = torch.stack([transform(image) for image in photos])
    with torch.no_grad():
        image_features = F.normalize(model.encode_image(batch), dim=-1)
        expected = 100 * image_features @ torch.stack(
            [zero_shot_column(model, open_clip.IMAGENET_CLASSNAMES[i]) for i in classes], dim=1
        )
        logits = adapter.logits(batch)
    assert logits.shape == (2, 1000)
    torch.testing.assert_close(logits[:, list(classes)], expected, atol=1e-3, rtol=1e-4)

    # the head is on disk; the same weights read it back without building anything
    cached = list(heads.glob("*.pt"))
    assert len(cached) == 1
    monkeypatch.setattr(open_clip, "build_zero_shot_classifier",
                        lambda *a, **k: pytest.fail("the cached head was rebuilt"))
    again = load_model(f"open_clip:{TINY_CLIP}", options)
    torch.testing.assert_close(again.head, head, atol=0, rtol=0)
    assert again.fingerprint == adapter.fingerprint

    # other weights: another fingerprint and another cache entry, never the first model's head
    state = torch.load(tiny_clip["weights"], weights_only=True)
    state["text_projection"][0, 0] += 1e-3
    other_weights = tmp_path / "other.pth"
    torch.save(state, other_weights)
    stand_in = torch.zeros(32, 1000)
    monkeypatch.setattr(open_clip, "build_zero_shot_classifier", lambda *a, **k: stand_in)
    other = load_model(f"open_clip:{TINY_CLIP}", ModelOptions(weights=str(other_weights), head_cache=heads))
    assert other.fingerprint != adapter.fingerprint
    assert torch.equal(other.head, stand_in)
    assert len(list(heads.glob("*.pt"))) == 2 and cached[0].is_file()
    torch.testing.assert_close(load_model(f"open_clip:{TINY_CLIP}", options).head, head, atol=0, rtol=0)


def test_open_clip_bad_weight_files_are_one_line_errors(tiny_clip_config, timm_models, tmp_path):
    resnet = save_weights(timm_models["resnet18"], tmp_path / "resnet18.pth")
    message = audit_error(f"open_clip:{TINY_CLIP}", ModelOptions(weights=str(resnet), head_cache=tmp_path))
    assert "cannot load open_clip weights" in message

    marker = tmp_path / EXECUTED_MARKER
    payload = NotAStateDict()
    payload.marker = str(marker)
    torch.save(payload, tmp_path / "not_weights.pth")
    audit_error(f"open_clip:{TINY_CLIP}", ModelOptions(weights=str(tmp_path / "not_weights.pth"), head_cache=tmp_path))
    assert not marker.exists()

    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"this is not a safetensors file")
    audit_error(f"open_clip:{TINY_CLIP}", ModelOptions(weights=str(garbage), head_cache=tmp_path))
    audit_error(f"open_clip:{TINY_CLIP}", ModelOptions(weights=str(tmp_path / "no.pth"), head_cache=tmp_path))
    assert "--weights PATH" in audit_error(f"open_clip:{TINY_CLIP}")


# --- 6. python: factories --------------------------------------------------------------------------


FACTORIES = textwrap.dedent(
    """
    import torch
    from torch import nn

    from auditkit.adapters import ModelAdapter, PreprocessConfig

    CFG = dict(input_size=(3, 40, 40), interpolation="bilinear", crop_pct=0.8,
               mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))


    class Net(nn.Module):
        def __init__(self, classes=1000, cfg=CFG):
            super().__init__()
            generator = torch.Generator().manual_seed(0)
            self.conv = nn.Conv2d(3, 4, 5, stride=3)
            self.fc = nn.Linear(4, classes)
            with torch.no_grad():
                for parameter in self.parameters():
                    parameter.copy_(torch.randn(parameter.shape, generator=generator))
            if cfg is not None:
                self.pretrained_cfg = dict(cfg)

        def forward(self, x):
            return self.fc(self.conv(x).relu().mean((2, 3)))


    class Flat(Net):
        def forward(self, x):
            return super().forward(x).reshape(-1)


    class Constant(ModelAdapter):
        name = "constant"
        preprocess = PreprocessConfig("custom", input_size=16, crop_pct=1.0)

        def logits(self, images):
            return torch.zeros(len(images), 1000)

        def identity(self):
            return {"weights_sha256": "none"}


    INSTANCE = Constant()


    def make():
        return Net()


    def make_without_cfg():
        return Net(cfg=None)


    def make_squash():
        return Net(cfg=dict(CFG, crop_mode="squash"))


    def make_ten_classes():
        return Net(classes=10)


    def make_flat():
        return Flat()


    def make_adapter():
        return INSTANCE


    def make_state_dict():
        return Net().state_dict()
    """
)


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    """The factories as a file and as an importable module (removed from sys.modules after)."""
    name = "auditkit_test_user_factories"
    path = tmp_path / f"{name}.py"
    path.write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name, path
    sys.modules.pop(name, None)


def test_python_factory_from_a_file_and_from_a_module(factory_module, random_photo):
    name, path = factory_module
    from_file = load_model(f"python:{path}:make")
    from_module = load_model(f"python:{name}:make")
    module = __import__(name)
    reference = module.make().eval()
    cfg = module.CFG
    timm_transform = create_transform(input_size=40, interpolation="bilinear", crop_pct=0.8,
                                      mean=cfg["mean"], std=cfg["std"])
    batch = timm_transform(random_photo)[None]
    for adapter in (from_file, from_module):
        assert adapter.preprocess.describe()["resize_size"] == 50  # floor(40 / 0.8)
        torch.testing.assert_close(adapter.preprocess.transform()(random_photo)[None], batch, atol=1e-6, rtol=0)
        with torch.inference_mode():
            torch.testing.assert_close(adapter.logits(batch), reference(batch), atol=1e-5, rtol=1e-5)
    assert from_file.fingerprint == from_module.fingerprint


def test_python_factory_mistakes_are_one_line_errors(factory_module):
    name, path = factory_module
    for location in (str(path), name):
        assert "pretrained_cfg" in audit_error(f"python:{location}:make_without_cfg")
        assert "did you mean 'make'" in audit_error(f"python:{location}:mkae")
        message = audit_error(f"python:{location}:make_state_dict")
        assert "returned a" in message and "nn.Module" in message
        assert "crop_mode 'squash'" in audit_error(f"python:{location}:make_squash")
    assert "does not exist" in audit_error(f"python:{path.parent / 'missing.py'}:make")
    assert "cannot import module" in audit_error("python:auditkit_no_such_module:make")


@pytest.mark.parametrize("factory", ["make_ten_classes", "make_flat"])
def test_logits_that_are_not_batch_by_1000_are_refused(factory, factory_module):
    _, path = factory_module
    adapter = load_model(f"python:{path}:{factory}")
    with pytest.raises(AuditError, match=r"\(batch, 1000\)") as caught:
        adapter.logits(torch.zeros(2, 3, 40, 40))
    assert "\n" not in str(caught.value)


def test_a_factory_returning_an_adapter_is_used_as_is(factory_module):
    name, _ = factory_module
    adapter = load_model(f"python:{name}:make_adapter")
    assert adapter is sys.modules[name].INSTANCE
    assert adapter.logits(torch.zeros(2, 3, 16, 16)).shape == (2, 1000)


# --- 7. fingerprints ----------------------------------------------------------------------------


def test_fingerprint_follows_weights_and_preprocessing(timm_models, tmp_path):
    reference = timm_models["resnet18"]
    weights = save_weights(reference, tmp_path / "resnet18.safetensors")
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    state["fc.bias"][17] += 1e-3
    changed_weights = tmp_path / "resnet18_changed.safetensors"
    save_file(state, changed_weights)

    first = load_model("timm:resnet18", ModelOptions(weights=str(weights)))
    second = load_model("timm:resnet18", ModelOptions(weights=str(weights)))
    changed = load_model("timm:resnet18", ModelOptions(weights=str(changed_weights)))
    cropped = load_model("timm:resnet18", ModelOptions(weights=str(weights), crop_pct=1.0))
    paper = load_model("timm:resnet18", ModelOptions(weights=str(weights), preprocess="paper"))
    assert first is not second and first.fingerprint == second.fingerprint
    assert cropped.preprocess.crop_pct == 1.0
    assert len({first.fingerprint, changed.fingerprint, cropped.fingerprint, paper.fingerprint}) == 4


def test_fingerprint_of_the_embedded_model_follows_preprocessing(lite0):
    assert load_model("efficientnet_lite0").fingerprint == lite0.fingerprint
    assert load_model("efficientnet_lite0", ModelOptions(crop_pct=1.0)).fingerprint != lite0.fingerprint


@pytest.mark.subprocess
def test_fingerprint_follows_the_factory_source_and_is_stable_across_processes(factory_module):
    _, path = factory_module
    spec = f"python:{path}:make"
    fingerprint = load_model(spec).fingerprint
    assert load_model(spec).fingerprint == fingerprint
    in_another_process = subprocess.run(
        [sys.executable, "-c", f"from auditkit.adapters import load_model; print(load_model({spec!r}).fingerprint)"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.strip()
    assert in_another_process == fingerprint
    path.write_text(FACTORIES + "\n# a comment is a new version of the code\n")
    assert load_model(spec).fingerprint != fingerprint


# --- 8. unknown specs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, suggestion",
    [("vit_b_su", "vit_b_sup"), ("convnext_b_clp", "convnext_b_clip"), ("efficientnet_lit0", "efficientnet_lite0")],
)
def test_unknown_spec_did_you_mean(spec, suggestion):
    assert f"did you mean {suggestion!r}" in audit_error(spec)


@pytest.mark.parametrize("spec", ["foo", "timm", "open_clip:", "tim:resnet18"])
def test_unknown_spec_lists_what_is_accepted(spec):
    message = audit_error(spec)
    assert "unknown model" in message and "timm:NAME" in message and "vit_b_sup" in message
