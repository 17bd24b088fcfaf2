"""CLIP_benchmark's webdataset folders as a dataset layout, read in place (never unpacked).

The layout is the one CLIP_benchmark's ``build_wds_dataset`` reads and its exporter
(``clip_benchmark.webdataset_builder.convert_dataset``) writes, e.g. HF ``clip-benchmark/wds_imagenet-r``::

    <root>/classnames.txt                          one class name per line, indexed by cls
    <root>/zeroshot_classification_templates.txt   (not needed here)
    <root>/dataset_type.txt                        optional: multilabel / retrieval (refused)
    <root>/<split>/nshards.txt                     N
    <root>/<split>/{0..N-1}.tar                    samples: key s%07d, an image (webp, png, jpg
                                                   or jpeg; the first present, as CLIP_benchmark's
                                                   ``to_tuple``) and ``cls``

How it is read. A shard is an uncompressed tar, so a member can be read at its byte offset: one
pass over the tar headers (``tarfile``, seeking past the data) lists every member, webdataset's own
``group_by_keys`` groups members into samples by its key rule (``base_plus_ext``), and an image is
read later by seeking to its offset. The engine needs random access by position (shards of the
prediction store are resumed and batched identically in a fresh or a resumed run), which a pure
stream cannot give; in practice the reads run through each shard in order. A header reader (ours or
tarfile's) stops without a word at a cut header or at the end of a file cut at a sample boundary,
so where the headers stop is checked against the file: a whole shard has an end-of-archive block
there and only zeros after it; any other shard is refused as damaged, never a smaller dataset.
Sample ids are ``<split>/<shard>/<key>`` (``test/0/s0000000``); the content hash the store keeps
is of the image bytes, so paired tests and the cache work as with files.

Labels. ``cls`` indexes the folder's ``classnames.txt``. For the ImageNet sets the names are
mapped to ImageNet indices: CLIP_benchmark writes open_clip's ``IMAGENET_CLASSNAMES`` (its
``en_classnames.json`` "imagenet1k" list), masked to the 200 wnids in index order for ImageNet-A/R.
That list repeats two names ("missile" 657/744, "sunglasses" 836/837), so a folder whose names are
exactly the exporter's list (full, or the A/R subset) is mapped by position, as the exporter
wrote it; any other list is mapped name by name and must be one-to-one and unambiguous, else the
folder is refused. ObjectNet's 113 names are mapped to its ImageNet classes as the released reader
maps its folders. Transfer tasks (VTAB, ``--data transfer=PATH``) keep their own classes.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections import defaultdict
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Sequence

from auditkit.data.source import DatasetSource, Sample
from auditkit.errors import AuditError, DamagedDataError

IMAGE_EXTENSIONS = ("webp", "png", "jpg", "jpeg")  # CLIP_benchmark's to_tuple order
LAYOUT = "CLIP_benchmark webdataset: <split>/{0..N-1}.tar + <split>/nshards.txt + classnames.txt"
# the folder names CLIP_benchmark publishes (HF clip-benchmark/wds_<name>) for our dataset names
CLIP_BENCHMARK_NAMES = {
    "imagenet-val": "imagenet1k", "imagenet-v2": "imagenetv2", "imagenet-sketch": "imagenet_sketch",
    "imagenet-a": "imagenet-a", "imagenet-r": "imagenet-r", "objectnet": "objectnet",
}
# ImageNet-labelled datasets: the label space a folder's class names must map into
_SUBSETS = {"imagenet-a": "imagenet_a", "imagenet-r": "imagenet_r"}
_SPLIT_ALIASES = {"train": "train", "val": "val", "validation": "val", "valid": "val", "test": "test"}
_SKIP_META = re.compile(r"__[^/]*__($|/)")  # webdataset's tar_file_iterator skip_meta default
_ZERO_BLOCK = bytes(512)
# The fix a damaged or empty shard's message ends with, where the reader is not told a better one
# (the catalog tells it `audit fetch wds/<name>` where that can download the folder: catalog.refetch_hint)
COPY_AGAIN = "copy the folder again from where it came (a whole shard ends with the tar end-of-archive blocks)"
_PLAIN_TYPES = (b"0", b"\0", b"1", b"2", b"3", b"4", b"5", b"6")  # files, links, devices, folders, fifos


def is_wds_folder(root: Path) -> bool:
    """A folder with at least one ``<split>/nshards.txt`` (CLIP_benchmark's mandatory file)."""
    if not root.is_dir():
        return False
    with os.scandir(root) as entries:  # d_type, not a stat per file: a flat val folder has 50,000
        return any(entry.is_dir() and os.path.isfile(os.path.join(entry.path, "nshards.txt")) for entry in entries)


class ShardTable:
    """Images stored as members of uncompressed tar shards; ``read(row)`` seeks to the member.

    Opened per read (not kept open), so DataLoader worker processes never share a file offset."""

    def __init__(self, locations: Sequence[tuple[Path, int, int]]) -> None:
        self.locations = list(locations)  # row -> (shard, offset of the member's data, size)

    def read(self, row: int) -> bytes:
        shard, offset, size = self.locations[row]
        with open(shard, "rb") as handle:
            handle.seek(offset)
            data = handle.read(size)
        if len(data) != size:
            raise OSError(f"{shard} ends before its member at byte {offset} ({len(data)} of {size} bytes)")
        return data


class BorderCroppedShardTable(ShardTable):
    """ObjectNet: the shard's image less its 2 px border, as the released-layout reader gives it
    (a lossless PPM of the crop), so both forms hash and score the same pixels."""

    def read(self, row: int) -> bytes:
        import io

        from PIL import Image, ImageOps

        from auditkit.data.objectnet import BORDER

        with Image.open(io.BytesIO(super().read(row))) as image:
            cropped = ImageOps.crop(image.convert("RGB"), border=BORDER)
        buffer = io.BytesIO()
        cropped.save(buffer, format="PPM")
        return buffer.getvalue()


class DamagedShard(Exception):
    """A shard whose tar stream is not whole; the reader turns it into a ``DamagedDataError``
    naming the dataset and the fix."""


def ustar_members(shard: Path) -> list[tuple[str, int, int]] | None:
    """(name, data offset, size) of the regular members, read from the 512-byte ustar headers and
    the pax records webdataset's writer puts before each (``path``, ``size`` honoured, the rest
    irrelevant here): tarfile parses a header in about 100 us, seconds for the 200,000 headers of a
    50,000 image set. None when the shard holds anything else (GNU long names, pax global headers,
    base-256 sizes, a bad checksum): ``tarfile`` reads those and reports errors. ``DamagedShard``
    when the stream is cut short (see ``stream_damage``)."""
    members = []
    extended: dict[bytes, bytes] = {}  # a pax header's records, for the member that follows it
    with open(shard, "rb") as handle:
        end = os.fstat(handle.fileno()).st_size
        offset = 0
        while offset + 512 <= end:
            handle.seek(offset)
            block = handle.read(512)
            if block == _ZERO_BLOCK:
                break  # end-of-archive marker
            typeflag = block[156:157]
            if (typeflag not in _PLAIN_TYPES and typeflag != b"x") or block[124] & 0x80:
                return None
            try:
                checksum = int(block[148:156].split(b"\0", 1)[0].strip() or b"0", 8)
                size = int(block[124:136].split(b"\0", 1)[0].strip() or b"0", 8)
            except ValueError:
                return None
            if checksum != sum(block[:148]) + 256 + sum(block[156:]):
                return None
            if typeflag == b"x":  # pax: "<length> <key>=<value>\n" records (webdataset writes them)
                extended = _pax_records(handle.read(size))
                if extended is None:
                    return None
                offset += 512 + (size + 511) // 512 * 512
                continue
            name = block[:100].split(b"\0", 1)[0]
            if block[257:263] == b"ustar\x00" and block[345] != 0:  # POSIX ustar: name = prefix/name
                name = block[345:500].split(b"\0", 1)[0] + b"/" + name
            name = extended.get(b"path", name)
            if b"size" in extended:
                if not extended[b"size"].isdigit():
                    return None
                size = int(extended[b"size"])
            extended = {}
            if typeflag in (b"0", b"\0"):
                members.append((name.decode("utf-8", "surrogateescape"), offset + 512, size))
            offset += 512 + (size + 511) // 512 * 512
        damage = stream_damage(handle, offset, end)
    if damage:
        raise DamagedShard(damage)
    return members


def stream_damage(handle: BinaryIO, stop: int, size: int) -> str | None:
    """Why a shard whose headers were read up to byte ``stop`` is not a whole tar stream, or None.

    A whole stream ends with an end-of-archive block of 512 zero bytes at ``stop`` (tarfile and
    webdataset's writer write two, GNU tar accepts one) and holds only zeros after it (the padding
    to 10240-byte records). A stream that stops anywhere else was cut short: at a sample boundary
    (no end blocks), inside a header, or inside a member's data; a header reader that stops on
    such a file would otherwise read it as a smaller dataset."""
    if size == 0:
        return "it is an empty file (0 bytes), not a tar"
    if stop > size:
        return f"a member runs to byte {stop}, past the end of the file at byte {size} (the file was cut short)"
    if stop == size:
        return f"its tar stream stops at byte {size} with no end-of-archive blocks (the file was cut short)"
    handle.seek(stop)
    block = handle.read(512)
    if len(block) < 512:
        return f"it ends inside a tar header at byte {stop}, {len(block)} of its 512 bytes (the file was cut short)"
    if block != _ZERO_BLOCK:
        return f"it holds an unreadable tar header at byte {stop} of {size}"
    while chunk := handle.read(1 << 20):
        if chunk.count(0) != len(chunk):
            return f"it holds data after its end-of-archive block at byte {stop} of {size}, which its index misses"
    return None


def _pax_records(data: bytes) -> dict[bytes, bytes] | None:
    records: dict[bytes, bytes] = {}
    position = 0
    while position < len(data) and data[position:position + 1] != b"\0":
        length_text, _, _ = data[position:position + 20].partition(b" ")
        if not length_text.isdigit() or int(length_text) <= len(length_text) + 1:
            return None
        record = data[position:position + int(length_text)]
        key, sep, value = record[len(length_text) + 1:].partition(b"=")
        if not sep or not value.endswith(b"\n"):
            return None
        records[key] = value[:-1]
        position += int(length_text)
    return records


def _tar_members(shard: Path) -> Iterator[dict[str, Any]]:
    """The regular members of one shard as webdataset's file samples, with (offset, size) in
    place of the bytes: headers only, the data is skipped by seeking. ``DamagedShard`` when the
    stream is not whole, ``AuditError`` when it is not an uncompressed tar."""
    try:
        members = ustar_members(shard)
        if members is None:
            members = _tarfile_members(shard)
    except (tarfile.TarError, OSError) as error:
        raise AuditError(f"{shard} is not a readable uncompressed tar shard ({error}); download it again") from None
    for name, offset, size in members:
        if "/" not in name and name.startswith("__") and name.endswith("__"):
            continue  # webdataset skips such metadata members
        if _SKIP_META.match(name):
            continue
        yield {"fname": name, "data": (offset, size), "__url__": str(shard)}


def _tarfile_members(shard: Path) -> list[tuple[str, int, int]]:
    """``ustar_members`` for what it leaves to tarfile. tarfile stops without a word at a header
    cut short or unreadable after the first one, so where it stopped is judged as for ours."""
    with open(shard, "rb") as handle, tarfile.open(fileobj=handle, mode="r:") as tar:
        members = []
        stopped: tarfile.ReadError | None = None
        try:
            members.extend((info.name, info.offset_data, info.size) for info in tar if info.isreg())
        except tarfile.ReadError as error:  # a member's data past the end of the file, a cut pax header
            stopped = error
        damage = stream_damage(handle, tar.offset, os.fstat(handle.fileno()).st_size)
    if damage:
        raise DamagedShard(damage)
    if stopped is not None:
        raise stopped  # unreadable where the stream looks whole: reported as not a readable tar
    return members


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise AuditError(f"cannot read {path} ({error.strerror or error})") from None


def split_shards(split_folder: Path, name: str) -> list[Path]:
    """``{0..N-1}.tar`` by ``nshards.txt``; a listed shard that is missing is refused (never a
    silently smaller dataset, CLIP_benchmark PR #88)."""
    text = _read_text(split_folder / "nshards.txt").strip()
    if not text.isdigit() or int(text) < 1:
        raise AuditError(f"{name}: {split_folder / 'nshards.txt'} holds {text!r}, not a shard count")
    shards = [split_folder / f"{number}.tar" for number in range(int(text))]
    missing = [s.name for s in shards if not s.is_file()]
    if missing:
        raise AuditError(f"{name}: {split_folder} lists {len(shards)} shards in nshards.txt but "
                         f"{len(missing)} are missing ({', '.join(missing[:3])}...); download them again")
    return shards


def _index_split(root: Path, split: str, name: str, refetch: str = COPY_AGAIN,
                 ) -> tuple[list[tuple[str, int, Path, int, int]], list[str]]:
    """(sample id, cls, shard, image offset, image size) of every sample of one split, and the
    notices for the user (an empty shard among several); ``refetch``: how to get a whole copy."""
    from webdataset.tariterators import group_by_keys

    rows: list[tuple[str, int, Path, int, int]] = []
    shards = split_shards(root / split, name)
    empty = []
    for number, shard in enumerate(shards):
        try:
            samples = list(group_by_keys(_tar_members(shard)))
        except ValueError as error:  # a key with two members of one extension
            raise AuditError(f"{name}: {shard}: {error}") from None
        except DamagedShard as damage:
            raise DamagedDataError(f"{name}: shard {shard} is damaged: {damage}; {refetch}") from None
        if not samples:
            empty.append(shard)
        with open(shard, "rb") as handle:
            for sample in samples:
                key = sample["__key__"]
                image = next((ext for ext in IMAGE_EXTENSIONS if ext in sample), None)
                if image is None or "cls" not in sample:
                    has = sorted(k for k in sample if not k.startswith("__"))
                    raise AuditError(f"{name}: sample {key} of {shard} has {', '.join(has)}; a classification "
                                     f"sample needs an image ({'/'.join(IMAGE_EXTENSIONS)}) and cls")
                offset, size = sample["cls"]
                handle.seek(offset)
                text = handle.read(size).decode("utf-8", "replace").strip()
                if not text.lstrip("-").isdigit():
                    raise AuditError(f"{name}: sample {key} of {shard} has cls {text!r}, not an integer")
                rows.append((f"{split}/{number}/{key}", int(text), shard, *sample[image]))
    if len(empty) == len(shards):
        raise DamagedDataError(f"{name}: the {len(shards)} shard(s) of {root / split} hold no samples (empty tars); "
                               f"{refetch}")
    ids = [row[0] for row in rows]
    if len(set(ids)) != len(ids):
        raise AuditError(f"{name}: {root / split} holds a sample key twice in one shard; rebuild the shards")
    notices = [f"{len(empty)} of the {len(shards)} shards of {root / split} hold no samples (empty tars: "
               f"{', '.join(s.name for s in empty[:3])}{'...' if len(empty) > 3 else ''}); the others are read. "
               f"If they should hold samples, {refetch}"] if empty else []
    return rows, notices


def _class_names(root: Path, name: str) -> list[str]:
    path = root / "classnames.txt"
    if not path.is_file():
        raise AuditError(f"{name}: {path} is missing; a CLIP_benchmark classification folder has classnames.txt")
    return [line.strip() for line in _read_text(path).splitlines()]  # as build_wds_dataset reads it


def _check_type(root: Path, name: str) -> None:
    path = root / "dataset_type.txt"
    kind = _read_text(path).strip().lower() if path.is_file() else "classification"
    if kind != "classification":
        raise AuditError(f"{name}: {root} is a CLIP_benchmark {kind} webdataset (dataset_type.txt); "
                         "only single-label classification folders are read")


def imagenet_label_map(names: list[str], space: Sequence[int], dataset: str) -> tuple[list[int], str]:
    """ImageNet index of each of a folder's class names (position = cls) and how it was found.

    ``space``: the indices the dataset's classes lie in (range(1000), or the A/R 200)."""
    from auditkit.data.classes import class_names

    reference = class_names()
    for candidate in dict.fromkeys((tuple(space), tuple(range(1000)))):
        if names == [reference[i] for i in candidate]:
            return list(candidate), (f"classnames.txt is CLIP_benchmark's ImageNet list ({len(candidate)} "
                                     "classes, index order): mapped by position")
    where: dict[str, list[int]] = defaultdict(list)
    for index, class_name in enumerate(reference):
        where[class_name].append(index)
    repeated = sorted({n for n in names if names.count(n) > 1})
    unknown = [n for n in names if n not in where]
    ambiguous = sorted({n for n in names if len(where.get(n, ())) > 1})
    if repeated or unknown or ambiguous:
        problems = []
        if unknown:
            problems.append(f"{len(unknown)} not ImageNet class names (e.g. {unknown[0]!r})")
        if repeated:
            problems.append(f"repeated names ({', '.join(repeated[:3])})")
        if ambiguous:
            problems.append(f"names of two ImageNet classes ({', '.join(ambiguous)})")
        raise AuditError(
            f"{dataset}: the class names of this webdataset folder cannot be mapped one-to-one to ImageNet "
            f"classes: {'; '.join(problems)}. Export it with CLIP_benchmark's class names (open_clip's "
            "IMAGENET_CLASSNAMES, in index order) or use the released folder layout"
        )
    return [where[n][0] for n in names], "classnames.txt mapped to ImageNet indices by name (one-to-one)"


def _evaluation_split(root: Path, name: str) -> str:
    splits = sorted(c.name for c in root.iterdir() if (c / "nshards.txt").is_file())
    if "test" in splits:
        return "test"  # CLIP_benchmark's evaluation split
    if len(splits) == 1:
        return splits[0]
    raise AuditError(f"{name}: {root} has splits {', '.join(splits)} and no test/; keep the evaluation split only")


def read_wds_imagenet(root: Path, name: str, refetch: str = COPY_AGAIN) -> DatasetSource:
    """An ImageNet-labelled evaluation set (val, V2, Sketch, A, R) from its webdataset folder."""
    from auditkit.data.classes import subset_indices

    _check_type(root, name)
    names = _class_names(root, name)
    subset = subset_indices(_SUBSETS[name]) if name in _SUBSETS else None
    index_of, how = imagenet_label_map(names, subset or range(1000), name)
    split = _evaluation_split(root, name)
    rows, notices = _index_split(root, split, name, refetch)
    samples = []
    for row, (sample_id, cls, shard, offset, size) in enumerate(rows):
        if not 0 <= cls < len(index_of):
            raise AuditError(f"{name}: sample {sample_id} has cls {cls}, outside the {len(index_of)} classes of "
                             "classnames.txt; the folder is inconsistent")
        label = index_of[cls]
        if subset is not None and label not in subset:
            raise AuditError(f"{name}: sample {sample_id} is class {label} ({names[cls]!r}), not one of the "
                             f"dataset's 200 classes; point --data {name} at the {name} folder")
        samples.append(Sample(path=shard, label=label, sample_id=sample_id, row=row, size=size))
    if not samples:
        raise AuditError(f"{name}: no samples in {root / split}")
    info = {"layout": "CLIP_benchmark webdataset", "split": split, "labels": how,
            "shards": len({s.path for s in samples})}
    if name == "imagenet-val":
        info["file_names"] = "not in the webdataset (keys s%07d): ReaL and ImageNet-X match by val file name"
    return DatasetSource(name, root, tuple(samples), class_indices=subset, info=info, notices=tuple(notices),
                         table=ShardTable([(shard, offset, size) for _, _, shard, offset, size in rows]))


def read_wds_transfer(root: Path, name: str, refetch: str = COPY_AGAIN) -> DatasetSource:
    """A transfer task (e.g. CLIP_benchmark ``wds/vtab/<task>``): its own classes 0..k-1, samples
    carry their split as an attribute like the other transfer layouts."""
    _check_type(root, name)
    names = _class_names(root, name)
    present = {c.name: _SPLIT_ALIASES[c.name] for c in sorted(root.iterdir())
               if c.name in _SPLIT_ALIASES and (c / "nshards.txt").is_file()}
    if len(set(present.values())) != len(present):
        raise AuditError(f"{name}: {root} has two folders for one split ({', '.join(present)}); keep one")
    samples: list[Sample] = []
    locations: list[tuple[Path, int, int]] = []
    notices: list[str] = []
    for folder, split in present.items():
        rows, split_notices = _index_split(root, folder, name, refetch)
        notices.extend(split_notices)
        for sample_id, cls, shard, offset, size in rows:
            if not 0 <= cls < len(names):
                raise AuditError(f"{name}: sample {sample_id} has cls {cls}, outside the {len(names)} classes of "
                                 "classnames.txt; the folder is inconsistent")
            samples.append(Sample(path=shard, label=cls, sample_id=sample_id, row=len(locations), size=size,
                                  attributes=(("split", split),)))
            locations.append((shard, offset, size))
    counts = {split: sum(s.attribute("split") == split for s in samples) for split in ("train", "val", "test")}
    if not counts["train"] or not counts["test"]:
        raise AuditError(f"{name}: {root} needs train and test splits for a linear probe (found {counts}); "
                         "download both splits of the CLIP_benchmark task")
    return DatasetSource(name, root, tuple(samples), table=ShardTable(locations), notices=tuple(notices), info={
        "task": "transfer", "layout": "CLIP_benchmark webdataset", "splits": counts, "classes": len(names),
        "class_names": names, "labels": "the dataset's own classes (0..k-1, classnames.txt), not ImageNet's",
    })


def read_wds_objectnet(root: Path, name: str = "objectnet", refetch: str = COPY_AGAIN) -> DatasetSource:
    """CLIP_benchmark's ``wds/objectnet``: its 113 classes are the ObjectNet classes that overlap
    ImageNet, named by their ObjectNet label in lower case, in the order of their sorted image
    folders (its ``ObjectNetDataset``). Each is scored, as the released reader does, against its
    ImageNet classes (``label_set``), logits restricted to the 125, images less a 2 px border."""
    import json
    from importlib import resources

    from auditkit.data.objectnet import BORDER, class_sublist, folder_classes

    _check_type(root, name)
    names = _class_names(root, name)
    label_of = json.loads(resources.files("auditkit.data").joinpath("objectnet", "folder_to_objectnet_label.json")
                          .read_text())
    folders = sorted(folder_classes())
    folder_of = {label_of[f].lower(): f for f in folders}
    if names == [label_of[f].lower() for f in folders]:
        how = "classnames.txt is CLIP_benchmark's ObjectNet list (113 classes): mapped by position"
        by_cls = folders
    elif len(set(names)) == len(names) and all(n in folder_of for n in names):
        how, by_cls = "classnames.txt mapped to ObjectNet classes by name", [folder_of[n] for n in names]
    else:
        unknown = [n for n in names if n not in folder_of] or sorted({n for n in names if names.count(n) > 1})
        raise AuditError(f"{name}: the class names of this webdataset folder are not the 113 ObjectNet classes that "
                         f"overlap ImageNet (e.g. {unknown[0]!r}); export it with CLIP_benchmark or use the release")
    split = _evaluation_split(root, name)
    rows, notices = _index_split(root, split, name, refetch)
    samples = []
    for row, (sample_id, cls, shard, offset, size) in enumerate(rows):
        if not 0 <= cls < len(by_cls):
            raise AuditError(f"{name}: sample {sample_id} has cls {cls}, outside the {len(by_cls)} classes of "
                             "classnames.txt; the folder is inconsistent")
        indices = folder_classes()[by_cls[cls]]
        samples.append(Sample(path=shard, label=indices[0], sample_id=sample_id, label_set=indices, row=row,
                              size=size))
    return DatasetSource(name, root, tuple(samples), class_indices=class_sublist(), info={
        "layout": "CLIP_benchmark webdataset", "split": split, "labels": how, "border_crop_px": BORDER,
        "shards": len({s.path for s in samples})}, notices=tuple(notices),
        table=BorderCroppedShardTable([(shard, offset, size) for _, _, shard, offset, size in rows]))


def read_wds(root: Path, name: str, transfer: bool, refetch: str = COPY_AGAIN) -> DatasetSource:
    """Dispatch for the catalog: ImageNet evaluation sets by name, any transfer dataset;
    ``refetch``: how to get a whole copy, for the message of a damaged shard."""
    if transfer:
        return read_wds_transfer(root, name, refetch)
    if name == "objectnet":
        return read_wds_objectnet(root, name, refetch)
    if name in CLIP_BENCHMARK_NAMES:
        return read_wds_imagenet(root, name, refetch)
    raise AuditError(f"{name} is not read from a CLIP_benchmark webdataset folder ({root}); "
                     f"the webdataset form covers {', '.join(CLIP_BENCHMARK_NAMES)} and transfer tasks. "
                     f"Point --data {name} at its released layout")
