"""transfer: your own transfer task, read in any of the transfer layouts; CLIP_benchmark's 20 VTAB
webdatasets (``wds/vtab/<task>``) are fetchable to fill it."""

from functools import partial

from auditkit.data.entry import DatasetEntry
from auditkit.data.transfer import read_transfer
from auditkit.fetch import hub_webdataset

VTAB_WEBDATASETS = (  # CLIP_benchmark's names (HF clip-benchmark/wds_vtab-<task>)
    "caltech101", "cifar10", "cifar100", "clevr_count_all", "clevr_closest_object_distance",
    "diabetic_retinopathy", "dmlab", "dsprites_label_orientation", "dsprites_label_x_position",
    "dsprites_label_y_position", "dtd", "eurosat", "kitti_closest_vehicle_distance", "flowers", "pets",
    "pcam", "resisc45", "smallnorb_label_azimuth", "smallnorb_label_elevation", "svhn",
)

ENTRIES = (
    DatasetEntry(
        "transfer", "transfer",
        "train|val|test/<class>/<image>, VTAB-1k train800/val200/test.txt lists, or a datasets DatasetDict "
        "with train/test",
        "your own transfer task: --data transfer=PATH",
        license="the task's own (yours to check)",
        reader=partial(read_transfer, name="transfer"),
        no_citation="your own task: cite its source yourself",
        downloads=tuple(hub_webdataset(f"vtab/{task}") for task in VTAB_WEBDATASETS),
        downloads_folded=f"wds/vtab/<task> ({len(VTAB_WEBDATASETS)} VTAB tasks, docs/datasets.md)",
        notes="train/<class>/*, test/<class>/* (val/ optional; else 20 % of train is held out to choose C), or "
              "query/<class>/* + gallery/<class>/* for retrieval only, or VTAB-1k list files, or a datasets "
              "DatasetDict with train / test (validation optional) and image / label columns; a fetched "
              "wds/vtab/<task> is read with --data transfer=<data root>/wds/vtab/<task>",
    ),
)
