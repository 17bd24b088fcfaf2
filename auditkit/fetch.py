"""Download, check and unpack an openly released dataset: the machinery behind `audit fetch`.

What to download is not written here: each dataset's entry (``auditkit/data/datasets/``) lists
its ``Fetchable`` archives (urls, digests, sizes, unpack layout, content check), and the catalog
gathers them (``auditkit.data.catalog.FETCHABLE``; `audit fetch NAME` is ``catalog.fetch``). This module only knows how:

- every download is checked against a digest before anything is unpacked: sha256 where one is
  published, else md5 (Zenodo and torchvision-style loaders publish md5), else sha1 (GluonCV's
  scripts publish sha1: ADE20K). ``UNPUBLISHED`` marks
  an archive with no published digest: it is accepted with a printed warning that names its
  sha256 (so a lab can pin it), except where the unpacked content is checked instead
  (``content_check``: cue-conflict's content digest).
- Hugging Face files (the CLIP_benchmark webdatasets, ImageNet-Sketch) are checked against the
  sha256 the hub lists for each file (its LFS object id, read with the file listing) and small
  files against their git blob id.

A download goes to ``<data root>/.downloads/`` as ``<file>.part`` and resumes from there (HTTP
Range) when a run is interrupted; archives are unpacked into a temporary folder beside the target
and renamed into place, so a dataset folder is either complete or absent.
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
from typing import Callable

from auditkit.errors import AuditError

UNPUBLISHED = None  # no digest is published for this archive: accepted with a warning
HUB = "hub"  # the sha256 the Hugging Face hub lists for the file
CHUNK = 1 << 20
LAYOUTS = ("folder", "merge", "wds", "files")
OFFLINE_VARIABLES = ("AUDITKIT_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


@dataclass(frozen=True)
class Fetchable:
    """What one `audit fetch` name downloads.

    ``layout``: ``folder`` — the archive's single top folder (or its root) becomes the target
    folder; ``merge`` — each top-level folder of each archive is moved into the target folder
    (ImageNet-C families share one folder; ``contents`` names each archive's folders, so an
    archive whose folders are all there is not downloaded again); ``wds`` — a Hugging Face
    dataset repository's files, kept as they are (never unpacked); ``files`` — each url's file
    kept as it is (NYU Depth V2's .mat files) in the target folder, renamed into place once all
    are verified."""

    name: str
    folder: str  # under the data root
    urls: tuple[str, ...]  # archives; for ``wds``, the hub repository ("owner/name")
    digests: tuple[str | None, ...]  # "sha256:<hex>", "md5:<hex>", HUB or UNPUBLISHED, one per url
    sizes: tuple[int | None, ...]  # bytes where published (progress and truncation), else None
    layout: str
    source: str  # where the url and the digest were published
    content_check: Callable[[Path], str] | None = None  # unpacked-content check: "" or what is wrong
    hint: str = "no reader yet"  # for `audit ls datasets`, when it fills no catalog dataset
    contents: tuple[tuple[str, ...], ...] = ()  # ``merge``: the top-level folders of each archive

    def digest_kinds(self) -> str:
        """"md5", "sha256, hub", "none published": how this download is checked, for listings."""
        kinds = {d.split(":")[0] if d else "none published" for d in self.digests}
        return ", ".join(sorted(kinds))


def single_archive(name: str, folder: str, url: str, digest: str | None, size: int | None, source: str,
            layout: str = "folder", content_check: Callable[[Path], str] | None = None,
            hint: str = "no reader yet") -> Fetchable:
    """One archive at one url (most datasets)."""
    return Fetchable(name, folder, (url,), (digest,), (size,), layout, source, content_check, hint)


def hub_webdataset(name: str, hint: str = "no reader yet") -> Fetchable:
    """CLIP_benchmark's ``wds/<name>`` from HF ``clip-benchmark/wds_<name with / as ->``."""
    repo = "clip-benchmark/wds_" + name.replace("/", "-")
    return Fetchable(f"wds/{name}", f"wds/{name}", (repo,), (HUB,), (None,), "wds",
                     f"huggingface.co/datasets/{repo} (CLIP_benchmark)", hint=hint)


def network_allowed() -> bool:
    """Downloads are off when AUDITKIT_OFFLINE, HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set."""
    return not any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in OFFLINE_VARIABLES)


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
            archive.unlink()  # its content is not the published one: a rerun downloads it again
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


def _fetch_archives(fetchable: Fetchable, target: Path, downloads: Path, progress: bool,
                    say: Callable[[str], None]) -> Path:
    contents = fetchable.contents or ((),) * len(fetchable.urls)
    verified = []
    for url, digest, size, folders in zip(fetchable.urls, fetchable.digests, fetchable.sizes, contents):
        if url.startswith("https://huggingface.co/"):  # HF_ENDPOINT: a mirror serves the hub's files
            url = _hub_endpoint() + url[len("https://huggingface.co"):]
        filename = _archive_name(url)
        if fetchable.layout == "merge" and folders and all((target / f).is_dir() for f in folders):
            say(f"audit fetch {fetchable.name}: {filename} is already unpacked in {target}")
            continue
        archive = downloads / filename
        if not archive.exists():
            download(url, archive, fetchable.name, size, progress)
        if digest is UNPUBLISHED and fetchable.content_check is not None:
            pass  # the unpacked content is checked instead (a digest of every file), in _install
        else:
            check_digest(archive, _hub_file_digest(url, fetchable.name) if digest == HUB else digest,
                         fetchable.name, say)
        if fetchable.layout == "files":
            verified.append(archive)
            continue
        _install(fetchable, archive, target, say)
        archive.unlink()
    if verified:
        _install_files(verified, target)
    return target


