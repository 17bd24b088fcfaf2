"""CIFAR-10, CIFAR-100, SVHN and Flowers102 as CLIP_benchmark's VTAB webdatasets (``wds/vtab/<task>``,
`audit fetch wds/vtab/<task>`), each under a name of its own: ``--data transfer=PATH`` reads any of
them, but one at a time, and a suite that trains on several (small_data: Liu et al. 2021's Table 4)
needs one dataset name per task. Read by the transfer reader (its webdataset form: train and test
splits, the task's own classes 0..k-1 from classnames.txt).

The splits are VTAB's (as tensorflow_datasets cuts them), not the original releases': CIFAR's train
split is 45,000 of the 50,000 training images (VTAB keeps 5,000 as val, not in the webdataset), SVHN's
65,931 of 73,257; test is the full test set."""

from functools import partial

from auditkit.data.entry import DatasetEntry
from auditkit.data.transfer import read_transfer

_CIFAR = """@misc{krizhevsky2009learning,
  title = {Learning Multiple Layers of Features from Tiny Images},
  author = {Krizhevsky, Alex},
  howpublished = {Technical report, University of Toronto},
  year = {2009}
}"""

# dataset name -> (CLIP_benchmark's task folder, what the splits hold, license, citation)
TASKS = {
    "vtab-cifar10": ("cifar10", "10 classes; train 45,000 (VTAB's train), test 10,000",
                     "no license stated (CIFAR page: free to use, cite the report)", _CIFAR),
    "vtab-cifar100": ("cifar100", "100 classes; train 45,000 (VTAB's train), test 10,000",
                      "no license stated (CIFAR page: free to use, cite the report)", _CIFAR),
    "vtab-svhn": ("svhn", "10 classes; train 65,931 (VTAB's train), test 26,032",
                  "non-commercial use only (SVHN page)", """@inproceedings{netzer2011reading,
  title = {Reading Digits in Natural Images with Unsupervised Feature Learning},
  author = {Netzer, Yuval and Wang, Tao and Coates, Adam and Bissacco, Alessandro and Wu, Bo and Ng, Andrew Y.},
  booktitle = {NIPS Workshop on Deep Learning and Unsupervised Feature Learning},
  year = {2011}
}"""),
    "vtab-flowers102": ("flowers", "102 classes; VTAB's train and test splits of Oxford Flowers102",
                        "no license stated (VGG, University of Oxford)", """@inproceedings{nilsback2008automated,
  title = {Automated Flower Classification over a Large Number of Classes},
  author = {Nilsback, Maria-Elena and Zisserman, Andrew},
  booktitle = {Indian Conference on Computer Vision, Graphics and Image Processing},
  pages = {722--729},
  year = {2008}
}"""),
}

ENTRIES = tuple(
    DatasetEntry(
        name, f"wds/vtab/{task}",
        "CLIP_benchmark webdataset: train/ and test/ ({0..N-1}.tar + nshards.txt) + classnames.txt",
        f"`audit fetch wds/vtab/{task}` (CLIP_benchmark's copy on the Hugging Face hub), or pass --data {name}=PATH",
        license=license_, reader=partial(read_transfer, name=name), citation=citation,
        downloads_folded=f"wds/vtab/{task} (declared with transfer; installs into this folder)",
        notes=f"{splits}; the same folder as --data transfer=<data root>/wds/vtab/{task}, under a name of its own "
              "so a suite can train on several tasks in one run",
    )
    for name, (task, splits, license_, citation) in TASKS.items()
)
