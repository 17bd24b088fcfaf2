"""`audit fetch NAME`: download an openly released dataset in its released form.

Every download is checked against a digest before anything is unpacked:

- the ``FETCHABLE`` table below holds, for each archive, the digest its publisher (or a
  well-known loader pinned to the same URL) published: sha256 where one is published, else md5
  (Zenodo and torchvision-style loaders publish md5). ``UNPUBLISHED`` marks an archive with no
  published digest: it is accepted with a printed warning that names its sha256 (so a lab can
  pin it), except where the unpacked content has a known digest (cue-conflict).
- Hugging Face files (the CLIP_benchmark webdatasets, ImageNet-Sketch) are checked against the
  sha256 the hub lists for each file (its LFS object id, read with the file listing) and small
  files against their git blob id.

A download goes to ``<data root>/.downloads/`` as ``<file>.part`` and resumes from there (HTTP
Range) when a run is interrupted; archives are unpacked into a temporary folder beside the target
and renamed into place, so a dataset folder is either complete or absent. ImageNet itself is
never fetched: it needs an account.

Adding a dataset is one line in ``FETCHABLE`` (name, folder, url(s), digest(s), size(s), layout).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from auditkit.errors import AuditError

UNPUBLISHED = None  # no digest is published for this archive: accepted with a warning
HUB = "hub"  # the sha256 the Hugging Face hub lists for the file
CHUNK = 1 << 20
LAYOUTS = ("folder", "merge", "wds")


@dataclass(frozen=True)
class Fetchable:
    """One `audit fetch` name.

    ``layout``: ``folder`` — the archive's single top folder (or its root) becomes
    ``<data root>/<folder>``; ``merge`` — each top-level folder of each archive is moved into
    ``<data root>/<folder>`` (ImageNet-C families share one folder); ``wds`` — a Hugging Face
    dataset repository's files, kept as they are (never unpacked)."""

    name: str
    folder: str  # under the data root
    urls: tuple[str, ...]  # archives; for ``wds``, the hub repository ("owner/name")
    digests: tuple[str | None, ...]  # "sha256:<hex>", "md5:<hex>", HUB or UNPUBLISHED, one per url
    sizes: tuple[int | None, ...]  # bytes where published (progress and truncation), else None
    layout: str
    source: str  # where the url and the digest were published
    provides: str = ""  # the catalog dataset it fills, when there is one
    content_check: Callable[[Path], str] | None = None  # unpacked-content check: "" or what is wrong
    hint: str = "no reader yet"  # for `audit ls datasets`, when it fills no catalog dataset


def _one(name: str, folder: str, url: str, digest: str | None, size: int | None, layout: str, source: str,
         provides: str = "", content_check: Callable[[Path], str] | None = None, hint: str = "no reader yet",
         ) -> Fetchable:
    return Fetchable(name, folder, (url,), (digest,), (size,), layout, source, provides, content_check, hint)


def _wds(name: str, provides: str = "") -> Fetchable:
    """CLIP_benchmark's ``wds/<name>`` from HF ``clip-benchmark/wds_<name with / as ->``."""
    repo = "clip-benchmark/wds_" + name.replace("/", "-")
    return Fetchable(f"wds/{name}", f"wds/{name}", (repo,), (HUB,), (None,), "wds",
                     f"huggingface.co/datasets/{repo} (CLIP_benchmark)", provides)


def _cue_conflict_check(root: Path) -> str:
    from auditkit.data.cue_conflict import CONTENT_SHA256, NUM_STIMULI, content_digest

    count, digest = content_digest(root)
    if (count, digest) == (NUM_STIMULI, CONTENT_SHA256):
        return ""
    return (f"the stimuli do not match the published set ({count} files, content sha256 {digest[:12]}..., "
            f"expected {NUM_STIMULI} files, {CONTENT_SHA256[:12]}...)")


BERKELEY = "https://people.eecs.berkeley.edu/~hendrycks/"
V2 = "https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/main/"
ZENODO_C = "https://zenodo.org/record/2235448/files/"
MVH = "https://github.com/bethgelab/model-vs-human/releases/download/v0.1/"
TFDS = "tensorflow/datasets checksums.tsv"
C_FAMILIES = {  # ImageNet-C archive -> md5 published on Zenodo record 2235448
    "blur": "md5:2d8e81fdd8e07fef67b9334fa635e45c", "digital": "md5:89157860d7b10d5797849337ca2e5c03",
    "extra": "md5:d492dfba5fc162d8ec2c3cd8ee672984", "noise": "md5:e80562d7f6c3f8834afb1ecf27252745",
    "weather": "md5:33ffea4db4d93fe4a428c40a6ce0c25d",
}
MVH_DATASETS = ("colour", "contrast", "edge", "eidolonI", "eidolonII", "eidolonIII", "false-colour", "high-pass",
                "low-pass", "phase-scrambling", "power-equalisation", "rotation", "silhouette", "sketch",
                "stylized", "uniform-noise")  # and cue-conflict, below

