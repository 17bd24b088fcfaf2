"""PUG-ImageNet (Bordes et al., NeurIPS 2023): photorealistic Unreal Engine renders of 151
ImageNet classes, one factor of variation at a time (docs/protocols.md "PUG-ImageNet").

Two forms are read:

- **The release** (facebookresearch/PUG, ``PUG_IMAGENET.tar.gz``): ``class_to_imagenet_idx.json``,
  ``labels_pug_imagenet.csv`` and 10 subset folders ``<Subset>/<PUG class>/<image>``. The subset
  and class come from the folders; the factor value of each image (the camera yaw of a
  ``Camera_Yaw`` image, ...) comes from the CSV, joined on its ``filename`` column. The join
  accepts a path relative to the root (``Camera_Yaw/Goldfish/x.png``, with or without a leading
  ``PUG_ImageNet/``) or a bare file name that is unique in the tree; a row that names no file,
  or a file whose CSV class differs from its folder, is never guessed: per-value results are
  then refused with the count (the per-subset results need only the folders).
- **The Hugging Face copy** ``facebook/PUG_ImageNet`` (split ``train``; a ``save_to_disk``
  folder or its parquet files, plus ``class_to_imagenet_idx.json`` beside them). Its features
  are image, world_name, character_name, character_label, character_rotation_{yaw,roll,pitch},
  character_scale, camera_{roll,pitch,yaw}, character_texture, scene_light: there is no subset
  column. Because the dataset varies one factor at a time, a row's subset is the one factor
  whose value differs from that factor's most common value (its default); rows at every
  default form the reference group (``Default``); rows differing in two or more factors are
  not assigned and are counted. The suite says that subsets were reconstructed.

A PUG class maps to a LIST of ImageNet indices: a prediction is correct if it is in the list
(index 841 belongs to both ``Shirt`` and ``Sweatshirt``; the official notebook's inverted index
makes ``Shirt`` impossible to get right, we do not).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

from auditkit.data.source import DatasetSource, ImageTable, Sample, list_images
from auditkit.errors import AuditError

CLASS_MAP = "class_to_imagenet_idx.json"
LABELS_CSV = "labels_pug_imagenet.csv"
HUB_ID = "facebook/PUG_ImageNet"
RELEASE_URL = "https://dl.fbaipublicfiles.com/large_objects/pug/PUG_IMAGENET.tar.gz"
DEFAULT_GROUP = "Default"

# subset folder -> the factor it varies (a column of labels_pug_imagenet.csv / the HF features)
SUBSET_FACTORS: dict[str, str] = {
    "Worlds": "world_name",
    "Camera_Pitch": "camera_pitch",
    "Camera_Yaw": "camera_yaw",
    "Camera_Roll": "camera_roll",
    "Object_Pitch": "character_rotation_pitch",
    "Object_Yaw": "character_rotation_yaw",
    "Object_Roll": "character_rotation_roll",
    "Object_Scale": "character_scale",
    "Object_Texture": "character_texture",
    "Scene_Light": "scene_light",
}


def read_class_map(root: Path) -> dict[str, tuple[int, ...]]:
    path = root / CLASS_MAP
    if not path.is_file():
        raise AuditError(f"pug-imagenet: {CLASS_MAP} missing in {root}; it ships with the dataset "
                         f"(facebookresearch/PUG, folder PUG_ImageNet): put it there")
    try:
        raw = json.loads(path.read_text())
        mapping = {str(name): tuple(int(i) for i in indices) for name, indices in raw.items()}
    except (ValueError, TypeError, AttributeError) as error:
        raise AuditError(f"pug-imagenet: {path} is not a JSON map of class name -> list of ImageNet "
                         f"indices ({error}); replace it with the released file") from None
    bad = {name: idx for name, idx in mapping.items() if not idx or any(not 0 <= i < 1000 for i in idx)}
    if bad:
        raise AuditError(f"pug-imagenet: {path}: classes without valid ImageNet indices: {sorted(bad)[:5]}")
    return mapping


def format_value(value: object) -> str:
    """One spelling per factor value, shared by both forms: 45, 1.5, Default, City."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else f"{number:g}"


def read_pug_imagenet(root: Path) -> DatasetSource:
    classes = read_class_map(root)
    if any((root / subset).is_dir() for subset in SUBSET_FACTORS):
        return _read_release(root, classes)
    if (root / "dataset_dict.json").is_file() or (root / "state.json").is_file() or any(root.rglob("*.parquet")):
        return _read_hub_copy(root, classes)
    raise AuditError(f"pug-imagenet: {root} holds neither the subset folders ({', '.join(SUBSET_FACTORS)}) "
                     f"nor a copy of {HUB_ID}; unpack {RELEASE_URL} there")


