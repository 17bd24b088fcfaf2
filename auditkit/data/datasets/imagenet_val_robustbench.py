"""RobustBench's 5,000-image ImageNet subset (Croce et al. 2021): imagenet-val's images, its list."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from auditkit.data.datasets.imagenet_val import ENTRIES as VAL_ENTRIES
from auditkit.data.entry import DatasetEntry
from auditkit.data.robustbench import NAME, read_robustbench_subset
from auditkit.data.wds import is_wds_folder

VAL = VAL_ENTRIES[0]
# where a webdataset val is found: its keys (s%07d) carry no val file names to match the list by
NO_FILE_NAMES = "webdataset-copy-has-no-file-names"


@dataclass(frozen=True)
class ValSubsetEntry(DatasetEntry):
    """A subset of imagenet-val read from imagenet-val's own folder: ``--data imagenet-val=PATH``
    (or its own name) says where."""

    def locate(self, data_root: Path, overrides: Mapping[str, str]) -> Path:
        found = Path(overrides[self.name]).expanduser() if overrides.get(self.name) else VAL.locate(data_root, overrides)
        # the catalog reads a webdataset folder as a whole: never hand it one (the subset would be
        # all of val, silently); a folder that is not there says what is needed instead
        return found / NO_FILE_NAMES if is_wds_folder(found) else found


ENTRIES = (
    ValSubsetEntry(
        NAME, "imagenet-val", "imagenet-val's folder (val/<wnid>/*.JPEG or flat + devkit), all 5,000 listed images",
        "the ImageNet val images (see `audit fetch imagenet-val`) as files: the webdataset copy has no file names",
        license="the list: MIT (RobustBench, auditkit/data/robustbench/LICENSE); the images: ImageNet's terms",
        reader=read_robustbench_subset,
        citation="""@inproceedings{croce2021robustbench,
  title = {{RobustBench}: a standardized adversarial robustness benchmark},
  author = {Croce, Francesco and Andriushchenko, Maksym and Sehwag, Vikash and Debenedetti, Edoardo and Flammarion, Nicolas and Chiang, Mung and Mittal, Prateek and Hein, Matthias},
  booktitle = {Thirty-fifth Conference on Neural Information Processing Systems Datasets and Benchmarks Track},
  year = {2021}
}""",
        notes="RobustBench's fixed ImageNet evaluation list (helper_files/imagenet_test_image_ids.txt, shipped); "
              "a val folder lacking any listed image is refused with the count; the adversarial suite reads it with "
              "--option adversarial.subset=robustbench5000",
    ),
)