FETCHABLE: dict[str, Fetchable] = {f.name: f for f in (
    _one("imagenet-r", "imagenet-r", BERKELEY + "imagenet-r.tar",
         "sha256:18c6bf493b39a0d975d48e587437f562caab9c52ae6327dcfa9dd8eb54aa1b52", 2191079936, "folder", TFDS,
         "imagenet-r"),
    _one("imagenet-a", "imagenet-a", BERKELEY + "imagenet-a.tar",
         "sha256:3bb3632277e6ba6392ea64c02ddbf4dd2266c9caffd6bc09c9656d28f012589e", 687552512, "folder", TFDS,
         "imagenet-a"),
    _one("imagenet-o", "imagenet-o", BERKELEY + "imagenet-o.tar", "md5:86bd7a50c1c4074fb18fc5f219d6d50b", None,
         "folder", "torchvision-style loaders (torch-uncertainty ImageNetO.tgz_md5)"),
    _one("imagenet-v2", "imagenet-v2", V2 + "imagenetv2-matched-frequency.tar.gz",
         "sha256:f0c37fdf925916b19ea1323cd9a2208cdb6959ba2c32eef2a7fc393835c9ca7c", 1264079360, "folder", TFDS,
         "imagenet-v2"),
    _one("imagenet-v2-threshold0.7", "imagenet-v2-threshold0.7", V2 + "imagenetv2-threshold0.7.tar.gz",
         "sha256:32142bfe998f9cfa4141be691f6a80eeb1e27b24bd532a668eb08c26d98897a2", 1249906176, "folder", TFDS,
         hint="read with --data imagenet-v2=<its folder>"),
    _one("imagenet-v2-top-images", "imagenet-v2-top-images", V2 + "imagenetv2-top-images.tar.gz",
         "sha256:85e4ace30f3f0d660152062254b8759dda66267b27f7ec0fd8d5768f1073a04b", 1245927936, "folder", TFDS,
         hint="read with --data imagenet-v2=<its folder>"),
    _one("imagenet-sketch", "imagenet-sketch",
         "https://huggingface.co/datasets/songweig/imagenet_sketch/resolve/main/data/ImageNet-Sketch.zip", HUB,
         7593573012, "folder", "HF songweig/imagenet_sketch (the hub's sha256; tfds lists 7,593,573,012 bytes "
         "for the Google Drive original)", "imagenet-sketch"),
    *(_one(f"imagenet-c-{family}", "imagenet-c", f"{ZENODO_C}{family}.tar", digest, None, "merge",
           "zenodo.org/record/2235448 (md5)", "imagenet-c") for family, digest in C_FAMILIES.items()),
    Fetchable("imagenet-c", "imagenet-c", tuple(f"{ZENODO_C}{family}.tar" for family in C_FAMILIES),
              tuple(C_FAMILIES.values()), (None,) * len(C_FAMILIES), "merge",
              "zenodo.org/record/2235448 (md5), all five families (about 60 GB)", "imagenet-c"),
    _one("cue-conflict", "cue-conflict", MVH + "cue-conflict.tar.gz", UNPUBLISHED, None, "folder",
         "model-vs-human release v0.1 (content digest of the 1280 stimuli, auditkit)", "cue-conflict",
         _cue_conflict_check),
    *(_one(f"mvh-{name}", f"model-vs-human/{name}", f"{MVH}{name}.tar.gz", UNPUBLISHED, None, "folder",
           "model-vs-human release v0.1 (no digest published)", f"mvh-{name}") for name in MVH_DATASETS),
    _wds("imagenetv2", "imagenet-v2"), _wds("imagenet_sketch", "imagenet-sketch"),
    _wds("imagenet-a", "imagenet-a"), _wds("imagenet-r", "imagenet-r"), _wds("imagenet-o"), _wds("objectnet", "objectnet"),
    *(_wds(f"vtab/{task}", "transfer") for task in (
        "caltech101", "cifar10", "cifar100", "clevr_count_all", "clevr_closest_object_distance",
        "diabetic_retinopathy", "dmlab", "dsprites_label_orientation", "dsprites_label_x_position",
        "dsprites_label_y_position", "dtd", "eurosat", "kitti_closest_vehicle_distance", "flowers", "pets",
        "pcam", "resisc45", "smallnorb_label_azimuth", "smallnorb_label_elevation", "svhn")),
)}
NOT_FETCHED = {  # asked for by name: say how to get it instead
    "imagenet-val": "ImageNet is not openly downloadable: register at image-net.org, accept its terms, download "
                    "ILSVRC2012_img_val.tar (and ILSVRC2012_devkit_t12.tar.gz), unpack the val images into "
                    "<data root>/imagenet-val (flat or val/<wnid>/) or pass --data imagenet-val=PATH",
    "wds/imagenet1k": "CLIP_benchmark's wds/imagenet1k is ImageNet val itself; auditkit does not fetch ImageNet "
                      "(see `audit fetch imagenet-val`)",
}
NOT_FETCHED["imagenet"] = NOT_FETCHED["imagenet-val"]


