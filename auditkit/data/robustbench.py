"""RobustBench's fixed 5,000-image ImageNet subset, read from an ImageNet val folder.

RobustBench evaluates every ImageNet model of its leaderboards on the same 5,000 val images
(``helper_files/imagenet_test_image_ids.txt``, shipped in ``auditkit/data/robustbench/`` with its
source and license). Numbers compare with its leaderboard only on those images, so the subset is
a dataset of its own (``imagenet-val-robustbench5000``): it has its own manifest hash, so the
prediction store never mixes its entries with full-val ones, and its records name it.

The images are imagenet-val's (the same folder, ``--data imagenet-val=PATH`` serves both), read by
the imagenet-val reader, then restricted to the list. A val folder that lacks any of the 5,000 is
refused with the count: a subset silently smaller than RobustBench's would not compare with it.
Each listed image's class folder must be its label (the reader checks the labels; this module
checks that RobustBench's wnid agrees).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from auditkit.data.classes import imagenet_wnids
from auditkit.data.imagenet import read_imagenet_val
from auditkit.data.source import DatasetSource
from auditkit.errors import AuditError

NAME = "imagenet-val-robustbench5000"
IDS_FILE = "imagenet_test_image_ids.txt"
SIZE = 5000


@lru_cache(maxsize=1)
def robustbench_ids() -> dict[str, str]:
    """RobustBench's ImageNet subset: val file name -> the wnid RobustBench files it under."""
    text = resources.files("auditkit.data").joinpath("robustbench", IDS_FILE).read_text()
    listed = {name: wnid for wnid, name in (line.split("/") for line in text.split())}
    if len(listed) != SIZE:
        raise RuntimeError(f"auditkit/data/robustbench/{IDS_FILE} lists {len(listed)} distinct images, not {SIZE}")
    return listed


def read_robustbench_subset(root: Path) -> DatasetSource:
    """The 5,000 images of RobustBench's list from the ImageNet val folder at ``root``."""
    val = read_imagenet_val(root)
    listed = robustbench_ids()
    kept = tuple(s for s in val.samples if s.sample_id in listed)
    if len(kept) != len(listed):
        absent = sorted(set(listed) - {s.sample_id for s in kept})
        raise AuditError(f"{NAME}: the ImageNet val folder {val.root} lacks {len(absent)} of RobustBench's {SIZE} "
                         f"images (first: {listed[absent[0]]}/{absent[0]}); point --data imagenet-val at the full "
                         "50,000-image val folder")
    wnids = imagenet_wnids()
    disagree = [s for s in kept if wnids[s.label] != listed[s.sample_id]]
    if disagree:
        first = disagree[0]
        raise AuditError(f"{NAME}: {len(disagree)} image(s) are labelled otherwise than RobustBench files them, e.g. "
                         f"{first.sample_id} is {wnids[first.label]} here, {listed[first.sample_id]} in its list; "
                         "check the val labels")
    return replace(val, name=NAME, samples=kept,
                   info={**val.info, "subset": f"RobustBench's {SIZE} ImageNet val images ({IDS_FILE})"})
