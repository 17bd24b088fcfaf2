"""`audit fetch` end to end against a local HTTP server (127.0.0.1, a thread) that serves fixture
archives and a Hugging Face-style file listing, with HTTP Range support. No test touches the network.

Covered: a good archive (installed, readable, nothing left behind), a corrupted one (digest
mismatch: one line, file deleted, nothing unpacked), a truncated one (one line, partial kept) and
its resumption (the server sees ``Range: bytes=N-``), a server that ignores Range, an archive
with no published digest (warning with its sha256), ImageNet-C families merged into one folder,
a CLIP_benchmark webdataset repository fetched file by file and read by the catalog, offline.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit import cli, fetch as fetch_module
from auditkit.data import catalog
from auditkit.data.catalog import open_dataset
from auditkit.data.classes import class_names, imagenet_wnids, subset_indices
from auditkit.errors import AuditError
from auditkit.data.catalog import fetch
from auditkit.fetch import HUB, UNPUBLISHED, Fetchable


class Server:
    """Serves ``files`` (path -> bytes); ``mode[path]``: "truncate" sends half then closes,
    "no-range" ignores Range. ``requests`` records (path, Range header)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.mode: dict[str, str] = {}
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest output clean
                pass

            def do_GET(self) -> None:
                path = self.path
                server.requests.append((path, self.headers.get("Range")))
                if path not in server.files:
                    self.send_error(404)
                    return
                data = server.files[path]
                mode = server.mode.get(path, "")
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                start = int(match[1]) if match and mode != "no-range" else 0
                if start >= len(data) and match and mode != "no-range":
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.end_headers()
                    return
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if mode == "truncate":
                    body = body[: len(body) // 2]
                self.wfile.write(body)
                self.wfile.flush()
                if mode == "truncate":
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    for variable in ("HF_HUB_OFFLINE", "AUDITKIT_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(variable, raising=False)
    running = Server()
    monkeypatch.setenv("HF_ENDPOINT", running.url)
    yield running
    running.close()


def _jpeg_bytes(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def _tar(members: dict[str, bytes], compression: str = "gz") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=f"w:{compression}") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _imagenet_r_archive() -> bytes:
    """imagenet-r.tar's layout over two of its classes, large enough to be cut in the middle."""
    r_wnids = [imagenet_wnids()[i] for i in subset_indices("imagenet_r")]
    members = {f"imagenet-r/{wnid}/{k}.jpg": _jpeg_bytes(10 * j + k) for j, wnid in enumerate(r_wnids[:2])
               for k in range(3)}
    members["imagenet-r/README.txt"] = b"fixture\n"
    return _tar(members, "")


def _entry(server: Server, name: str, archive: bytes, digest: str | None = "sha256", **changes) -> Fetchable:
    path = f"/files/{name}.tar"
    server.files[path] = archive
    published = f"sha256:{hashlib.sha256(archive).hexdigest()}" if digest == "sha256" else digest
    entry = Fetchable(name, name, (server.url + path,), (published,), (len(archive),), "folder", "test server")
    return replace(entry, **changes)


def _leftovers(root: Path) -> list[str]:
    """Anything half-made: staging folders, partial downloads, archives."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.name.startswith(".unpacking-") or p.suffix == ".part" or p.suffix == ".tar")


def test_a_good_archive_is_verified_unpacked_and_readable(server, tmp_path, monkeypatch) -> None:
    entry = _entry(server, "imagenet-r", _imagenet_r_archive())
    monkeypatch.setitem(catalog.FETCHABLE, "imagenet-r", entry)
    said: list[str] = []
    installed = fetch("imagenet-r", tmp_path, progress=False, say=said.append)
    assert installed == tmp_path / "imagenet-r" and (installed / "README.txt").is_file()
    assert len(open_dataset("imagenet-r", tmp_path, {})) == 6
    assert _leftovers(tmp_path) == [] and "installed at" in said[-1]
    assert fetch("imagenet-r", tmp_path, progress=False, say=said.append) == installed  # no second download
    assert "nothing to do" in said[-1] and len(server.requests) == 1


def test_a_corrupted_archive_is_refused_and_nothing_is_unpacked(server, tmp_path, monkeypatch) -> None:
    archive = _imagenet_r_archive()
    entry = _entry(server, "imagenet-r", archive)
    corrupted = bytearray(archive)
    corrupted[700] ^= 0xFF  # one byte of the first image: same size, other content
    server.files["/files/imagenet-r.tar"] = bytes(corrupted)
    monkeypatch.setitem(catalog.FETCHABLE, "imagenet-r", entry)
    with pytest.raises(AuditError, match=r"^imagenet-r.tar does not match its published sha256 .*nothing unpacked") as error:
        fetch("imagenet-r", tmp_path, progress=False, say=lambda line: None)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "imagenet-r").exists() and _leftovers(tmp_path) == []
    # an md5 (as Zenodo publishes) is checked the same way
    md5 = replace(entry, digests=(f"md5:{hashlib.md5(archive).hexdigest()}",))
    monkeypatch.setitem(catalog.FETCHABLE, "imagenet-r", md5)
    with pytest.raises(AuditError, match="published md5"):
        fetch("imagenet-r", tmp_path, progress=False, say=lambda line: None)
    server.files["/files/imagenet-r.tar"] = archive
    fetch("imagenet-r", tmp_path, progress=False, say=lambda line: None)
    assert len(open_dataset("imagenet-r", tmp_path, {})) == 6


def test_a_truncated_download_stops_in_one_line_and_resumes(server, tmp_path, monkeypatch) -> None:
    archive = _imagenet_r_archive()
    entry = _entry(server, "imagenet-r", archive)
    monkeypatch.setitem(catalog.FETCHABLE, "imagenet-r", entry)
    server.mode["/files/imagenet-r.tar"] = "truncate"
    with pytest.raises(AuditError, match=r"stopped at [\d,]+ of [\d,]+ bytes .*again to resume"):
        fetch("imagenet-r", tmp_path, progress=False, say=lambda line: None)
    partial = tmp_path / ".downloads" / "imagenet-r.tar.part"
    assert partial.stat().st_size == len(archive) // 2 and not (tmp_path / "imagenet-r").exists()
    server.mode.clear()
    fetch("imagenet-r", tmp_path, progress=True, say=lambda line: None)  # with the rich progress bar
    assert server.requests[-1] == ("/files/imagenet-r.tar", f"bytes={len(archive) // 2}-")
    assert len(open_dataset("imagenet-r", tmp_path, {})) == 6 and _leftovers(tmp_path) == []


def test_a_server_that_ignores_range_restarts_from_zero(server, tmp_path, monkeypatch) -> None:
    archive = _imagenet_r_archive()
    entry = _entry(server, "imagenet-r", archive)
    monkeypatch.setitem(catalog.FETCHABLE, "imagenet-r", entry)
    (tmp_path / ".downloads").mkdir()
    (tmp_path / ".downloads" / "imagenet-r.tar.part").write_bytes(archive[:100])
    server.mode["/files/imagenet-r.tar"] = "no-range"
    fetch("imagenet-r", tmp_path, progress=False, say=lambda line: None)
    assert server.requests[-1][1] == "bytes=100-" and len(open_dataset("imagenet-r", tmp_path, {})) == 6


def test_no_published_digest_is_a_warning_naming_the_sha256(server, tmp_path, monkeypatch) -> None:
    archive = _tar({"edge/airplane/airplane1.png": b"x"})
    entry = _entry(server, "mvh-edge", archive, digest=UNPUBLISHED, folder="model-vs-human/edge")
    monkeypatch.setitem(catalog.FETCHABLE, "mvh-edge", entry)
    said: list[str] = []
    fetch("mvh-edge", tmp_path, progress=False, say=said.append)
    assert any(f"accepted unverified (sha256 {hashlib.sha256(archive).hexdigest()})" in line for line in said)
    assert (tmp_path / "model-vs-human" / "edge" / "airplane" / "airplane1.png").read_bytes() == b"x"


def test_a_bad_archive_with_the_right_digest_leaves_nothing_half_unpacked(server, tmp_path, monkeypatch) -> None:
    archive = _imagenet_r_archive()[:5500]  # cut inside the fourth image: the digest matches the cut file
    entry = _entry(server, "imagenet-r", archive)
    monkeypatch.setitem(catalog.FETCHABLE, "imagenet-r", entry)
    with pytest.raises(AuditError, match="cannot be unpacked"):
        fetch("imagenet-r", tmp_path, progress=False, say=lambda line: None)
    assert not (tmp_path / "imagenet-r").exists()
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".unpacking-")]


def test_imagenet_c_families_merge_into_one_folder(server, tmp_path, monkeypatch) -> None:
    wnid = imagenet_wnids()[0]
    families = {"noise": ("gaussian_noise", "shot_noise", "impulse_noise"), "blur": ("defocus_blur", "glass_blur")}
    entries = {}
    for family, corruptions in families.items():
        archive = _tar({f"{c}/{s}/{wnid}/ILSVRC2012_val_00000001.JPEG": _jpeg_bytes(s)
                        for c in corruptions for s in (1, 5)}, "")
        entry = _entry(server, family, archive, folder="imagenet-c", layout="merge", contents=(corruptions,))
        entries[family] = replace(entry, name=f"imagenet-c-{family}")
        monkeypatch.setitem(catalog.FETCHABLE, f"imagenet-c-{family}", entries[family])
    for family in families:
        fetch(f"imagenet-c-{family}", tmp_path, progress=False, say=lambda line: None)
    source = open_dataset("imagenet-c", tmp_path, {})
    assert len(source) == 10 and {s.sample_id.split("/")[0] for s in source.samples} == {
        "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur"}
    said: list[str] = []
    fetch("imagenet-c-noise", tmp_path, progress=False, say=said.append)  # whole family present: skipped
    assert any("already unpacked" in line for line in said) and len(server.requests) == 2


def test_a_clip_benchmark_webdataset_repository_is_fetched_file_by_file(server, tmp_path, monkeypatch) -> None:
    """A hub repository like clip-benchmark/wds_imagenet-r: a recursive file listing with LFS
    sha256 for the shards and git blob ids for the text files, fetched then read by the catalog."""
    import webdataset

    shard = io.BytesIO()
    with webdataset.TarWriter(shard) as writer:
        for k, r_class in enumerate((0, 3, 3)):
            writer.write({"__key__": f"s{k:07d}", "jpg": _jpeg_bytes(k), "cls": r_class})
    names = "\n".join(class_names()[i] for i in subset_indices("imagenet_r")) + "\n"
    files = {"classnames.txt": names.encode(), "zeroshot_classification_templates.txt": b"a {c}.\n",
             "test/nshards.txt": b"1\n", "test/0.tar": shard.getvalue(), "README.md": b"card"}
    repo = "clip-benchmark/wds_imagenet-r"
    listing = []
    for path, data in files.items():
        item = {"type": "file", "path": path, "size": len(data),
                "oid": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
        if path.endswith(".tar"):
            item["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}
        listing.append(item)
        server.files[f"/datasets/{repo}/resolve/main/{path}"] = data
    listing.append({"type": "directory", "path": "test", "oid": "0" * 40, "size": 0})
    server.files[f"/api/datasets/{repo}/tree/main?recursive=true"] = json.dumps(listing).encode()

    fetch("wds/imagenet-r", tmp_path, progress=False, say=lambda line: None)
    assert not (tmp_path / "wds" / "imagenet-r" / "README.md").exists()  # only the dataset's files
    source = open_dataset("imagenet-r", tmp_path, {})  # found under <root>/wds/imagenet-r
    r = subset_indices("imagenet_r")
    assert source.labels.tolist() == [r[0], r[3], r[3]] and source.info["layout"] == "CLIP_benchmark webdataset"
    assert _leftovers(tmp_path) == ["wds/imagenet-r/test/0.tar"]  # the shard itself, kept as downloaded

    # a shard that arrives changed is refused and the partial folder keeps only what was verified
    other = tmp_path / "other"
    changed = bytearray(shard.getvalue())
    changed[700] ^= 0xFF  # inside the first image
    server.files[f"/datasets/{repo}/resolve/main/test/0.tar"] = bytes(changed)
    with pytest.raises(AuditError, match="0.tar does not match its published sha256"):
        fetch("wds/imagenet-r", other, progress=False, say=lambda line: None)
    assert not (other / "wds" / "imagenet-r").exists()


def test_offline_and_unreachable_are_one_line(server, tmp_path, monkeypatch) -> None:
    entry = _entry(server, "imagenet-r", _imagenet_r_archive())
    monkeypatch.setitem(catalog.FETCHABLE, "imagenet-r", entry)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AuditError, match="downloads are off"):
        fetch("imagenet-r", tmp_path, progress=False)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    closed = replace(entry, urls=("http://127.0.0.1:9/imagenet-r.tar",))  # the discard port: refused
    monkeypatch.setitem(catalog.FETCHABLE, "imagenet-r", closed)
    with pytest.raises(AuditError, match=r"^cannot reach 127.0.0.1:9 .*offline\?") as error:
        fetch("imagenet-r", tmp_path, progress=False)
    assert "\n" not in str(error.value)


def test_the_cli_fetches_refuses_imagenet_and_lists_what_can_be_fetched(server, tmp_path, monkeypatch, capsys) -> None:
    entry = _entry(server, "imagenet-r", _imagenet_r_archive())
    monkeypatch.setitem(catalog.FETCHABLE, "imagenet-r", entry)
    cli.main(["fetch", "imagenet-r", "--data-root", str(tmp_path), "--no-progress"])
    assert "installed at" in capsys.readouterr().err
    for argv, expected in ((["fetch", "imagenet-val"], "image-net.org"),
                           (["fetch", "imagenet-rr"], "did you mean 'imagenet-r'")):
        with pytest.raises(SystemExit) as exit_:
            cli.main([*argv, "--data-root", str(tmp_path)])
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and expected in err and len(err.strip().splitlines()) == 1
    cli.main(["ls", "datasets", "--data-root", str(tmp_path)])
    listing = capsys.readouterr().out
    row = next(line for line in listing.splitlines() if line.startswith("imagenet-r "))
    assert "found, 6 images" in row and "audit fetch imagenet-r |" in row  # | wds/imagenet-r, folded
    assert re.search(r"^wds/imagenet-o .*not found; no reader yet", listing, re.M)  # an archive filling no dataset


def test_the_table_is_well_formed() -> None:
    """Every entry: https, a digest per url (or UNPUBLISHED / HUB, said so), a known layout; no ImageNet."""
    for name, entry in catalog.FETCHABLE.items():
        assert entry.layout in fetch_module.LAYOUTS and len(entry.urls) == len(entry.digests) == len(entry.sizes)
        for url, digest in zip(entry.urls, entry.digests):
            assert entry.layout == "wds" or url.startswith("https://")
            assert digest in (UNPUBLISHED, HUB) or re.fullmatch(r"(sha256:[0-9a-f]{64}|md5:[0-9a-f]{32}|sha1:[0-9a-f]{40})", digest)
        assert "imagenet1k" not in name and name != "imagenet-val"
    assert catalog.FETCHABLE["cue-conflict"].content_check is not None


def test_a_hub_zip_is_checked_against_the_hubs_sha256(server, tmp_path, monkeypatch) -> None:
    """ImageNet-Sketch's form: a zip on the hub (HF_ENDPOINT), its sha256 from the hub's listing."""
    import zipfile

    buffer = io.BytesIO()
    wnids = imagenet_wnids()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for k in range(3):
            bundle.writestr(f"sketch/{wnids[k]}/sketch_{k}.JPEG", _jpeg_bytes(k))
    archive = buffer.getvalue()
    repo, path = "songweig/imagenet_sketch", "data/ImageNet-Sketch.zip"
    server.files[f"/datasets/{repo}/resolve/main/{path}"] = archive
    listing = [{"type": "file", "path": path, "size": len(archive), "oid": "0" * 40,
                "lfs": {"oid": hashlib.sha256(archive).hexdigest(), "size": len(archive), "pointerSize": 134}}]
    server.files[f"/api/datasets/{repo}/tree/main?recursive=true"] = json.dumps(listing).encode()
    entry = catalog.FETCHABLE["imagenet-sketch"]  # the real entry: huggingface.co, rewritten to HF_ENDPOINT
    monkeypatch.setitem(catalog.FETCHABLE, "imagenet-sketch", replace(entry, sizes=(len(archive),)))
    fetch("imagenet-sketch", tmp_path, progress=False, say=lambda line: None)
    assert len(open_dataset("imagenet-sketch", tmp_path, {})) == 3 and _leftovers(tmp_path) == []
    listing[0]["lfs"]["oid"] = "f" * 64  # the hub lists another file: refused
    server.files[f"/api/datasets/{repo}/tree/main?recursive=true"] = json.dumps(listing).encode()
    with pytest.raises(AuditError, match="ImageNet-Sketch.zip does not match its published sha256"):
        fetch("imagenet-sketch", tmp_path / "other", progress=False, say=lambda line: None)
