"""ImageNet-O (Hendrycks et al., CVPR 2021, with ImageNet-A): 2,000 images that ImageNet models
mistake for their 200 classes, for OOD detection under Hendrycks' protocol (the ``ood`` suite).
CLIP_benchmark's webdataset copy stays an archive only: its reader does not know ImageNet-O."""

from auditkit.data.datasets.imagenet_a import CITATION
from auditkit.data.entry import DatasetEntry
from auditkit.data.ood import read_imagenet_o
from auditkit.fetch import hub_webdataset, single_archive

ENTRIES = (
    DatasetEntry(
        "imagenet-o", "imagenet-o", "imagenet-o/<wnid>/*.jpg (2,000 images, 200 wnids)",
        "download imagenet-o.tar from github.com/hendrycks/natural-adv-examples",
        license="MIT (github.com/hendrycks/natural-adv-examples)",
        reader=read_imagenet_o, citation=CITATION,
        downloads=(
            single_archive("imagenet-o", "imagenet-o", "https://people.eecs.berkeley.edu/~hendrycks/imagenet-o.tar",
                           "md5:86bd7a50c1c4074fb18fc5f219d6d50b", None,
                           "torchvision-style loaders (torch-uncertainty ImageNetO.tgz_md5)"),
        ),
        notes="OOD (no labels); scored under Hendrycks' protocol: logits masked to its 200 classes, ID = the ImageNet "
              "val images of those classes, AUPR = average precision with OOD positive",
    ),
)

ARCHIVES = (hub_webdataset("imagenet-o"),)
