"""Array helpers for the (possibly memory-mapped) prediction arrays that suites read."""

from __future__ import annotations

import mmap
from typing import Callable

import numpy as np


def reduce_rows(values: np.ndarray, reduce: Callable[[np.ndarray], np.ndarray], chunk: int = 4096) -> np.ndarray:
    """``reduce`` applied to blocks of rows, concatenated. For a memory-mapped store array the
    pages read are then handed back (the file stays in the page cache), so a suite that reduces
    75 ImageNet-C conditions one after another holds one condition's block at a time, not all."""
    result = np.concatenate([reduce(np.asarray(values[start : start + chunk]))
                             for start in range(0, len(values), chunk)]) if len(values) else reduce(np.asarray(values))
    mapping = getattr(values, "_mmap", None)
    if mapping is not None and hasattr(mapping, "madvise"):
        mapping.madvise(mmap.MADV_DONTNEED)
    return result
