"""The forward passes behind a live model's answers: store, shards, autocast, progress, ranks.

``ForwardPasses`` holds one model with the run's store, settings, ranks and ``ForwardLog``;
``predict`` answers one (dataset, condition, output): the store's shards, the missing ones
forwarded first (under torchrun each rank forwards its share). The condition's transform, batch
hooks (ImageNet-C corrupted on the device, attacks under autograd) and store key come from the
condition itself (``auditkit.conditions``), parsed once when the suite named it.

The audited model's facts (parameters, MACs, images/s) come from these passes too: counted on
the first batch of its plain view this run forwards, timed over the rest, and kept in the store
(``PredictionStore.facts``), so a cached run forwards nothing to state them.
"""

from __future__ import annotations

import contextlib
import platform
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

import numpy as np
import torch

from auditkit.adapters.base import DenseSpec, ModelAdapter, dense_features_of
from auditkit.adapters.facts import ModelFacts, counted, model_facts
from auditkit.conditions import Condition, Plain
from auditkit.data.source import DatasetSource, ImageDataset, collate
from auditkit.distributed import Ranks
from auditkit.errors import AuditError
from auditkit.progress import forward_progress
from auditkit.run.config import RunConfig
from auditkit.store import PredictionStore, StoreEntry, store_key
from auditkit.suite import DenseFeatures, Predictions


@dataclass
class ForwardLog:
    """How many images each (dataset, condition) forwarded in this run (0 = all from the store)."""

    forwarded: dict[str, int] = field(default_factory=dict)
    from_store: dict[str, int] = field(default_factory=dict)
    undecodable: dict[str, list[str]] = field(default_factory=dict)  # skipped sample ids per dataset
    # model time alone (no decoding) of the plain forward passes: the run's measured images/s
    # (the batch the facts were counted on is left out: the counter slows it down)
    forward_seconds: float = 0.0
    forward_images: int = 0


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# Dense feature maps are cached in half precision (issue 24): ViT-B/14 at 512 px is 2 MB an image
# instead of 4 (ADE20K's train split 40 GB instead of 80); the heads read them back as float32
DENSE_STORE_DTYPE = "float16"


