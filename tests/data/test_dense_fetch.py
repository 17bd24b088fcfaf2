"""`audit fetch` for the dense datasets against the local test server of tests/engine/test_fetch.py
(127.0.0.1, no network): VOC's tar unpacks to VOCdevkit/ and is read from there; NYU's two .mat
files are kept as they are (the ``files`` layout), each checked, and installed only once all are."""

from __future__ import annotations

import hashlib
import io
import tarfile
from dataclasses import replace

import numpy as np
import pytest

from auditkit.data import catalog
from auditkit.data.catalog import fetch, open_dataset
from auditkit.errors import AuditError
from auditkit.fetch import UNPUBLISHED
from tests.engine.test_fetch import server  # noqa: F401  (the fixture)
from tests.suites.test_dense_layouts import write_nyu, write_voc2012


def _md5(data: bytes) -> str:
    return "md5:" + hashlib.md5(data).hexdigest()


def test_voc2012_tar_unpacks_to_vocdevkit_and_is_read_there(server, tmp_path, monkeypatch) -> None:  # noqa: F811
    rng = np.random.default_rng(0)
    pair = lambda: (rng.integers(0, 255, (16, 20, 3), dtype=np.uint8), rng.integers(0, 21, (16, 20), dtype=np.uint8))
    release = write_voc2012(tmp_path / "release" / "VOCdevkit" / "VOC2012", {"train": [pair()], "val": [pair()]})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:  # the release's own top folder: VOCdevkit/VOC2012/...
        tar.add(release.parent, arcname="VOCdevkit")
    archive = buffer.getvalue()
    server.files["/voc/VOCtrainval_11-May-2012.tar"] = archive
    published = catalog.FETCHABLE["voc2012"]
    monkeypatch.setitem(catalog.FETCHABLE, "voc2012", replace(
        published, urls=(server.url + "/voc/VOCtrainval_11-May-2012.tar",), digests=(_md5(archive),),
        sizes=(len(archive),)))
    data_root = tmp_path / "data"
    installed = fetch("voc2012", data_root, progress=False, say=lambda line: None)
    assert installed == data_root / "VOCdevkit" and (installed / "VOC2012" / "JPEGImages").is_dir()
    source = open_dataset("voc2012", data_root, {})  # the default folder, VOCdevkit/, read as its VOC2012/
    assert [s.sample_id for s in source.samples] == ["2007_train0000", "2007_val0000"]
    said: list[str] = []
    fetch("voc2012", data_root, progress=False, say=said.append)
    assert "nothing to do" in said[-1] and len(server.requests) == 1


def _nyu_release(tmp_path) -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    root = write_nyu(tmp_path / "release", rng.integers(0, 255, (3, 8, 10, 3), dtype=np.uint8),
                     rng.uniform(1, 9, (3, 8, 10)), rng.integers(0, 895, (3, 8, 10)), train=[1, 2], test=[3])
    return {name: (root / name).read_bytes() for name in ("nyu_depth_v2_labeled.mat", "splits.mat",
                                                          "classMapping40.mat")}


def _serve_nyu(server, monkeypatch, files: dict[str, bytes], labeled_digest: str) -> None:
    urls = []
    for name in ("nyu_depth_v2_labeled.mat", "splits.mat"):
        server.files[f"/nyu/{name}"] = files[name]
        urls.append(f"{server.url}/nyu/{name}")
    monkeypatch.setitem(catalog.FETCHABLE, "nyu-depth-v2", replace(
        catalog.FETCHABLE["nyu-depth-v2"], urls=tuple(urls), digests=(labeled_digest, UNPUBLISHED)))


def test_nyu_mat_files_are_kept_as_released_and_checked(server, tmp_path, monkeypatch) -> None:  # noqa: F811
    files = _nyu_release(tmp_path)
    _serve_nyu(server, monkeypatch, files, _md5(files["nyu_depth_v2_labeled.mat"]))
    said: list[str] = []
    installed = fetch("nyu-depth-v2", tmp_path / "data", progress=False, say=said.append)
    assert sorted(p.name for p in installed.iterdir()) == ["nyu_depth_v2_labeled.mat", "splits.mat"]
    assert (installed / "nyu_depth_v2_labeled.mat").read_bytes() == files["nyu_depth_v2_labeled.mat"]
    splits_sha256 = hashlib.sha256(files["splits.mat"]).hexdigest()
    assert any("no digest is published for splits.mat" in line and splits_sha256 in line for line in said)
    assert "classMapping40.mat" in said[-1]  # the installed line says what is left to do by hand
    with pytest.raises(AuditError, match="classMapping40.mat is missing"):
        open_dataset("nyu-depth-v2", tmp_path / "data", {})
    (installed / "classMapping40.mat").write_bytes(files["classMapping40.mat"])
    assert len(open_dataset("nyu-depth-v2", tmp_path / "data", {}).samples) == 3


def test_a_corrupted_nyu_mat_installs_nothing(server, tmp_path, monkeypatch) -> None:  # noqa: F811
    files = _nyu_release(tmp_path)
    _serve_nyu(server, monkeypatch, files, "md5:" + "0" * 32)
    with pytest.raises(AuditError, match=r"nyu_depth_v2_labeled.mat does not match its published md5") as error:
        fetch("nyu-depth-v2", tmp_path / "data", progress=False, say=lambda line: None)
    assert "\n" not in str(error.value)
    assert not (tmp_path / "data" / "nyu-depth-v2").exists()
    assert not list((tmp_path / "data" / ".downloads").glob("nyu_depth_v2_labeled.mat*"))
