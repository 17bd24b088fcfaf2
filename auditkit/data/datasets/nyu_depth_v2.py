"""NYU Depth V2, labeled subset (Silberman et al., ECCV 2012): 1,449 indoor RGB-D images with
depth in metres and dense labels, the standard 795 train / 654 test split, and the 40 classes of
Gupta et al. (CVPR 2013).

Layout read, all in ``<root>``: ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3, HDF5: ``images``
1449 x 3 x 640 x 480 uint8, ``depths`` 1449 x 640 x 480 metres, ``labels`` 1449 x 640 x 480 in
894 classes, 0 unlabeled; read with h5py), ``splits.mat`` (``trainNdxs``, ``testNdxs``: 1-based
indices) and ``classMapping40.mat`` (``mapClass``: 894 -> 1 .. 40; ``className``: the 40 names).
Images are decoded from the .mat and served as PNG bytes (``MatImages``), so the store hashes
what the model saw. Sample ids ``<index:04d>`` (1-based, as in splits.mat); split ``train`` /
``val`` (the test split: it is the one scored, as every NYU paper does)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from auditkit.data.dense_targets import NYU_MAT, DenseLabels, open_nyu_mat
from auditkit.data.entry import DatasetEntry
from auditkit.data.source import DatasetSource, Sample
from auditkit.errors import AuditError
from auditkit.fetch import UNPUBLISHED, Fetchable

LABELED, SPLIT_FILE, MAPPING = "nyu_depth_v2_labeled.mat", "splits.mat", "classMapping40.mat"
IMAGES = 1449

CITATION = """@inproceedings{silberman2012indoor,
  title = {Indoor Segmentation and Support Inference from {RGBD} Images},
  author = {Silberman, Nathan and Hoiem, Derek and Kohli, Pushmeet and Fergus, Rob},
  booktitle = {European Conference on Computer Vision (ECCV)},
  year = {2012}
}"""


class MatImages:
    """Rows of the labeled .mat as PNG bytes (``read(row)``; picklable for DataLoader workers:
    each read opens the file)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self, row: int) -> bytes:
        from PIL import Image

        with open_nyu_mat(self.path) as mat:
            pixels = np.asarray(mat["images"][row]).transpose(2, 1, 0)  # (3, W, H) as h5py sees MATLAB's H x W x 3
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
        return buffer.getvalue()


def _split_indices(path: Path) -> dict[str, list[int]]:
    from scipy.io import loadmat

    if not path.is_file():
        raise AuditError(f"nyu-depth-v2: {path} is missing; put splits.mat (trainNdxs, testNdxs) beside {LABELED}")
    try:
        split = loadmat(path)
        return {"train": [int(i) for i in np.ravel(split["trainNdxs"])],
                "val": [int(i) for i in np.ravel(split["testNdxs"])]}
    except (KeyError, ValueError) as error:
        raise AuditError(f"{path} holds no trainNdxs / testNdxs ({error}); use the split file of the NYU release") from None


def class_names(path: Path) -> tuple[str, ...]:
    from scipy.io import loadmat

    if not path.is_file():
        raise AuditError(f"nyu-depth-v2: {path} is missing; put Gupta et al.'s classMapping40.mat (the 40-class "
                         f"mapping) beside {LABELED}")
    names = loadmat(path).get("className")
    if names is None:
        return tuple(f"class-{k}" for k in range(40))
    return tuple(str(np.ravel(name)[0]) for name in np.ravel(names))


def read_nyu_depth_v2(root: Path) -> DatasetSource:
    labeled = root / LABELED
    if not labeled.is_file():
        raise AuditError(f"nyu-depth-v2: {labeled} is missing; download the labeled dataset of NYU Depth V2")
    with open_nyu_mat(labeled) as mat:
        for name in ("images", "depths", "labels"):
            if name not in mat:
                raise AuditError(f"{labeled} holds no {name!r} ({', '.join(mat)} only); re-download "
                                 f"{LABELED} (the labeled release)")
        count = mat["images"].shape[0]
        if mat["depths"].shape[0] != count or mat["labels"].shape[0] != count:
            raise AuditError(f"{labeled}: {count} images but {mat['depths'].shape[0]} depth maps and "
                             f"{mat['labels'].shape[0]} label maps; re-download it")
    splits = _split_indices(root / SPLIT_FILE)
    size = labeled.stat().st_size  # in the manifest: a changed .mat changes every entry
    samples = []
    for split, indices in splits.items():
        outside = [i for i in indices if not 1 <= i <= count]
        if outside:
            raise AuditError(f"{root / SPLIT_FILE} names image {outside[0]}, but {LABELED} holds images 1 .. {count}")
        samples += [Sample(path=labeled, label=-1, sample_id=f"{i:04d}", row=i - 1, size=size,
                           attributes=(("split", split), ("target", str(i - 1)))) for i in indices]
    labels = DenseLabels(class_names(root / MAPPING), ("segmentation", "depth"), NYU_MAT,
                         (str(labeled), str(root / MAPPING)))
    return DatasetSource("nyu-depth-v2", root, tuple(sorted(samples, key=lambda s: s.sample_id)),
                         info={"dense": labels.describe(), "labels": f"{LABELED} depths (m) and labels -> 40 classes"},
                         table=MatImages(labeled))  # type: ignore[arg-type]


ENTRIES = (
    DatasetEntry(
        "nyu-depth-v2", "nyu-depth-v2", f"{LABELED} (HDF5) + {SPLIT_FILE} + {MAPPING}",
        "`audit fetch nyu-depth-v2` (or download nyu_depth_v2_labeled.mat and splits.mat from the NYU Depth V2 "
        "page, cs.nyu.edu/~silberman), then classMapping40.mat by hand from Gupta et al.'s NYU-40 release "
        "(www.cs.berkeley.edu/~sgupta/cvpr13/); needs h5py (pip install h5py)",
        license="research use (the NYU Depth V2 terms)",
        reader=read_nyu_depth_v2, citation=CITATION,
        # the two files as released (not archives); nyu_depth_v2_labeled.mat's md5: torch-uncertainty's
        # NYUv2 loader (torch_uncertainty/datasets/nyu.py, depth_md5); splits.mat: no digest found
        # published by a source we can name, so accepted with a warning naming its sha256. Gupta et
        # al.'s classMapping40.mat has no stable url with a digest: by hand (how_to_get)
        downloads=(Fetchable("nyu-depth-v2", "nyu-depth-v2",
                             ("https://horatio.cs.nyu.edu/mit/silberman/nyu_depth_v2/" + LABELED,
                              "https://horatio.cs.nyu.edu/mit/silberman/indoor_seg_sup/" + SPLIT_FILE),
                             ("md5:520609c519fba3ba5ac58c8fefcc3530", UNPUBLISHED), (None, None), "files",
                             "NYU Depth V2 (md5 of the labeled .mat: torch-uncertainty's loader; splits.mat: none "
                             f"published); put {MAPPING} beside them by hand"),),
        notes="dense suite: 40 classes (Gupta et al. 2013), depth in metres; splits 795 train / 654 test (scored)",
    ),
)