def fetchable_for(dataset: str) -> list[str]:
    """The `audit fetch` names that fill a catalog dataset."""
    return [f.name for f in FETCHABLE.values() if f.provides == dataset]


def network_allowed() -> bool:
    from auditkit.data.cue_conflict import network_allowed as allowed

    return allowed()


# --- downloading ---------------------------------------------------------------------------------

def _hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def _request(url: str, start: int = 0) -> urllib.request.Request:
    from auditkit import __version__

    headers = {"User-Agent": f"auditkit/{__version__}"}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.Request(url, headers=headers)


def _unreachable(url: str, error: BaseException, name: str) -> AuditError:
    host = urllib.parse.urlsplit(url).netloc
    reason = getattr(error, "reason", error)
    return AuditError(f"cannot reach {host} ({reason}): offline? Run `audit fetch {name}` where the network is "
                      f"available (then copy the data root), or download {url} by hand")


def _file_digest(path: Path, kind: str) -> str:
    digest = hashlib.new(kind)
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _git_blob_sha1(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def check_digest(path: Path, expected: str | None, name: str, say: Callable[[str], None]) -> None:
    """Raise a one-line ``AuditError`` (and delete the file) when ``path`` does not match."""
    if expected is None:
        say(f"audit fetch {name}: warning: no digest is published for {path.name}; accepted unverified "
            f"(sha256 {_file_digest(path, 'sha256')})")
        return
    kind, _, value = expected.partition(":")
    actual = _git_blob_sha1(path) if kind == "gitblob" else _file_digest(path, kind)
    if actual != value.lower():
        path.unlink()
        raise AuditError(f"{path.name} does not match its published {kind} ({actual[:12]}... expected "
                         f"{value[:12]}...); deleted, nothing unpacked: run `audit fetch {name}` again, and report "
                         "it if it persists")


def download(url: str, target: Path, name: str, size: int | None = None, progress: bool = True) -> Path:
    """Download ``url`` to ``target`` through ``target.part``, resuming a partial one (HTTP Range).

    Raises one-line ``AuditError``s: offline, HTTP errors, a connection that ends early (the
    partial file is kept for the next run to resume)."""
    from rich.console import Console
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    partial = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    start = partial.stat().st_size if partial.exists() else 0
    try:
        response = urllib.request.urlopen(_request(url, start), timeout=60)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start and (size is None or start == size):
            os.replace(partial, target)  # the partial file was already whole
            return target
        if error.code == 416:
            partial.unlink()
            return download(url, target, name, size, progress)
        raise AuditError(f"{url} answered HTTP {error.code} {error.reason}; the file may have moved: download it "
                         f"by hand into {target.parent}, or report it") from None
    except (urllib.error.URLError, OSError) as error:
        raise _unreachable(url, error, name) from None
    with response:
        resumed = start and response.status == 206
        if not resumed:
            start = 0  # the server ignored Range (or nothing to resume): start again
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else size
        received = start
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                   TimeRemainingColumn())
        with Progress(*columns, console=Console(stderr=True), disable=not progress, transient=False) as bar, \
                partial.open("ab" if resumed else "wb") as out:
            task = bar.add_task(f"{name}: {target.name}" + (" (resumed)" if resumed else ""),
                                total=total, completed=start)
            try:
                while block := response.read(CHUNK):
                    out.write(block)
                    received += len(block)
                    bar.update(task, completed=received)
            except (http.client.HTTPException, OSError, socket.timeout) as error:
                of = f"{total:,}" if total is not None else "?"
                raise AuditError(f"download of {target.name} stopped at {received:,} of {of} bytes "
                                 f"({error.__class__.__name__}); run `audit fetch {name}` again to resume") from None
    if total is not None and received < total:
        raise AuditError(f"download of {target.name} stopped at {received:,} of {total:,} bytes (connection "
                         f"closed); run `audit fetch {name}` again to resume")
    if size is not None and received != size:
        partial.unlink()
        raise AuditError(f"{target.name} is {received:,} bytes, the published size is {size:,}; deleted: run "
                         f"`audit fetch {name}` again, and report it if it persists")
    os.replace(partial, target)
    return target


