"""model-vs-human's 17 out-of-distribution datasets (Geirhos et al., NeurIPS 2021), release v0.1.

Layouts, as the release ``<name>.tar.gz`` assets unpack (model-vs-human ``datasets/base.py``,
``info_mappings.py``):
- 14 datasets (the 12 parametric distortions, sketch, stylized):
  ``<name>/dnn/session-1/<trial>_<code>_dnn_<condition>_<category>_<nn>_<image>.png``, e.g.
  ``0001_cop_dnn_c30_knife_10_n03041632_7380.png``: field 3 is the condition, field 4 the
  category (``InfoMappingWithSessions``);
- edge, silhouette, cue-conflict: ``<name>/<category>/<image>.png`` (``airplane1.png``).
All stimuli are 224x224 and model-vs-human feeds them without resize or crop.

Trials of different observers are matched by model-vs-human's image id (``plotting_helper.
get_short_imagename``): the last underscore field of the file name, or the last two when the
second-to-last is an ImageNet wnid (``n04111531_14126.png``). Human sessions name the same
stimulus ``0001_cl_s01_cr_oven_40_n04111531_14126.png`` (subject instead of ``dnn``, their own
trial numbers), so the image id, not the file name, pairs a model with a human.

Sample ids are the released file names. Catalog names: ``mvh-<name>`` (``mvh-colour``, ...),
found under ``<data root>/model-vs-human/<name>`` (where ``audit fetch mvh-<name>`` unpacks the
release asset); cue-conflict is the catalog's ``cue-conflict`` (same stimuli, read once for both
suites).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from auditkit.data.cue_conflict import CATEGORIES, parse_stimulus
from auditkit.data.source import DatasetSource, Sample
from auditkit.errors import AuditError

RELEASE_URL = "https://github.com/bethgelab/model-vs-human/releases/download/v0.1/{name}.tar.gz"
WHOLE = "all"  # the one condition of datasets without levels


@dataclass(frozen=True)
class MvhDataset:
    """One benchmark dataset: conditions in plotting order as the file names spell them, the
    axis labels model-vs-human plots them with (``datasets/experiments.py``) and the conditions
    its benchmark leaves out (``plotting/plot.py`` EXCLUDE_CONDITIONS: the undistorted control,
    and levels where mean human accuracy is below 0.2)."""

    name: str
    code: str  # the experiment code in human file names (``cl``, ``cop``, ...)
    conditions: tuple[str, ...] = (WHOLE,)
    labels: tuple[str, ...] = ("",)
    xlabel: str = ""
    excluded: tuple[str, ...] = ()
    sessions: bool = True  # <name>/dnn/session-1 layout; False: <name>/<category>/

    @property
    def catalog_name(self) -> str:
        return "cue-conflict" if self.name == "cue-conflict" else f"mvh-{self.name}"

    @property
    def parametric(self) -> bool:
        return self.conditions != (WHOLE,)

    @property
    def benchmark_conditions(self) -> tuple[str, ...]:
        return tuple(c for c in self.conditions if c not in self.excluded)


_EIDOLON = dict(labels=tuple(str(i) for i in range(8)), xlabel="log2 of the 'reach' parameter")
_REACH = (1, 2, 4, 8, 16, 32, 64, 128)

BENCHMARK: tuple[MvhDataset, ...] = (
    MvhDataset("colour", "cl", ("cr", "bw"), ("colour", "greyscale"), "colour", ("cr",)),
    MvhDataset("contrast", "cop", ("c100", "c50", "c30", "c15", "c10", "c05", "c03", "c01"),
               ("100", "50", "30", "15", "10", "5", "3", "1"), "contrast [%]", ("c100", "c03", "c01")),
    MvhDataset("high-pass", "hp", ("inf", "3", "1.5", "1", "0.7", "0.55", "0.45", "0.4"),
               ("inf", "3", "1.5", "1", ".7", ".55", ".45", ".4"), "filter standard deviation",
               ("inf", "0.55", "0.45", "0.4")),
    MvhDataset("low-pass", "lp", ("0", "1", "3", "5", "7", "10", "15", "40"),
               ("0", "1", "3", "5", "7", "10", "15", "40"), "filter standard deviation", ("0", "15", "40")),
    MvhDataset("phase-scrambling", "ps", ("0", "30", "60", "90", "120", "150", "180"),
               ("0", "30", "60", "90", "120", "150", "180"), "phase noise width [°]", ("0", "150", "180")),
    MvhDataset("power-equalisation", "pow", ("0", "pow"), ("original", "equalised"), "power spectrum", ("0",)),
    MvhDataset("false-colour", "fc", ("true", "false"), ("true", "opponent"), "colour", ("true",)),
    MvhDataset("rotation", "rot", ("0", "90", "180", "270"), ("0", "90", "180", "270"), "rotation angle [°]",
               ("0",)),
    MvhDataset("eidolonI", "eid", tuple(f"{r}-10-10" for r in _REACH), excluded=("1-10-10", "64-10-10", "128-10-10"),
               **_EIDOLON),
    MvhDataset("eidolonII", "eid", tuple(f"{r}-3-10" for r in _REACH),
               excluded=("1-3-10", "32-3-10", "64-3-10", "128-3-10"), **_EIDOLON),
    MvhDataset("eidolonIII", "eid", tuple(f"{r}-0-10" for r in _REACH),
               excluded=("1-0-10", "16-0-10", "32-0-10", "64-0-10", "128-0-10"), **_EIDOLON),
    MvhDataset("uniform-noise", "nse", ("0.00", "0.03", "0.05", "0.10", "0.20", "0.35", "0.60", "0.90"),
               ("0", ".03", ".05", ".1", ".2", ".35", ".6", ".9"), "uniform noise width", ("0.00", "0.60", "0.90")),
    MvhDataset("sketch", "ske"),
    MvhDataset("stylized", "sty"),
    MvhDataset("edge", "edg", sessions=False),
    MvhDataset("silhouette", "sif", sessions=False),
    MvhDataset("cue-conflict", "s5n", sessions=False),
)
BY_NAME = {d.name: d for d in BENCHMARK}
BY_CATALOG_NAME = {d.catalog_name: d for d in BENCHMARK}

# <trial>_<code>_<observer>_<condition>_<category>_<nn>_<image>: the session naming
SESSION_NAME = re.compile(r"^\d+_(?P<code>[a-z0-9]+)_(?P<observer>[a-z0-9]+)_(?P<condition>[^_]+)_"
                          r"(?P<category>[a-z]+)_\d+_(?P<image>.+\.(?:png|jpe?g|JPEG))$")


def image_id(name: str) -> str:
    """model-vs-human's image id of a stimulus file name (see the module docstring)."""
    fields = name.split("_")
    if len(fields) == 1:
        return name
    if fields[-2].startswith("n0"):
        return f"{fields[-2]}_{fields[-1]}"
    return fields[-1]


