"""ImageNet-A (Hendrycks et al., CVPR 2021): 7,500 natural adversarial examples of 200 classes."""

from auditkit.data.entry import DatasetEntry
from auditkit.data.robustness import read_imagenet_a
from auditkit.fetch import hub_webdataset, single_archive

CITATION = """@inproceedings{hendrycks2021natural,
  title = {Natural Adversarial Examples},
  author = {Hendrycks, Dan and Zhao, Kevin and Basart, Steven and Steinhardt, Jacob and Song, Dawn},
  booktitle = {Conference on Computer Vision and Pattern Recognition (CVPR)},
  year = {2021}
}"""

ENTRIES = (
    DatasetEntry(
        "imagenet-a", "imagenet-a", "imagenet-a/<wnid>/*.jpg (200 wnids)",
        "download imagenet-a.tar from github.com/hendrycks/natural-adv-examples",
        license="MIT (github.com/hendrycks/natural-adv-examples)",
        reader=read_imagenet_a, citation=CITATION,
        downloads=(
            single_archive("imagenet-a", "imagenet-a", "https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar",
                           "sha256:3bb3632277e6ba6392ea64c02ddbf4dd2266c9caffd6bc09c9656d28f012589e", 687552512,
                           "tensorflow/datasets checksums.tsv"),
            hub_webdataset("imagenet-a"),
        ),
        webdataset="imagenet-a",
        notes="200 classes; logits restricted to them",
    ),
)
