"""One dataset's declaration: everything auditkit knows about it, in one place.

Each module of ``auditkit/data/datasets/`` declares its ``ENTRIES`` (and, rarely, ``ARCHIVES``:
downloads that fill no catalog dataset). Everything else is generated from them: the catalog
(``open_dataset``, ``--data`` names), `audit fetch` (``Fetchable``s), `audit ls datasets`, the
dataset BibTeX of `audit export`, and the dataset table of ``docs/datasets.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from auditkit.data.source import DatasetSource
from auditkit.fetch import Fetchable


@dataclass(frozen=True)
class DatasetEntry:
    """One catalog dataset.

    Exactly one of ``reader`` / ``no_reader`` says how it is read (``no_reader``: why it is not
    read on its own, shown by `audit ls datasets`), and exactly one of ``citation`` /
    ``no_citation`` what `audit export` cites for it."""

    name: str  # as in flags, records and `audit ls datasets`
    folder: str  # default folder under the data root
    layout: str  # the released layout, as read (short: `audit ls datasets` and error messages)
    how_to_get: str  # where the release is, for a dataset auditkit cannot fetch itself
    license: str  # the terms the images are released under (short; the release's own text rules)
    reader: Callable[[Path], DatasetSource] | None = None
    no_reader: str = ""
    citation: str = ""  # BibTeX of the paper that released it
    no_citation: str = ""
    downloads: tuple[Fetchable, ...] = ()  # the `audit fetch` names that fill this dataset
    downloads_folded: str = ""  # `audit ls datasets` shows this instead of a long list of names
    not_fetched: Mapping[str, str] | None = None  # `audit fetch` names refused: how to get it instead
    fetch: Callable[[Path], Path] | None = None  # downloads into the given folder on first use (online)
    build: Callable[[Path], Path] | None = None  # made locally on first use, no network (digits)
    webdataset: str = ""  # CLIP_benchmark's folder name: <data root>/wds/<it> is read when the release is absent
    notes: str = ""  # for docs/datasets.md: what the layout line leaves out (labels, protocol)

    def locate(self, data_root: Path, overrides: Mapping[str, str]) -> Path:
        given = overrides.get(self.name)
        if given:
            return Path(given).expanduser()
        released = data_root / self.folder
        if not self.webdataset:
            return released
        # `audit fetch wds/<name>` puts CLIP_benchmark's webdataset copy at <root>/wds/<its name>
        webdataset = data_root / "wds" / self.webdataset
        return webdataset if not released.is_dir() and webdataset.is_dir() else released

    def fetch_names(self) -> list[str]:
        return [download.name for download in self.downloads]

    def citation_key(self) -> str:
        """The BibTeX key of ``citation`` ("" when none)."""
        head = self.citation.partition(",")[0]
        return head.partition("{")[2].strip()
