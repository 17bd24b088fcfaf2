"""Model specs -> adapters.

A spec is one of
- a preset name (``vit_b_sup``, ``convnext_b_sup``, ``vit_b_clip``, ``convnext_b_clip``,
  ``efficientnet_lite0``; docs/protocols.md "Models");
- ``timm:NAME`` (any timm model; pretrained weights from the hub, or ``--weights PATH``);
- ``arch:NAME[,key=value...]`` (a timm architecture with random weights, for training from
  scratch: the small_data suite);
- ``open_clip:ARCH/PRETRAINED`` (zero-shot head; ``--weights PATH`` instead of PRETRAINED);
- ``python:MODULE:FACTORY`` or ``python:path/to/file.py:FACTORY``: the factory returns an
  ``nn.Module`` with a timm-style ``pretrained_cfg`` dict, or a ``ModelAdapter``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from torch import nn

from auditkit.adapters.base import ClassifierAdapter, ModelAdapter
from auditkit.adapters.clip import ZeroShotClipAdapter
from auditkit.adapters.observers import DecisionsObserver, PredictionsObserver, RecordedObserver
from auditkit.adapters.preprocess import (
    PreprocessConfig,
    from_pretrained_cfg,
    paper_supervised,
)
from auditkit.adapters.weights import load_into, load_state_dict
from auditkit.errors import AuditError, UserCodeError
from auditkit.registry import Registry, did_you_mean

PREPROCESS_CHOICES = ("default", "paper", "timm")
T = TypeVar("T")


@dataclass(frozen=True)
class ModelOptions:
    """Settings from the command line that change how a model is built (logged in the run)."""

    weights: str | None = None
    preprocess: str = "default"  # default | paper | timm
    input_size: int | None = None
    crop_pct: float | None = None
    interpolation: str | None = None
    head_cache: Path = Path("~/.cache/auditkit/heads").expanduser()


@dataclass(frozen=True)
class ModelPreset:
    name: str
    family: str  # "timm", "open_clip" or "embedded"
    target: str  # timm name, "ARCH/PRETRAINED", or the embedded loader
    description: str

    def spec(self) -> str:
        return self.target if self.family == "embedded" else f"{self.family}:{self.target}"


PRESETS: Registry[ModelPreset] = Registry("model", base=ModelPreset)
for _preset in (
    ModelPreset("vit_b_sup", "timm", "deit3_base_patch16_224.fb_in22k_ft_in1k",
                "DeiT3-B/16, IN-21k pretrained, IN-1k fine-tuned (paper's supervised ViT)"),
    ModelPreset("convnext_b_sup", "timm", "convnext_base.fb_in22k_ft_in1k",
                "ConvNeXt-B, IN-21k pretrained, IN-1k fine-tuned (paper's supervised ConvNet)"),
    ModelPreset("vit_b_clip", "open_clip", "ViT-B-16/laion400m_e31",
                "OpenCLIP ViT-B/16 LAION-400M, zero-shot head (paper's CLIP ViT)"),
    ModelPreset("convnext_b_clip", "open_clip", "convnext_base/laion400m_s13b_b51k",
                "OpenCLIP ConvNeXt-B LAION-400M, zero-shot head (paper's CLIP ConvNet)"),
    ModelPreset("efficientnet_lite0", "embedded", "efficientnet_lite0",
                "EfficientNet-Lite0, ImageNet weights shipped in a pip package (offline default)"),
    ModelPreset("efficientnet_lite1", "embedded", "efficientnet_lite1",
                "EfficientNet-Lite1 (240 px), ImageNet weights shipped in a pip package (offline)"),
    ModelPreset("efficientnet_lite2", "embedded", "efficientnet_lite2",
                "EfficientNet-Lite2 (260 px), ImageNet weights shipped in a pip package (offline)"),
):
    PRESETS.register(_preset.name, _preset)

@dataclass(frozen=True)
class SpecFamily:
    """One spec form, ``<prefix>:<rest>`` (``timm:NAME``, ``decisions:PATH``): how it loads.

    ``load(rest, options, preset)`` gives the subject; ``preset`` is the preset's name when a
    preset names the family (``ModelPreset.family``), else None. Register your own with
    ``FAMILIES.register(prefix, SpecFamily(...))``."""

    forms: tuple[tuple[str, str], ...]  # (form, one line) as `audit ls models` lists them
    load: Callable[[str, "ModelOptions", str | None], "ModelAdapter | RecordedObserver"]
    recorded: bool = False  # recorded answers: nothing to forward, no weights


def _load_timm_family(target: str, options: ModelOptions, preset: str | None) -> ModelAdapter:
    label = preset or f"timm:{target}"
    return _override(load_timm(target, options, label, paper_default=preset is not None), options)


def _load_arch_family(target: str, options: ModelOptions, preset: str | None) -> ModelAdapter:
    """``arch:NAME[,key=value...]``: a timm architecture with timm's random initialisation (seed
    0), nothing downloaded, the keys passed to ``timm.create_model`` (``drop_path_rate=0.2``,
    ``img_size=112``): the subject of the small_data suite, which draws its weights afresh per
    repeat anyway."""
    import ast

    import timm
    import torch

    import re

    # commas inside brackets belong to a value (channels=(32,64,128,256))
    name, *pairs = [part.strip() for part in re.split(r",(?![^()\[\]]*[)\]])", target)]
    if options.weights:
        raise AuditError(f"arch:{name} is an architecture with random weights; for trained weights use "
                         f"timm:{name} --weights PATH")
    if not timm.is_model(name):
        raise AuditError(f"timm has no model {name!r}{did_you_mean(name, timm.list_models())}; "
                         "list them with `python -c 'import timm; print(timm.list_models())'`")
    arguments: dict[str, object] = {}
    for pair in pairs:
        key, equals, text = pair.partition("=")
        if not equals or not key.isidentifier():
            raise AuditError(f"arch:{target}: {pair!r} is not key=value (e.g. arch:{name},drop_path_rate=0.1)")
        try:
            arguments[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            arguments[key] = text
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        model = timm.create_model(name, pretrained=False, **arguments)
    except TypeError as error:
        raise AuditError(f"arch:{target}: timm.create_model({name!r}) refused the arguments "
                         f"({_first_line(error)})") from None
    finally:
        torch.random.set_rng_state(state)
    label = preset or f"arch:{target}"
    adapter = ClassifierAdapter(model, name=label, preprocess=from_pretrained_cfg(dict(model.pretrained_cfg), name="timm"),
                                source={"source": f"arch:{target}", "timm": timm.__version__, "weights": "random, seed 0"})
    return _override(adapter, options)


def _load_open_clip_family(target: str, options: ModelOptions, preset: str | None) -> ModelAdapter:
    return _override(load_open_clip(target, options, preset or f"open_clip:{target}"), options)


def _load_embedded_family(target: str, options: ModelOptions, preset: str | None) -> ModelAdapter:
    from auditkit.adapters.efficientnet_lite import load_efficientnet_lite

    _refuse_preprocess_choice(preset or target, options)
    return _override(load_efficientnet_lite(int(target[-1]), options.weights), options)


def _load_python_family(target: str, options: ModelOptions, preset: str | None) -> ModelAdapter:
    _refuse_preprocess_choice(f"python:{target}", options)
    return _override(load_python(target, options), options)


def _load_finetuned_family(target: str, options: ModelOptions, preset: str | None) -> ModelAdapter:
    """A model fine-tuned by the finetune suite: its parent loaded by the spec it was trained
    from, then the trained weights (``auditkit.train.adapted``)."""
    import auditkit.train.adapted as adapted

    if options.weights:
        raise AuditError("finetuned:PATH is its own weights; it takes no --weights")
    path = Path(target)
    kept = adapted.read_model_file(path)
    parent = load_model(kept["parent_spec"], options)
    if not isinstance(parent, ModelAdapter):
        raise AuditError(f"finetuned:{path}: its parent {kept['parent_spec']} is not a live model")
    return adapted.from_model_file(kept, parent, path)


def _recorded(kind: str, observer: type) -> Callable[[str, ModelOptions, str | None], RecordedObserver]:
    def load(path: str, options: ModelOptions, preset: str | None) -> RecordedObserver:
        if options.weights:
            raise AuditError(f"{kind}:PATH holds recorded answers; it takes no --weights")
        return observer(path)

    return load


FAMILIES: Registry[SpecFamily] = Registry("model family", base=SpecFamily)
FAMILIES.register("timm", SpecFamily((("timm:NAME", "any timm model; hub weights, or --weights PATH"),),
                                     _load_timm_family))
FAMILIES.register("arch", SpecFamily((("arch:NAME[,key=value]", "a timm architecture, random weights (no "
                                       "download): for small_data"),), _load_arch_family))
FAMILIES.register("open_clip", SpecFamily((("open_clip:ARCH/PRETRAINED",
                                            "OpenCLIP zero-shot (80 templates, logits = 100 cos)"),),
                                          _load_open_clip_family))
FAMILIES.register("python", SpecFamily((("python:MODULE:FACTORY", "your nn.Module (with pretrained_cfg) or ModelAdapter"),
                                        ("python:path/to/file.py:FACTORY", "the same, from a file")),
                                       _load_python_family))
FAMILIES.register("finetuned", SpecFamily((("finetuned:PATH", "a model fine-tuned by the finetune suite "
                                            "(its model.pt)"),), _load_finetuned_family))
FAMILIES.register("decisions", SpecFamily((("decisions:PATH", "recorded decisions (model-vs-human CSV; a folder "
                                            "= one pooled observer)"),), _recorded("decisions", DecisionsObserver), True))
FAMILIES.register("predictions", SpecFamily((("predictions:PATH", "recorded ImageNet val top-1 (imagenet_x CSV; a "
                                              "folder = one model)"),), _recorded("predictions", PredictionsObserver), True))
# presets only (the shipped EfficientNet-Lite weights): no `embedded:` spec form of its own
EMBEDDED = SpecFamily((), _load_embedded_family)


def family(name: str) -> SpecFamily:
    return EMBEDDED if name == "embedded" else FAMILIES.get(name)


def load_model(spec: str, options: ModelOptions = ModelOptions()) -> ModelAdapter | RecordedObserver:
    """Build the subject a spec names (a preset, or ``<family>:<rest>`` of a registered
    ``FAMILIES`` entry); every user mistake becomes a one-line ``AuditError``.

    ``decisions:PATH`` and ``predictions:PATH`` give recorded observers (nothing to forward)."""
    if options.preprocess not in PREPROCESS_CHOICES:
        raise AuditError(
            f"unknown --preprocess {options.preprocess!r}; use one of {list(PREPROCESS_CHOICES)}"
        )
    if spec in PRESETS:
        preset = PRESETS.get(spec)
        return family(preset.family).load(preset.target, options, spec)
    kind, _, rest = spec.partition(":")
    if not rest or kind not in FAMILIES:
        forms = ", ".join(dict.fromkeys(form for form, _ in spec_kinds() if "/file.py" not in form))
        raise AuditError(
            f"unknown model {spec!r}{did_you_mean(spec, PRESETS.names())}; give a preset "
            f"({', '.join(PRESETS.names())}) or {forms} (see `audit ls models`)"
        )
    return FAMILIES.get(kind).load(rest, options, None)


def _refuse_preprocess_choice(label: str, options: ModelOptions) -> None:
    """--preprocess paper|timm only chooses between the two configs of timm models; elsewhere it
    would be silently ignored, so it is refused (single fields can still be overridden)."""
    if options.preprocess != "default":
        raise AuditError(
            f"--preprocess {options.preprocess} applies to timm models only; {label} carries its own "
            "preprocessing (override single fields with --input-size, --crop-pct, --interpolation)"
        )


def _override(adapter: ModelAdapter, options: ModelOptions) -> ModelAdapter:
    """Command-line preprocessing overrides win over the adapter's config (logged in the run)."""
    adapter.preprocess = adapter.preprocess.with_overrides(
        input_size=options.input_size,
        crop_pct=options.crop_pct,
        interpolation=options.interpolation,
    )
    return adapter


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__


