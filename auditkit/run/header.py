"""The run header: what a results.json's numbers rest on, one typed field per key.

Modelled on lm-evaluation-harness's ``result_schema.py``: every key the header writes is a field
here with one comment saying what it holds, so ``audit report``, ``compare`` and ``export`` read a
declared structure, not whatever a runner happened to put in a dict. ``to_json`` gives the keys
in this order; the optional ones (``reference_model``, ``suite_protocols``) only when set.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field, fields
from importlib import metadata
from platform import machine, python_version, system
from typing import Any

import auditkit

# packages whose versions can change a number; recorded with every run
VERSIONED_PACKAGES = ("torch", "torchvision", "timm", "open_clip_torch", "numpy", "netcal", "pillow")
OPTIONAL_KEYS = ("reference_model", "suite_protocols")  # written only when not None


@dataclass
class RunHeader:
    command: str  # the `audit ...` command line as given
    model: dict[str, Any]  # the subject: name, adapter, fingerprint, preprocessing, weights hash / files
    datasets: dict[str, dict[str, Any]]  # dataset name -> root, sample count, manifest hash, labels ...
    suites: dict[str, str]  # suite name -> its protocol version
    conditions: dict[str, str]  # "<dataset>/<condition>" forwarded or read -> the input transform in words
    imagenet_c: str | None  # released ImageNet-C files (their folder), made on the fly (by what), or None
    seed: int  # seed of the bootstrap CIs
    device: str  # --device
    batch_size: int  # --batch-size
    limit: int | None  # --limit: the first N samples of each dataset, None = all
    images_forwarded: dict[str, int]  # "<dataset>/<condition>[ [output]]" -> images forwarded in this run
    images_from_store: dict[str, int]  # the same keys -> images read from the prediction store
    bad_images: str  # --bad-images: fail | skip
    precision: str  # fp32 | bf16 | fp16 (forward under torch.autocast)
    model_facts: dict[str, Any] | None  # parameters, GMACs, measured images/s (None: recorded answers)
    undecodable_images_skipped: dict[str, list[str]]  # dataset -> sample ids left out (--bad-images skip)
    seconds: float  # wall time of the run
    world_size: int = 1  # torchrun processes that forwarded (1: one process)
    reference_model: dict[str, Any] | None = None  # --reference-model, described like ``model``
    suite_protocols: dict[str, dict[str, Any]] | None = None  # suite -> settings chosen and what it fitted
    # filled in when the header is made:
    created: str = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    auditkit_version: str = auditkit.__version__  # the auditkit that computed the numbers
    versions: dict[str, str] = field(default_factory=lambda: {"python": python_version(),
                                                              **package_versions()})
    platform: str = field(default_factory=lambda: f"{system()} {machine()}")
    argv: list[str] = field(default_factory=lambda: list(sys.argv))  # the process's arguments

    # the order results.json has always written its header in (report and compare read by key)
    ORDER = ("command", "created", "auditkit_version", "versions", "platform", "model", "datasets", "suites",
             "conditions", "imagenet_c", "seed", "device", "batch_size", "limit", "images_forwarded",
             "images_from_store", "bad_images", "precision", "model_facts", "undecodable_images_skipped",
             "seconds", "argv", "reference_model", "world_size", "suite_protocols")

    def to_json(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return {key: values[key] for key in self.ORDER if not (key in OPTIONAL_KEYS and values[key] is None)}


def package_versions() -> dict[str, str]:
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def follower_header(rank: int, world_size: int) -> dict[str, Any]:
    """A torchrun rank other than 0 forwards its shards and writes nothing: its header says which it was."""
    return {"rank": rank, "world_size": world_size}