def _read_release(root: Path, classes: dict[str, tuple[int, ...]]) -> DatasetSource:
    files: list[tuple[str, str, Path]] = []  # (subset, class, path)
    for subset in SUBSET_FACTORS:
        folder = root / subset
        if not folder.is_dir():
            continue
        for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            if class_dir.name not in classes:
                raise AuditError(f"pug-imagenet: folder {class_dir} is not a class of {CLASS_MAP}; "
                                 f"the layout is <Subset>/<PUG class>/<image>")
            images = list_images(class_dir)
            if not images:
                raise AuditError(f"pug-imagenet: class folder {class_dir} holds no images; remove it or restore its files")
            files.extend((subset, class_dir.name, path) for path in images)
    files.sort(key=lambda item: item[2].relative_to(root).as_posix())
    absent = [s for s in SUBSET_FACTORS if not (root / s).is_dir()]
    values, join = _factor_values(root, files)
    samples = []
    for subset, name, path in files:
        relative = path.relative_to(root).as_posix()
        attributes = {"subset": subset, "pug_class": name}
        if relative in values:
            attributes["value"] = values[relative]
        samples.append(Sample(path=path, label=classes[name][0], sample_id=relative,
                              label_set=classes[name], attributes=tuple(attributes.items())))
    info = {"form": "release", "classes_in_map": len(classes), "subsets_absent": absent, **join}
    return DatasetSource("pug-imagenet", root, tuple(samples), info=info)


def _factor_values(root: Path, files: list[tuple[str, str, Path]]) -> tuple[dict[str, str], dict[str, object]]:
    """relative path -> value of the factor its subset varies, from the labels CSV."""
    path = root / LABELS_CSV
    if not path.is_file():
        return {}, {"factor_values": f"{LABELS_CSV} absent: per-subset results only"}
    by_relative = {p.relative_to(root).as_posix(): (subset, name) for subset, name, p in files}
    by_basename: dict[str, list[str]] = {}
    for relative in by_relative:
        by_basename.setdefault(relative.rsplit("/", 1)[-1], []).append(relative)
    values: dict[str, str] = {}
    unmatched = mismatched = 0
    with path.open(newline="") as stream:
        reader = csv.DictReader(stream)
        needed = {"filename", "character_label", *SUBSET_FACTORS.values()}
        missing = needed - set(reader.fieldnames or ())
        if missing:
            raise AuditError(f"pug-imagenet: {path} lacks columns {sorted(missing)}; use the released {LABELS_CSV}")
        for row in reader:
            name = row["filename"].replace("\\", "/").removeprefix("./").removeprefix("PUG_ImageNet/")
            relative = name if name in by_relative else None
            if relative is None:
                candidates = by_basename.get(name.rsplit("/", 1)[-1], [])
                relative = candidates[0] if len(candidates) == 1 else None
            if relative is None:
                unmatched += 1
                continue
            subset, class_name = by_relative[relative]
            if row["character_label"] != class_name:
                mismatched += 1
                continue
            values[relative] = format_value(row[SUBSET_FACTORS[subset]])
    join = {"factor_values": LABELS_CSV, "csv_rows_matched": len(values),
            "csv_rows_unmatched": unmatched, "csv_class_mismatches": mismatched,
            "images_without_csv_row": len(files) - len(values)}
    return values, join


def _read_hub_copy(root: Path, classes: dict[str, tuple[int, ...]]) -> DatasetSource:
    import datasets

    if (root / "dataset_dict.json").is_file():
        loaded = datasets.load_from_disk(str(root))
        if "train" not in loaded:
            raise AuditError(f"pug-imagenet: {root} has splits {list(loaded)}, not 'train' ({HUB_ID})")
        dataset = loaded["train"]
    elif (root / "state.json").is_file():
        dataset = datasets.load_from_disk(str(root))
    else:
        dataset = datasets.Dataset.from_parquet([str(p) for p in sorted(root.rglob("*.parquet"))])
    needed = {"image", "character_label", *SUBSET_FACTORS.values()}
    missing = needed - set(dataset.features)
    if missing:
        raise AuditError(f"pug-imagenet: {root} lacks columns {sorted(missing)} (found {sorted(dataset.features)}); "
                         f"it is not a copy of {HUB_ID}")
    labels = dataset["character_label"]
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise AuditError(f"pug-imagenet: classes {unknown[:5]} are not in {CLASS_MAP}; use the map released with the data")
    factors = {column: [format_value(v) for v in dataset[column]] for column in SUBSET_FACTORS.values()}
    defaults = {column: Counter(column_values).most_common(1)[0][0] for column, column_values in factors.items()}
    subset_of = {factor: subset for subset, factor in SUBSET_FACTORS.items()}
    table = ImageTable(dataset)
    import pyarrow.compute as pc

    images = table.dataset.data.table.column("image")
    sizes = pc.binary_length(pc.struct_field(images, "bytes")).to_pylist()
    samples = []
    unassigned = 0
    for row, name in enumerate(labels):
        differing = [column for column in factors if factors[column][row] != defaults[column]]
        if len(differing) > 1:
            unassigned += 1
            attributes = {"subset": "", "pug_class": name}
        elif differing:
            attributes = {"subset": subset_of[differing[0]], "pug_class": name, "value": factors[differing[0]][row]}
        else:
            attributes = {"subset": DEFAULT_GROUP, "pug_class": name}
        samples.append(Sample(path=root, label=classes[name][0], sample_id=f"row-{row:06d}",
                              label_set=classes[name], row=row, size=int(sizes[row] or 0),
                              attributes=tuple(attributes.items())))
    info = {"form": f"{HUB_ID} copy", "classes_in_map": len(classes),
            "subsets": "reconstructed: the one factor differing from its most common value",
            "defaults": defaults, "rows_unassigned": unassigned}
    return DatasetSource("pug-imagenet", root, tuple(samples), table=table, info=info)
