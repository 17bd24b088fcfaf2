"""The ImageNet-1k label space: wnid <-> class index, and the 200-class subsets.

One source of truth: timm's shipped synset lists (``timm/data/_info``). The index of a class is
its position in the sorted list of the 1000 wnids, never the order of folders on disk.
"""

from __future__ import annotations

import pkgutil
from functools import lru_cache


def _timm_info(filename: str) -> list[str]:
    data = pkgutil.get_data("timm.data", f"_info/{filename}")
    assert data is not None, filename
    return data.decode("utf-8").split()


@lru_cache(maxsize=None)
def imagenet_wnids() -> tuple[str, ...]:
    wnids = tuple(_timm_info("imagenet_synsets.txt"))
    assert len(wnids) == 1000 and list(wnids) == sorted(wnids)
    return wnids


@lru_cache(maxsize=None)
def wnid_to_index() -> dict[str, int]:
    return {wnid: index for index, wnid in enumerate(imagenet_wnids())}


@lru_cache(maxsize=None)
def subset_indices(subset: str) -> tuple[int, ...]:
    """The ImageNet indices of a 200-class subset (``imagenet_a`` or ``imagenet_r``).

    Checked against timm's own index list, so the wnid list and the index list cannot disagree.
    """
    wnids = _timm_info(f"{subset}_synsets.txt")
    indices = tuple(wnid_to_index()[w] for w in wnids)
    shipped = tuple(int(i) for i in _timm_info(f"{subset}_indices.txt"))
    if indices != shipped:
        raise RuntimeError(f"timm's {subset} synsets and indices disagree")
    return indices


@lru_cache(maxsize=None)
def class_names() -> tuple[str, ...]:
    import open_clip

    return tuple(open_clip.IMAGENET_CLASSNAMES)
