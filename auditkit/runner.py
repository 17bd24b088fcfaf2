"""The runner: collect what the suites need, forward each image once, hand arrays to suites.

model spec -> ModelAdapter -> PredictionStore -> Suite -> MetricRecord[] -> report. Every
(dataset, condition) the chosen suites request is forwarded once per model however many suites
read it; predictions come from the store when present, so a repeated audit does no forward pass
and an interrupted one resumes at the first missing shard.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import platform
import sys
import time
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

import auditkit
from auditkit import conditions
from auditkit.adapters.base import ModelAdapter, UnsupportedOutput, UnsupportedResolution
from auditkit.adapters.observers import RecordedObserver
from auditkit.data.catalog import open_dataset
from auditkit.data.source import DatasetSource, ImageDataset, collate
from auditkit.distributed import Ranks, rank_device, ranks_from_environment
from auditkit.errors import AuditError
from auditkit.progress import forward_progress
from auditkit.records import FigureRef, Notice, RunResults, Skipped
from auditkit.store import SHARD_SIZE, PredictionStore, StoreEntry
from auditkit.suite import PredictionRequest, Predictions, Suite, SuiteOutput
from suites import get_suite

FIGURE_FORMATS = ("png", "pdf", "svg")
VERSIONED_PACKAGES = ("torch", "torchvision", "timm", "open_clip_torch", "numpy", "netcal", "pillow")


def default_workers() -> int:
    return max(0, min(8, (os.cpu_count() or 1) - 1))


@dataclass(frozen=True)
class RunConfig:
    suites: tuple[str, ...]
    out_dir: Path
    cache_dir: Path
    data_root: Path
    data_overrides: dict[str, str] = field(default_factory=dict)
    limit: int | None = None
    batch_size: int = 64
    device: str = "cpu"
    workers: int = field(default_factory=default_workers)
    seed: int = 0
    shard_size: int = SHARD_SIZE
    command: str = ""
    progress: bool = True
    reference_model: str | None = None  # a second model spec, for suites that compare two (CKA)
    bad_images: str = "fail"  # "skip": undecodable images are left out, counted and reported
    precision: str = "fp32"  # "bf16" / "fp16": forward under torch.autocast (its own store entries)
    suite_settings: dict[str, str] = field(default_factory=dict)  # Suite.options chosen on the command line
    datasets: tuple[str, ...] | None = None  # --datasets: every suite restricted to these; None = all


@dataclass
class ForwardLog:
    """How many images each (dataset, condition) forwarded in this run (0 = all from the store)."""

    forwarded: dict[str, int] = field(default_factory=dict)
    from_store: dict[str, int] = field(default_factory=dict)
    undecodable: dict[str, list[str]] = field(default_factory=dict)  # skipped sample ids per dataset
    # model time alone (no decoding) of the plain forward passes: the run's measured images/s
    forward_seconds: float = 0.0
    forward_images: int = 0


def check_device(device: str) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise AuditError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise AuditError(f"unknown --device {device!r}; use cpu or cuda")
    return torch.device(device)


Model = ModelAdapter | RecordedObserver


def run_audit(adapter: Model, config: RunConfig) -> RunResults:
    """Run the suites on a live model (forward passes through the store) or a recorded observer."""
    if config.batch_size < 1:
        raise AuditError(f"--batch-size must be at least 1, got {config.batch_size}")
    if config.precision not in ("fp32", *AUTOCAST_DTYPES):
        raise AuditError(f"--precision {config.precision!r}: use fp32, bf16 or fp16")
    if config.precision == "fp16" and not config.device.startswith("cuda"):
        raise AuditError("--precision fp16 needs --device cuda; on CPU use bf16 (or fp32)")
    if config.limit is not None and config.limit < 1:
        raise AuditError(f"--limit must be at least 1, got {config.limit}")
    ranks = ranks_from_environment(config.device) if isinstance(adapter, ModelAdapter) else Ranks()
    if isinstance(adapter, ModelAdapter):
        adapter.to(check_device(rank_device(config.device, ranks)))
    reference = _load_reference(config)
    if reference is not None:
        reference.to(check_device(rank_device(config.device, ranks)))
    suites = [get_suite(name) for name in config.suites]
    for suite in suites:
        suite.settings = {k: v for k, v in config.suite_settings.items() if k in suite.options}
    started = time.time()

    sources, missing = _open_datasets(adapter, [r for s in suites for r in requested(s, config)], config)
    # a missing dataset may be made from another (ImageNet-C from val): open what that needs
    fallbacks = [r for s in suites for m in missing for r in s.fallback_requests(m)
                 if any(q.dataset == m for q in requested(s, config))]
    sources.update(_open_datasets(adapter, fallbacks, config, known=sources)[0])
    requests = {suite.name: _all_requests(suite, sources, adapter, config) for suite in suites}
    made = _announce_made_datasets(suites, missing, sources, requests, config)

    store = PredictionStore(config.cache_dir / "store")
    log = ForwardLog()
    predictions: dict[PredictionRequest, Predictions] = {}
    unavailable: dict[PredictionRequest, str] = {}  # conditions the model cannot be run under
    for request in dict.fromkeys(r for suite in suites for r in requests[suite.name]):
        source = sources[request.dataset]
        if isinstance(adapter, RecordedObserver) and (request.output != "logits" or request.model != "subject"):
            unavailable[request] = f"recorded answers hold no {request.output} of a {request.model} model"
        elif isinstance(adapter, RecordedObserver):
            predictions[request] = Predictions(
                source=source, condition=request.condition, logits=None,
                content_sha1=np.full(len(source), ""), **adapter.answers(source, request.condition),
            )
        else:
            try:
                answering = _answering(adapter, reference, request)
                predictions[request] = predict(answering, source, request.condition, store, config, log, ranks,
                                               output=request.output, reference=answering is reference)
            except (UnsupportedResolution, UnsupportedOutput) as reason:
                unavailable[request] = str(reason)
    if not ranks.leader:  # every shard is in the store; rank 0 evaluates and writes, once
        return RunResults(header={"rank": ranks.rank, "world_size": ranks.world})

    results = RunResults(header={})
    protocol: dict[str, dict[str, Any]] = {}  # what suites say about the protocol they ran (baselines, settings)
    for suite in suites:
        wanted = {r: predictions[r] for r in requests[suite.name] if r in predictions}
        for request in requests[suite.name]:
            if request in unavailable:
                results.skipped.append(Skipped(suite.name, request.dataset,
                                               f"condition {request.condition}: {unavailable[request]}"))
        for request in requested(suite, config):
            fallback = suite.fallback_requests(request.dataset)
            if request.dataset in missing and not (fallback and all(r in wanted for r in fallback)):
                results.skipped.append(Skipped(suite.name, request.dataset, missing[request.dataset]))
        for dataset in dict.fromkeys(r.dataset for r in suite.requests()):
            if config.datasets is not None and dataset not in config.datasets:
                results.skipped.append(Skipped(suite.name, dataset, NOT_REQUESTED.format(", ".join(config.datasets))))
        if not wanted:
            continue
        output = suite.evaluate(adapter.name, wanted, seed=config.seed)
        _collect(suite, output, wanted, results, config.out_dir)
        if output.header or suite.settings:
            protocol[suite.name] = {**({"settings": dict(suite.settings)} if suite.settings else {}), **output.header}
    for dataset, ids in log.undecodable.items():
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        results.notices.append(Notice("all suites", dataset, f"{len(ids)} images could not be decoded and "
                                      f"were left out (--bad-images skip): {shown}"))
    results.notices.extend(made)
    results.skipped = list(dict.fromkeys(results.skipped))
    results.header = _header(adapter, suites, sources, config, log, time.time() - started)
    if reference is not None:
        results.header["reference_model"] = reference.describe()
    results.header["world_size"] = ranks.world
    if protocol:
        results.header["suite_protocols"] = protocol
    results.write(config.out_dir)
    return results


def _load_reference(config: RunConfig) -> ModelAdapter | None:
    if config.reference_model is None:
        return None
    from auditkit.adapters.specs import ModelOptions, load_model

    reference = load_model(config.reference_model, ModelOptions(head_cache=config.cache_dir / "heads"))
    if not isinstance(reference, ModelAdapter):
        raise AuditError(f"--reference-model {config.reference_model} holds recorded answers; give a live model")
    return reference


def _answering(adapter: ModelAdapter, reference: ModelAdapter | None, request: PredictionRequest) -> ModelAdapter:
    if request.model == "subject":
        return adapter
    if reference is None:
        raise UnsupportedOutput("needs a second model: pass --reference-model SPEC")
    return reference


NOT_REQUESTED = "not requested (--datasets {})"


def requested(suite: Suite, config: RunConfig) -> list[PredictionRequest]:
    """The suite's requests on the datasets ``--datasets`` names (all of them without it)."""
    return [r for r in suite.requests() if config.datasets is None or r.dataset in config.datasets]


