"""ImageNet-O (Hendrycks et al., CVPR 2021, with ImageNet-A): out-of-distribution images for
detection. Fetchable, but no suite reads it yet, so it is no catalog dataset: ``ARCHIVES`` only."""

from auditkit.fetch import hub_webdataset, single_archive

ARCHIVES = (
    single_archive("imagenet-o", "imagenet-o", "https://people.eecs.berkeley.edu/~hendrycks/imagenet-o.tar",
                   "md5:86bd7a50c1c4074fb18fc5f219d6d50b", None,
                   "torchvision-style loaders (torch-uncertainty ImageNetO.tgz_md5)"),
    hub_webdataset("imagenet-o"),
)
