"""The prediction store: logits (or features) per (model fingerprint, dataset manifest, condition).

Layout: ``<cache>/store/<key[:2]>/<key>/meta.json``. While an entry is being computed it holds
shards ``shard-<start>-<end>.npz`` (float32 rows and each image's content SHA-1), each written
to a unique temporary file and renamed into place, so a process killed at any moment leaves
only complete shards and the next run computes exactly the missing ones. Two runs on the same
store may write the same shard: both files are complete and either may win.

Once every shard is there, the first reader consolidates them, streaming one shard at a time,
into ``values.npy`` (float32, exact; float16 for an entry keyed so: dense feature maps,
half the disk) and ``content_sha1.npy`` (renamed into place, ``values.npy``
last: its presence means complete) and removes the shards. Readers get ``values.npy``
memory-mapped: nothing is read until a suite touches it, a repeated audit costs no load time,
and a condition's rows leave memory when its array is dropped, so memory does not grow with
the number of conditions (ImageNet-C is 75 of them).

The key covers everything that changes the answer: the model fingerprint (weights, head,
preprocessing, adapter code identity), the dataset's manifest (ids, labels, file sizes) and the
condition. A changed weight file therefore never reuses old predictions.

Beside the entries, ``<cache>/store/facts/<key>.json`` keeps what a run says about the model
rather than about one dataset (``facts`` / ``keep_facts``): its parameters and MACs, keyed by the
model fingerprint and input size, and the images/s its plain forward passes took, keyed also by
the device, precision and batch size. A cached run reads them instead of forwarding to measure.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from auditkit.errors import AuditError
from auditkit.paths import open_temporary
from auditkit.records import write_json_atomic

SHARD_SIZE = 512
STORE_FORMAT = 1  # shards and consolidated files share it: values are the same float32 rows
FACTS_FORMAT = 1  # model facts and measured speed: bump when how they are counted changes


def store_key(
    model_fingerprint: str, manifest_hash: str, condition: Mapping[str, object], output: str = "logits",
    precision: str = "fp32", dtype: str = "float32",
) -> str:
    """The entry's hash. ``condition`` is the condition's ``store_key()`` (``auditkit.conditions``):
    its kind, parameters, version and the identity of the code behind it."""
    if not isinstance(condition, Mapping):
        raise TypeError(f"store_key takes a condition's store_key() dict, not {condition!r}")
    parts: list[object] = [STORE_FORMAT, model_fingerprint, manifest_hash, dict(condition)]
    if output != "logits":
        parts.append(output)
    if precision != "fp32":  # autocast changes the numbers; fp32 keys stay as they always were
        parts.append(["precision", precision])
    if dtype != "float32":  # rows rounded to another width are other numbers; float32 keys stay as they were
        parts.append(["dtype", dtype])
    payload = json.dumps(parts, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class StoreEntry:
    path: Path
    num_samples: int
    shard_size: int = SHARD_SIZE
    dtype: str = "float32"  # of the stored rows (part of the key)

    def shard_ranges(self) -> list[tuple[int, int]]:
        return [
            (start, min(start + self.shard_size, self.num_samples))
            for start in range(0, self.num_samples, self.shard_size)
        ]

    # Shards are named by their range, so runs with different shard sizes never misread each
    # other; a range that is not there is simply computed.
    def _shard_path(self, start: int, end: int) -> Path:
        return self.path / f"shard-{start:09d}-{end:09d}.npz"

    @property
    def _values(self) -> Path:
        return self.path / "values.npy"

    @property
    def _hashes(self) -> Path:
        return self.path / "content_sha1.npy"

    def complete(self) -> bool:
        return self._values.is_file()

    def missing(self) -> list[tuple[int, int]]:
        if self.complete():
            return []
        return [r for r in self.shard_ranges() if not self._shard_path(*r).is_file()]

    def write_shard(self, start: int, end: int, logits: np.ndarray, content_sha1: list[str]) -> None:
        if logits.shape[0] != end - start or len(content_sha1) != end - start:
            raise ValueError(f"shard {start}-{end} got {logits.shape[0]} rows")
        rows = logits.astype(self.dtype)
        overflow = np.isinf(rows) & np.isfinite(logits) if self.dtype != "float32" else None
        if overflow is not None and overflow.any():  # never a silent inf in place of a number
            raise AuditError(f"{self.path}: values up to {np.abs(logits[overflow]).max():.4g} exceed {self.dtype}'s "
                             f"range ({float(np.finfo(self.dtype).max):.0f}), in which this output is cached; report it")
        handle, tmp = open_temporary(self.path, prefix=".shard-", suffix=".npz.tmp")
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, logits=rows, content_sha1=np.array(content_sha1))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, self._shard_path(start, end))

    @property
    def _layout(self) -> Path:
        return self.path / "layout.json"

    def layout(self) -> list[tuple[str, int]] | None:
        """(name, width) of the column blocks of output ``layers``, as the forward pass gave them;
        None when not kept (another output, or an entry written before layouts were kept)."""
        if not self._layout.is_file():
            return None
        return [(str(name), int(width)) for name, width in json.loads(self._layout.read_text())]

    def keep_layout(self, layout: list[tuple[str, int]]) -> None:
        write_json_atomic(self._layout, [list(block) for block in layout])

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """All rows (n, width) and the content hashes (bytes, ``b""`` for an undecodable image),
        both memory-mapped read-only, in sample order."""
        if not self.complete():
            self._consolidate()
        values = np.load(self._values, mmap_mode="r")
        if values.shape[0] != self.num_samples:
            raise ValueError(f"{self._values} holds {values.shape[0]} rows, expected {self.num_samples}")
        # hashes stay 40-byte strings, memory-mapped: 75 ImageNet-C conditions x 50k images as
        # Python-width str would be 600 MB for an identity column no metric reads
        return values, np.load(self._hashes, mmap_mode="r")

    def _consolidate(self) -> None:
        ranges = self.shard_ranges()
        absent = [r for r in ranges if not self._shard_path(*r).is_file()]
        if absent and self.complete():  # another process consolidated in the meantime
            return
        if absent:
            raise ValueError(f"{self.path}: shards {absent[:3]} missing; the run that wrote them did not finish")
        suffix = f".{os.getpid()}.{secrets.token_hex(4)}.tmp"
        values_tmp, hashes_tmp = self.path / f".values{suffix}", self.path / f".hashes{suffix}"
        try:
            hashes: list[np.ndarray] = []
            # written as a stream, not through a memory map: the rows pass through the page cache
            # without becoming this process's resident memory (peak RSS flat in the entry's size)
            with open(values_tmp, "wb") as values:
                for start, end in ranges:  # in order: each shard's rows follow the previous ones
                    try:
                        with np.load(self._shard_path(start, end)) as shard:
                            rows = shard["logits"]
                            hashes.append(shard["content_sha1"].astype("S40"))
                    except FileNotFoundError:
                        if self.complete():  # another process consolidated and removed the shards
                            return
                        raise
                    if start == 0:
                        np.lib.format.write_array_header_1_0(values, {
                            "descr": np.lib.format.dtype_to_descr(np.dtype(self.dtype)), "fortran_order": False,
                            "shape": (self.num_samples, rows.shape[1])})
                    values.write(memoryview(np.ascontiguousarray(rows, dtype=self.dtype)))
                assert hashes, "an entry of no samples has nothing to consolidate"
                values.flush()
                os.fsync(values.fileno())
            with open(hashes_tmp, "wb") as stream:
                np.save(stream, np.concatenate(hashes))
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(hashes_tmp, self._hashes)
            os.replace(values_tmp, self._values)  # last: its presence marks the entry complete
        finally:
            for leftover in (values_tmp, hashes_tmp):
                leftover.unlink(missing_ok=True)
        for start, end in ranges:
            self._shard_path(start, end).unlink(missing_ok=True)


class PredictionStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        """The folder of the entry with ``key`` (``store_key``), whether or not it exists."""
        return self.root / key[:2] / key

    def find(
        self, model_fingerprint: str, manifest_hash: str, condition: Mapping[str, object], num_samples: int,
        shard_size: int = SHARD_SIZE, output: str = "logits", precision: str = "fp32", dtype: str = "float32",
    ) -> StoreEntry | None:
        """The entry ``entry`` would give, if it exists; None when it does not. Writes nothing
        (``audit run --dry-run`` plans with it)."""
        path = self.path(store_key(model_fingerprint, manifest_hash, condition, output, precision, dtype))
        return StoreEntry(path, num_samples, shard_size, dtype) if path.is_dir() else None

    def entry(
        self, model_fingerprint: str, manifest_hash: str, condition: Mapping[str, object], num_samples: int,
        describe: dict[str, object], shard_size: int = SHARD_SIZE, output: str = "logits",
        precision: str = "fp32", dtype: str = "float32",
    ) -> StoreEntry:
        key = store_key(model_fingerprint, manifest_hash, condition, output, precision, dtype)
        path = self.path(key)
        path.mkdir(parents=True, exist_ok=True)
        meta = path / "meta.json"
        if not meta.is_file():
            write_json_atomic(meta, {
                "format": STORE_FORMAT,
                "model_fingerprint": model_fingerprint,
                "manifest_sha256": manifest_hash,
                "condition": dict(condition),
                **({} if output == "logits" else {"output": output}),
                **({} if precision == "fp32" else {"precision": precision}),
                **({} if dtype == "float32" else {"dtype": dtype}),
                "samples": num_samples,
                **describe,
            })
        return StoreEntry(path, num_samples, shard_size, dtype)

    def _facts_path(self, key: Mapping[str, object]) -> Path:
        payload = json.dumps([FACTS_FORMAT, dict(key)], sort_keys=True)
        return self.root / "facts" / f"{hashlib.sha256(payload.encode()).hexdigest()}.json"

    def facts(self, key: Mapping[str, object]) -> dict[str, object] | None:
        """The facts kept under ``key`` (e.g. ``{"facts": "model", "model_fingerprint": ...,
        "input_size": 224}``), or None when none are kept. Reads only."""
        path = self._facts_path(key)
        if not path.is_file():
            return None
        return json.loads(path.read_text())["facts"]

    def keep_facts(self, key: Mapping[str, object], facts: Mapping[str, object]) -> None:
        """Keep ``facts`` under ``key``, replacing what was kept (written whole, then renamed:
        two processes writing the same facts leave one complete file)."""
        path = self._facts_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"format": FACTS_FORMAT, "key": dict(key), "facts": dict(facts)})
