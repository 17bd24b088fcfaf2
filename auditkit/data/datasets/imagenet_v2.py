"""ImageNetV2 (Recht et al., ICML 2019): a new ImageNet test set; matched-frequency is the one read.

Its two other sampling variants are fetchable (``ARCHIVES``) and read with
``--data imagenet-v2=<their folder>``."""

from auditkit.data.entry import DatasetEntry
from auditkit.data.robustness import read_imagenet_v2
from auditkit.fetch import hub_webdataset, single_archive

_HUB = "https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/main/"
_TFDS = "tensorflow/datasets checksums.tsv"

ENTRIES = (
    DatasetEntry(
        "imagenet-v2", "imagenet-v2", "imagenetv2-matched-frequency-format-val/<index>/*.jpeg",
        "download imagenetv2-matched-frequency.tar.gz (github.com/modestyachts/ImageNetV2; HF vaishaal/ImageNetV2)",
        license="MIT (github.com/modestyachts/ImageNetV2); images from Flickr under their own terms",
        reader=read_imagenet_v2,
        citation="""@inproceedings{recht2019imagenet,
  title = {Do {ImageNet} Classifiers Generalize to {ImageNet}?},
  author = {Recht, Benjamin and Roelofs, Rebecca and Schmidt, Ludwig and Shankar, Vaishaal},
  booktitle = {International Conference on Machine Learning (ICML)},
  year = {2019}
}""",
        downloads=(
            single_archive("imagenet-v2", "imagenet-v2", _HUB + "imagenetv2-matched-frequency.tar.gz",
                           "sha256:f0c37fdf925916b19ea1323cd9a2208cdb6959ba2c32eef2a7fc393835c9ca7c", 1264079360, _TFDS),
            hub_webdataset("imagenetv2"),
        ),
        webdataset="imagenetv2",
        notes="label = the folder's integer, never its sort position; also fetchable: imagenet-v2-threshold0.7, "
              "imagenet-v2-top-images, read with --data imagenet-v2=<folder>",
    ),
)

ARCHIVES = (
    single_archive("imagenet-v2-threshold0.7", "imagenet-v2-threshold0.7", _HUB + "imagenetv2-threshold0.7.tar.gz",
                   "sha256:32142bfe998f9cfa4141be691f6a80eeb1e27b24bd532a668eb08c26d98897a2", 1249906176, _TFDS,
                   hint="read with --data imagenet-v2=<its folder>"),
    single_archive("imagenet-v2-top-images", "imagenet-v2-top-images", _HUB + "imagenetv2-top-images.tar.gz",
                   "sha256:85e4ace30f3f0d660152062254b8759dda66267b27f7ec0fd8d5768f1073a04b", 1245927936, _TFDS,
                   hint="read with --data imagenet-v2=<its folder>"),
)