def _announce_made_datasets(
    suites: list[Suite], missing: dict[str, str], sources: dict[str, DatasetSource],
    requests: dict[str, list[PredictionRequest]], config: RunConfig,
) -> list[Notice]:
    """Say before any forward pass when a missing dataset is made from another (ImageNet-C from
    val: 75 conditions, each a forward of every image), with the count and how to skip it."""
    notices = []
    for suite in suites:
        for dataset in dict.fromkeys(r.dataset for r in requested(suite, config)):
            made = [r for r in suite.fallback_requests(dataset) if r in requests[suite.name]] if dataset in missing else []
            if not made:
                continue
            images = sum(len(sources[r.dataset]) for r in made)
            # --datasets applies to every suite of the run: name all their datasets but this one
            others = [d for d in dict.fromkeys(r.dataset for s in suites for r in requested(s, config)) if d != dataset]
            skip = (f"--datasets {','.join(others)}" if others else f"leave {suite.name} out of --suites")
            message = (f"{dataset} is not present, so it is made from {', '.join(dict.fromkeys(r.dataset for r in made))}: "
                       f"{len(made)} conditions, {images} forward passes (fewer where the store has them); "
                       f"to skip it pass {skip}")
            notices.append(Notice(suite.name, dataset, message))
            print(f"{suite.name}: {message}", file=sys.stderr, flush=True)
    return notices


