"""Textures (DTD, Cimpoi et al., CVPR 2014), as OpenOOD v1.5 lists it: far-OOD texture images."""

from functools import partial

from auditkit.data.entry import DatasetEntry
from auditkit.data.ood import read_openood_set

LAYOUT = "texture/<class>/*.jpg (5,160; DTD's dtd/images/ accepted)"

HOW = "OpenOOD's scripts/download/download.py --datasets texture (Google Drive), or DTD (robots.ox.ac.uk/~vgg/data/dtd)"

CITATION = """@inproceedings{cimpoi2014describing,
  title = {Describing Textures in the Wild},
  author = {Cimpoi, Mircea and Maji, Subhransu and Kokkinos, Iasonas and Mohamed, Sammy and Vedaldi, Andrea},
  booktitle = {Conference on Computer Vision and Pattern Recognition (CVPR)},
  year = {2014}
}"""

ENTRIES = (
    DatasetEntry(
        "textures", "textures", LAYOUT,
        HOW,
        license="DTD: research use (images from Flickr under their owners' terms); list: OpenOOD (MIT)",
        reader=partial(read_openood_set, name="textures", list_name="test_textures", layout=LAYOUT),
        citation=CITATION,
        notes="far-OOD of OpenOOD v1.5: DTD less the images OpenOOD removed (5,160 of 5,640)",
    ),
)