class ForwardPasses:
    """One model's forward passes through the prediction store, for a live model (``run.live``).

    ``measured``: the audited model, whose plain view counts its facts and times the run's
    images/s; the reference model (``--reference-model``) is neither counted nor timed."""

    def __init__(self, adapter: ModelAdapter, store: PredictionStore, config: RunConfig, log: ForwardLog,
                 ranks: Ranks = Ranks(), measured: bool = True) -> None:
        self.adapter = adapter
        self.store = store
        self.config = config
        self.log = log
        self.ranks = ranks
        self.measured = measured
        self.uncountable: str | None = None  # why counting the facts on a real batch failed

    # ------------------------------------------------------------------ the store
    def _entry_key(self, source: DatasetSource, condition: Condition, output: str) -> dict[str, Any]:
        return dict(model_fingerprint=self.adapter.fingerprint, manifest_hash=source.manifest_hash,
                    condition=condition.store_key(), num_samples=len(source), shard_size=self.config.shard_size,
                    output=output, precision=self.config.precision,
                    dtype=DENSE_STORE_DTYPE if DenseSpec.parse(output) is not None else "float32")

    def stored_entry(self, source: DatasetSource, condition: Condition, output: str = "logits") -> StoreEntry | None:
        """The store entry ``predict`` would read, if it exists; None when it does not. Reads only
        (the dry-run plan must not write)."""
        if getattr(condition, "trains", False):
            return self.trained_entry(source, condition)
        return self.store.find(**self._entry_key(source, condition, output))

    # ------------------------------------------------------------------ answers
    def predict(self, source: DatasetSource, condition: Condition, output: str = "logits") -> Predictions:
        """Logits (or features, layers) of every sample under ``condition``: the store's shards,
        the missing ones forwarded first (under torchrun, each rank forwards its share of them).
        A trained condition (``finetune``) is answered by its trained copy (``_trained``)."""
        if getattr(condition, "trains", False):
            if output != "logits":
                raise AuditError(f"condition {condition} gives logits only")
            return self._trained(source, condition)
        return self._stored(source, condition, output)

    # ------------------------------------------------------------------ trained conditions
    def _training(self, source: DatasetSource, condition: Condition) -> "TrainedAnswer":
        """Where the training of ``condition`` on ``source`` lives and what its answer's store
        entry is; nothing is trained or written."""
        import auditkit.train.adapted as adapted
        import auditkit.train.finetune as finetune

        recipe = condition.resolved  # type: ignore[attr-defined]
        splits = finetune.task_splits(source, recipe, condition.fraction, condition.seed)  # type: ignore[attr-defined]
        key = {**condition.store_key(), "precision": finetune.precision_of(self.adapter.device)}
        folder = self.store.path(store_key(self.adapter.fingerprint, source.manifest_hash, key, output="trained"))
        test = replace(source, samples=tuple(source.samples[i] for i in splits.test), info={**source.info, "split": "test"})
        child = adapted.child_fingerprint(self.adapter.fingerprint, source.manifest_hash, key)
        return TrainedAnswer(splits, key, folder, test, child)

    def trained_entry(self, source: DatasetSource, condition: Condition) -> StoreEntry | None:
        """The store entry of a trained condition's test logits, if it exists (reads only)."""
        answer = self._training(source, condition)
        return self.store.find(**{**self._entry_key(answer.test, condition, "logits"), "model_fingerprint": answer.child})

    def training_plan(self, source: DatasetSource, condition: Condition) -> dict[str, Any]:
        """What answering a trained condition costs: its train / val / test images, the most
        steps the recipe takes, whether it is trained already (``audit run --dry-run``)."""
        import auditkit.train.finetune as finetune

        answer = self._training(source, condition)
        recipe = condition.resolved  # type: ignore[attr-defined]
        steps = finetune.planned_steps(len(answer.splits.train), recipe)
        # a training step is about three forward passes of its images (forward, backward), at
        # the training size; the forward speed is the one kept in the store for this device
        speed = (self.store.facts(self._speed_key()) or {}).get("images_per_second")
        size = condition.input_size(self.adapter.preprocess)  # type: ignore[attr-defined]
        scale = (self.adapter.preprocess.input_size / size) ** 2
        seconds = steps * recipe.batch_size * 3 / (speed * scale) if speed else None
        return {"train": len(answer.splits.train), "val": len(answer.splits.val), "test": len(answer.test),
                "steps": steps, "batch_size": recipe.batch_size, "estimated_seconds": seconds,
                "trained": finetune.summary(answer.folder) is not None,
                "resumes_after_epoch": finetune.resumable_epoch(answer.folder)}

    def _trained(self, source: DatasetSource, condition: Condition) -> Predictions:
        """The test-split logits of the copy trained under ``condition``: from the store, else
        the copy is trained (or resumed, or loaded from its model.pt) and its logits forwarded."""
        import auditkit.train.adapted as adapted
        import auditkit.train.finetune as finetune

        answer = self._training(source, condition)
        adapter = self.adapter
        name = f"{adapter.name}+{condition}"
        entry = self.store.find(**{**self._entry_key(answer.test, condition, "logits"), "model_fingerprint": answer.child})
        network = None
        if entry is None or entry.missing():
            answer.folder.mkdir(parents=True, exist_ok=True)
            job = finetune.TrainingJob(adapter, source, condition, answer.folder, answer.splits,  # type: ignore[arg-type]
                                       workers=self.config.workers, progress=self.config.progress, ranks=self.ranks,
                                       label=f"{source.name} {condition}", parent_spec=adapter.name,
                                       training_key=answer.key)
            network = finetune.train(job)
        preprocess = adapter.preprocess.with_overrides(input_size=condition.input_size(adapter.preprocess))  # type: ignore[attr-defined]
        child = adapted.AdaptedModel(network, name, preprocess, answer.child,
                                     {"adapted_from": adapter.fingerprint, "condition": str(condition)})
        passes = ForwardPasses(child, self.store, self.config, self.log, self.ranks, measured=False)
        predictions = passes._stored(answer.test, condition, "logits")
        kept = finetune.summary(answer.folder) if self.ranks.leader else None
        training = None if kept is None else {**kept, "model_file": str(answer.folder / finetune.MODEL_FILE),
                                              "notes": list(answer.splits.notes)}
        return replace(predictions, training=training, model_name=adapter.name)

    def _stored(self, source: DatasetSource, condition: Condition, output: str = "logits") -> Predictions:
        """``predict`` for a condition that transforms images (every kind but the trained ones)."""
        adapter, config, log, ranks = self.adapter, self.config, self.log, self.ranks
        entry = self.store.entry(**self._entry_key(source, condition, output),
                                 describe={"model": adapter.name, "dataset": source.name})
        todo = ranks.agree(entry.missing())
        mine = ranks.mine(todo)
        label = f"{source.name}/{condition}" + ("" if output == "logits" else f" [{output}]")
        label = label if self.measured else f"{adapter.name}: {label}"
        if todo:
            resolution = condition.input_resolution(adapter.preprocess)
            with adapter.input_resolution(resolution) if resolution else contextlib.nullcontext():
                if mine:
                    self._forward_shards(source, condition, entry, mine, label, output)
        ranks.barrier()
        forwarded = ranks.total(sum(end - start for start, end in mine))
        text = condition.format()
        if not ranks.leader:
            return Predictions(source=source, condition=text, logits=None, content_sha1=np.array([]))
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
            return Predictions(source=source, condition=text, logits=None, content_sha1=content_sha1,
                               features=values, model_name=adapter.name)
        if output == "layers":
            layout = entry.layout() or layer_layout(adapter)  # stores written before the layout was kept
            names, widths = zip(*layout)
            if sum(widths) != values.shape[1]:
                raise ValueError(f"stored layers of {adapter.name} have {values.shape[1]} columns, expected {sum(widths)}")
            columns = np.split(values, np.cumsum(widths)[:-1], axis=1)
            return Predictions(source=source, condition=text, logits=None, content_sha1=content_sha1,
                               layers=dict(zip(names, columns)), model_name=adapter.name)
        if DenseSpec.parse(output) is not None:  # rows are flattened (C, H, W) maps; their shape is kept beside
            shape = dict(entry.layout() or ())  # kept with the first batch, before any shard
            dense = DenseFeatures(output, values, (shape["channels"], shape["height"], shape["width"]),
                                  shape["stride"] / 1000, entry.path)
            return Predictions(source=source, condition=text, logits=None, content_sha1=content_sha1, dense=dense,
                               model_name=adapter.name)
        return Predictions(source=source, condition=text, logits=values, content_sha1=content_sha1,
                           model_name=adapter.name)

    # ------------------------------------------------------------------ the model's facts
    def _facts_key(self) -> dict[str, Any]:
        return {"facts": "model", "model_fingerprint": self.adapter.fingerprint,
                "input_size": self.adapter.preprocess.input_size}

    def _speed_key(self) -> dict[str, Any]:
        return {**self._facts_key(), "facts": "speed", "device": self.config.device, "hardware": _hardware(self.adapter.device),
                "precision": self.config.precision, "batch_size": self.config.batch_size}

    def facts(self) -> dict[str, Any]:
        """Parameters, GMACs at the evaluated size, and images/s on this device and precision
        (model time only, decoding excluded): this run's plain forward passes when it timed any,
        else the ones kept in the store, else None.

        The counts come from the store, where the first forwarded plain batch of this or an
        earlier run put them; only when none are kept (a run with every image in a store written
        before they were kept, or with no plain view) is one zero-image pass made to count them."""
        kept = self.store.facts(self._facts_key())
        if kept is None and self.uncountable is None:
            try:
                kept = asdict(model_facts(self.adapter))
                self.store.keep_facts(self._facts_key(), kept)
            except Exception as error:  # a user's adapter may not run on a zero batch; the run does not depend on it
                self.uncountable = f"{type(error).__name__}: {error}"
        facts: dict[str, Any] = ModelFacts(**kept).describe() if kept is not None else {"unavailable": self.uncountable}
        log = self.log
        if log.forward_seconds > 0:
            speed = {"images_per_second": round(log.forward_images / log.forward_seconds, 1), "images": log.forward_images}
            self.store.keep_facts(self._speed_key(), speed)
        else:
            speed = self.store.facts(self._speed_key()) or {"images_per_second": None, "images": 0}
        return {**facts, "images_per_second": speed["images_per_second"],
                "measured_on": {"device": self.config.device, "precision": self.config.precision,
                                "batch_size": self.config.batch_size, "images": speed["images"],
                                "in_this_run": log.forward_seconds > 0}}

    # ------------------------------------------------------------------ the passes
    def _batch_inputs(self, condition: Condition) -> Callable[[torch.Tensor], torch.Tensor]:
        """What the model sees of one loaded batch: as loaded, or what the condition makes of it
        (an ImageNet-C condition: the clean crops corrupted in one call on the model's device)."""
        inputs = condition.batch_inputs(self.adapter.preprocess, self.adapter.device)
        return inputs if inputs is not None else (lambda images: images)

    def _batch_outputs(
        self, source: DatasetSource, condition: Condition, output: str, entry: StoreEntry
    ) -> Callable[[torch.Tensor, list[int]], torch.Tensor]:
        """What one batch becomes in ``entry``: logits (of attacked images, for an attack
        condition), features, or the layers side by side (their layout kept beside them)."""
        adapter = self.adapter
        replaced = condition.batch_outputs(adapter, source)
        if replaced is not None:
            if output != "logits":
                raise ValueError(f"condition {condition} gives logits only")
            return replaced
        if output == "features":
            return lambda images, positions: adapter.features(images)
        if output == "layers":
            kept = entry.layout() is not None  # read once, not a file read per batch

            def layers(images: torch.Tensor, positions: list[int]) -> torch.Tensor:
                nonlocal kept
                named = adapter.layer_features(images)
                if not kept:  # the names and widths the concatenated rows no longer carry
                    entry.keep_layout([(name, int(t.shape[1])) for name, t in named.items()])
                    kept = True
                return torch.cat([t.float() for t in named.values()], 1)

            return layers
        dense = DenseSpec.parse(output)
        if dense is not None:  # NCHW maps flattened to rows, their (C, H, W) and stride kept like the layers' layout
            kept_shape = entry.layout() is not None

            def dense_maps(images: torch.Tensor, positions: list[int]) -> torch.Tensor:
                nonlocal kept_shape
                maps = dense_features_of(adapter, images, dense)
                if not kept_shape:  # stride in 1/1000 pixel: the layout holds integers
                    entry.keep_layout([("channels", maps.shape[1]), ("height", maps.shape[2]), ("width", maps.shape[3]),
                                       ("stride", round(1000 * images.shape[-1] / maps.shape[3]))])
                    kept_shape = True
                return maps.float().flatten(1)

            return dense_maps
        return lambda images, positions: adapter.logits(images)

    def _count_facts(
        self, outputs: Callable[[torch.Tensor, list[int]], torch.Tensor], images: torch.Tensor, positions: list[int]
    ) -> torch.Tensor:
        """One real batch forwarded while counting the model's facts, which the store then keeps."""
        self.adapter.prepare()  # a zero-shot head's text tower is not the model being counted
        try:
            result, facts = counted(lambda: outputs(images, positions), len(images), self.adapter.preprocess.input_size)
        except Exception as error:  # the counter may fail where the plain pass does not: forward it plainly
            self.uncountable = f"{type(error).__name__}: {error}"
            return outputs(images, positions)
        self.store.keep_facts(self._facts_key(), asdict(facts))
        return result

    def _forward_shards(
        self, source: DatasetSource, condition: Condition, entry: StoreEntry, shards: list[tuple[int, int]],
        label: str, output: str = "logits",
    ) -> None:
        adapter, config = self.adapter, self.config
        # Batches never straddle a shard and always start at the shard's first image, so a shard's
        # logits are bit-identical whether it is computed in a fresh run or a resumed one (CPU conv
        # kernels give float results that depend on the batch they see).
        batches = [
            list(range(first, min(first + config.batch_size, end)))
            for start, end in shards for first in range(start, end, config.batch_size)
        ]
        loader = torch.utils.data.DataLoader(
            ImageDataset(source.samples, condition.transform(adapter.preprocess), source.table),
            batch_sampler=batches,
            num_workers=config.workers,
            collate_fn=collate,
            pin_memory=adapter.device.type == "cuda",
        )
        # the plain view of the audited model times the model (the header's images/s) and, when
        # the store keeps no facts of it yet, counts them on its first batch
        plain = isinstance(condition, Plain) and output == "logits" and self.measured
        count = plain and self.uncountable is None and self.store.facts(self._facts_key()) is None
        pending = iter(shards)
        shard = next(pending)
        rows: list[np.ndarray | None] = []  # None: an undecodable image (--bad-images skip)
        hashes: list[str] = []
        outputs = self._batch_outputs(source, condition, output, entry)
        inputs = self._batch_inputs(condition)
        attacked = condition.needs_grad  # attacks need autograd
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
                        if count:
                            result = self._count_facts(outputs, images, batch["positions"])
                        else:
                            result = outputs(images, batch["positions"])
                        logits = result.float().cpu().numpy()  # .cpu() waits for the device
                    if plain and not count:
                        self.log.forward_seconds += time.perf_counter() - started
                        self.log.forward_images += len(logits)
                    count = False
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


@dataclass(frozen=True)
class TrainedAnswer:
    """A trained condition on one task: its splits, its training's store key and folder, the
    test split it answers on, and the trained copy's fingerprint."""

    splits: Any  # auditkit.train.finetune.Splits
    key: dict[str, Any]
    folder: Any  # Path
    test: DatasetSource
    child: str


def layer_layout(adapter: ModelAdapter) -> list[tuple[str, int]]:
    """(name, width) of each of ``adapter.layer_features``, from one blank image: only for a
    store entry written before its layout was kept beside it."""
    size = adapter.preprocess.input_size
    with torch.inference_mode():
        layers = adapter.layer_features(torch.zeros(1, 3, size, size, device=adapter.device))
    return [(name, int(t.shape[1])) for name, t in layers.items()]


def transform_for(adapter: ModelAdapter, condition: Condition) -> Callable[[Any], torch.Tensor]:
    """The dataset transform of a store condition (``auditkit.conditions``)."""
    return condition.transform(adapter.preprocess)


def _hardware(device: torch.device) -> str:
    """What the images/s were measured on, beyond ``--device``: the GPU's name, or the CPU's
    architecture and the threads torch uses."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.machine()}, {torch.get_num_threads()} threads"


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