def _all_requests(
    suite: Suite, sources: dict[str, DatasetSource], model: Model, config: RunConfig | None = None,
) -> list[PredictionRequest]:
    """The suite's requests whose data is present, plus fallbacks for those whose data is not.

    A recorded observer answers only the conditions it was recorded under: its val predictions
    must never stand in for transformed inputs such as ImageNet-C made from val."""

    def answerable(request: PredictionRequest) -> bool:
        recorded = not isinstance(model, RecordedObserver) or request.condition in model.conditions
        return request.dataset in sources and recorded

    chosen: list[PredictionRequest] = []
    for request in suite.requests() if config is None else requested(suite, config):
        if answerable(request):
            chosen.append(request)
            continue
        made = suite.fallback_requests(request.dataset)
        if made and all(answerable(r) for r in made):
            chosen.extend(made)
    return list(dict.fromkeys(chosen))


def _open_datasets(
    model: Model, requests: list[PredictionRequest], config: RunConfig,
    known: dict[str, DatasetSource] | None = None,
) -> tuple[dict[str, DatasetSource], dict[str, str]]:
    sources: dict[str, DatasetSource] = {}
    missing: dict[str, str] = {}
    for name in dict.fromkeys(r.dataset for r in requests):
        if known and name in known:
            continue
        try:
            if isinstance(model, RecordedObserver):
                source = model.source(name)
            else:
                source = open_dataset(name, config.data_root, config.data_overrides)
            sources[name] = source.limited(config.limit)
        except AuditError as error:
            missing[name] = str(error)
    return sources, missing


def describe_condition(condition: str) -> str:
    """One line on what ``condition`` does to the images (``auditkit.conditions``)."""
    return conditions.describe(condition)


def transform_for(adapter: ModelAdapter, condition: str) -> Callable[[Any], torch.Tensor]:
    """The dataset transform of a store condition (``auditkit.conditions``)."""
    return conditions.parse(condition).transform(adapter.preprocess)


