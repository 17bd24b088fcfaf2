"""The forward passes behind a live model's answers: store, shards, autocast, progress, ranks.

``predict`` answers one (dataset, condition, output) of one model: the store's shards, the
missing ones forwarded first (under torchrun each rank forwards its share). The condition's
transform, batch hooks (ImageNet-C corrupted on the device, attacks under autograd) and store key
come from the conditions registry (``auditkit.conditions``).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import torch

from auditkit import conditions
from auditkit.adapters.base import ModelAdapter
from auditkit.data.source import DatasetSource, ImageDataset, collate
from auditkit.distributed import Ranks
from auditkit.errors import AuditError
from auditkit.progress import forward_progress
from auditkit.run.config import RunConfig
from auditkit.store import PredictionStore, StoreEntry
from auditkit.suite import Predictions


@dataclass
class ForwardLog:
    """How many images each (dataset, condition) forwarded in this run (0 = all from the store)."""

    forwarded: dict[str, int] = field(default_factory=dict)
    from_store: dict[str, int] = field(default_factory=dict)
    undecodable: dict[str, list[str]] = field(default_factory=dict)  # skipped sample ids per dataset
    # model time alone (no decoding) of the plain forward passes: the run's measured images/s
    forward_seconds: float = 0.0
    forward_images: int = 0


def stored_entry(
    adapter: ModelAdapter, source: DatasetSource, condition: str, store: PredictionStore, config: RunConfig,
    output: str = "logits",
) -> StoreEntry | None:
    """The store entry ``predict`` would read, if it exists; None when it does not. Reads only
    (the dry-run plan must not write)."""
    return store.find(adapter.fingerprint, source.manifest_hash, conditions.parse(condition).store_key(), len(source),
                      shard_size=config.shard_size, output=output, precision=config.precision)


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