def _hub_listing(repo: str, name: str) -> dict[str, tuple[str, int]]:
    """path -> (digest, size) of every file of a hub dataset repository (main)."""
    url: str | None = f"{_hub_endpoint()}/api/datasets/{repo}/tree/main?recursive=true"
    files: dict[str, tuple[str, int]] = {}
    while url:
        try:
            with urllib.request.urlopen(_request(url), timeout=60) as response:
                entries = json.load(response)
                url = _next_page(response.headers.get("Link", ""))
        except urllib.error.HTTPError as error:
            raise AuditError(f"the hub answered HTTP {error.code} for {repo}'s file list; check the name "
                             f"(huggingface.co/datasets/{repo})") from None
        except (urllib.error.URLError, OSError) as error:
            raise _unreachable(url or repo, error, name) from None
        for entry in entries:
            if entry.get("type") == "file":
                lfs = entry.get("lfs")
                digest = f"sha256:{lfs['oid']}" if lfs else f"gitblob:{entry['oid']}"
                files[entry["path"]] = (digest, int(entry.get("size", 0)))
    return files


def _next_page(link: str) -> str | None:
    for part in link.split(","):
        if 'rel="next"' in part:
            return part.split(";")[0].strip().strip("<>")
    return None


def _hub_file_digest(url: str, name: str) -> str:
    """The hub's sha256 of one ``.../datasets/<repo>/resolve/main/<path>`` file."""
    head, _, path = url.partition("/resolve/main/")
    repo = head.split("/datasets/", 1)[1]
    listing = _hub_listing(repo, name)
    if path not in listing:
        raise AuditError(f"{path} is not in huggingface.co/datasets/{repo} any more; download it by hand, or report it")
    return listing[path][0]


# --- unpacking -----------------------------------------------------------------------------------

def _unpack(archive: Path, into: Path) -> Path:
    """Unpack into ``into``; the content root: the single top folder, else ``into`` itself."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as bundle:
                bundle.extractall(into)  # zipfile drops absolute paths and '..'
        else:
            with tarfile.open(archive) as tar:
                tar.extractall(into, filter="data")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        raise AuditError(f"{archive.name} cannot be unpacked ({error}); delete it and run the command again") from None
    children = [c for c in into.iterdir() if c.name != "__MACOSX"]
    return children[0] if len(children) == 1 and children[0].is_dir() else into


def _install(fetchable: Fetchable, archive: Path, target: Path, say: Callable[[str], None]) -> None:
    """Unpack one verified archive beside ``target`` and rename it (or its folders) into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".unpacking-{target.name}-"))
    try:
        content = _unpack(archive, staging)
        if fetchable.content_check is not None and (problem := fetchable.content_check(content)):
            raise AuditError(f"{fetchable.name}: {problem}; not installed")
        if fetchable.layout == "folder":
            if target.exists():
                raise AuditError(f"{target} appeared while unpacking; remove it or use it as is")
            os.replace(content, target)
        else:  # merge: each top-level folder is one unit (an ImageNet-C corruption)
            target.mkdir(exist_ok=True)
            for child in sorted(content.iterdir()):
                if (target / child.name).exists():
                    say(f"audit fetch {fetchable.name}: {target / child.name} exists; kept as it is")
                else:
                    os.replace(child, target / child.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch_archives(fetchable: Fetchable, root: Path, progress: bool, say: Callable[[str], None]) -> Path:
    target = root / fetchable.folder
    downloads = root / ".downloads"
    for url, digest, size in zip(fetchable.urls, fetchable.digests, fetchable.sizes):
        if url.startswith("https://huggingface.co/"):  # HF_ENDPOINT: a mirror serves the hub's files
            url = _hub_endpoint() + url[len("https://huggingface.co"):]
        filename = urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])
        if fetchable.layout == "merge" and target.is_dir() and _family_present(target, filename):
            say(f"audit fetch {fetchable.name}: {filename} is already unpacked in {target}")
            continue
        archive = downloads / filename
        if not archive.exists():
            download(url, archive, fetchable.name, size, progress)
        check_digest(archive, _hub_file_digest(url, fetchable.name) if digest == HUB else digest,
                     fetchable.name, say)
        _install(fetchable, archive, target, say)
        archive.unlink()
    return target