def _offline_error(label: str, error: Exception) -> AuditError:
    return AuditError(
        f"could not get the weights of {label} ({_first_line(error)}); with no network, download them "
        "elsewhere and pass --weights PATH (a .safetensors or .pth state dict)"
    )


@contextlib.contextmanager
def _quiet_library_logging() -> Iterator[None]:
    # open_clip logs a multi-line ERROR before raising; our one-line message replaces it.
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(previous)


def load_timm(name: str, options: ModelOptions, label: str, paper_default: bool) -> ModelAdapter:
    import timm

    if not timm.is_model(name):
        raise AuditError(
            f"timm has no model {name!r}{did_you_mean(name, timm.list_models())}; "
            "list them with `python -c 'import timm; print(timm.list_models())'`"
        )
    if options.weights:
        state_dict = load_state_dict(options.weights)  # before building: a bad file is refused at once
        model = timm.create_model(name, pretrained=False)
        load_into(model, state_dict, options.weights)
    else:
        try:
            with _quiet_library_logging():
                model = timm.create_model(name, pretrained=True)
        except (OSError, RuntimeError, ValueError) as error:
            raise _offline_error(label, error) from None
    choice = options.preprocess
    if choice == "default":
        choice = "paper" if paper_default else "timm"
    preprocess = paper_supervised() if choice == "paper" else from_pretrained_cfg(
        dict(model.pretrained_cfg), name="timm"
    )
    return ClassifierAdapter(
        model,
        name=label,
        preprocess=preprocess,
        source={"source": f"timm:{name}", "timm": timm.__version__},
    )


