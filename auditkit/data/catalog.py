"""The datasets auditkit knows, by the exact names used in flags, records and `audit ls`."""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Iterator, Mapping

from auditkit.data.cue_conflict import RELEASE_URL, fetch_cue_conflict, read_cue_conflict
from auditkit.data.imagenet import read_imagenet_r, read_imagenet_val
from auditkit.data.imagenet_hard import fetch_imagenet_hard, read_imagenet_hard
from auditkit.data.landmarks import read_revisited
from auditkit.data.objectnet import read_objectnet
from auditkit.data.model_vs_human import BENCHMARK as MVH_BENCHMARK, RELEASE_URL as MVH_RELEASE_URL, read_model_vs_human
from auditkit.data.pug import HUB_ID as PUG_HUB_ID, RELEASE_URL as PUG_RELEASE_URL, read_pug_imagenet
from auditkit.data.robustness import read_imagenet_a, read_imagenet_c, read_imagenet_sketch, read_imagenet_v2
from auditkit.data.source import DatasetSource
from auditkit.data.transfer import export_digits, read_digits, read_transfer, read_vtab_1k
from auditkit.data.wds import CLIP_BENCHMARK_NAMES, is_wds_folder, read_wds
from auditkit.errors import AuditError
from auditkit.registry import Registry


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    folder: str  # default folder under the data root
    layout: str
    how_to_get: str
    reader: Callable[[Path], DatasetSource] | None  # None: no reader in this version yet
    fetch: Callable[[Path], Path] | None = None  # downloads into the given folder when allowed
    build: Callable[[Path], Path] | None = None  # made locally on first use, no network (digits)

    def locate(self, data_root: Path, overrides: Mapping[str, str]) -> Path:
        given = overrides.get(self.name)
        if given:
            return Path(given).expanduser()
        released = data_root / self.folder
        # `audit fetch wds/<name>` puts CLIP_benchmark's webdataset copy at <root>/wds/<its name>
        webdataset = data_root / "wds" / CLIP_BENCHMARK_NAMES.get(self.name, "-")
        return webdataset if not released.is_dir() and webdataset.is_dir() else released