def _family_present(target: Path, filename: str) -> bool:
    """An ImageNet-C family counts as present when all of its corruptions are."""
    from auditkit.data.corruptions import CORRUPTIONS, HOLD_OUT

    members = {"noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
               "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
               "weather": ("snow", "frost", "fog", "brightness"),
               "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
               "extra": ("speckle_noise", "spatter", "gaussian_blur", "saturate")}.get(filename.split(".")[0], ())
    assert set(members) <= set(CORRUPTIONS) | set(HOLD_OUT)
    return bool(members) and all((target / m).is_dir() for m in members)


def _fetch_hub_folder(fetchable: Fetchable, root: Path, progress: bool, say: Callable[[str], None]) -> Path:
    """A CLIP_benchmark webdataset repository, file by file into a partial folder renamed at the end."""
    from auditkit.data.wds import is_wds_folder, split_shards

    target = root / fetchable.folder
    repo = fetchable.urls[0]
    listing = _hub_listing(repo, fetchable.name)
    wanted = {path: entry for path, entry in listing.items()
              if path.endswith((".tar", ".txt")) and path.count("/") <= 1}
    if not any(path.endswith("/nshards.txt") for path in wanted):
        raise AuditError(f"huggingface.co/datasets/{repo} has no <split>/nshards.txt; it is not a CLIP_benchmark "
                         "webdataset (or it moved): report it")
    partial = root / ".downloads" / repo.replace("/", "--")
    for path, (digest, size) in sorted(wanted.items()):
        local = partial / path
        if local.exists():
            continue  # verified on an earlier run
        download(f"{_hub_endpoint()}/datasets/{repo}/resolve/main/{path}", local, fetchable.name, size,
                 progress and path.endswith(".tar"))
        check_digest(local, digest, fetchable.name, say)
    for split in sorted({p.split("/")[0] for p in wanted if p.endswith("/nshards.txt")}):
        split_shards(partial / split, fetchable.name)  # every listed shard arrived
    assert is_wds_folder(partial)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, target)
    return target


def fetch(name: str, data_root: Path, progress: bool = True, say: Callable[[str], None] = print) -> Path:
    """Download, verify and install one `FETCHABLE` entry under ``data_root``; returns its folder."""
    from auditkit.registry import did_you_mean

    if name in NOT_FETCHED:
        raise AuditError(NOT_FETCHED[name])
    if name not in FETCHABLE:
        raise AuditError(f"audit fetch: unknown dataset {name!r}{did_you_mean(name, sorted(FETCHABLE))}; "
                         "`audit ls datasets` lists what can be fetched")
    fetchable = FETCHABLE[name]
    target = data_root / fetchable.folder
    if fetchable.layout != "merge" and target.exists():
        say(f"audit fetch {name}: already at {target}; nothing to do (delete it to fetch again)")
        return target
    if not network_allowed():
        raise AuditError(f"audit fetch {name}: downloads are off (AUDITKIT_OFFLINE / HF_HUB_OFFLINE is set); unset "
                         f"it, or fetch on a machine with network access and copy {target}")
    try:
        if fetchable.layout == "wds":
            installed = _fetch_hub_folder(fetchable, data_root, progress, say)
        else:
            installed = _fetch_archives(fetchable, data_root, progress, say)
    except PermissionError as error:
        raise AuditError(f"cannot write under {data_root} ({error.strerror}); give a writable --data-root") from None
    say(f"audit fetch {name}: installed at {installed} ({fetchable.source})")
    return installed


def describe() -> Iterator[tuple[str, str, str, str]]:
    """(name, folder, digest kind, source) of every entry, for `audit ls datasets` and the README."""
    for fetchable in FETCHABLE.values():
        kinds = {d.split(":")[0] if d else "none published" for d in fetchable.digests}
        yield fetchable.name, fetchable.folder, ", ".join(sorted(kinds)), fetchable.source
