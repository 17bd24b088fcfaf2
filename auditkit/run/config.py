"""What one `audit run` was asked to do: ``RunConfig``, checked in one place before any model loads."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from auditkit.errors import AuditError
from auditkit.store import SHARD_SIZE

PRECISIONS = ("fp32", "bf16", "fp16")


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
    # --option: suite -> option -> value (Suite.options; auditkit.run.options.suite_options)
    suite_options: dict[str, dict[str, object]] = field(default_factory=dict)
    datasets: tuple[str, ...] | None = None  # --datasets: every suite restricted to these; None = all

    def named_datasets(self) -> tuple[str, ...]:
        """The datasets the user named (``--data NAME=``, ``--datasets``): their skips are the
        ones a run that computed nothing leads with (``auditkit.run.folder.nothing_computed``)."""
        return tuple(dict.fromkeys([*self.data_overrides, *(self.datasets or ())]))


def check_config(config: RunConfig) -> None:
    """Numbers and choices that would otherwise fail deep inside a forward pass, refused up front."""
    if config.batch_size < 1:
        raise AuditError(f"--batch-size must be at least 1, got {config.batch_size}")
    if config.precision not in PRECISIONS:
        raise AuditError(f"--precision {config.precision!r}: use fp32, bf16 or fp16")
    if config.precision == "fp16" and not config.device.startswith("cuda"):
        raise AuditError("--precision fp16 needs --device cuda; on CPU use bf16 (or fp32)")
    if config.limit is not None and config.limit < 1:
        raise AuditError(f"--limit must be at least 1, got {config.limit}")
    outside = [name for name in config.suite_options if name not in config.suites]
    if outside:  # the CLI refuses these in auditkit.run.options; a Python caller is told too
        raise AuditError(f"options for {', '.join(outside)}, which this run does not run (suites "
                         f"{', '.join(config.suites)}); add the suite or drop its options")


def check_device(device: str) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise AuditError("--device cuda asked for, but torch sees no CUDA GPU; use --device cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise AuditError(f"unknown --device {device!r}; use cpu or cuda")
    return torch.device(device)
