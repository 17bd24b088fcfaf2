"""The dataset entries (auditkit/data/datasets/): each complete, the catalog and `audit fetch`
unable to disagree (a download is declared inside the entry it fills), the docs' table generated
from them, and a new dataset one new module."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from auditkit.data import catalog
from auditkit.data import datasets as entry_modules
from auditkit.data.corruptions import CORRUPTIONS, HOLD_OUT
from auditkit.data.model_vs_human import BENCHMARK
from auditkit.data.wds import CLIP_BENCHMARK_NAMES
from auditkit.errors import AuditError
from auditkit.fetch import LAYOUTS

ENTRIES = [catalog.DATASETS.get(name) for name in catalog.DATASETS.names()]


def _bibtex_key(entry: str) -> str:
    match = re.fullmatch(r"@(article|inproceedings|book|misc)\{([a-z]+\d{4}[a-z]*),\n(  \w+ = .+,?\n)+\}", entry)
    assert match, entry
    assert entry.count("{") == entry.count("}"), entry
    return match.group(2)


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_every_entry_is_complete(entry) -> None:
    """A reader or the reason there is none; a layout; a citation or the reason there is none;
    a license; where to get it."""
    assert (entry.reader is None) == bool(entry.no_reader), "a reader, or no_reader saying why not"
    assert (not entry.citation) == bool(entry.no_citation), "a citation, or no_citation saying why not"
    assert entry.layout.strip() and entry.how_to_get.strip() and entry.license.strip() and entry.folder.strip()
    if entry.citation:
        assert _bibtex_key(entry.citation) == entry.citation_key()
    assert not (entry.build and entry.fetch), "built or downloaded on first use, not both"


@pytest.mark.parametrize("entry", ENTRIES, ids=[e.name for e in ENTRIES])
def test_a_download_fills_the_folder_its_entry_reads(entry) -> None:
    """What `audit fetch NAME` installs is where `open_dataset` looks (the released folder or
    the webdataset folder), or, folded, a folder the user names with --data."""
    for download in entry.downloads:
        assert catalog.FILLS[download.name] == entry.name and catalog.FETCHABLE[download.name] is download
        assert download.layout in LAYOUTS and len(download.urls) == len(download.digests) == len(download.sizes)
        if entry.downloads_folded:
            assert download.layout == "wds" and entry.reader is not None
        elif download.layout == "wds":
            assert download.folder == f"wds/{entry.webdataset}"
        else:
            assert download.folder == entry.folder
    assert entry.webdataset == CLIP_BENCHMARK_NAMES.get(entry.name, ""), "the wds reader knows it by this name"


def test_every_fetch_name_belongs_to_one_entry_or_is_an_archive() -> None:
    declared = [d.name for e in ENTRIES for d in e.downloads]
    archives = [d.name for m in entry_modules.modules() for d in getattr(m, "ARCHIVES", ())]
    assert sorted(declared + archives) == sorted(catalog.FETCHABLE) and len(set(declared + archives)) == len(declared + archives)
    for name in archives:
        assert catalog.FILLS[name] == "" and catalog.FETCHABLE[name].hint
    assert not set(catalog.NOT_FETCHED) & set(catalog.FETCHABLE)
    assert "imagenet-val" in catalog.NOT_FETCHED and not catalog.DATASETS.get("imagenet-val").downloads


def test_generated_families_match_their_tables() -> None:
    """ImageNet-C's family archives hold every corruption once (a family already there is not
    downloaded again); model-vs-human's 16 entries are its benchmark less cue-conflict."""
    families = catalog.DATASETS.get("imagenet-c").downloads
    per_family = [folders for d in families if d.name != "imagenet-c" for folders in d.contents]
    assert sorted(c for folders in per_family for c in folders) == sorted(CORRUPTIONS + HOLD_OUT)
    assert catalog.FETCHABLE["imagenet-c"].contents == tuple(per_family)
    mvh = sorted(n for n in catalog.DATASETS.names() if n.startswith("mvh-"))
    assert mvh == sorted(d.catalog_name for d in BENCHMARK if d.name != "cue-conflict") and len(mvh) == 16
    assert all(catalog.FILLS[n] == n for n in mvh)


