"""ImageNet val as OpenOOD v1.5 splits it: ``val_imagenet`` (5,000 images, for anything fitted)
and ``test_imagenet`` (45,000, the ID set every OOD score is measured against)."""

from functools import partial

from auditkit.data.datasets.imagenet_val import CITATION
from auditkit.data.entry import DatasetEntry
from auditkit.data.ood import read_openood_imagenet

ENTRIES = tuple(
    DatasetEntry(
        name, "imagenet-val", f"ImageNet val (any layout imagenet-val reads) through OpenOOD's {list_name}.txt",
        "ImageNet val from image-net.org (see `audit fetch imagenet-val`); the list ships with auditkit",
        license="ImageNet terms of access; list: OpenOOD (MIT)",
        reader=partial(read_openood_imagenet, name=name, list_name=list_name), citation=CITATION,
        notes=f"{count} images of OpenOOD v1.5's {list_name} list (auditkit/data/ood_lists); every listed file must be "
              "present",
    )
    for name, list_name, count in (("openood-imagenet-val", "val_imagenet", "5,000"),
                                   ("openood-imagenet-test", "test_imagenet", "45,000"))
)
