"""ImageNet val (ILSVRC2012): the 50,000 validation images every ImageNet suite starts from."""

from auditkit.data.entry import DatasetEntry
from auditkit.data.imagenet import read_imagenet_val

_HOW = ("ImageNet is not openly downloadable: register at image-net.org, accept its terms, download "
        "ILSVRC2012_img_val.tar (and ILSVRC2012_devkit_t12.tar.gz), unpack the val images into "
        "<data root>/imagenet-val (flat or val/<wnid>/) or pass --data imagenet-val=PATH")

CITATION = """@article{russakovsky2015imagenet,
  title = {{ImageNet} Large Scale Visual Recognition Challenge},
  author = {Russakovsky, Olga and Deng, Jia and Su, Hao and Krause, Jonathan and Satheesh, Sanjeev and Ma, Sean and Huang, Zhiheng and Karpathy, Andrej and Khosla, Aditya and Bernstein, Michael and Berg, Alexander C. and Fei-Fei, Li},
  journal = {International Journal of Computer Vision},
  volume = {115},
  number = {3},
  pages = {211--252},
  year = {2015}
}"""

ENTRIES = (
    DatasetEntry(
        "imagenet-val", "imagenet-val",
        "val/<wnid>/*.JPEG, or the flat ILSVRC2012_val_*.JPEG folder (+ devkit)",
        "download ILSVRC2012 val from image-net.org (needs an account)",
        license="ImageNet terms of access (non-commercial research and education; account needed)",
        reader=read_imagenet_val, citation=CITATION,
        not_fetched={
            "imagenet-val": _HOW, "imagenet": _HOW,
            "wds/imagenet1k": "CLIP_benchmark's wds/imagenet1k is ImageNet val itself; auditkit does not fetch "
                              "ImageNet (see `audit fetch imagenet-val`)",
        },
        webdataset="imagenet1k",
        notes="labels from the devkit beside a flat folder, else the standard labels shipped in the imagenet-x "
              "package; `audit fetch imagenet-val` says how to get it",
    ),
)
