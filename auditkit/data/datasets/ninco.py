"""NINCO (Bitterwolf et al., ICML 2023): near-OOD images checked by hand to hold no ImageNet-1K object."""

from functools import partial

from auditkit.data.entry import DatasetEntry
from auditkit.data.ood import read_openood_set

LAYOUT = "ninco/<class>/<file> (5,879; NINCO_OOD_classes/ of its release accepted)"

HOW = "OpenOOD's scripts/download/download.py --datasets ninco (Google Drive), or the NINCO release (github.com/j-cb/NINCO)"

CITATION = """@inproceedings{bitterwolf2023ninco,
  title = {In or Out? Fixing ImageNet Out-of-Distribution Detection Evaluation},
  author = {Bitterwolf, Julian and M{\\"u}ller, Maximilian and Hein, Matthias},
  booktitle = {International Conference on Machine Learning (ICML)},
  year = {2023}
}"""

ENTRIES = (
    DatasetEntry(
        "ninco", "ninco", LAYOUT,
        HOW,
        license="NINCO release terms (images from their sources' licenses, research use); list: OpenOOD (MIT)",
        reader=partial(read_openood_set, name="ninco", list_name="test_ninco", layout=LAYOUT),
        citation=CITATION,
        notes="near-OOD of OpenOOD v1.5: hand-checked to contain no ImageNet-1K class",
    ),
)
