"""SSB-hard (Vaze et al., ICLR 2022): near-OOD, ImageNet-21K images of classes close to ImageNet-1K."""

from functools import partial

from auditkit.data.entry import DatasetEntry
from auditkit.data.ood import read_openood_set

LAYOUT = "ssb_hard/<wnid>/*.JPEG (49,000 ImageNet-21K images)"

HOW = "OpenOOD's scripts/download/download.py --datasets ssb_hard (Google Drive), or the SSB release (github.com/sgvaze/osr_closed_set_all_you_need) built from ImageNet-21K"

CITATION = """@inproceedings{vaze2022openset,
  title = {Open-Set Recognition: a Good Closed-Set Classifier is All You Need?},
  author = {Vaze, Sagar and Han, Kai and Vedaldi, Andrea and Zisserman, Andrew},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2022}
}"""

ENTRIES = (
    DatasetEntry(
        "ssb-hard", "ssb-hard", LAYOUT,
        HOW,
        license="ImageNet-21K terms (non-commercial research); list: OpenOOD (MIT)",
        reader=partial(read_openood_set, name="ssb-hard", list_name="test_ssb_hard", layout=LAYOUT),
        citation=CITATION,
        notes="near-OOD of OpenOOD v1.5: ImageNet-21K classes semantically close to ImageNet-1K (Semantic Shift Benchmark, hard split)",
    ),
)
