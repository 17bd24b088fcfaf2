"""The cue-conflict stimuli (Geirhos et al., ICLR 2019): 1280 PNGs, 224x224, 16 shape folders.

File name ``<shape><i>-<texture><j>.png``: the shape is the folder (and the name's prefix), the
texture is the part after the last '-', digits and '.png' stripped. The sample id is the file
name, which is unique and is the ``imagename`` of model-vs-human's decision files.

Getting the data: read from the data root; when missing and the network is allowed, download
model-vs-human release v0.1 ``cue-conflict.tar.gz`` (``auditkit.fetch``, as `audit fetch` does),
check the unpacked files against the content digest of the 1280 published stimuli (no archive
digest is published), and move them into place atomically.
"""

from __future__ import annotations

import hashlib
import re
from functools import partial
from pathlib import Path

from auditkit.data.source import DatasetSource, Sample
from auditkit.errors import AuditError
from auditkit.fetch import UNPUBLISHED, Fetchable, install, network_allowed, single_archive

CATEGORIES = (
    "airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat",
    "chair", "clock", "dog", "elephant", "keyboard", "knife", "oven", "truck",
)
RELEASE_URL = "https://github.com/bethgelab/model-vs-human/releases/download/v0.1/cue-conflict.tar.gz"
NUM_STIMULI = 1280
# SHA-256 over the sorted lines "<shape>/<file>\t<sha256 of file>" of the 1280 released stimuli:
# verifies what was unpacked, whatever compression the archive used.
CONTENT_SHA256 = "815896bc975ad5c60f0dc5e2b5656c958060c4cc496ac3ffa019c1b9899a0e1b"

STIMULUS = re.compile(r"^(?P<shape>[a-z]+)\d+-(?P<texture>[a-z]+)\d+\.png$")


def parse_stimulus(name: str) -> tuple[str, str]:
    """``airplane1-bicycle2.png`` -> (``airplane``, ``bicycle``). Also accepts the prefixed
    names of human sessions (``0001_s5n_s01_0_bird_00_bird3-bird2.png``)."""
    base = name.rsplit("_", 1)[-1]
    match = STIMULUS.match(base)
    if not match or match["shape"] not in CATEGORIES or match["texture"] not in CATEGORIES:
        raise AuditError(f"{name!r} is not a cue-conflict stimulus name (<shape><i>-<texture><j>.png)")
    return match["shape"], match["texture"]


def read_cue_conflict(root: Path) -> DatasetSource:
    if (root / "cue-conflict").is_dir() and not (root / "airplane").is_dir():
        root = root / "cue-conflict"
    samples = []
    for shape in CATEGORIES:
        folder = root / shape
        if not folder.is_dir():
            raise AuditError(
                f"cue-conflict: folder {folder} is missing; the release has one folder per shape "
                f"category ({', '.join(CATEGORIES)})"
            )
        for path in sorted(folder.glob("*.png")):
            parsed_shape, _ = parse_stimulus(path.name)
            if parsed_shape != shape:
                raise AuditError(f"cue-conflict: {path} is in folder {shape} but its name says {parsed_shape}")
            samples.append(Sample(path=path, label=-1, sample_id=path.name))
    samples.sort(key=lambda s: s.sample_id)
    info = {"labels": "shape = folder, texture = file name"}
    if len(samples) != NUM_STIMULI:
        info["partial"] = f"{len(samples)} of {NUM_STIMULI} stimuli"
    return DatasetSource("cue-conflict", root, tuple(samples), info=info)


def content_digest(root: Path) -> tuple[int, str]:
    lines = []
    for shape in CATEGORIES:
        for path in sorted((root / shape).glob("*.png")):
            lines.append(f"{shape}/{path.name}\t{hashlib.sha256(path.read_bytes()).hexdigest()}")
    return len(lines), hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def matches_published_stimuli(root: Path, expected: str = CONTENT_SHA256) -> str:
    """"" when ``root`` holds exactly the 1280 published stimuli, else what differs (the release
    publishes no archive digest, so the unpacked content is what is checked)."""
    count, digest = content_digest(root)
    if (count, digest) == (NUM_STIMULI, expected):
        return ""
    return (f"the stimuli do not match the published set ({count} files, content sha256 {digest[:12]}..., "
            f"expected {NUM_STIMULI} files, {expected[:12]}...)")


def release(url: str = RELEASE_URL, expected: str = CONTENT_SHA256) -> Fetchable:
    """What `audit fetch cue-conflict` (and a run, on first use) downloads and how it is checked."""
    return single_archive("cue-conflict", "cue-conflict", url, UNPUBLISHED, None,
                          "model-vs-human release v0.1 (content digest of the 1280 stimuli, auditkit)",
                          content_check=partial(matches_published_stimuli, expected=expected))


def fetch_cue_conflict(target: Path, url: str = RELEASE_URL, expected: str = CONTENT_SHA256) -> Path:
    """Download, verify and unpack into ``target`` (moved into place only when complete): the
    catalog's download on first use, through the same machinery as `audit fetch cue-conflict`."""
    if not network_allowed():
        raise AuditError(
            f"cue-conflict not found at {target} and downloads are off (offline); download "
            f"{url} and unpack it there, or pass --data cue-conflict=PATH"
        )
    return install(release(url, expected), target, target.parent / ".downloads", progress=False,
                   say=lambda line: None)
