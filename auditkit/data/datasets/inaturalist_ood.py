"""iNaturalist OOD subset (Huang & Li, CVPR 2021, as OpenOOD v1.5 lists it): far-OOD plant images."""

from functools import partial

from auditkit.data.entry import DatasetEntry
from auditkit.data.ood import read_openood_set

LAYOUT = "inaturalist/images/*.jpg (10,000; MOS's iNaturalist/images/ accepted)"

HOW = "OpenOOD's scripts/download/download.py --datasets inaturalist (Google Drive), or the iNaturalist OOD subset of MOS (github.com/deeplearning-wisc/large_scale_ood)"

CITATION = """@inproceedings{huang2021mos,
  title = {{MOS}: Towards Scaling Out-of-distribution Detection for Large Semantic Space},
  author = {Huang, Rui and Li, Yixuan},
  booktitle = {Conference on Computer Vision and Pattern Recognition (CVPR)},
  year = {2021}
}"""

ENTRIES = (
    DatasetEntry(
        "inaturalist-ood", "inaturalist-ood", LAYOUT,
        HOW,
        license="iNaturalist images under their owners' licenses (research use); list: OpenOOD (MIT)",
        reader=partial(read_openood_set, name="inaturalist-ood", list_name="test_inaturalist", layout=LAYOUT),
        citation=CITATION,
        notes="far-OOD of OpenOOD v1.5: 10,000 plant images of 110 iNaturalist classes absent from ImageNet-1K (MOS's subset)",
    ),
)