def load_open_clip(target: str, options: ModelOptions, label: str) -> ModelAdapter:
    import open_clip

    arch, _, pretrained = target.partition("/")
    if arch not in open_clip.list_models():
        raise AuditError(
            f"open_clip has no architecture {arch!r}{did_you_mean(arch, open_clip.list_models())}"
        )
    _refuse_preprocess_choice(f"open_clip:{target}", options)
    quick_gelu = bool(pretrained and open_clip.get_pretrained_cfg(arch, pretrained).get("quick_gelu"))
    if options.weights:
        source = options.weights
    elif pretrained:
        if pretrained not in open_clip.list_pretrained_tags_by_model(arch):
            tags = open_clip.list_pretrained_tags_by_model(arch)
            raise AuditError(
                f"open_clip has no pretrained tag {pretrained!r} for {arch}"
                f"{did_you_mean(pretrained, tags)}; known: {', '.join(tags) or 'none'}"
            )
        source = pretrained
    else:
        raise AuditError(
            f"open_clip:{target} names no weights; use open_clip:{arch}/PRETRAINED or --weights PATH"
        )
    try:
        with _quiet_library_logging():
            model = open_clip.create_model(
                arch, pretrained=source, force_quick_gelu=quick_gelu, weights_only=True
            )
    except Exception as error:  # open_clip raises many types for a corrupt, unsafe or wrong file
        if options.weights:
            raise AuditError(
                f"cannot load open_clip weights {options.weights} ({_first_line(error)}); "
                f"give a state dict of open_clip {arch} as a .safetensors or .pth file"
            ) from None
        if isinstance(error, (OSError, RuntimeError, ValueError)):
            raise _offline_error(label, error) from None
        raise
    return ZeroShotClipAdapter(
        model,
        tokenizer=open_clip.get_tokenizer(arch),
        name=label,
        source={"source": f"open_clip:{arch}/{pretrained or 'weights-file'}",
                "open_clip": open_clip.__version__},
        head_cache=options.head_cache,
    )


