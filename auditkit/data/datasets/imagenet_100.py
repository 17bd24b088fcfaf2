"""ImageNet-100: CMC's 100-class subset of ImageNet-1k (Tian et al. 2020), the one Liu et al. 2021
train from scratch on; read from an ImageNet train / val folder, the class list shipped with its
source (auditkit/data/imagenet100/README.md)."""

from auditkit.data.entry import DatasetEntry
from auditkit.data.imagenet100 import NAME, read_imagenet100

CITATION = """@inproceedings{tian2020contrastive,
  title = {Contrastive Multiview Coding},
  author = {Tian, Yonglong and Krishnan, Dilip and Isola, Phillip},
  booktitle = {European Conference on Computer Vision (ECCV)},
  pages = {776--794},
  year = {2020}
}"""  # the paper that released the subset; the images are ImageNet's (imagenet-val's citation)

ENTRIES = (
    DatasetEntry(
        NAME, "imagenet-100",
        "train/<wnid>/*.JPEG (all 1000 classes or only the 100) + val/ as imagenet-val reads it",
        "ImageNet is not openly downloadable: register at image-net.org, download ILSVRC2012_img_train.tar and "
        "ILSVRC2012_img_val.tar, unpack them as train/<wnid>/ and val/, then pass --data imagenet-100=PATH",
        license="ImageNet terms of access (non-commercial research and education; account needed); class list: "
                "BSD 2-Clause (HobbitLong/CMC)",
        reader=read_imagenet100, citation=CITATION,
        not_fetched={NAME: "auditkit does not fetch ImageNet: register at image-net.org, download "
                           "ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar, unpack them as <folder>/train/<wnid>/ "
                           "and <folder>/val/, and pass --data imagenet-100=<folder>"},
        notes="the 100 wnids of CMC's imagenet100.txt (shipped), labels 0..99 in its order; ImageNet train -> train, "
              "val -> test, no val (the trainer holds out 10 % of train); the images are ImageNet's (cite "
              "russakovsky2015imagenet too)",
    ),
)
