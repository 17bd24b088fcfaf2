"""Reference rows: published results that enter a comparison as models without per-sample data.

A reference row is a ``RunResults`` whose header says ``"reference": "published"`` and where its
numbers come from; it has records and no per-sample arrays, so a comparison shows it beside
audited runs but never pairs it in a test.

- ``testbed``: the robustness testbed's 338 models (Taori et al. 2020): top-1 on val, V2, A, R,
  Sketch and ObjectNet, from the shipped grid (``auditkit/field/testbed``).
- ``beyond-inet``: the paper's four models (Vishniakov et al. 2024) with every number
  docs/protocols.md gives for them, each record's source naming its table or figure, plus
  open_clip's published zero-shot results for the two CLIP models as their own rows.
- ``openood``: OpenOOD v1.5's ImageNet-1K leaderboard (near / far AUROC), ``auditkit/field/openood.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditkit.errors import AuditError
from auditkit.field.openood import openood_rows
from auditkit.field.testbed import COMMIT, SOURCE, load_testbed_models
from auditkit.records import ALL, MetricRecord, Notice, RunResults

COLLECTIONS = ("testbed", "beyond-inet", "openood")
PAPER = "Vishniakov, Shen, Liu 2024, ConvNet vs Transformer, Supervised vs CLIP: Beyond ImageNet Accuracy"
PAPER_MODELS = ("vit_b_sup", "convnext_b_sup", "vit_b_clip", "convnext_b_clip")

# testbed column -> (suite, dataset) of the same measurement in auditkit's records
TESTBED_COLUMNS = {
    "val": ("robustness", "imagenet-val"),
    "imagenetv2-matched-frequency-format-val": ("robustness", "imagenet-v2"),
    "imagenet-a": ("robustness", "imagenet-a"),
    "imagenet-r": ("robustness", "imagenet-r"),
    "imagenet-sketch": ("robustness", "imagenet-sketch"),
    "objectnet-1.0-beta": ("robustness", "objectnet"),
}


@dataclass(frozen=True)
class Published:
    """One published number: where it sits in auditkit's records and where it was printed."""

    suite: str
    dataset: str
    condition: str  # the record's fields (schema v2)
    metric: str
    values: tuple[float, float, float, float]  # ViT-sup, ConvNeXt-sup, ViT-CLIP, ConvNeXt-CLIP
    source: str
    subset: str = ALL
    aggregate: str = ""

    @property
    def key(self) -> str:
        """Where the figure sits, for the row's ``source``: suite/dataset/condition[/subset]/metric."""
        subset = "" if self.subset == ALL else f"{self.subset}/"
        return f"{self.suite}/{self.dataset}/{self.condition}/{subset}{self.metric}"

    def record(self, model: str, index: int) -> MetricRecord:
        return published_record(model, self.suite, self.dataset, self.metric, self.values[index],
                                condition=self.condition, subset=self.subset, aggregate=self.aggregate)


def published_record(model: str, suite: str, dataset: str, metric: str, value: float, *, condition: str = "none",
                     subset: str = ALL, aggregate: str = "") -> MetricRecord:
    """A published number as a record: no CI and n = 0 (the samples behind it are not known)."""
    return MetricRecord(model=model, suite=suite, dataset=dataset, condition=condition, subset=subset, metric=metric,
                        value=value, n=0, aggregate=aggregate)


