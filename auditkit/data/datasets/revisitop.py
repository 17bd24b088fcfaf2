"""Revisited Oxford and Paris (Radenović et al., CVPR 2018): landmark retrieval with easy / hard /
junk ground truth. One entry per set, generated."""

from functools import partial

from auditkit.data.entry import DatasetEntry
from auditkit.data.landmarks import read_revisited

CITATION = """@inproceedings{radenovic2018revisiting,
  title = {Revisiting {Oxford} and {Paris}: Large-Scale Image Retrieval Benchmarking},
  author = {Radenovi{\\'c}, Filip and Iscen, Ahmet and Tolias, Giorgos and Avrithis, Yannis and Chum, Ond{\\v{r}}ej},
  booktitle = {Conference on Computer Vision and Pattern Recognition (CVPR)},
  year = {2018}
}"""

ENTRIES = tuple(
    DatasetEntry(
        name, name, f"jpg/<name>.jpg + gnd_{name}.pkl (revisitop)",
        "download the revisited release from github.com/filipradenovic/revisitop "
        "(its download script fetches the images and the ground truth)",
        license="images from Flickr under their owners' terms; ground truth: revisitop (research use)",
        reader=partial(read_revisited, name=name), citation=CITATION,
        notes="gnd_*.pkl: queries, boxes, easy / hard / junk lists",
    )
    for name in ("roxford5k", "rparis6k")
)
