"""ImageNet-R(endition) (Hendrycks et al., ICCV 2021): 30,000 renditions of 200 ImageNet classes."""

from auditkit.data.entry import DatasetEntry
from auditkit.data.imagenet import read_imagenet_r
from auditkit.fetch import hub_webdataset, single_archive

ENTRIES = (
    DatasetEntry(
        "imagenet-r", "imagenet-r", "imagenet-r/<wnid>/*.jpg (200 wnids)",
        "download imagenet-r.tar from github.com/hendrycks/imagenet-r",
        license="MIT (github.com/hendrycks/imagenet-r)",
        reader=read_imagenet_r,
        citation="""@inproceedings{hendrycks2021many,
  title = {The Many Faces of Robustness: A Critical Analysis of Out-of-Distribution Generalization},
  author = {Hendrycks, Dan and Basart, Steven and Mu, Norman and Kadavath, Saurav and Wang, Frank and Dorundo, Evan and Desai, Rahul and Zhu, Tyler and Parajuli, Samyak and Guo, Mike and Song, Dawn and Steinhardt, Jacob and Gilmer, Justin},
  booktitle = {International Conference on Computer Vision (ICCV)},
  year = {2021}
}""",
        downloads=(
            single_archive("imagenet-r", "imagenet-r", "https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar",
                           "sha256:18c6bf493b39a0d975d48e587437f562caab9c52ae6327dcfa9dd8eb54aa1b52", 2191079936,
                           "tensorflow/datasets checksums.tsv"),
            hub_webdataset("imagenet-r"),
        ),
        webdataset="imagenet-r",
        notes="200 classes; logits restricted to them",
    ),
)