def load_python(target: str, options: ModelOptions) -> ModelAdapter:
    """``MODULE:FACTORY`` or ``path/to/file.py:FACTORY`` -> adapter."""
    location, _, factory_name = target.rpartition(":")
    if not location or not factory_name:
        raise AuditError(
            f"python:{target} must be python:MODULE:FACTORY or python:path/to/file.py:FACTORY"
        )
    label = f"python:{target}"
    imported_before = set(sys.modules)
    with _folder_on_path(location):
        module, source_file = _import_user_module(location, label)
        factory = getattr(module, factory_name, None)
        if not callable(factory):
            names = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
            raise AuditError(
                f"{location} has no callable {factory_name!r}{did_you_mean(factory_name, names)}"
            )
        built = _call_user_code(label, factory)
    code_sha256 = _code_sha256(source_file, [sys.modules[n] for n in set(sys.modules) - imported_before])
    if isinstance(built, ModelAdapter):
        if options.weights:
            raise AuditError(f"{label} returns a ModelAdapter; load --weights inside it instead")
        return built
    if not isinstance(built, nn.Module):
        raise AuditError(
            f"{label} returned a {type(built).__name__}; the factory must return an nn.Module "
            "or an auditkit.adapters.ModelAdapter"
        )
    if options.weights:
        load_into(built, load_state_dict(options.weights), options.weights)
    cfg = getattr(built, "pretrained_cfg", None)
    if not isinstance(cfg, dict) or not {"mean", "std"} <= set(cfg):
        raise AuditError(
            f"{label} has no pretrained_cfg dict with mean and std; set model.pretrained_cfg = "
            "dict(input_size=(3, 224, 224), interpolation='bicubic', crop_pct=0.875, mean=..., std=...)"
        )
    return ClassifierAdapter(
        built,
        name=label,
        preprocess=from_pretrained_cfg(cfg, name="model"),
        # not the spec string: the same file reached as a module or a path is the same model
        source={"code_sha256": code_sha256},
    )


