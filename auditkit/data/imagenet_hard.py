"""ImageNet-Hard (Taesiri et al., 2023) from a local copy of the Hugging Face dataset.

``taesiri/imagenet-hard``, split ``validation``; features image, label (a LIST of ImageNet
indices: multi-label, correct if the prediction is in it; -1 padding dropped), origin,
english_label. Read either a ``datasets.save_to_disk`` folder or the hub's parquet files.
Example counts differ across revisions of the hub dataset (13,925 in one), so the revision is
recorded: our downloader writes it to ``auditkit_source.json`` beside the copy.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from auditkit.data.source import DatasetSource, ImageTable, Sample
from auditkit.errors import AuditError

HUB_ID = "taesiri/imagenet-hard"
SPLIT = "validation"
SOURCE_FILE = "auditkit_source.json"


def _load(root: Path):  # -> datasets.Dataset
    import datasets

    if (root / "dataset_dict.json").is_file():
        loaded = datasets.load_from_disk(str(root))
        if SPLIT not in loaded:
            raise AuditError(f"imagenet-hard: {root} has splits {list(loaded)}, not {SPLIT!r}")
        return loaded[SPLIT]
    if (root / "state.json").is_file():
        return datasets.load_from_disk(str(root))
    parquet = sorted(root.rglob(f"{SPLIT}-*.parquet")) or sorted(root.rglob("*.parquet"))
    if parquet:
        return datasets.Dataset.from_parquet([str(p) for p in parquet])
    raise AuditError(
        f"imagenet-hard: {root} holds neither a datasets.save_to_disk copy nor parquet files; "
        f"save {HUB_ID} (split {SPLIT}) there"
    )


def read_imagenet_hard(root: Path) -> DatasetSource:
    import pyarrow.compute as pc

    dataset = _load(root)
    missing = {"image", "label"} - set(dataset.features)
    if missing:
        raise AuditError(f"imagenet-hard: columns {sorted(missing)} missing (found {sorted(dataset.features)})")
    table = ImageTable(dataset)
    images = table.dataset.data.table.column("image")
    sizes = pc.binary_length(pc.struct_field(images, "bytes")).to_pylist()
    samples = []
    for row, (labels, size) in enumerate(zip(dataset["label"], sizes)):
        label_set = tuple(sorted({int(x) for x in (labels if isinstance(labels, list) else [labels]) if int(x) >= 0}))
        samples.append(Sample(path=root, label=label_set[0] if label_set else -1, sample_id=f"row-{row:06d}",
                              label_set=label_set, row=row, size=int(size or 0)))
    source_file = root / SOURCE_FILE
    revision = json.loads(source_file.read_text()).get("revision") if source_file.is_file() else "unknown (local copy)"
    return DatasetSource("imagenet-hard", root, tuple(samples), table=table,
                         info={"labels": "multi-label sets", "hub": HUB_ID, "revision": revision,
                               "examples": len(samples)})


def fetch_imagenet_hard(target: Path, revision: str = "main") -> Path:
    """Download the split from the hub, save it with its resolved revision, move it into place."""
    from auditkit.fetch import network_allowed

    if not network_allowed():
        raise AuditError(f"imagenet-hard not found at {target} and downloads are off (offline); on a machine "
                         f"with network save {HUB_ID} there, or pass --data imagenet-hard=PATH")
    import datasets
    from huggingface_hub import HfApi

    try:
        sha = HfApi().dataset_info(HUB_ID, revision=revision).sha
        dataset = datasets.load_dataset(HUB_ID, split=SPLIT, revision=sha)
    except Exception as error:  # network and hub errors come in many types
        raise AuditError(f"cannot download {HUB_ID} ({str(error).splitlines()[0][:160]}); "
                         f"save it to {target} elsewhere, or pass --data imagenet-hard=PATH") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=".imagenet-hard-"))
    try:
        dataset.save_to_disk(str(work / "copy"))
        (work / "copy" / SOURCE_FILE).write_text(json.dumps({"hub": HUB_ID, "split": SPLIT, "revision": sha}))
        os.replace(work / "copy", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