DATASETS: Registry[DatasetEntry] = Registry("dataset", base=DatasetEntry)
for _entry in (
    DatasetEntry(
        "imagenet-val", "imagenet-val",
        "val/<wnid>/*.JPEG, or the flat ILSVRC2012_val_*.JPEG folder (+ devkit)",
        "download ILSVRC2012 val from image-net.org (needs an account)", read_imagenet_val,
    ),
    DatasetEntry(
        "imagenet-r", "imagenet-r", "imagenet-r/<wnid>/*.jpg (200 wnids)",
        "download imagenet-r.tar from github.com/hendrycks/imagenet-r", read_imagenet_r,
    ),
    DatasetEntry("imagenet-v2", "imagenet-v2", "imagenetv2-matched-frequency-format-val/<index>/*.jpeg",
                 "download imagenetv2-matched-frequency.tar.gz (github.com/modestyachts/ImageNetV2; "
                 "HF vaishaal/ImageNetV2)", read_imagenet_v2),
    DatasetEntry("imagenet-a", "imagenet-a", "imagenet-a/<wnid>/*.jpg (200 wnids)",
                 "download imagenet-a.tar from github.com/hendrycks/natural-adv-examples", read_imagenet_a),
    DatasetEntry("imagenet-sketch", "imagenet-sketch", "sketch/<wnid>/*.JPEG",
                 "download ImageNet-Sketch (github.com/HaohanWang/ImageNet-Sketch; HF "
                 "clip-benchmark/wds_imagenet_sketch)", read_imagenet_sketch),
    DatasetEntry("objectnet", "objectnet", "objectnet-1.0/images/<class folder>/*.png (113 ImageNet classes scored)",
                 "download ObjectNet 1.0 from objectnet.dev (free registration, its own license)", read_objectnet),
    DatasetEntry("imagenet-real", "imagenet-val", "ImageNet val + ReaL labels (imagenet-x package)",
                 "the robustness suite scores imagenet-val's predictions with the ReaL labels; "
                 "provide imagenet-val", None),
    DatasetEntry("imagenet-hard", "imagenet-hard", "HF taesiri/imagenet-hard (validation): save_to_disk copy or parquet files",
                 "downloaded from the Hugging Face hub when online", read_imagenet_hard, fetch_imagenet_hard),
    DatasetEntry("imagenet-c", "imagenet-c", "<corruption>/<severity>/<wnid>/*.JPEG",
                 "download from zenodo.org/record/2235448; when absent the robustness suite makes it "
                 "from imagenet-val (15 corruptions x 5 severities, auditkit's own, after make_imagenet_c.py)", read_imagenet_c),
    DatasetEntry("cue-conflict", "cue-conflict", "<shape>/<shape><i>-<texture><j>.png (1280)",
                 f"downloaded automatically when online, from {RELEASE_URL}", read_cue_conflict,
                 fetch_cue_conflict),
    DatasetEntry("pug-imagenet", "pug-imagenet",
                 "<Subset>/<PUG class>/<image> + class_to_imagenet_idx.json + labels_pug_imagenet.csv, "
                 f"or a copy of HF {PUG_HUB_ID} + class_to_imagenet_idx.json",
                 f"download {PUG_RELEASE_URL} (27 GB) and unpack its PUG_ImageNet folder there",
                 read_pug_imagenet),
    DatasetEntry("digits", "digits", "train|val|test/<digit>/digits-<i>.png (1797 8x8 scans)",
                 "built in: exported from scikit-learn's load_digits on first use", read_digits,
                 build=export_digits),
    DatasetEntry("transfer", "transfer",
                 "train|val|test/<class>/<image>, VTAB-1k train800/val200/test.txt lists, or a "
                 "datasets DatasetDict with train/test", "your own transfer task: --data transfer=PATH",
                 partial(read_transfer, name="transfer")),
    DatasetEntry("vtab-1k", "vtab-1k",
                 "<task>/train800.txt, val200.txt, test.txt ('<path> <label>') for any of the 19 tasks",
                 "unpack the PEFT repositories' vtab-1k release (NOAH / VPT) there", read_vtab_1k),
    *(DatasetEntry(name, name, f"jpg/<name>.jpg + gnd_{name}.pkl (revisitop)",
                   "download the revisited release from github.com/filipradenovic/revisitop "
                   "(its download script fetches the images and the ground truth)",
                   partial(read_revisited, name=name)) for name in ("roxford5k", "rparis6k")),
    *(DatasetEntry(d.catalog_name, f"model-vs-human/{d.name}",
                   f"{d.name}/dnn/session-1/<trial>_<code>_dnn_<condition>_<category>_<nn>_<image>.png"
                   if d.sessions else f"{d.name}/<category>/<image>.png",
                   f"model-vs-human release v0.1: download {MVH_RELEASE_URL.format(name=d.name)} and unpack it there",
                   partial(read_model_vs_human, name=d.name)) for d in MVH_BENCHMARK if d.name != "cue-conflict"),
):
    DATASETS.register(_entry.name, _entry)


# False inside ``looking_only()``: an absent dataset is neither downloaded nor built (a dry run)
_MAKE_ABSENT: ContextVar[bool] = ContextVar("auditkit_make_absent_datasets", default=True)


@contextlib.contextmanager
def looking_only() -> Iterator[None]:
    """Open datasets without downloading or building an absent one (``audit run --dry-run``
    writes nothing): such a dataset is reported as absent, saying what a run would do."""
    token = _MAKE_ABSENT.set(False)
    try:
        yield
    finally:
        _MAKE_ABSENT.reset(token)