def predict(
    adapter: ModelAdapter,
    source: DatasetSource,
    condition: str,
    store: PredictionStore,
    config: RunConfig,
    log: ForwardLog,
    ranks: Ranks = Ranks(),
    output: str = "logits",
    reference: bool = False,
) -> Predictions:
    """Logits of every sample under ``condition``: the store's shards, the missing ones
    forwarded first (under torchrun, each rank forwards its share of them)."""
    entry = store.entry(
        adapter.fingerprint, source.manifest_hash, conditions.parse(condition).store_key(), len(source),
        describe={"model": adapter.name, "dataset": source.name}, shard_size=config.shard_size,
        output=output, precision=config.precision,
    )
    todo = ranks.agree(entry.missing())
    mine = ranks.mine(todo)
    label = f"{source.name}/{condition}" + ("" if output == "logits" else f" [{output}]")
    label = f"{adapter.name}: {label}" if reference else label
    if todo:
        resolution = conditions.parse(condition).input_resolution(adapter.preprocess)
        with adapter.input_resolution(resolution) if resolution else contextlib.nullcontext():
            if mine:
                # the plain view of the audited model times the model (the header's images/s)
                plain = condition == "none" and output == "logits" and not reference
                _forward_shards(adapter, source, condition, entry, mine, config, label, output,
                                timing=log if plain else None)
    ranks.barrier()
    forwarded = ranks.total(sum(end - start for start, end in mine))
    if not ranks.leader:
        return Predictions(source=source, condition=condition, logits=None, content_sha1=np.array([]))
    log.forwarded[label] = forwarded
    log.from_store[label] = len(source) - forwarded
    values, content_sha1 = entry.load()
    undecodable = np.char.str_len(content_sha1) == 0
    if undecodable.any():
        ids = [s.sample_id for s, bad in zip(source.samples, undecodable) if bad]
        if config.bad_images != "skip":
            raise AuditError(f"{source.name}: {len(ids)} images could not be decoded (first: {ids[0]}); replace "
                             "them, or pass --bad-images skip to leave them out (counted and reported)")
        log.undecodable[source.name] = ids
        keep = ~undecodable
        source = replace(source, samples=tuple(s for s, k in zip(source.samples, keep) if k),
                         info={**source.info, "undecodable_images_skipped": len(ids)})
        values, content_sha1 = values[keep], content_sha1[keep]
    if output == "features":
        return Predictions(source=source, condition=condition, logits=None, content_sha1=content_sha1,
                           features=values, model_name=adapter.name)
    if output == "layers":
        names, widths = zip(*layer_layout(adapter))
        if sum(widths) != values.shape[1]:
            raise ValueError(f"stored layers of {adapter.name} have {values.shape[1]} columns, expected {sum(widths)}")
        columns = np.split(values, np.cumsum(widths)[:-1], axis=1)
        return Predictions(source=source, condition=condition, logits=None, content_sha1=content_sha1,
                           layers=dict(zip(names, columns)), model_name=adapter.name)
    return Predictions(source=source, condition=condition, logits=values, content_sha1=content_sha1,
                       model_name=adapter.name)


def layer_layout(adapter: ModelAdapter) -> list[tuple[str, int]]:
    """(name, width) of each of ``adapter.layer_features``, from one blank image."""
    size = adapter.preprocess.input_size
    with torch.inference_mode():
        layers = adapter.layer_features(torch.zeros(1, 3, size, size, device=adapter.device))
    return [(name, int(t.shape[1])) for name, t in layers.items()]