def test_the_docs_table_is_generated_from_the_entries() -> None:
    """docs/datasets.md's table is the entries' (`python -m auditkit.data.datasets` rewrites it)."""
    page = catalog.DOCS.read_text()
    assert catalog.with_table(page) == page, "docs/datasets.md drifted: run python -m auditkit.data.datasets"
    table = catalog.markdown_table()
    for entry in ENTRIES:
        assert f"| `{entry.name}` |" in table and entry.license in table
    for name in catalog.FETCHABLE:
        assert f"`{name}`" in table or catalog.DATASETS.get(catalog.FILLS[name]).downloads_folded
    with pytest.raises(AuditError, match="lacks the table markers"):
        catalog.with_table("# a page without the markers\n")


def test_a_changed_entry_makes_the_docs_drift(monkeypatch) -> None:
    page = catalog.DOCS.read_text()
    entry = catalog.DATASETS.get("imagenet-r")
    from dataclasses import replace

    monkeypatch.setitem(catalog.DATASETS._entries, "imagenet-r", replace(entry, license="another license"))
    assert catalog.with_table(page) != page


def test_a_new_dataset_is_one_new_module(tmp_path, monkeypatch) -> None:
    """A module dropped into auditkit/data/datasets/ is a dataset: read, fetched, listed, cited."""
    package = tmp_path / "extra"
    package.mkdir()
    (package / "imagenet_blur.py").write_text(textwrap.dedent('''
        from auditkit.data.entry import DatasetEntry
        from auditkit.data.imagenet import read_imagenet_r
        from auditkit.fetch import single_archive

        ENTRIES = (DatasetEntry(
            "imagenet-blur", "imagenet-blur", "imagenet-blur/<wnid>/*.JPEG", "example.org",
            license="CC BY 4.0", reader=read_imagenet_r,
            citation="@misc{someone2030blur,\\n  title = {Blur},\\n  year = {2030}\\n}",
            downloads=(single_archive("imagenet-blur", "imagenet-blur", "https://example.org/b.tar",
                                      "sha256:" + "0" * 64, 10, "example.org"),)),)
    '''))
    monkeypatch.setattr(entry_modules, "__path__", [*entry_modules.__path__, str(package)])
    monkeypatch.delitem(sys.modules, "auditkit.data.datasets.imagenet_blur", raising=False)
    datasets, fetchable, fills, _ = catalog.gather(entry_modules.modules())
    assert "imagenet-blur" in datasets and fills["imagenet-blur"] == "imagenet-blur"
    assert fetchable["imagenet-blur"].urls == ("https://example.org/b.tar",)
    assert datasets.get("imagenet-blur").citation_key() == "someone2030blur"
    assert len(datasets.names()) == len(catalog.DATASETS.names()) + 1

    # the same fetch name in a second module is refused, not silently overwritten
    (package / "zz_twice.py").write_text(textwrap.dedent('''
        from auditkit.fetch import single_archive

        ARCHIVES = (single_archive("imagenet-r", "elsewhere", "https://example.org/r.tar", None, None, "x"),)
    '''))
    monkeypatch.delitem(sys.modules, "auditkit.data.datasets.zz_twice", raising=False)
    with pytest.raises(ValueError, match="audit fetch imagenet-r` is declared twice"):
        catalog.gather(entry_modules.modules())


def test_citations_come_from_the_entries() -> None:
    """`audit export` cites a dataset with its entry's BibTeX and holds none itself."""
    from auditkit.export import citations

    source = Path(citations.__file__).read_text()
    for entry in ENTRIES:
        if entry.citation:
            assert catalog.citation(entry.name) == entry.citation
            assert f"{{{entry.citation_key()}," not in source, f"{entry.name}'s BibTeX is held by the exporter"
    assert catalog.citation("transfer") is None and catalog.citation("not-a-catalog-dataset") is None
