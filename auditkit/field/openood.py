"""OpenOOD v1.5's published ImageNet-1K leaderboard as reference rows (``--with openood``).

One row per architecture (ResNet-50, Swin-T, ViT-B/16, torchvision checkpoints), with the near /
far AUROC of each post-hoc method the ``ood`` suite computes, as the suite's own records
(suite ``ood``, datasets ``near-ood`` / ``far-ood``, metric ``<method>_auroc``, fractions).
Shipped rows and their source: ``auditkit/field/openood/README.md``."""

from __future__ import annotations

import csv
from pathlib import Path

from auditkit.records import MetricRecord, RunResults

TABLE = Path(__file__).resolve().parent / "openood" / "imagenet1k_ood.csv"
SOURCE = "github.com/zjysteven/OpenOOD results/imagenet1k_ood.csv"
COMMIT = "23c9113a42eb7e3cc0d36cdaa0a7c85261f93ebe"
# OpenOOD's postprocessor names -> the ood suite's method names
METHODS = {"MSP": "msp", "TempScale": "tempscale", "EBO": "energy", "MLS": "maxlogit", "GEN": "gen", "KNN": "knn"}
COLUMNS = {"Near-OOD_AUROC": "near-ood", "Far-OOD_AUROC": "far-ood"}


def openood_rows() -> list[RunResults]:
    """One reference row per architecture of the shipped leaderboard rows."""
    by_arch: dict[str, list[MetricRecord]] = {}
    accuracy: dict[str, str] = {}
    with TABLE.open(newline="") as table:
        for row in csv.DictReader(table):
            name = f"{row['Arch']} (OpenOOD v1.5)"
            accuracy[name] = row["ID_Accuracy"]
            for column, dataset in COLUMNS.items():
                by_arch.setdefault(name, []).append(MetricRecord(
                    model=name, suite="ood", dataset=dataset, condition="none", subset="all",
                    metric=f"{METHODS[row['Postprocessor']]}_auroc", value=float(row[column]) / 100, n=0))
    return [RunResults(header={"model": {"name": name, "kind": "published"}, "reference": "published",
                               "source": {"collection": "openood", "repository": SOURCE, "commit": COMMIT,
                                          "id_accuracy_percent": accuracy[name],
                                          "checkpoint": "torchvision, cross-entropy"}},
                       records=records, notices=[])
            for name, records in by_arch.items()]
