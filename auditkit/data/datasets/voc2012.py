"""Pascal VOC 2012 segmentation (Everingham et al., IJCV 2010): 21 classes (background + 20),
1,464 train and 1,449 val images with palette PNG labels (255 = object borders, not scored).

Layout read (``VOCtrainval_11-May-2012.tar`` unpacked): ``<root>/JPEGImages/<id>.jpg``,
``<root>/SegmentationClass/<id>.png`` (palette indices are the classes) and
``<root>/ImageSets/Segmentation/{train,val}.txt`` (one id per line), ``<root>`` being
``VOCdevkit/VOC2012`` (``VOCdevkit``, the folder the tar unpacks to and `audit fetch voc2012`
installs, is read as its ``VOC2012``). A split file naming an image or label that is not there is an error, never a
smaller dataset. Sample ids ``<id>``; split ``train`` / ``val``."""

from __future__ import annotations

from pathlib import Path

from auditkit.data.dense_targets import PNG, DenseLabels
from auditkit.data.datasets.ade20k import checked_pair
from auditkit.data.entry import DatasetEntry
from auditkit.data.source import DatasetSource, Sample
from auditkit.errors import AuditError
from auditkit.fetch import single_archive

CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
           "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
           "tvmonitor")
SPLITS = ("train", "val")

CITATION = """@article{everingham2010pascal,
  title = {The {Pascal} Visual Object Classes ({VOC}) Challenge},
  author = {Everingham, Mark and Van Gool, Luc and Williams, Christopher K. I. and Winn, John and Zisserman, Andrew},
  journal = {International Journal of Computer Vision},
  volume = {88},
  number = {2},
  pages = {303--338},
  year = {2010}
}"""


def read_voc2012(root: Path) -> DatasetSource:
    if not (root / "ImageSets").is_dir() and (root / "VOC2012" / "ImageSets").is_dir():
        root = root / "VOC2012"  # the release's VOCdevkit/ (where `audit fetch voc2012` puts it)
    samples = []
    for split in SPLITS:
        listing = root / "ImageSets" / "Segmentation" / f"{split}.txt"
        if not listing.is_file():
            raise AuditError(f"voc2012: {listing} is missing; point --data voc2012=... at VOCdevkit/VOC2012 of "
                             "the trainval release")
        ids = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        missing = [i for i in ids if not (root / "JPEGImages" / f"{i}.jpg").is_file()]
        if missing:
            raise AuditError(f"voc2012: {listing.name} names {len(missing)} images missing from JPEGImages/ (first: "
                             f"{missing[0]}.jpg); unpack the whole release, a partial split changes every mIoU")
        for image_id in ids:
            image, label = root / "JPEGImages" / f"{image_id}.jpg", root / "SegmentationClass" / f"{image_id}.png"
            checked_pair(image, label)
            samples.append(Sample(path=image, label=-1, sample_id=image_id,
                                  attributes=(("split", split), ("target", str(label)))))
    ids = [s.sample_id for s in samples]
    if len(set(ids)) != len(ids):
        raise AuditError(f"voc2012: an image is in both train.txt and val.txt under {root / 'ImageSets'}")
    labels = DenseLabels(CLASSES, ("segmentation",), PNG)
    return DatasetSource("voc2012", root, tuple(sorted(samples, key=lambda s: s.sample_id)),
                         info={"dense": labels.describe(), "labels": "SegmentationClass/*.png, 255 ignored"})


ENTRIES = (
    DatasetEntry(
        "voc2012", "VOCdevkit", "VOC2012/JPEGImages/*.jpg + SegmentationClass/*.png + ImageSets/Segmentation/*.txt",
        "`audit fetch voc2012`, or download VOCtrainval_11-May-2012.tar from the Pascal VOC site and unpack it "
        "under the data root",
        license="images from Flickr under their owners' terms; annotations: the VOC challenge's terms",
        reader=read_voc2012, citation=CITATION,
        # md5 and url: torchvision's DATASET_YEAR_DICT["2012"] (torchvision/datasets/voc.py); size: the
        # same tar's row in tensorflow/datasets' url_checksums/voc.txt (1,999,639,040 bytes, its mirror)
        downloads=(single_archive("voc2012", "VOCdevkit",
                                  "https://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                                  "md5:6cd6e144f989b92b3379bac3b3de84fd", 1999639040,
                                  "Pascal VOC 2012 (md5: torchvision's VOC loader)"),),
        notes="dense suite: 21 classes, 255 ignored; ImageSets/Segmentation train 1,464 / val 1,449",
    ),
)
