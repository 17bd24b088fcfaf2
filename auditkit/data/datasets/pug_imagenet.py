"""PUG: ImageNet (Bordes et al., NeurIPS 2023 Datasets and Benchmarks): photorealistic Unreal
Engine renders of 151 ImageNet classes, one factor of variation per subset. 27 GB: never
downloaded automatically."""

from auditkit.data.entry import DatasetEntry
from auditkit.data.pug import HUB_ID, RELEASE_URL, read_pug_imagenet

ENTRIES = (
    DatasetEntry(
        "pug-imagenet", "pug-imagenet",
        "<Subset>/<PUG class>/<image> + class_to_imagenet_idx.json + labels_pug_imagenet.csv, "
        f"or a copy of HF {HUB_ID} + class_to_imagenet_idx.json",
        f"download {RELEASE_URL} (27 GB) and unpack its PUG_ImageNet folder there",
        license="CC BY-NC 4.0 (PUG release)",
        reader=read_pug_imagenet,
        citation="""@inproceedings{bordes2023pug,
  title = {{PUG}: Photorealistic and Semantically Controllable Synthetic Data for Representation Learning},
  author = {Bordes, Florian and Shekhar, Shashank and Ibrahim, Mark and Bouchacourt, Diane and Vincent, Pascal and Morcos, Ari S.},
  booktitle = {Advances in Neural Information Processing Systems, Datasets and Benchmarks Track},
  year = {2023}
}""",
        notes="the release (PUG_IMAGENET.tar.gz, 27 GB) has 10 subsets, labels_pug_imagenet.csv joined on its "
              "filename column; not downloaded automatically (size)",
    ),
)
