"""One module per dataset (or per family of generated entries): each declares ``ENTRIES``, a tuple
of ``DatasetEntry``, and may declare ``ARCHIVES``, `audit fetch` downloads that fill no catalog
dataset. Adding a dataset is adding one module here; the catalog finds it.

``python -m auditkit.data.datasets`` rewrites the dataset table of docs/datasets.md from them."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def modules() -> list[ModuleType]:
    """Every entry module of this package, in name order."""
    return [importlib.import_module(f"{__name__}.{info.name}")
            for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name)
            if not info.name.startswith("_")]  # __main__: the docs writer, no entries
