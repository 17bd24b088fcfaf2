"""The prediction store: logits per (model fingerprint, dataset manifest, condition).

Features (``output`` "features" or "layers", for the representation suites) are cached the same
way in entries of their own: the output kind joins the key only when it is not "logits", so the
keys of logits entries are unchanged.

Layout: ``<cache>/store/<key[:2]>/<key>/meta.json`` plus shards
``shard-<start>-<end>.npz`` (float32 logits and each image's content SHA-1). A shard is written
to a unique temporary file and renamed into place, so a process killed at any moment leaves only
complete shards; the next run computes exactly the shards that are missing. Two runs on the same
store may write the same shard: both files are complete and either may win.

The key covers everything that changes the answer: the model fingerprint (weights, head,
preprocessing, adapter code identity), the dataset's manifest (ids, labels, file sizes) and the
condition. A changed weight file therefore never reuses old predictions.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from auditkit.records import write_json_atomic

SHARD_SIZE = 512
STORE_FORMAT = 1


def store_key(model_fingerprint: str, manifest_hash: str, condition: str, output: str = "logits") -> str:
    parts: list[object] = [STORE_FORMAT, model_fingerprint, manifest_hash, condition]
    payload = json.dumps(parts if output == "logits" else [*parts, output])
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass(frozen=True)
class StoreEntry:
    path: Path
    num_samples: int
    shard_size: int = SHARD_SIZE

    def shard_ranges(self) -> list[tuple[int, int]]:
        return [
            (start, min(start + self.shard_size, self.num_samples))
            for start in range(0, self.num_samples, self.shard_size)
        ]

    # Shards are named by their range, so runs with different shard sizes never misread each
    # other; a range that is not there is simply computed.
    def _shard_path(self, start: int, end: int) -> Path:
        return self.path / f"shard-{start:09d}-{end:09d}.npz"

    def missing(self) -> list[tuple[int, int]]:
        return [r for r in self.shard_ranges() if not self._shard_path(*r).is_file()]

    def write_shard(self, start: int, end: int, logits: np.ndarray, content_sha1: list[str]) -> None:
        if logits.shape[0] != end - start or len(content_sha1) != end - start:
            raise ValueError(f"shard {start}-{end} got {logits.shape[0]} rows")
        handle, tmp = tempfile.mkstemp(dir=self.path, prefix=".shard-", suffix=".npz.tmp")
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, logits=logits.astype(np.float32), content_sha1=np.array(content_sha1))
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, self._shard_path(start, end))

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        """All logits (n, classes) and content hashes, in sample order."""
        logits, hashes = [], []
        for start, end in self.shard_ranges():
            with np.load(self._shard_path(start, end)) as shard:
                logits.append(shard["logits"])
                hashes.append(shard["content_sha1"])
        return np.concatenate(logits), np.concatenate(hashes)


class PredictionStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def entry(
        self, model_fingerprint: str, manifest_hash: str, condition: str, num_samples: int,
        describe: dict[str, object], shard_size: int = SHARD_SIZE, output: str = "logits",
    ) -> StoreEntry:
        key = store_key(model_fingerprint, manifest_hash, condition, output)
        path = self.root / key[:2] / key
        path.mkdir(parents=True, exist_ok=True)
        meta = path / "meta.json"
        if not meta.is_file():
            write_json_atomic(meta, {
                "format": STORE_FORMAT,
                "model_fingerprint": model_fingerprint,
                "manifest_sha256": manifest_hash,
                "condition": condition,
                **({} if output == "logits" else {"output": output}),
                "samples": num_samples,
                **describe,
            })
        return StoreEntry(path=path, num_samples=num_samples, shard_size=shard_size)
