"""OpenImage-O (Wang et al., CVPR 2022), as OpenOOD v1.5 lists it: far-OOD, and OpenOOD's OOD-val set."""

from functools import partial

from auditkit.data.entry import DatasetEntry
from auditkit.data.ood import read_openood_set

LAYOUT = "openimage_o/images/*.jpg (15,869)"

HOW = "OpenOOD's scripts/download/download.py --datasets openimage_o (Google Drive), or ViM's OpenImage-O list (github.com/haoqiwang/vim) over OpenImages"

CITATION = """@inproceedings{wang2022vim,
  title = {{ViM}: Out-Of-Distribution with Virtual-logit Matching},
  author = {Wang, Haoqi and Li, Zhizhong and Feng, Litong and Zhang, Wayne},
  booktitle = {Conference on Computer Vision and Pattern Recognition (CVPR)},
  year = {2022}
}"""

ENTRIES = (
    DatasetEntry(
        "openimage-o", "openimage-o", LAYOUT,
        HOW,
        license="OpenImages: CC BY 2.0 per image (annotations CC BY 4.0); list: OpenOOD (MIT)",
        reader=partial(read_openood_set, name="openimage-o", list_name="test_openimage_o", layout=LAYOUT),
        citation=CITATION,
        notes="far-OOD of OpenOOD v1.5 (its test list; the OOD-val list is openimage-o-val)",
    ),
    DatasetEntry(
        "openimage-o-val", "openimage-o", "openimage_o/images/*.jpg (1,763 of OpenOOD's val_openimage_o list)",
        HOW,
        license="OpenImages: CC BY 2.0 per image (annotations CC BY 4.0); list: OpenOOD (MIT)",
        reader=partial(read_openood_set, name="openimage-o-val", list_name="val_openimage_o",
                       layout="openimage_o/images/*.jpg"),
        citation=CITATION,
        notes="OpenOOD v1.5's OOD-val set (for methods that tune on OOD; no score of the ood suite does)",
    ),
)
