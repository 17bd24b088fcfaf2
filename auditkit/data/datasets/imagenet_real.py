"""ImageNet-ReaL (Beyer et al., 2020): re-assessed label sets for ImageNet val, no images of its own."""

from auditkit.data.entry import DatasetEntry

ENTRIES = (
    DatasetEntry(
        "imagenet-real", "imagenet-val", "ImageNet val + ReaL labels (imagenet-x package)",
        "the robustness suite scores imagenet-val's predictions with the ReaL labels; provide imagenet-val",
        license="Apache-2.0 (the ReaL labels, google-research/reassessed-imagenet); the images: ImageNet's terms",
        no_reader="via imagenet-val",
        citation="""@article{beyer2020are,
  title = {Are we done with {ImageNet}?},
  author = {Beyer, Lucas and H{\\'e}naff, Olivier J. and Kolesnikov, Alexander and Zhai, Xiaohua and van den Oord, A{\\"a}ron},
  journal = {arXiv preprint arXiv:2006.07159},
  year = {2020}
}""",
        notes="not a folder: imagenet-val's predictions scored with the ReaL label sets shipped in the imagenet-x "
              "package",
    ),
)