def open_dataset(name: str, data_root: Path, overrides: Mapping[str, str]) -> DatasetSource:
    """Read a dataset or raise one ``AuditError`` saying where we looked and how to provide it."""
    entry = DATASETS.get(name)
    if entry.reader is None:
        raise AuditError(f"dataset {name}: not read on its own ({entry.how_to_get})")
    root = entry.locate(data_root, overrides)
    makeable = (entry.build is not None or entry.fetch is not None) and entry.name not in overrides
    if not root.is_dir() and makeable and not _MAKE_ABSENT.get():
        what = "builds it there" if entry.build is not None else "downloads it there (when online)"
        raise AuditError(f"dataset {name} is not at {root} yet; `audit run` {what} before it starts")
    if not root.is_dir() and entry.build is not None and entry.name not in overrides:
        entry.build(root)
    if not root.is_dir() and entry.fetch is not None and entry.name not in overrides:
        from auditkit.data.cue_conflict import network_allowed

        if network_allowed():  # each fetcher explains its own failure in one line
            entry.fetch(root)
    if not root.is_dir():
        raise AuditError(
            f"dataset {name} not found at {root}; put it there ({entry.layout}; "
            f"{entry.how_to_get}) or pass --data {name}=PATH"
        )
    if is_wds_folder(root):  # CLIP_benchmark's webdataset form of any dataset that has one
        transfer = isinstance(entry.reader, partial) and entry.reader.func is read_transfer
        return read_wds(root, name, transfer)
    return entry.reader(root)


def parse_data_overrides(pairs: list[str]) -> dict[str, str]:
    """``["imagenet-val=/data/val", ...]`` -> {name: path}, names checked."""
    overrides: dict[str, str] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not path:
            raise AuditError(f"--data {pair!r} must look like NAME=PATH, e.g. imagenet-val=/data/val")
        DATASETS.get(name)  # did-you-mean on a typo
        if not Path(path).expanduser().exists():
            raise AuditError(f"--data {name}={path}: no such file or folder; check the path")
        if not Path(path).expanduser().is_dir():
            raise AuditError(f"--data {name}={path} is a file, not a folder; give the folder that holds "
                             f"the dataset ({DATASETS.get(name).layout})")
        overrides[name] = path
    return overrides


def dataset_rows(data_root: Path, overrides: Mapping[str, str]) -> list[tuple[str, ...]]:
    """`audit ls datasets`: one row per dataset (name, status, how to fetch, where, layout), then
    the fetchable archives that fill no catalog dataset."""
    from auditkit.fetch import FETCHABLE, describe, fetchable_for

    rows: list[tuple[str, ...]] = []
    for name in DATASETS.names():
        entry = DATASETS.get(name)
        where = entry.locate(data_root, overrides)
        if entry.reader is None:
            status = "via imagenet-val" if name == "imagenet-real" else "no reader yet"
        elif not where.is_dir() and entry.build is not None:
            status = "built on first use (offline)"
        elif not where.is_dir():
            status = "not found"
        else:
            try:
                status = f"found, {len(open_dataset(name, data_root, overrides))} images"
            except AuditError as error:
                status = f"unreadable: {error}"
        fetch_names = fetchable_for(name)
        if len(fetch_names) > 3 and all(f.startswith("wds/vtab/") for f in fetch_names):
            fetch_names = [f"wds/vtab/<task> ({len(fetch_names)} VTAB tasks, README)"]
        rows.append((name, status, "audit fetch " + " | ".join(fetch_names) if fetch_names else "not fetched",
                     str(where), entry.layout))
    for name, folder, digest, source in describe():  # fetchable, filling no catalog dataset
        if not FETCHABLE[name].provides:
            found = "found" if (data_root / folder).is_dir() else "not found"
            rows.append((name, f"{found}; {FETCHABLE[name].hint}", f"audit fetch {name}", str(data_root / folder),
                         f"{source}; digest: {digest}"))
    return rows
