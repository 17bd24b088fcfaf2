"""ImageNet-Sketch (Wang et al., NeurIPS 2019): 50,889 black-and-white sketches, 50 per class."""

from auditkit.data.entry import DatasetEntry
from auditkit.data.robustness import read_imagenet_sketch
from auditkit.fetch import HUB, hub_webdataset, single_archive

ENTRIES = (
    DatasetEntry(
        "imagenet-sketch", "imagenet-sketch", "sketch/<wnid>/*.JPEG",
        "download ImageNet-Sketch (github.com/HaohanWang/ImageNet-Sketch; HF clip-benchmark/wds_imagenet_sketch)",
        license="MIT (github.com/HaohanWang/ImageNet-Sketch); images collected from Google Image search",
        reader=read_imagenet_sketch,
        citation="""@inproceedings{wang2019learning,
  title = {Learning Robust Global Representations by Penalizing Local Predictive Power},
  author = {Wang, Haohan and Ge, Songwei and Lipton, Zachary and Xing, Eric P.},
  booktitle = {Advances in Neural Information Processing Systems (NeurIPS)},
  year = {2019}
}""",
        downloads=(
            single_archive("imagenet-sketch", "imagenet-sketch",
                           "https://huggingface.co/datasets/songweig/imagenet_sketch/resolve/main/data/ImageNet-Sketch.zip",
                           HUB, 7593573012, "HF songweig/imagenet_sketch (the hub's sha256; tfds lists 7,593,573,012 "
                           "bytes for the Google Drive original)"),
            hub_webdataset("imagenet_sketch"),
        ),
        webdataset="imagenet_sketch",
        notes="the HF songweig/imagenet_sketch zip is 7.6 GB",
    ),
)
