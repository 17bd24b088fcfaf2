"""The datasets auditkit knows, by the exact names used in flags, records and `audit ls`.

Gathered from the entry modules of ``auditkit/data/datasets/`` (one per dataset or family):
the registry ``DATASETS``, every `audit fetch` name (``FETCHABLE``, each tied to its dataset by
being declared in its entry), the names `audit fetch` refuses with how to get the data instead
(``NOT_FETCHED``), `audit ls datasets` (``dataset_rows``) and the dataset table of
``docs/datasets.md`` (``markdown_table``; ``python -m auditkit.data.datasets`` rewrites it).
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable, Iterator, Mapping

import auditkit.data.datasets as entry_modules
from auditkit.data.entry import DatasetEntry
from auditkit.data.source import DatasetSource
from auditkit.data.transfer import read_transfer
from auditkit.data.wds import CLIP_BENCHMARK_NAMES, COPY_AGAIN, is_wds_folder, read_wds
from auditkit.errors import AuditError
from auditkit.fetch import Fetchable, incomplete, install, network_allowed
from auditkit.registry import Registry, did_you_mean


def gather(modules: Iterable[ModuleType]) -> tuple[Registry[DatasetEntry], dict[str, Fetchable], dict[str, str],
                                                  dict[str, str]]:
    """The catalog of ``modules``' ``ENTRIES`` and ``ARCHIVES``: the dataset registry, every
    `audit fetch` name (-> what it downloads, -> the dataset it fills, "" for none) and the names
    `audit fetch` refuses (-> how to get the data). A name declared twice is an error."""
    datasets: Registry[DatasetEntry] = Registry("dataset", base=DatasetEntry)
    fetchable: dict[str, Fetchable] = {}
    fills: dict[str, str] = {}
    refused: dict[str, str] = {}

    def claim(name: str, module: ModuleType) -> None:
        if name in fetchable or name in refused:
            raise ValueError(f"`audit fetch {name}` is declared twice (again in {module.__name__})")

    for module in modules:
        for entry in getattr(module, "ENTRIES", ()):
            datasets.register(entry.name, entry)
            for download in entry.downloads:
                claim(download.name, module)
                fetchable[download.name], fills[download.name] = download, entry.name
            for name, how in (entry.not_fetched or {}).items():
                claim(name, module)
                refused[name] = how
        for download in getattr(module, "ARCHIVES", ()):
            claim(download.name, module)
            fetchable[download.name], fills[download.name] = download, ""
    return datasets, fetchable, fills, refused


DATASETS, FETCHABLE, FILLS, NOT_FETCHED = gather(entry_modules.modules())


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


_MADE_BEFORE = "before it starts"  # the end of the dry run's message for a dataset the run makes


def made_by_the_run(reason: str) -> bool:
    """Whether a dry run's skip ``reason`` is a dataset the run downloads or builds first (so
    the run computes on it: the dry run is not refused for it)."""
    return reason.endswith(_MADE_BEFORE)


def open_dataset(name: str, data_root: Path, overrides: Mapping[str, str]) -> DatasetSource:
    """Read a dataset or raise one ``AuditError`` saying where we looked and how to provide it."""
    entry = DATASETS.get(name)
    if entry.reader is None:
        raise AuditError(f"dataset {name}: not read on its own ({entry.how_to_get})")
    root = entry.locate(data_root, overrides)
    makeable = (entry.build is not None or entry.fetch is not None) and entry.name not in overrides
    if not root.is_dir() and makeable and not _MAKE_ABSENT.get():
        what = "builds it there" if entry.build is not None else "downloads it there (when online)"
        raise AuditError(f"dataset {name} is not at {root} yet; `audit run` {what} {_MADE_BEFORE}")
    if not root.is_dir() and entry.build is not None and entry.name not in overrides:
        entry.build(root)
    if not root.is_dir() and entry.fetch is not None and entry.name not in overrides:
        if network_allowed():  # each fetcher explains its own failure in one line
            entry.fetch(root)
    if not root.is_dir():
        raise AuditError(
            f"dataset {name} not found at {root}; put it there ({entry.layout}; "
            f"{entry.how_to_get}) or pass --data {name}=PATH"
        )
    if is_wds_folder(root):  # CLIP_benchmark's webdataset form of any dataset that has one
        transfer = isinstance(entry.reader, partial) and entry.reader.func is read_transfer
        return read_wds(root, name, transfer, refetch_hint(root, name))
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
        if name in overrides:
            raise AuditError(f"--data {name}= is given twice ({overrides[name]} and {path}); give each dataset once")
        overrides[name] = path
    return overrides


def check_data_root(data_root: Path) -> None:
    """A data root that is a file (or under one) is refused in one line: `audit fetch` would fail
    making ``.downloads/`` in it, and `audit ls datasets` list every dataset as not found."""
    for folder in (data_root, *data_root.parents):
        if folder.exists() and not folder.is_dir():
            where = "is a file" if folder == data_root else f"is under the file {folder}"
            raise AuditError(f"data root {data_root} {where}, not a folder; give a folder with --data-root "
                             "(or $AUDITKIT_DATA)")
        if folder.is_dir():
            return


def dataset_rows(data_root: Path, overrides: Mapping[str, str]) -> list[tuple[str, ...]]:
    """`audit ls datasets`: one row per dataset (name, status, how to fetch, where, layout), then
    the fetchable archives that fill no catalog dataset."""
    check_data_root(data_root)
    rows: list[tuple[str, ...]] = []
    for name in DATASETS.names():
        entry = DATASETS.get(name)
        where = entry.locate(data_root, overrides)
        if entry.reader is None:
            status = entry.no_reader
        elif not where.is_dir() and entry.build is not None:
            status = "built on first use (offline)"
        elif not where.is_dir():
            status = "not found"
        else:
            try:
                status = f"found, {len(open_dataset(name, data_root, overrides))} images"
            except AuditError as error:
                status = f"unreadable: {error}"
        fetch = entry.downloads_folded or " | ".join(entry.fetch_names())
        rows.append((name, status, f"audit fetch {fetch}" if fetch else "not fetched", str(where), entry.layout))
    for name in sorted(n for n, dataset in FILLS.items() if not dataset):
        download = FETCHABLE[name]
        found = "found" if (data_root / download.folder).is_dir() else "not found"
        rows.append((name, f"{found}; {download.hint}", f"audit fetch {name}", str(data_root / download.folder),
                     f"{download.source}; digest: {download.digest_kinds()}"))
    return rows


def citation(dataset: str) -> str | None:
    """The BibTeX of the paper that released ``dataset``; None for a name the catalog does not
    know (a decisions file's own dataset) or an entry that declares no citation."""
    if dataset not in DATASETS:
        return None
    return DATASETS.get(dataset).citation or None


# --- docs/datasets.md ------------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "datasets.md"
TABLE_BEGIN = "<!-- dataset table: generated from auditkit/data/datasets/ by `python -m auditkit.data.datasets`; do not edit -->"
TABLE_END = "<!-- end of the dataset table -->"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fetch_cell(entry: DatasetEntry) -> str:
    if entry.downloads_folded:
        said = f"`{entry.downloads_folded.split(' ', 1)[0]}` {entry.downloads_folded.split(' ', 1)[1]}"
    elif entry.downloads:
        said = " or ".join(f"`{d.name}` ({d.digest_kinds()})" for d in entry.downloads)
    elif entry.fetch is not None:
        said = "downloaded on first use"
    elif entry.build is not None:
        said = "built on first use"
    else:
        said = "no"
    refused = sorted(entry.not_fetched or {})
    return said + (f"; refused: {', '.join(f'`{n}`' for n in refused)}" if refused else "")


def markdown_table() -> str:
    """The dataset table of docs/datasets.md, from the entries (a test keeps the page in step)."""
    lines = ["| name | layout | read | `audit fetch` | license | cite |", "|---|---|---|---|---|---|"]
    for name in DATASETS.names():
        entry = DATASETS.get(name)
        layout = f"`{_cell(entry.layout)}`" + (f"; {_cell(entry.notes)}" if entry.notes else "")
        read = "yes" if entry.reader is not None else _cell(entry.no_reader)
        cite = f"`{entry.citation_key()}`" if entry.citation else _cell(entry.no_citation)
        lines.append(f"| `{name}` | {layout} | {read} | {_fetch_cell(entry)} | {_cell(entry.license)} | {cite} |")
    lines += ["", "Fetchable, filling no catalog dataset:", "", "| `audit fetch` | folder | source | digest | use |",
              "|---|---|---|---|---|"]
    for name in sorted(n for n, dataset in FILLS.items() if not dataset):
        download = FETCHABLE[name]
        lines.append(f"| `{name}` | `{download.folder}` | {_cell(download.source)} | {download.digest_kinds()} | "
                     f"{_cell(download.hint)} |")
    return "\n".join(lines) + "\n"


def with_table(page: str) -> str:
    """``page`` with the region between the table markers replaced by ``markdown_table()``."""
    before, begin, rest = page.partition(TABLE_BEGIN)
    _, end, after = rest.partition(TABLE_END)
    if not begin or not end:
        raise AuditError(f"{DOCS} lacks the table markers {TABLE_BEGIN!r} ... {TABLE_END!r}; put them back")
    return f"{before}{TABLE_BEGIN}\n{markdown_table()}{TABLE_END}{after}"


def write_docs_table() -> Path:
    """Rewrite the dataset table of docs/datasets.md (``python -m auditkit.data.datasets``)."""
    DOCS.write_text(with_table(DOCS.read_text()))
    return DOCS


def fetch(name: str, data_root: Path, progress: bool = True, say: Callable[[str], None] = print) -> Path:
    """`audit fetch NAME`: install the catalog's download ``name`` under ``data_root``; returns its folder."""
    if name in NOT_FETCHED:
        raise AuditError(NOT_FETCHED[name])
    if name not in FETCHABLE:
        raise AuditError(f"audit fetch: unknown dataset {name!r}{did_you_mean(name, sorted(FETCHABLE))}; "
                         "`audit ls datasets` lists what can be fetched")
    check_data_root(data_root)
    fetchable = FETCHABLE[name]
    target = data_root / fetchable.folder
    if fetchable.layout != "merge" and target.exists():
        problem = incomplete(fetchable, target)
        if not problem and FILLS[name]:
            try:  # the reader's checks too: a half-unpacked class tree is not "already there"
                open_dataset(FILLS[name], data_root, {FILLS[name]: str(target)})
            except AuditError as error:
                problem = str(error)
        if problem:
            raise AuditError(f"audit fetch {name}: {target} is there but not whole ({problem}); delete it and run "
                             f"`audit fetch {name}` again")
        say(f"audit fetch {name}: already at {target}; nothing to do (delete it to fetch again)")
        return target
    installed = install(fetchable, target, data_root / ".downloads", progress, say)
    say(f"audit fetch {name}: installed at {installed} ({fetchable.source})")
    return installed


def refetch_hint(root: Path, name: str) -> str:
    """How to get a whole copy of webdataset folder ``root`` (the fix a damaged shard's message
    names): `audit fetch` where it can download it (into a folder that is not there yet), else
    from where it came."""
    known = CLIP_BENCHMARK_NAMES.get(name, f"{root.parent.name}/{root.name}")  # transfer: wds/vtab/<task>
    if f"wds/{known}" in FETCHABLE:
        return f"re-download it: delete {root} and run `audit fetch wds/{known}`"
    return COPY_AGAIN