@dataclass(frozen=True)
class Stimulus:
    condition: str
    category: str
    image_id: str


def parse_name(dataset: MvhDataset, name: str) -> Stimulus:
    """Condition, category and image id from a released or human-session file name."""
    match = SESSION_NAME.match(name)
    if dataset.sessions and not match:
        raise AuditError(f"{dataset.catalog_name}: {name!r} is not a model-vs-human stimulus name "
                         "(<trial>_<code>_dnn_<condition>_<category>_<nn>_<image>.png)")
    if match:
        condition = match["condition"] if dataset.parametric else WHOLE
        category = match["category"]
    else:  # edge / silhouette / cue-conflict as released: airplane1.png, airplane1-bicycle2.png
        condition = WHOLE
        if dataset.name == "cue-conflict":
            category = parse_stimulus(name)[0]
        else:
            category = re.sub(r"\d+$", "", Path(name).stem)
    if category not in CATEGORIES:
        raise AuditError(f"{dataset.catalog_name}: {name!r} names category {category!r}, not one of the 16")
    if condition not in dataset.conditions:
        raise AuditError(f"{dataset.catalog_name}: {name!r} has condition {condition!r}; the dataset has "
                         f"{', '.join(dataset.conditions)}")
    return Stimulus(condition, category, image_id(name))


def read_model_vs_human(root: Path, name: str) -> DatasetSource:
    """Read one dataset in its release layout; the root may be the dataset folder or its parent."""
    dataset = BY_NAME[name]
    if (root / name).is_dir():
        root = root / name
    samples = []
    if dataset.sessions:
        folder = root / "dnn" / "session-1"
        if not folder.is_dir():
            raise AuditError(f"{dataset.catalog_name}: {folder} is missing; the release unpacks to "
                             f"{name}/dnn/session-1/*.png")
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() == ".png":
                stimulus = parse_name(dataset, path.name)
                samples.append(_sample(path, stimulus))
    else:
        for category in CATEGORIES:
            folder = root / category
            if not folder.is_dir():
                raise AuditError(f"{dataset.catalog_name}: folder {folder} is missing; the release has one "
                                 f"folder per category ({', '.join(CATEGORIES)})")
            for path in sorted(folder.glob("*.png")):
                stimulus = parse_name(dataset, path.name)
                if stimulus.category != category:
                    raise AuditError(f"{dataset.catalog_name}: {path} is in folder {category} but its name "
                                     f"says {stimulus.category}")
                samples.append(_sample(path, stimulus))
    if not samples:
        raise AuditError(f"{dataset.catalog_name}: no .png stimuli under {root}")
    samples.sort(key=lambda s: s.sample_id)
    return DatasetSource(dataset.catalog_name, root, tuple(samples),
                         info={"labels": "16 categories from the file names (model-vs-human v0.1)"})


def _sample(path: Path, stimulus: Stimulus) -> Sample:
    return Sample(path=path, label=-1, sample_id=path.name,
                  attributes=(("condition", stimulus.condition), ("category", stimulus.category)))
