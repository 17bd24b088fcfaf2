"""Revisited Oxford and Paris (Radenović et al. 2018, "Revisiting Oxford and Paris") for
landmark retrieval, in the layout the revisitop release unpacks to:

``<root>/jpg/<name>.jpg`` (the database) + ``<root>/gnd_roxford5k.pkl`` (or ``gnd_rparis6k.pkl``):
a pickle holding ``imlist`` (database names), ``qimlist`` (query names) and ``gnd``, one dict per
query with ``bbx`` (x1, y1, x2, y2) and index lists ``easy``, ``hard``, ``junk`` into ``imlist``.

Queries are their database image cropped to ``bbx`` (the protocol's query definition), made on the
fly when the image is read: query samples live in a small table (``QueryCrops``) whose rows
return the PNG bytes of each crop, so the store hashes what the model saw. Sample ids:
``gallery/<name>`` and ``query/<k>-<name>``; labels are -1 (relevance comes from ``gnd``).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

from auditkit.data.source import DatasetSource, Sample
from auditkit.errors import AuditError

GROUND_TRUTH = {"roxford5k": "gnd_roxford5k.pkl", "rparis6k": "gnd_rparis6k.pkl"}


@dataclass(frozen=True)
class GroundTruth:
    database: list[str]
    queries: list[str]
    boxes: list[tuple[float, float, float, float]]
    easy: list[list[int]]
    hard: list[list[int]]
    junk: list[list[int]]


def read_ground_truth(root: Path, name: str) -> GroundTruth:
    path = root / GROUND_TRUTH[name]
    if not path.is_file():
        raise AuditError(f"{name}: {path} is missing; unpack the revisitop release ({GROUND_TRUTH[name]} beside jpg/)")
    with path.open("rb") as stream:
        # the release ships its ground truth only as this pickle; it is read from the user's data folder
        raw = pickle.load(stream)
    try:
        return GroundTruth(
            database=list(raw["imlist"]), queries=list(raw["qimlist"]),
            boxes=[tuple(float(v) for v in q["bbx"]) for q in raw["gnd"]],
            easy=[list(map(int, q["easy"])) for q in raw["gnd"]],
            hard=[list(map(int, q["hard"])) for q in raw["gnd"]],
            junk=[list(map(int, q["junk"])) for q in raw["gnd"]],
        )
    except (KeyError, TypeError) as error:
        raise AuditError(f"{name}: {path} is not a revisitop ground-truth file ({error}); re-download it") from None


class QueryCrops:
    """Rows of (image path, box): ``read(row)`` gives the PNG bytes of the crop (picklable, so
    DataLoader workers can use it)."""

    def __init__(self, crops: list[tuple[Path, tuple[float, float, float, float]]]) -> None:
        self.crops = crops

    def read(self, row: int) -> bytes:
        from PIL import Image

        path, box = self.crops[row]
        with Image.open(path) as image:
            crop = image.convert("RGB").crop(tuple(round(v) for v in box))
        buffer = io.BytesIO()
        crop.save(buffer, format="PNG")
        return buffer.getvalue()


def read_revisited(root: Path, name: str) -> DatasetSource:
    truth = read_ground_truth(root, name)
    images = root / "jpg"
    missing = [n for n in truth.database if not (images / f"{n}.jpg").is_file()]
    if missing:
        raise AuditError(f"{name}: {len(missing)} database images missing under {images} (first: {missing[0]}.jpg); "
                         "unpack the whole release, a partial database changes every mAP")
    samples = [Sample(path=images / f"{n}.jpg", label=-1, sample_id=f"gallery/{n}", attributes=(("split", "gallery"),))
               for n in truth.database]
    crops = []
    for k, (query, box) in enumerate(zip(truth.queries, truth.boxes)):
        path = images / f"{query}.jpg"
        crops.append((path, box))
        box_id = ",".join(f"{v:g}" for v in box)  # the box is part of what the model sees
        samples.append(Sample(path=path, label=-1, sample_id=f"query/{k:03d}-{query}@{box_id}", row=k,
                              size=path.stat().st_size, attributes=(("split", "query"),)))
    samples.sort(key=lambda s: s.sample_id)
    return DatasetSource(name, root, tuple(samples), table=QueryCrops(crops),  # type: ignore[arg-type]
                         info={"task": "landmark-retrieval", "queries": len(truth.queries),
                               "database": len(truth.database), "ground_truth": GROUND_TRUTH[name]})
