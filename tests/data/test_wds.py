"""CLIP_benchmark webdataset folders, on fixtures written by CLIP_benchmark's own exporter.

The shards are made by ``clip_benchmark.webdataset_builder.convert_dataset`` (the function behind
``clip_benchmark_export_wds``), so the format is theirs, not our reading of it. Image bytes are
copied verbatim (``path_to_bytes``), so each webdataset sample is matched to its released-layout
file by content hash and the labels must agree; the index is also checked against webdataset's own
streaming reader.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit.data.catalog import open_dataset
from auditkit.data.classes import class_names, imagenet_wnids, subset_indices
from auditkit.data.imagenet import read_imagenet_r
from auditkit.data.robustness import read_imagenet_v2
from auditkit.data.source import ImageDataset
from auditkit.data.wds import COPY_AGAIN, DamagedShard, is_wds_folder, read_wds_imagenet
from auditkit.errors import AuditError, DamagedDataError


@pytest.fixture(scope="module")
def exporter() -> types.ModuleType:
    """``clip_benchmark.webdataset_builder`` imported without its dataset builders (torchvision
    datasets, requests, ...): ``convert_dataset`` does not use them."""
    stubs = {"clip_benchmark.datasets": types.ModuleType("clip_benchmark.datasets"),
             "clip_benchmark.datasets.builder": types.ModuleType("clip_benchmark.datasets.builder")}
    stubs["clip_benchmark.datasets.builder"].build_dataset = None  # type: ignore[attr-defined]
    saved = {name: sys.modules.get(name) for name in [*stubs, "clip_benchmark.webdataset_builder"]}
    sys.modules.update(stubs)
    sys.modules.pop("clip_benchmark.webdataset_builder", None)
    try:
        module = importlib.import_module("clip_benchmark.webdataset_builder")
    finally:
        for name, old in saved.items():
            if old is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = old
    return module


class Pairs(list):
    """(image, label) pairs with the attributes convert_dataset saves."""

    classes: list[str]
    templates: list[str]


def _jpeg(path: Path, seed: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, quality=90)


def _export(exporter: types.ModuleType, pairs: list, classes: list[str], out: Path, split: str = "test",
            max_count: int = 3, image_format: str = "webp") -> None:
    dataset = Pairs(pairs)
    dataset.classes = classes
    dataset.templates = ["a photo of a {c}."]
    transform = exporter.path_to_bytes if isinstance(pairs[0][0], str) else exporter.PIL_to_bytes(image_format)
    exporter.convert_dataset(dataset, split, str(out), transform=transform, image_format=image_format,
                             max_count=max_count, verbose=False)


def _by_hash(source) -> dict[str, int]:
    """content sha1 -> label, reading every image the way the engine does."""
    dataset = ImageDataset(source.samples, lambda image: np.asarray(image), source.table)
    labels = {}
    for position in range(len(dataset)):
        _, index, sha1, error = dataset[position]
        assert not error, error
        labels[sha1] = int(source.samples[index].label)
    return labels


@pytest.fixture(scope="module")
def imagenet_r(tmp_path_factory, exporter) -> tuple[Path, Path]:
    """Released imagenet-r/<wnid>/*.jpg over 4 of its classes, and CLIP_benchmark's export of it
    (labels as its ImageFolder gives them over the 200 folders: position in the sorted wnids)."""
    root = tmp_path_factory.mktemp("imagenet-r")
    released = root / "released" / "imagenet-r"
    r_wnids = [imagenet_wnids()[i] for i in subset_indices("imagenet_r")]
    chosen = [r_wnids[0], r_wnids[57], r_wnids[151], r_wnids[199]]  # 151: index 657, "missile"
    pairs = []
    for k, wnid in enumerate(chosen):
        for j in range(2 + k % 2):
            path = released / wnid / f"art_{j}.jpg"
            _jpeg(path, seed=10 * k + j)
            pairs.append((str(path), r_wnids.index(wnid)))
    classes = [class_names()[i] for i in subset_indices("imagenet_r")]  # CLIP_benchmark's imagenet-r classes
    _export(exporter, pairs, classes, root / "wds")
    return released, root / "wds"


def test_imagenet_r_labels_equal_the_released_reading(imagenet_r) -> None:
    released, folder = imagenet_r
    assert is_wds_folder(folder) and not is_wds_folder(released)
    assert (folder / "test" / "nshards.txt").read_text().strip() == "4"  # 10 images, 3 per shard
    wds = read_wds_imagenet(folder, "imagenet-r")
    reference = read_imagenet_r(released)
    assert len(wds) == len(reference) == 10
    assert _by_hash(wds) == _by_hash(reference)  # the same images carry the same ImageNet labels
    assert wds.class_indices == reference.class_indices == subset_indices("imagenet_r")
    assert 657 in wds.labels  # "missile": a name ImageNet gives two classes, resolved by position
    assert wds.sample_ids[0] == "test/0/s0000000" and wds.sample_ids[-1] == "test/3/s0000009"
    assert "by position" in wds.info["labels"]
    assert len(set(wds.manifest_hash for _ in range(2))) == 1 and wds.manifest_hash != reference.manifest_hash


def test_the_catalog_reads_a_webdataset_folder_given_with_data(imagenet_r, tmp_path) -> None:
    _, folder = imagenet_r
    source = open_dataset("imagenet-r", tmp_path, {"imagenet-r": str(folder)})
    assert source.info["layout"] == "CLIP_benchmark webdataset" and len(source) == 10
    # and finds it under <data root>/wds/<CLIP_benchmark name>, where `audit fetch wds/imagenet-r` puts it
    (tmp_path / "wds").mkdir()
    (tmp_path / "wds" / "imagenet-r").symlink_to(folder, target_is_directory=True)
    assert open_dataset("imagenet-r", tmp_path, {}).sample_ids.tolist() == source.sample_ids.tolist()
    with pytest.raises(AuditError, match="not read from a CLIP_benchmark webdataset"):
        open_dataset("cue-conflict", tmp_path, {"cue-conflict": str(folder)})


def test_the_index_equals_webdatasets_own_stream(imagenet_r) -> None:
    import webdataset

    _, folder = imagenet_r
    wds = read_wds_imagenet(folder, "imagenet-r")
    urls = [str(folder / "test" / f"{n}.tar") for n in range(4)]
    streamed = [(s["__url__"], s["__key__"], s["jpg"], int(s["cls"]))
                for s in webdataset.WebDataset(urls, shardshuffle=False, empty_check=False)]
    r_names = [class_names()[i] for i in subset_indices("imagenet_r")]
    assert [(f"test/{Path(u).stem}/{k}") for u, k, _, _ in streamed] == wds.sample_ids.tolist()
    assert [wds.table.read(s.row) for s in wds.samples] == [data for _, _, data, _ in streamed]
    assert [class_names()[label] for label in wds.labels] == [r_names[cls] for *_, cls in streamed]


def test_imagenet_v2_in_1000_classes_with_the_repeated_names(tmp_path, exporter) -> None:
    """V2's folders are class indices; classes 657/744 ("missile") and 836/837 ("sunglasses")
    share a name in the exporter's list, so only the position can tell them apart."""
    released = tmp_path / "imagenetv2-matched-frequency-format-val"
    pairs = []
    for k, index in enumerate((0, 657, 744, 836, 837, 999)):
        path = released / str(index) / f"{k}.jpeg"
        _jpeg(path, seed=100 + k)
        pairs.append((str(path), index))
    _export(exporter, pairs, list(class_names()), tmp_path / "wds", max_count=4)
    wds = read_wds_imagenet(tmp_path / "wds", "imagenet-v2")
    assert _by_hash(wds) == _by_hash(read_imagenet_v2(tmp_path))
    assert sorted(wds.labels.tolist()) == [0, 657, 744, 836, 837, 999] and wds.class_indices is None


def test_unmappable_class_names_are_refused(imagenet_r, tmp_path) -> None:
    import shutil

    _, folder = imagenet_r
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    names = (copy / "classnames.txt").read_text().splitlines()
    # reordered: no longer the exporter's list, so names are mapped one by one; "missile" is two classes
    (copy / "classnames.txt").write_text("\n".join([names[1], names[0], *names[2:]]) + "\n")
    with pytest.raises(AuditError, match="cannot be mapped one-to-one.*names of two ImageNet classes \\(missile\\)"):
        read_wds_imagenet(copy, "imagenet-r")
    (copy / "classnames.txt").write_text("\n".join(["not a class", *names[1:]]) + "\n")
    with pytest.raises(AuditError, match="not ImageNet class names \\(e.g. 'not a class'\\)"):
        read_wds_imagenet(copy, "imagenet-r")
    (copy / "classnames.txt").write_text("\n".join(names) + "\n")
    assert len(read_wds_imagenet(copy, "imagenet-r")) == 10
    (copy / "test" / "2.tar").unlink()  # never a silently smaller dataset
    with pytest.raises(AuditError, match="lists 4 shards in nshards.txt but 1 are missing"):
        read_wds_imagenet(copy, "imagenet-r")


def test_names_in_another_order_are_mapped_by_name(tmp_path, exporter) -> None:
    """An export with the 1000 names in another order (but none repeated) maps by name."""
    reference = list(class_names())
    order = [i for i in range(1000) if reference[i] not in ("missile", "sunglasses")][::-1]
    path = tmp_path / "released" / "5" / "a.jpeg"
    _jpeg(path, seed=7)
    _export(exporter, [(str(path), order.index(5))], [reference[i] for i in order], tmp_path / "wds")
    source = read_wds_imagenet(tmp_path / "wds", "imagenet-v2")
    assert source.labels.tolist() == [5] and "by name" in source.info["labels"]


def test_a_transfer_task_keeps_its_own_classes_and_splits(tmp_path, exporter) -> None:
    """A VTAB-like task exported as CLIP_benchmark does (PIL images re-encoded as lossless webp),
    train and test splits; read as --data transfer=PATH."""
    classes = ["cat", "dog", "bird"]
    pairs = {split: [(Image.fromarray(np.full((8, 8, 3), 40 * i + 7 * k, np.uint8)), i % 3)
                     for i in range(n) for k in [split == "test"]] for split, n in (("train", 7), ("test", 5))}
    for split, items in pairs.items():
        _export(exporter, items, classes, tmp_path / "task", split=split, max_count=4)
    source = open_dataset("transfer", tmp_path, {"transfer": str(tmp_path / "task")})
    assert source.info["splits"] == {"train": 7, "val": 0, "test": 5}
    assert source.info["class_names"] == classes and source.info["layout"] == "CLIP_benchmark webdataset"
    for sample in source.samples:
        split, shard, key = sample.sample_id.split("/")
        position = 4 * int(shard) + int(key[1:]) % 4
        image, label = pairs[split][int(key[1:])]
        assert sample.label == label and sample.attribute("split") == split and position == int(key[1:])
        decoded = np.asarray(Image.open(io.BytesIO(source.table.read(sample.row))))
        assert np.array_equal(decoded, np.asarray(image))  # lossless webp: the same pixels
    engine = ImageDataset(source.samples, lambda image: np.asarray(image), source.table)
    assert engine[0][2] == hashlib.sha1(source.table.read(source.samples[0].row)).hexdigest()


def test_folders_that_are_not_classification_are_refused(imagenet_r, tmp_path) -> None:
    import shutil

    _, folder = imagenet_r
    shutil.copytree(folder, tmp_path / "copy")
    (tmp_path / "copy" / "dataset_type.txt").write_text("retrieval\n")
    with pytest.raises(AuditError, match="retrieval webdataset"):
        read_wds_imagenet(tmp_path / "copy", "imagenet-r")


def test_objectnet_labels_and_pixels_equal_the_released_reading(tmp_path, exporter) -> None:
    """CLIP_benchmark's ObjectNetDataset: 113 classes (lower-case ObjectNet labels of the sorted
    overlapping folders), label = position; read with the released reader's label sets and 2 px crop."""
    import json
    from importlib import resources

    from auditkit.data.objectnet import folder_classes, read_objectnet

    label_of = json.loads(resources.files("auditkit.data").joinpath("objectnet", "folder_to_objectnet_label.json")
                          .read_text())
    folders = sorted(folder_classes())
    images = tmp_path / "objectnet-1.0" / "images"
    pairs = []
    for k, folder in enumerate((folders[0], folders[50], folders[-1])):
        for j in range(2):
            path = images / folder / f"{j}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = np.random.default_rng(10 * k + j).integers(0, 255, (20, 24, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path)
            pairs.append((str(path), folders.index(folder)))
    _export(exporter, pairs, [label_of[f].lower() for f in folders], tmp_path / "wds")
    wds = open_dataset("objectnet", tmp_path, {"objectnet": str(tmp_path / "wds")})
    released = read_objectnet(tmp_path)
    assert _by_hash(wds) == _by_hash(released)  # same cropped pixels, same labels
    sets = {s.label_set for s in released.samples}
    assert {s.label_set for s in wds.samples} == sets and len(sets) == 3
    assert wds.class_indices == released.class_indices and "by position" in wds.info["labels"]


def test_the_header_reader_equals_tarfile_and_leaves_pax_to_it(imagenet_r, tmp_path) -> None:
    """The shards' headers read directly give tarfile's (name, offset, size); a shard with a pax
    long-name header is left to tarfile, which reads it the same way."""
    import tarfile

    from auditkit.data.wds import ustar_members

    _, folder = imagenet_r
    for shard in sorted((folder / "test").glob("*.tar")):
        with tarfile.open(shard) as tar:
            expected = [(m.name, m.offset_data, m.size) for m in tar if m.isreg()]
        assert ustar_members(shard) == expected and expected
    pax = tmp_path / "pax.tar"
    long_name = "s" + "0" * 120 + ".jpg"
    with tarfile.open(pax, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in (long_name, "s1.jpg"):
            info = tarfile.TarInfo(name)
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
    with tarfile.open(pax) as tar:
        assert ustar_members(pax) == [(m.name, m.offset_data, m.size) for m in tar] and tar.getnames()[0] == long_name
    gnu = tmp_path / "gnu.tar"
    with tarfile.open(gnu, "w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(long_name)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    from auditkit.data.wds import _tar_members

    assert ustar_members(gnu) is None  # GNU long name: left to tarfile
    assert [m["fname"] for m in _tar_members(gnu)] == [long_name]
    truncated = tmp_path / "cut.tar"
    truncated.write_bytes((folder / "test" / "0.tar").read_bytes()[:1500])
    with pytest.raises(DamagedShard, match="ends inside a tar header at byte 1024"):
        ustar_members(truncated)  # a cut shard is never a shorter member list


@pytest.fixture(scope="module")
def eight_per_shard(tmp_path_factory, exporter) -> Path:
    """imagenet-r exported by CLIP_benchmark, 16 images in two shards of 8 (pax headers before
    every member, two end-of-archive blocks, padded to 10240-byte records)."""
    root = tmp_path_factory.mktemp("eight")
    r_wnids = [imagenet_wnids()[i] for i in subset_indices("imagenet_r")]
    pairs = []
    for k in range(16):
        path = root / "released" / r_wnids[k % 4] / f"art_{k}.jpg"
        _jpeg(path, seed=200 + k)
        pairs.append((str(path), k % 4))
    _export(exporter, pairs, [class_names()[i] for i in subset_indices("imagenet_r")], root / "wds", max_count=8)
    return root / "wds"


def _members(shard: Path) -> list:
    import tarfile

    with tarfile.open(shard) as tar:
        return list(tar)


def _with_shard(folder: Path, into: Path, data: bytes) -> Path:
    """A copy of ``folder`` whose shard 0 holds ``data``."""
    import shutil

    shutil.copytree(folder, into)
    (into / "test" / "0.tar").write_bytes(data)
    return into


@pytest.mark.parametrize("where", ["sample boundary", "pax header", "ustar header", "member data",
                                   "end blocks", "zero bytes"])
def test_a_cut_shard_is_refused_naming_it_and_the_fix(eight_per_shard, tmp_path, where) -> None:
    """Cut at a sample boundary or inside a header, tar's own reader stops without a word and
    the shard reads as 6 of its 8 samples; every cut is refused, naming the shard and the fix."""
    data = (eight_per_shard / "test" / "0.tar").read_bytes()
    members = _members(eight_per_shard / "test" / "0.tar")
    seventh = members[12]  # s0000006.cls: its pax header starts at a sample boundary
    assert seventh.name == "s0000006.cls" and len(members) == 16
    last = members[-1]
    cut = {"sample boundary": seventh.offset, "pax header": seventh.offset + 100,
           "ustar header": seventh.offset + 1024 + 300, "member data": members[13].offset_data + 500,
           "end blocks": last.offset_data + (last.size + 511) // 512 * 512, "zero bytes": 0}[where]
    assert len(read_wds_imagenet(eight_per_shard, "imagenet-r")) == 16  # the whole shard
    copy = _with_shard(eight_per_shard, tmp_path / "cut", data[:cut])
    with pytest.raises(DamagedDataError) as refused:
        read_wds_imagenet(copy, "imagenet-r")
    message = str(refused.value)
    assert "\n" not in message and f"shard {copy / 'test' / '0.tar'} is damaged" in message
    assert message.endswith(COPY_AGAIN)  # the reader alone knows no download; the catalog names it
    with pytest.raises(DamagedDataError) as refused:
        open_dataset("imagenet-r", tmp_path, {"imagenet-r": str(copy)})
    assert f"delete {copy} and run `audit fetch wds/imagenet-r`" in str(refused.value)


def test_whole_tars_of_every_writer_are_read_and_data_past_the_end_block_is_refused(eight_per_shard,
                                                                                     tmp_path) -> None:
    """Python's tarfile (each format, file and stream mode) and webdataset's writer end a tar with
    two zero blocks padded to 10240-byte records; one zero block (GNU tar accepts it) or no padding
    is whole too. A shard with data after its end block, or a tarfile-read (GNU long name) shard
    cut short, is damaged."""
    import tarfile

    import webdataset

    from auditkit.data.wds import _tar_members

    for number, (form, mode) in enumerate([(f, m) for f in ("USTAR", "GNU", "PAX") for m in ("w", "w|")]):
        shard = tmp_path / f"{number}.tar"
        with tarfile.open(shard, mode, format=getattr(tarfile, f"{form}_FORMAT")) as tar:
            for name in ("s0.cls", "s0.jpg", "s1.cls", "s1.jpg"):
                info = tarfile.TarInfo(name)
                info.size = 700
                tar.addfile(info, io.BytesIO(b"1" * 700))
        assert shard.stat().st_size % 10240 == 0 and len(list(_tar_members(shard))) == 4
    written = tmp_path / "webdataset.tar"
    with webdataset.TarWriter(str(written)) as writer:
        writer.write({"__key__": "s0", "cls": b"1", "jpg": b"2" * 900})
    assert [m["fname"] for m in _tar_members(written)] == ["s0.cls", "s0.jpg"]
    data = (eight_per_shard / "test" / "0.tar").read_bytes()
    last = _members(eight_per_shard / "test" / "0.tar")[-1]
    end = last.offset_data + (last.size + 511) // 512 * 512
    for whole in (data[:end + 512], data[:end + 1024]):  # one end block; two, unpadded
        copy = _with_shard(eight_per_shard, tmp_path / str(len(whole)), whole)
        assert len(read_wds_imagenet(copy, "imagenet-r")) == 16
    appended = _with_shard(eight_per_shard, tmp_path / "appended", data[:end + 512] + data[:end])
    with pytest.raises(DamagedDataError, match="data after its end-of-archive block .* which its index misses"):
        read_wds_imagenet(appended, "imagenet-r")
    long_name = tmp_path / "long.tar"  # GNU long names: read by tarfile, which stops silently at a cut
    with tarfile.open(long_name, "w", format=tarfile.GNU_FORMAT) as tar:
        for key in ("s" + "0" * 120, "s" + "1" * 120):
            for ext, body in (("cls", b"1"), ("jpg", b"3" * 600)):
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    assert len(list(_tar_members(long_name))) == 4
    cut = tmp_path / "long_cut.tar"
    cut.write_bytes(long_name.read_bytes()[:_members(long_name)[2].offset])  # at the second sample
    with pytest.raises(DamagedShard, match="no end-of-archive blocks"):
        list(_tar_members(cut))


def test_an_empty_shard_among_several_gives_a_notice(eight_per_shard, tmp_path) -> None:
    """An empty tar (end blocks only) is read as no samples with a notice; every shard empty is refused."""
    empty = bytes(10240)
    copy = _with_shard(eight_per_shard, tmp_path / "one", empty)
    source = read_wds_imagenet(copy, "imagenet-r")
    assert len(source) == 8 and len(source.notices) == 1
    assert source.notices[0].startswith(f"1 of the 2 shards of {copy / 'test'} hold no samples (empty tars: 0.tar)")
    assert not read_wds_imagenet(eight_per_shard, "imagenet-r").notices
    (copy / "test" / "1.tar").write_bytes(empty)
    with pytest.raises(DamagedDataError, match="the 2 shard\\(s\\) of .* hold no samples"):
        read_wds_imagenet(copy, "imagenet-r")


def test_the_cli_refuses_a_cut_shard_in_one_line_and_notes_an_empty_one(eight_per_shard, tiny_model_file, tmp_path,
                                                                        capsys) -> None:
    """The run and its dry run exit 2 with one line (never a plan of 14 of the 16 images); an
    empty shard among several is a note in the plan."""
    from tests.engine.test_bad_input import one_error_line

    from auditkit.cli import main

    data = (eight_per_shard / "test" / "0.tar").read_bytes()
    cut = _with_shard(eight_per_shard, tmp_path / "cut", data[:_members(eight_per_shard / "test" / "0.tar")[12].offset])

    def args(folder: Path, out: str, *extra: str) -> list[str]:
        return ["run", "--model", f"python:{tiny_model_file}:make", "--suites", "calibration",
                "--data", f"imagenet-r={folder}", "--datasets", "imagenet-r", "--data-root", str(tmp_path / "none"),
                "--out", str(tmp_path / out), "--cache", str(tmp_path / "cache"), "--workers", "0", "--no-progress",
                *extra]

    for extra in (["--dry-run"], []):
        err = one_error_line(capsys, args(cut, "out", *extra))
        assert f"imagenet-r: shard {cut / 'test' / '0.tar'} is damaged" in err and "audit fetch wds/imagenet-r" in err
    assert not (tmp_path / "out").exists()
    empty = _with_shard(eight_per_shard, tmp_path / "empty", bytes(10240))
    main(args(empty, "planned", "--dry-run"))
    plan = capsys.readouterr().out.splitlines()
    assert "  imagenet-r  none  logits  8 images  forward" in plan
    assert any(line.startswith(f"note: all suites: 1 of the 2 shards of {empty / 'test'} hold no samples")
               for line in plan)