def _batch_inputs(adapter: ModelAdapter, condition: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """What the model sees of one loaded batch: as loaded, or what the condition makes of it
    (an ImageNet-C condition: the clean crops corrupted in one call on the model's device)."""
    inputs = conditions.parse(condition).batch_inputs(adapter.preprocess, adapter.device)
    return inputs if inputs is not None else (lambda images: images)


def _batch_outputs(
    adapter: ModelAdapter, source: DatasetSource, condition: str, output: str
) -> Callable[[torch.Tensor, list[int]], torch.Tensor]:
    """What one batch becomes in the store: logits (of attacked images, for an attack
    condition), features, or the layers side by side."""
    replaced = conditions.parse(condition).batch_outputs(adapter, source)
    if replaced is not None:
        if output != "logits":
            raise ValueError(f"condition {condition} gives logits only")
        return replaced
    if output == "features":
        return lambda images, positions: adapter.features(images)
    if output == "layers":
        return lambda images, positions: torch.cat([t.float() for t in adapter.layer_features(images).values()], 1)
    return lambda images, positions: adapter.logits(images)


def _forward_shards(
    adapter: ModelAdapter,
    source: DatasetSource,
    condition: str,
    entry: StoreEntry,
    shards: list[tuple[int, int]],
    config: RunConfig,
    label: str,
    output: str = "logits",
    timing: ForwardLog | None = None,
) -> None:
    # Batches never straddle a shard and always start at the shard's first image, so a shard's
    # logits are bit-identical whether it is computed in a fresh run or a resumed one (CPU conv
    # kernels give float results that depend on the batch they see).
    batches = [
        list(range(first, min(first + config.batch_size, end)))
        for start, end in shards for first in range(start, end, config.batch_size)
    ]
    loader = torch.utils.data.DataLoader(
        ImageDataset(source.samples, transform_for(adapter, condition), source.table),
        batch_sampler=batches,
        num_workers=config.workers,
        collate_fn=collate,
        pin_memory=adapter.device.type == "cuda",
    )
    pending = iter(shards)
    shard = next(pending)
    rows: list[np.ndarray | None] = []  # None: an undecodable image (--bad-images skip)
    hashes: list[str] = []
    outputs = _batch_outputs(adapter, source, condition, output)
    inputs = _batch_inputs(adapter, condition)
    attacked = conditions.parse(condition).needs_grad  # attacks need autograd
    with forward_progress(label, sum(len(b) for b in batches), config.progress) as advance, torch.inference_mode(not attacked):
        for batch in loader:
            if batch["errors"] and config.bad_images != "skip":
                raise AuditError(f"{source.name}: {batch['errors'][0][1]}; remove or replace the file, "
                                 "or pass --bad-images skip to leave such images out (counted and reported)")
            by_position: dict[int, np.ndarray | None] = {position: None for position, _ in batch["errors"]}
            if batch["images"] is not None:
                images = inputs(batch["images"])  # outside autocast: corruptions compute in float64
                started = time.perf_counter()
                with _autocast(adapter.device, config.precision):
                    logits = outputs(images, batch["positions"]).float().cpu().numpy()  # .cpu() waits for the device
                if timing is not None:
                    timing.forward_seconds += time.perf_counter() - started
                    timing.forward_images += len(logits)
                finite = np.isfinite(logits).all(axis=1)
                if not finite.all():  # never a silent wrong number: NaN would poison every metric
                    bad = source.samples[batch["positions"][int(np.argmin(finite))]]
                    raise AuditError(f"{adapter.name} returned NaN or infinite {output} for {bad.sample_id} "
                                     f"({int((~finite).sum())} of {len(finite)} in its batch); check the model's "
                                     "weights and preprocessing")
                by_position.update(zip(batch["positions"], logits))
            hash_of = dict(zip(batch["positions"], batch["content_sha1"]))
            for position in sorted(by_position):
                rows.append(by_position[position])
                hashes.append(hash_of.get(position, ""))  # "" marks an undecodable image
            while shard is not None and len(rows) >= shard[1] - shard[0]:
                size = shard[1] - shard[0]
                entry.write_shard(shard[0], shard[1], _fill_undecodable(rows[:size], output), hashes[:size])
                rows, hashes = rows[size:], hashes[size:]
                shard = next(pending, None)
            advance(len(by_position))


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """fp32 as is; bf16 / fp16 under torch.autocast (the paper evaluated in fp16 autocast)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AUTOCAST_DTYPES[precision])


def _fill_undecodable(rows: list[np.ndarray | None], output: str) -> np.ndarray:
    """NaN rows for images that could not be decoded (their hash is "", so they are dropped on load)."""
    width = next((len(r) for r in rows if r is not None), 1000 if output == "logits" else None)
    if width is None:
        raise AuditError(f"no image of a whole shard could be decoded for {output}; check the dataset files")
    return np.stack([r if r is not None else np.full(width, np.nan, np.float32) for r in rows])


def _collect(
    suite: Suite,
    output: SuiteOutput,
    predictions: dict[PredictionRequest, Predictions],
    results: RunResults,
    out_dir: Path,
) -> None:
    import matplotlib.pyplot as plt

    results.records.extend(output.records)
    results.skipped.extend(output.skipped)
    results.notices.extend(output.notices)
    figure_dir = out_dir / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    for item in output.figures:
        stem = f"{suite.name}__{item.dataset}__{item.name}"
        for fmt in FIGURE_FORMATS:
            item.figure.savefig(figure_dir / f"{stem}.{fmt}", dpi=150 if fmt == "png" else None,
                                bbox_inches="tight", metadata=_figure_metadata(fmt))
        plt.close(item.figure)
        results.figures.append(FigureRef(suite.name, item.dataset, item.name, stem, item.caption))
    for relative, text in output.files.items():
        (out_dir / relative).parent.mkdir(parents=True, exist_ok=True)  # e.g. mvh-raw-data/<dataset>/
        (out_dir / relative).write_text(text)
    sample_dir = out_dir / "per_sample" / suite.name
    for (dataset, condition), arrays in output.per_sample.items():
        # the subject's answers on (dataset, condition), whichever output the suite asked for
        answer = next(p for r, p in predictions.items()
                      if (r.dataset, r.condition, r.model) == (dataset, condition, "subject"))
        sample_dir.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            sample_dir / f"{dataset}__{condition.replace('/', '_')}.npz",
            sample_id=answer.sample_ids,
            content_sha1=np.asarray(answer.content_sha1).astype(str),
            **arrays,
        )


def _figure_metadata(fmt: str) -> dict[str, Any] | None:
    # Fixed metadata keeps figure files byte-identical across identical runs.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return None


def _header(
    adapter: Model,
    suites: list[Suite],
    sources: dict[str, DatasetSource],
    config: RunConfig,
    log: ForwardLog,
    seconds: float,
) -> dict[str, Any]:
    return {
        "command": config.command,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "auditkit_version": auditkit.__version__,
        "versions": {"python": platform.python_version(), **_package_versions()},
        "platform": f"{platform.system()} {platform.machine()}",
        "model": adapter.describe(),
        "datasets": {name: source.describe() for name, source in sources.items()},
        "suites": {suite.name: suite.version for suite in suites},
        "conditions": {
            f"{r.dataset}/{r.condition}": describe_condition(r.condition)
            for suite in suites for r in _all_requests(suite, sources, adapter, config)
        },
        "imagenet_c": _imagenet_c_origin(suites, sources, adapter, config),
        "seed": config.seed,
        "device": config.device,
        "batch_size": config.batch_size,
        "limit": config.limit,
        "images_forwarded": log.forwarded,
        "images_from_store": log.from_store,
        "bad_images": config.bad_images,
        "precision": config.precision,
        "model_facts": _model_facts(adapter, config, log),
        "undecodable_images_skipped": log.undecodable,
        "seconds": round(seconds, 2),
        "argv": sys.argv,
    }


def _model_facts(adapter: Model, config: RunConfig, log: ForwardLog) -> dict[str, Any] | None:
    """The paper's Table 1 for a live model: parameters, GMACs at the evaluated size, and the
    images/s its plain forward passes took in this run on this device and precision (model time
    only, decoding excluded; None when every image came from the store)."""
    if not isinstance(adapter, ModelAdapter):
        return None
    from auditkit.adapters.facts import model_facts

    try:
        facts: dict[str, Any] = model_facts(adapter).describe()
    except Exception as error:  # a user's adapter may not run on a zero batch; the run does not depend on it
        facts = {"unavailable": f"{type(error).__name__}: {error}"}
    measured = log.forward_images / log.forward_seconds if log.forward_seconds > 0 else None
    return {**facts, "images_per_second": None if measured is None else round(measured, 1),
            "measured_on": {"device": config.device, "precision": config.precision,
                            "batch_size": config.batch_size, "images": log.forward_images}}


def _imagenet_c_origin(
    suites: list[Suite], sources: dict[str, DatasetSource], adapter: Model, config: RunConfig
) -> str | None:
    """Which ImageNet-C images the run saw: the released files, or made on the fly (and by
    which implementation); None when no suite asked for ImageNet-C."""
    if "imagenet-c" in sources:
        return f"released files ({sources['imagenet-c'].root})"
    if any(r.condition.startswith("corrupt/") for suite in suites
           for r in _all_requests(suite, sources, adapter, config)):
        from auditkit.data.corruptions import describe

        return f"made on the fly: {describe()}"
    return None


def _package_versions() -> dict[str, str]:
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