# Every four-model figure of docs/protocols.md, as fractions where auditkit records fractions.
PAPER_FIGURES = (
    Published("robustness", "imagenet-val", "none", "top1", (0.855, 0.855, 0.670, 0.663), "robustness table (Table 2)"),
    Published("robustness", "imagenet-v2", "none", "top1", (0.762, 0.756, 0.595, 0.586), "robustness table (Table 2)"),
    Published("robustness", "imagenet-a", "none", "top1", (0.600, 0.529, 0.332, 0.309), "robustness table (Table 2)"),
    Published("robustness", "imagenet-r", "none", "top1", (0.616, 0.623, 0.778, 0.758), "robustness table (Table 2)"),
    Published("robustness", "imagenet-sketch", "none", "top1", (0.461, 0.486, 0.523, 0.520), "robustness table (Table 2)"),
    Published("robustness", "imagenet-real", "none", "top1", (0.892, 0.895, 0.743, 0.738), "robustness table (Table 2)"),
    Published("robustness", "imagenet-hard", "none", "top1", (0.285, 0.294, 0.055, 0.058), "robustness table (Table 2)"),
    Published("robustness", "imagenet-c", "corrupt/*/*", "top1", (0.598, 0.668, 0.408, 0.390), "robustness table (Table 2)",
              aggregate="mean"),
    Published("calibration", "imagenet-val", "none", "ece", (0.041, 0.028, 0.133, 0.141), "calibration figure (ECE, IN-1K)"),
    Published("calibration", "imagenet-r", "none", "ece", (0.043, 0.025, 0.073, 0.085), "calibration figure (ECE, IN-R)"),
    Published("shape_bias", "cue-conflict", "native", "shape_bias", (0.399, 0.333, 0.465, 0.424), "shape-bias figure"),
    Published("imagenet_x", "imagenet-val", "none", "error_ratio", (2.37, 2.38, 1.65, 1.71),
              "ImageNet-X figure (read off the figure, +-0.02)", subset="texture"),
    Published("imagenet_x", "imagenet-val", "none", "error_ratio_mean", (1.45, 1.43, 1.19, 1.24),
              "ImageNet-X figure, 'Average' bar (read off the figure, +-0.02)"),
    Published("pug", "pug-imagenet", "none", "mean_subset_top1", (0.294, 0.320, 0.250, 0.270), "PUG-ImageNet averages"),
    Published("linear_probe", "vtab-1k", "none", "top1_mean", (0.678, 0.710, 0.722, 0.722), "VTAB linear-probe averages"),
)
TABLE1_VAL = (0.837, 0.837, 0.670, 0.663)  # Table 1's val top-1, which differs for the supervised two

# open_clip's published zero-shot results (its results table), val / V2 / A / R / Sketch
OPEN_CLIP_ZERO_SHOT = {
    "vit_b_clip": ("ViT-B-16 laion400m_e31", (0.6698, 0.5943, 0.3327, 0.7777, 0.5233)),
    "convnext_b_clip": ("convnext_base laion400m_s13b_b51k", (0.6627, 0.5859, 0.3092, 0.7575, 0.5196)),
}
ZERO_SHOT_DATASETS = ("imagenet-val", "imagenet-v2", "imagenet-a", "imagenet-r", "imagenet-sketch")


def _row(name: str, records: list[MetricRecord], source: dict[str, str], notices: list[Notice] | None = None) -> RunResults:
    return RunResults(header={"model": {"name": name, "kind": "published"}, "reference": "published",
                              "source": source}, records=records, notices=notices or [])


def testbed_rows() -> list[RunResults]:
    """The testbed's models, one reference row each, with the settings auditkit also measures."""
    rows = []
    for model in load_testbed_models():
        records = [published_record(model.name, suite, dataset, "top1", model.top1[column] / 100)
                   for column, (suite, dataset) in TESTBED_COLUMNS.items() if column in model.top1]
        if records:
            rows.append(_row(model.name, records, {"collection": "testbed", "repository": SOURCE, "commit": COMMIT,
                                                   "model_type": model.model_type,
                                                   "nat_model_type": model.nat_model_type}))
    return rows


def beyond_inet_rows() -> list[RunResults]:
    """The paper's four models, and open_clip's own zero-shot figures for the two CLIP models."""
    rows = []
    for index, preset in enumerate(PAPER_MODELS):
        name = f"{preset} (paper)"
        records = [f.record(name, index) for f in PAPER_FIGURES]
        notices = [Notice("robustness", "imagenet-val",
                          f"Table 1 lists val top-1 {100 * TABLE1_VAL[index]:.1f} %, the robustness table "
                          f"{100 * PAPER_FIGURES[0].values[index]:.1f} % (shown)")] \
            if TABLE1_VAL[index] != PAPER_FIGURES[0].values[index] else []
        rows.append(_row(name, records, {"collection": "beyond-inet", "paper": PAPER,
                                         **{f.key: f.source for f in PAPER_FIGURES}}, notices))
    for preset, (label, values) in OPEN_CLIP_ZERO_SHOT.items():
        name = f"{preset} (open_clip results)"
        records = [published_record(name, "robustness", dataset, "top1", value)
                   for dataset, value in zip(ZERO_SHOT_DATASETS, values)]
        rows.append(_row(name, records, {"collection": "beyond-inet",
                                         "table": f"open_clip zero-shot results, {label}"}))
    return rows


def reference_rows(collection: str) -> list[RunResults]:
    """The rows of one collection (``--with testbed`` / ``--with beyond-inet``)."""
    if collection == "testbed":
        return testbed_rows()
    if collection == "beyond-inet":
        return beyond_inet_rows()
    if collection == "openood":
        return openood_rows()
    raise AuditError(f"unknown reference collection {collection!r}; use {' or '.join(COLLECTIONS)}")