def _install_files(files: list[Path], target: Path) -> None:
    """``files`` layout: the verified downloads moved, as they are, into a folder renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".unpacking-{target.name}-"))
    try:
        for file in files:
            os.replace(file, staging / file.name)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _fetch_hub_folder(fetchable: Fetchable, target: Path, downloads: Path, progress: bool,
                      say: Callable[[str], None]) -> Path:
    """A CLIP_benchmark webdataset repository, file by file into a partial folder renamed at the end."""
    from auditkit.data.wds import is_wds_folder, split_shards

    repo = fetchable.urls[0]
    listing = _hub_listing(repo, fetchable.name)
    wanted = {path: entry for path, entry in listing.items()
              if path.endswith((".tar", ".txt")) and path.count("/") <= 1}
    if not any(path.endswith("/nshards.txt") for path in wanted):
        raise AuditError(f"huggingface.co/datasets/{repo} has no <split>/nshards.txt; it is not a CLIP_benchmark "
                         "webdataset (or it moved): report it")
    partial = downloads / repo.replace("/", "--")
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


def _archive_name(url: str) -> str:
    return urllib.parse.unquote(urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1])


def incomplete(fetchable: Fetchable, target: Path) -> str:
    """What is wrong with an existing ``target`` as ``fetchable``'s install, "" when nothing that
    can be checked is (it is then "already there"): its content digest where one is declared
    (cue-conflict with 9 of its 1280 stimuli is not), every listed shard of a webdataset."""
    from auditkit.data.wds import is_wds_folder, split_shards

    if not target.is_dir():
        return "not a folder"
    if fetchable.content_check is not None:
        problem = fetchable.content_check(target)
        children = [c for c in target.iterdir() if c.is_dir()]
        if problem and len(children) == 1:  # unpacked by hand one level deeper: read as such too
            problem = fetchable.content_check(children[0]) and problem
        return problem
    if fetchable.layout == "wds":
        if not is_wds_folder(target):
            return "no <split>/nshards.txt"
        try:
            for split in sorted(p.parent for p in target.glob("*/nshards.txt")):
                split_shards(split, fetchable.name)
        except AuditError as error:
            return str(error)
    return ""


def downloaded_archives(fetchable: Fetchable, target: Path, downloads: Path) -> list[Path] | None:
    """The archives in ``downloads`` that install ``fetchable`` without the network (an earlier
    fetch stopped after downloading, or they were copied there), None when some is missing
    or only the hub can check it (its digest is read from the hub's listing)."""
    if fetchable.layout == "wds":
        return None
    contents = fetchable.contents or ((),) * len(fetchable.urls)
    waiting = []
    for url, digest, folders in zip(fetchable.urls, fetchable.digests, contents):
        if fetchable.layout == "merge" and folders and all((target / f).is_dir() for f in folders):
            continue
        archive = downloads / _archive_name(url)
        if digest == HUB or not archive.is_file():
            return None
        waiting.append(archive)
    return waiting or None


def install(fetchable: Fetchable, target: Path, downloads: Path, progress: bool = True,
            say: Callable[[str], None] = print) -> Path:
    """Download ``fetchable`` into ``downloads``, verify it and install it at ``target``.

    The one path every download takes: `audit fetch NAME` and a dataset fetched on first use
    (cue-conflict) alike. Raises one-line ``AuditError``s (offline, unreachable, a digest or
    content mismatch, an unwritable folder)."""
    if fetchable.layout != "merge" and target.exists():
        problem = incomplete(fetchable, target)
        if problem:
            raise AuditError(f"audit fetch {fetchable.name}: {target} is there but not whole ({problem}); delete it "
                             f"and run `audit fetch {fetchable.name}` again")
        say(f"audit fetch {fetchable.name}: already at {target}; nothing to do (delete it to fetch again)")
        return target
    if not network_allowed():
        waiting = downloaded_archives(fetchable, target, downloads)
        if waiting is None:
            raise AuditError(f"audit fetch {fetchable.name}: downloads are off (AUDITKIT_OFFLINE / HF_HUB_OFFLINE is "
                             f"set); unset it, or fetch on a machine with network access and copy {target}")
        say(f"audit fetch {fetchable.name}: offline; installing from {', '.join(map(str, waiting))}, downloaded before")
    try:
        if fetchable.layout == "wds":
            return _fetch_hub_folder(fetchable, target, downloads, progress, say)
        return _fetch_archives(fetchable, target, downloads, progress, say)
    except PermissionError as error:
        raise AuditError(f"cannot write under {target.parent} ({error.strerror}); give a writable --data-root") from None
