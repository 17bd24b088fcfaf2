"""ImageNet-Hard (Taesiri et al., NeurIPS 2023 Datasets and Benchmarks): the hardest images of
eight ImageNet-scale test sets, multi-label. Fetched on first use from the Hugging Face hub with
``datasets`` (not an archive: no `audit fetch` name), its revision recorded."""

from auditkit.data.entry import DatasetEntry
from auditkit.data.imagenet_hard import fetch_imagenet_hard, read_imagenet_hard

ENTRIES = (
    DatasetEntry(
        "imagenet-hard", "imagenet-hard",
        "HF taesiri/imagenet-hard (validation): save_to_disk copy or parquet files",
        "downloaded from the Hugging Face hub when online",
        license="MIT (the hub's dataset card); images from the source test sets under their own terms",
        reader=read_imagenet_hard, fetch=fetch_imagenet_hard,
        citation="""@inproceedings{taesiri2023imagenet,
  title = {{ImageNet-Hard}: The Hardest Images Remaining from a Study of the Power of Zoom and Spatial Biases in Image Classification},
  author = {Taesiri, Mohammad Reza and Nguyen, Giang and Habchi, Sarra and Bezemer, Cor-Paul and Nguyen, Anh},
  booktitle = {Advances in Neural Information Processing Systems, Datasets and Benchmarks Track},
  year = {2023}
}""",
        notes="not `audit fetch`: its reader downloads it from the hub when online, with its revision recorded",
    ),
)