def _call_user_code(label: str, call: Callable[[], T]) -> T:
    """Import or call the user's code; its failure shows the user's frames, then one line."""
    try:
        return call()
    except AuditError:
        raise
    except Exception as error:  # anything the user's code raises, SyntaxError included
        raise UserCodeError.from_exception(error, label) from None


def _code_sha256(source_file: str | None, imported: list[object]) -> str | None:
    """The factory file's sha256; with the modules it imported from beside it (``_folder_on_path``)
    hashed in too, so editing ``my_layers.py`` changes the model's identity (and its cache key)
    as editing the factory file does. A file importing nothing beside it keeps its plain sha256."""
    if not source_file:
        return None
    folder = Path(source_file).parent
    siblings = sorted({Path(f) for f in (getattr(m, "__file__", None) for m in imported) if f}
                      - {Path(source_file)})
    siblings = [f for f in siblings if f.is_file() and folder in f.parents]
    digest = hashlib.sha256(Path(source_file).read_bytes())
    if not siblings:
        return digest.hexdigest()
    for sibling in siblings:
        digest.update(f"\n{sibling.relative_to(folder).as_posix()}\n".encode() + sibling.read_bytes())
    return digest.hexdigest()


@contextlib.contextmanager
def _folder_on_path(location: str) -> Iterator[None]:
    """A factory file's folder first on ``sys.path`` while it is imported and called, as
    ``python file.py`` would put it, so ``import my_layers`` beside it works; removed after (its
    modules stay imported), so a sibling named like a package auditkit imports later cannot
    shadow it. A ``MODULE`` spec is found on the path as it is."""
    folder = str(Path(location).expanduser().resolve().parent) if location.endswith(".py") or "/" in location else None
    if folder is None or folder in sys.path:
        yield
        return
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def _import_user_module(location: str, label: str) -> tuple[object, str | None]:
    if location.endswith(".py") or "/" in location:
        path = Path(location).expanduser().resolve()
        if not path.is_file():
            raise AuditError(f"python file {location} does not exist")
        module_name = f"auditkit_user_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        _call_user_code(label, lambda: spec.loader.exec_module(module))
        return module, str(path)
    try:
        module = importlib.import_module(location)
    except ModuleNotFoundError as error:
        if error.name and (location == error.name or location.startswith(error.name + ".")):
            raise AuditError(
                f"cannot import module {location!r} ({error}); install it or put it on PYTHONPATH"
            ) from None
        raise UserCodeError.from_exception(error, label) from None  # a module the user's code imports
    except AuditError:
        raise
    except Exception as error:
        raise UserCodeError.from_exception(error, label) from None
    return module, inspect.getsourcefile(module)


def spec_kinds() -> list[tuple[str, str]]:
    """The spec forms `audit ls models` lists besides the presets (from the family registry)."""
    order = ["timm", "open_clip", "python", "decisions", "predictions"]
    names = sorted(FAMILIES.names(), key=lambda n: (order.index(n) if n in order else len(order), n))
    return [form for name in names for form in FAMILIES.get(name).forms]

