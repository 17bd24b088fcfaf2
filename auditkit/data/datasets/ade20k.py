"""ADE20K, the SceneParsing challenge release (Zhou et al., CVPR 2017): 150 classes, 20,210 train
and 2,000 validation images with per-pixel labels (0 = "other", not scored).

Layout read (``ADEChallengeData2016.zip`` unpacked): ``<root>/images/{training,validation}/*.jpg``
with ``<root>/annotations/{training,validation}/<same stem>.png`` (class indices 0 .. 150). Class
names from the release's ``objectInfo150.txt`` (``Idx  Ratio  Train  Val  Name``; the first name
before a comma) when it is there, else ``class-<k>``. Sample ids ``training/<stem>``,
``validation/<stem>``; split ``train`` / ``val``; labels read by ``auditkit.data.dense_targets``
(0 ignored, 1 .. 150 -> 0 .. 149, mmsegmentation's ``reduce_zero_label``)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from auditkit.data.dense_targets import PNG_REDUCE_ZERO, DenseLabels
from auditkit.data.entry import DatasetEntry
from auditkit.data.source import DatasetSource, Sample, list_images
from auditkit.errors import AuditError
from auditkit.fetch import single_archive

CLASSES = 150
SPLITS = {"training": "train", "validation": "val"}

CITATION = """@inproceedings{zhou2017scene,
  title = {Scene Parsing through {ADE20K} Dataset},
  author = {Zhou, Bolei and Zhao, Hang and Puig, Xavier and Fidler, Sanja and Barriuso, Adela and Torralba, Antonio},
  booktitle = {Conference on Computer Vision and Pattern Recognition (CVPR)},
  year = {2017}
}"""


def class_names(root: Path) -> tuple[str, ...]:
    info = root / "objectInfo150.txt"
    if not info.is_file():
        return tuple(f"class-{k}" for k in range(CLASSES))
    rows = [line.split("\t") for line in info.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
    names = tuple(row[-1].split(",")[0].split(";")[0].strip() for row in rows)
    if len(names) != CLASSES:
        raise AuditError(f"{info} names {len(names)} classes, not {CLASSES}; use the release's objectInfo150.txt")
    return names


def checked_pair(image: Path, label: Path) -> None:
    """The label map exists and has its image's size (PIL reads only the headers)."""
    if not label.is_file():
        raise AuditError(f"{image.name} has no label map {label}; unpack the whole release (images/ and annotations/)")
    with Image.open(image) as picture, Image.open(label) as labels:
        if picture.size != labels.size:
            raise AuditError(f"{label}: label map of {labels.size[0]}x{labels.size[1]} for an image of "
                             f"{picture.size[0]}x{picture.size[1]} ({image}); use the release's annotations")


def read_ade20k(root: Path) -> DatasetSource:
    samples = []
    for folder, split in SPLITS.items():
        images = root / "images" / folder
        if not images.is_dir():
            raise AuditError(f"ade20k: {images} is missing; unpack ADEChallengeData2016.zip (images/{folder}/ and "
                             f"annotations/{folder}/)")
        for image in list_images(images):
            label = root / "annotations" / folder / f"{image.stem}.png"
            checked_pair(image, label)
            samples.append(Sample(path=image, label=-1, sample_id=f"{folder}/{image.stem}",
                                  attributes=(("split", split), ("target", str(label)))))
    labels = DenseLabels(class_names(root), ("segmentation",), PNG_REDUCE_ZERO)
    return DatasetSource("ade20k", root, tuple(sorted(samples, key=lambda s: s.sample_id)),
                         info={"dense": labels.describe(), "labels": "annotations/*.png, 0 ignored"})


ENTRIES = (
    DatasetEntry(
        "ade20k", "ADEChallengeData2016", "images|annotations/{training,validation}/*.jpg|png (150 classes)",
        "`audit fetch ade20k`, or download ADEChallengeData2016.zip from the MIT Scene Parsing benchmark "
        "(sceneparsing.csail.mit.edu) and unpack it under the data root",
        license="research and education use (the MIT Scene Parsing benchmark terms); images from LabelMe / SUN",
        reader=read_ade20k, citation=CITATION,
        # sha1 and url: GluonCV's scripts/datasets/ade20k.py (the only digest of this zip we found
        # published; no size is)
        downloads=(single_archive("ade20k", "ADEChallengeData2016",
                                  "https://data.csail.mit.edu/places/ADEchallenge/ADEChallengeData2016.zip",
                                  "sha1:219e1696abb36c8ba3a3afe7fb2f4b4606a897c7", None,
                                  "MIT Scene Parsing benchmark (sha1: GluonCV's ADE20K script)"),),
        notes="dense suite: 150 classes, label 0 ignored (mmsegmentation's reduce_zero_label); train 20,210 / val 2,000",
    ),
)
