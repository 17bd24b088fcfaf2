"""ImageNet-C (Hendrycks and Dietterich, ICLR 2019): 15 corruptions (and 4 held out) x 5 severities.

Released as five family archives on Zenodo (record 2235448, md5 published), merged into one
folder; when absent, the robustness suite makes it from imagenet-val (auditkit's own corruptions)."""

from auditkit.data.entry import DatasetEntry
from auditkit.data.robustness import read_imagenet_c
from auditkit.fetch import Fetchable

_ZENODO = "https://zenodo.org/record/2235448/files/"
_FAMILIES = {  # archive -> (md5 published on Zenodo record 2235448, the corruptions it holds)
    "blur": ("md5:2d8e81fdd8e07fef67b9334fa635e45c", ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur")),
    "digital": ("md5:89157860d7b10d5797849337ca2e5c03",
                ("contrast", "elastic_transform", "pixelate", "jpeg_compression")),
    "extra": ("md5:d492dfba5fc162d8ec2c3cd8ee672984", ("speckle_noise", "spatter", "gaussian_blur", "saturate")),
    "noise": ("md5:e80562d7f6c3f8834afb1ecf27252745", ("gaussian_noise", "shot_noise", "impulse_noise")),
    "weather": ("md5:33ffea4db4d93fe4a428c40a6ce0c25d", ("snow", "frost", "fog", "brightness")),
}
_SOURCE = "zenodo.org/record/2235448 (md5)"


def _family(family: str) -> Fetchable:
    digest, corruptions = _FAMILIES[family]
    return Fetchable(f"imagenet-c-{family}", "imagenet-c", (f"{_ZENODO}{family}.tar",), (digest,), (None,), "merge",
                     _SOURCE, contents=(corruptions,))


ENTRIES = (
    DatasetEntry(
        "imagenet-c", "imagenet-c", "<corruption>/<severity>/<wnid>/*.JPEG",
        "download from zenodo.org/record/2235448; when absent the robustness suite makes it from imagenet-val "
        "(15 corruptions x 5 severities, auditkit's own, after make_imagenet_c.py)",
        license="CC BY 4.0 (Zenodo record 2235448); derived from ImageNet val, its terms apply",
        reader=read_imagenet_c,
        citation="""@inproceedings{hendrycks2019benchmarking,
  title = {Benchmarking Neural Network Robustness to Common Corruptions and Perturbations},
  author = {Hendrycks, Dan and Dietterich, Thomas},
  booktitle = {International Conference on Learning Representations (ICLR)},
  year = {2019}
}""",
        downloads=(
            *(_family(family) for family in _FAMILIES),
            Fetchable("imagenet-c", "imagenet-c", tuple(f"{_ZENODO}{family}.tar" for family in _FAMILIES),
                      tuple(digest for digest, _ in _FAMILIES.values()), (None,) * len(_FAMILIES), "merge",
                      f"{_SOURCE}, all five families (about 60 GB)",
                      contents=tuple(corruptions for _, corruptions in _FAMILIES.values())),
        ),
        notes="when absent, made from imagenet-val (Resize 256, CenterCrop 224, auditkit's own corruptions following "
              "Hendrycks' make_imagenet_c.py, seeded per image, JPEG 85) and cached like any prediction; the "
              "family archives merge into one folder",
    ),
)
