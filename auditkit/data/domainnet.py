"""DomainNet (Peng et al., ICCV 2019, "Moment Matching for Multi-Source Domain Adaptation") in its
released layout, one transfer task per domain.

The release (ai.bu.edu/M3SDA) is one zip per domain, unpacking to ``<domain>/<class>/<file>.jpg``,
and two lists per domain beside them, ``<domain>_train.txt`` and ``<domain>_test.txt``, whose lines
are ``<domain>/<class>/<file>.jpg <label>`` with labels 0..344 (the 345 classes)::

    <root>/clipart/aircraft_carrier/clipart_001_000018.jpg
    <root>/clipart_train.txt      clipart/aircraft_carrier/clipart_001_000018.jpg 0
    <root>/clipart_test.txt

The lists are the split: train from ``_train.txt``, test from ``_test.txt``; there is no val (the
fine-tuning trainer holds out 10 % of train itself, as Liu et al. 2021 train on train and report
test). Labels are read from the lists, and each class folder must carry one label and each label
one class folder, across both lists: a list whose label disagrees with its folder would train on
wrong labels without a word. Each domain is its own dataset (``domainnet-clipart``, ...), as the
paper's Table 4 reports one number per domain and a trainer trains one task per dataset.
"""

from __future__ import annotations

from pathlib import Path

from auditkit.data.source import DatasetSource, Sample
from auditkit.errors import AuditError

DOMAINS = ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")
NUM_CLASSES = 345
LISTS = {"train": "{domain}_train.txt", "test": "{domain}_test.txt"}


def dataset_name(domain: str) -> str:
    """The catalog name of one domain's task: ``domainnet-clipart``."""
    return f"domainnet-{domain}"


def present_domains(root: Path) -> list[str]:
    """The domains whose train and test lists are in ``root``."""
    return [d for d in DOMAINS if all((root / pattern.format(domain=d)).is_file() for pattern in LISTS.values())]


def read_domainnet(root: Path, domain: str) -> DatasetSource:
    """One domain's train and test images, labels from its lists (checked against the folders)."""
    name = dataset_name(domain)
    if domain not in present_domains(root):
        found = present_domains(root)
        missing = [pattern.format(domain=domain) for pattern in LISTS.values()
                   if not (root / pattern.format(domain=domain)).is_file()]
        raise AuditError(
            f"{name}: {root} lacks {' and '.join(missing)} (domains present: {', '.join(found) or 'none'}); "
            f"download them from ai.bu.edu/M3SDA beside {domain}/, or pick a present domain"
        )
    samples: list[Sample] = []
    label_of_class: dict[str, tuple[int, str]] = {}  # class folder -> (label, where it was first seen)
    class_of_label: dict[int, str] = {}
    for split, pattern in LISTS.items():
        listing = root / pattern.format(domain=domain)
        for number, line in enumerate(listing.read_text().splitlines(), 1):
            if not line.strip():
                continue
            where = f"{listing.name}:{number}"
            relative, _, label_text = line.strip().rpartition(" ")
            parts = relative.strip().split("/")
            if len(parts) != 3 or not label_text.lstrip("-").isdigit():
                raise AuditError(f"{name}: {root / where} is not '{domain}/<class>/<file>.jpg <label>'; "
                                 "restore the released list")
            if parts[0] != domain:
                raise AuditError(f"{name}: {root / where} names {relative}, outside {domain}/; "
                                 f"restore the released {listing.name}")
            label, folder = int(label_text), parts[1]
            if not 0 <= label < NUM_CLASSES:
                raise AuditError(f"{name}: {root / where} has label {label}, outside DomainNet's 0..{NUM_CLASSES - 1}; "
                                 "restore the released list")
            seen = label_of_class.setdefault(folder, (label, where))
            if seen[0] != label or class_of_label.setdefault(label, folder) != folder:
                other = f"{seen[1]} gives {folder} label {seen[0]}" if seen[0] != label else \
                    f"label {label} is {class_of_label[label]} elsewhere"
                raise AuditError(f"{name}: {root / where} labels {folder}/ as {label}, but {other}; "
                                 "the list and the class folders disagree: restore the released lists")
            path = root / relative
            if not path.is_file():
                raise AuditError(f"{name}: {root / where} names {relative}, which is missing; "
                                 f"restore it (unpack {domain}.zip in {root})")
            samples.append(Sample(path=path, label=label, sample_id=f"{split}/{relative}",
                                  attributes=(("split", split),)))
    _refuse_an_image_in_both_splits(name, samples)
    samples.sort(key=lambda s: s.sample_id)
    counts = {split: sum(s.attribute("split") == split for s in samples) for split in ("train", "val", "test")}
    if not counts["train"] or not counts["test"]:
        raise AuditError(f"{name}: {root} lists {counts['train']} train and {counts['test']} test images; "
                         "both lists must name images: restore them")
    return DatasetSource(name, root, tuple(samples), info={
        "task": "transfer", "layout": "DomainNet release", "domain": domain, "splits": counts,
        "classes": NUM_CLASSES, "class_folders_present": len(label_of_class),
        "labels": f"{domain}_train.txt / {domain}_test.txt (0..344), checked against the class folders",
    })


def _refuse_an_image_in_both_splits(name: str, samples: list[Sample]) -> None:
    """An image listed twice would count twice; one in train and test would be scored on what it
    was trained on."""
    split_of_file: dict[str, str] = {}
    for sample in samples:
        relative, split = sample.sample_id.split("/", 1)[1], sample.attribute("split")
        if relative in split_of_file:
            where = "in both train and test" if split_of_file[relative] != split else f"twice in {split}"
            raise AuditError(f"{name}: {relative} is listed {where}; restore the released lists")
        split_of_file[relative] = split
