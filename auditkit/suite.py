"""What a suite is: the (dataset, condition) predictions it needs and a protocol over arrays.

A suite never touches a torch module. It declares ``requests``; the runner hands it
``Predictions`` (logits, labels, ids) and it returns tidy records, figures and per-sample arrays.
Add a suite by subclassing ``Suite`` in ``suites/<name>/suite.py`` and adding one registry line
in ``suites/__init__.py``.

Per-sample arrays: the convention ``audit compare`` pairs runs on (STYLE.md 6, lm-eval's
``doc_hash``). ``SuiteOutput.add_samples(predictions, arrays)`` keeps, for the records at one
(dataset, condition), named arrays with one row per sample, plus the samples' ``sample_id`` and
``content_sha1`` taken from the predictions, so two runs are matched sample by sample. The file
is ``records.per_sample_path(suite, dataset, condition)``. Names that mean something:

- ``correct``: bool, the sample's top-1 answer is right; its mean is the record ``top1`` (subset
  ``all``) at the same (dataset, condition). Comparisons give it McNemar's test as well as a
  paired bootstrap.
- an array named after a metric (``top5``, ``true_class_probability``, ``brier``, ...): the
  per-sample values whose mean is that metric's record (subset ``all``); a bool one also gets
  McNemar's test.
- anything else is context (``label``, ``prediction``, ``confidence``, ...).

Each metric is defined once: ``sample_metrics`` computes the values of the records at one
(dataset, condition) from these arrays, keyed by (subset, metric), and ``evaluate`` builds its
records from the same functions (a test checks that every suite's records equal its
``sample_metrics`` of its own per-sample files). A suite whose metrics are not plain means (ECE,
error ratios, shape bias) or that has subsets overrides ``sample_metrics`` (and ``sample_hits``).
With that, a new suite gets paired tests, overlays and exports with no change elsewhere.

A suite also declares what a user may set (``options``: ``SuiteOption``, set with ``audit run
--option <suite>.<name>=VALUE`` and recorded in the run header) and which of its records are its
headline numbers (``headline``; by default the plain input over every sample).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from auditkit import conditions
from auditkit.conditions import Condition, Plain
from auditkit.data.source import DatasetSource
from auditkit.errors import AuditError
from auditkit.records import ALL, MetricRecord, Notice, Skipped
from auditkit.registry import did_you_mean
from auditkit.stats import log_softmax


OUTPUTS = {
    "logits": "the 1000 ImageNet logits (or the zero-shot head's)",
    "features": "the penultimate / pooled embedding (CLIP: the image embedding), ModelAdapter.features",
    "layers": "globally pooled outputs of the model's stages or blocks, ModelAdapter.layer_features",
    "dense_features": "spatial feature maps (NCHW) at a stated stride, ModelAdapter.dense_features; "
                      "dense_features[/last4][/cls]: the last four blocks, the class token concatenated",
}


@dataclass(frozen=True)
class DenseFeatures:
    """Output ``dense_features``: one (C, H, W) map per sample, stored flattened as rows
    (the store holds them as float16 rows), with the map's shape and stride kept beside the entry."""

    output: str  # the request output that gave them, e.g. "dense_features/cls"
    values: np.ndarray  # (n, C * H * W) float16, memory-mapped (``maps`` gives float32)
    shape: tuple[int, int, int]  # (C, H, W)
    stride: float  # input pixels per feature position
    entry: Path  # the store entry's folder: heads trained on these features are kept beside them

    def maps(self, rows: np.ndarray | list[int]) -> np.ndarray:
        """(len(rows), C, H, W) float32 maps of the given sample rows."""
        return np.asarray(self.values[np.asarray(rows)], dtype=np.float32).reshape(-1, *self.shape)


@dataclass(frozen=True)
class PredictionRequest:
    """What a suite needs: a dataset under a condition, as logits or features (``OUTPUTS``),
    from the audited model ("subject") or the run's second model ("reference",
    ``--reference-model``; e.g. CKA between two models). Adversarial inputs are conditions
    (``pgd/eps2/steps10/seed0``, ``auditkit.conditions.attacks``): the runner attacks through the adapter.

    ``condition`` is a parsed ``Condition``; a suite may name it by its text (``"scale/1.5"``),
    parsed here once (an ``AuditError`` for a misspelling), so the runner never parses it again
    and writes its text only into the store key, the records and file paths."""

    dataset: str
    condition: Condition = Plain()
    output: str = "logits"
    model: str = "subject"

    def __post_init__(self) -> None:
        if isinstance(self.condition, str):
            object.__setattr__(self, "condition", conditions.parse(self.condition))


@dataclass(frozen=True)
class Predictions:
    """One model's answers on one (dataset, condition), rows in ``source.samples`` order.

    A live model gives ``logits``; a recorded observer (``decisions:PATH``) gives ``decisions``
    in the dataset's own label space (e.g. the 16 cue-conflict categories) and no logits.
    """

    source: DatasetSource
    condition: str  # the request's condition as records and per-sample files name it
    logits: np.ndarray | None  # (n, 1000) float32
    content_sha1: np.ndarray  # (n,) hex digests of the image files ("" for recorded answers)
    decisions: np.ndarray | None = None  # (n,) recorded answers, strings
    top1: np.ndarray | None = None  # (n,) recorded top-1 ImageNet classes (imported predictions)
    top1_probability: np.ndarray | None = None  # (n,) their recorded softmax probability
    features: np.ndarray | None = None  # (n, d) output "features"
    layers: dict[str, np.ndarray] | None = None  # output "layers": name -> (n, d_layer), in depth order
    dense: DenseFeatures | None = None  # output "dense_features"
    model_name: str = ""  # the model that answered (the reference model's name for "reference")
    # a trained condition's answers (``finetune``): what the training kept besides the weights
    # (recipe, per-epoch history, cost, the model.pt path); rows are the task's test split
    training: Mapping[str, Any] | None = None

    @property
    def answered(self) -> tuple[str, ...]:
        """Which answers these predictions hold: ``logits``, ``top1`` (recorded classes),
        ``decisions``, ``features``, ``layers``, ``dense_features[...]`` (what ``Suite.accepts``
        is matched against)."""
        held = {"logits": self.logits, "top1": self.top1, "decisions": self.decisions,
                "features": self.features, "layers": self.layers,
                self.dense.output if self.dense is not None else "dense_features": self.dense}
        return tuple(name for name, value in held.items() if value is not None)

    @property
    def predicted_class(self) -> np.ndarray:
        """Top-1 ImageNet class: argmax of the logits, or the recorded prediction."""
        if self.logits is not None:
            from auditkit.arrays import reduce_rows

            return reduce_rows(self.logits, lambda rows: rows.argmax(axis=1))
        if self.top1 is None:
            raise ValueError("these predictions hold neither logits nor top-1 classes")
        return self.top1

    @property
    def predicted_probability(self) -> np.ndarray:
        """Softmax probability of the top-1 class (over all 1000 logits)."""
        if self.logits is not None:
            return np.exp(log_softmax(self.logits).max(axis=1))
        if self.top1_probability is None:
            raise ValueError("these predictions hold no probabilities")
        return self.top1_probability

    @property
    def labels(self) -> np.ndarray:  # one array per dataset, shared by its 75 ImageNet-C conditions
        return self.source.labels

    @property
    def sample_ids(self) -> np.ndarray:
        return self.source.sample_ids


@dataclass(frozen=True)
class Metric:
    """How a metric reads to people: words for titles, axes and table heads, and a one-line
    definition the report shows where the metric first appears."""

    label: str  # e.g. "top-1 accuracy", "ECE"
    definition: str  # one line: what the number is, how it is computed, which way is better
    proportion: bool = False  # a fraction of 0 ... 1: `audit export --percent` shows it x 100
    # which of the field's rival conventions the number follows, and the rival's record ("" where
    # the field has one convention); the report prints it under the definition (docs/conventions.md)
    convention: str = ""


def metric_label(suite: "Suite | None", metric: str) -> str:
    """The suite's words for ``metric``; the name with spaces for a metric it does not declare."""
    declared = suite.metrics.get(metric) if suite is not None else None
    return declared.label if declared else metric.replace("_", " ")


@dataclass
class SuiteFigure:
    dataset: str
    name: str
    figure: Any  # matplotlib.figure.Figure
    caption: str


IDENTITY_ARRAYS = ("sample_id", "content_sha1")


@dataclass
class SuiteOutput:
    records: list[MetricRecord] = field(default_factory=list)
    figures: list[SuiteFigure] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # per (dataset, condition) of records: named per-sample arrays with the samples' identity
    # (IDENTITY_ARRAYS), saved beside results.json; add them with ``add_samples``
    per_sample: dict[tuple[str, str], dict[str, np.ndarray]] = field(default_factory=dict)
    # extra files for the run folder, e.g. decisions.csv in another benchmark's schema
    files: dict[str, str] = field(default_factory=dict)
    notices: list[Notice] = field(default_factory=list)  # warnings the report must show
    # what the run header must record about this suite's protocol (e.g. a baseline fit it used)
    header: dict[str, Any] = field(default_factory=dict)

    def add_samples(
        self, predictions: "Predictions", arrays: Mapping[str, np.ndarray], *, dataset: str | None = None,
        condition: str | None = None, rows: np.ndarray | None = None,
    ) -> None:
        """Per-sample ``arrays`` of the records at (``dataset``, ``condition``) (default: the
        predictions' own), one row per sample of ``predictions`` (or of its ``rows``), with the
        samples' ``sample_id`` and ``content_sha1``."""
        ids = np.asarray(predictions.sample_ids)
        # kept as the store holds them (40-byte strings, memory-mapped): the writer turns them into
        # text when it saves the file; 75 ImageNet-C conditions x 50k images as str would be 600 MB
        sha = np.asarray(predictions.content_sha1)
        if rows is not None:
            ids, sha = ids[rows], sha[rows]
        for name, values in arrays.items():
            if len(values) != len(ids):
                raise ValueError(f"per-sample array {name!r} has {len(values)} rows for {len(ids)} samples")
        key = (dataset or predictions.source.name, condition or predictions.condition)
        self.per_sample[key] = {"sample_id": ids, "content_sha1": sha, **arrays}


# the plain input: the model's own preprocessing (``none``), or stimuli fed at their size
# (``native``: cue-conflict, model-vs-human), which is the only input those suites have
PLAIN_CONDITIONS = ("none", "native")


def plain_headline(record: MetricRecord) -> bool:
    """The default headline: a record of the plain input (``PLAIN_CONDITIONS``) over every
    sample (subset ``all``), not an aggregate over conditions."""
    return record.subset == ALL and not record.aggregate and record.condition in PLAIN_CONDITIONS


OPTION_TYPES = (str, int, float, bool, Path)
_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


@dataclass(frozen=True)
class SuiteOption:
    """One setting a suite lets a user choose, declared once: ``audit run --option
    <suite>.<name>=VALUE`` checks a value against it, ``audit ls suites`` lists it, the run
    header records the value used.

    An option that changes what the model is asked (not only how answers are scored) does so
    through the suite's ``requests`` (a condition, an output): those are the prediction store's
    key, so the store keeps one entry per value and never serves one value's answers to another.
    Such an option says so (``asks``): the finetune suite's recipe fields change the conditions
    it requests, the dense suite's ``resolution``, ``blocks`` and ``class_token`` its outputs,
    adversarial's ``subset`` and ``autoattack*`` a dataset and a condition; ``er_scale`` and
    ``er_baseline`` only change how robustness scores the same answers, and a test checks that
    such options leave the requests as they are."""

    name: str
    type: type = str  # one of OPTION_TYPES
    choices: tuple[object, ...] = ()  # allowed values (empty: any value of the type)
    default: object = None  # None: unset (the suite then does without it)
    help: str = ""
    asks: bool = False  # the value changes the suite's requests (so the store key), not only its scoring

    def __post_init__(self) -> None:
        if self.type not in OPTION_TYPES:
            raise TypeError(f"option {self.name!r}: type {self.type!r} is not one of {OPTION_TYPES}")
        if self.choices and self.default is not None and self.default not in self.choices:
            raise ValueError(f"option {self.name!r}: default {self.default!r} is not one of {self.choices}")

    def parse(self, text: str, where: str) -> object:
        """``text`` as this option's type, checked against its choices; a bad value is a one-line
        AuditError that starts with ``where`` (e.g. ``--option robustness.er_scale=x``)."""
        value: object
        if self.type is bool:
            if text.lower() not in (*_TRUE, *_FALSE):
                raise AuditError(f"{where}: {self.name} is true or false, not {text!r}")
            value = text.lower() in _TRUE
        elif self.type in (int, float):
            try:
                value = self.type(text)
            except ValueError:
                raise AuditError(f"{where}: {self.name} is {'an integer' if self.type is int else 'a number'}, "
                                 f"not {text!r}") from None
        elif self.type is Path:
            value = Path(text).expanduser()
            if not value.is_file():
                raise AuditError(f"{where}: no file at {value}; give the path of an existing file")
        else:
            value = text
        if self.choices and value not in self.choices:
            named = [str(c) for c in self.choices]
            raise AuditError(f"{where}: use {' or '.join(named)}{did_you_mean(text, named)}")
        return value

    def describe(self) -> str:
        """One line for ``audit ls suites``: the values it takes, its default, what it does."""
        values = " | ".join(str(c) for c in self.choices) if self.choices else self.type.__name__.upper()
        default = f" (default {self.default})" if self.default is not None else ""
        return f"{values}{default}: {self.help}" if self.help else f"{values}{default}"


class Suite(abc.ABC):
    name: str
    version: str  # bump when the protocol changes a number
    description: str
    datasets: tuple[str, ...]
    title: str = ""  # the suite's name in words for titles (e.g. "ImageNet-X"); "" = name with spaces
    # metric -> Metric: words and a one-line definition for every metric the suite records
    # (the report prints the definitions; figures and tables use the words)
    metrics: Mapping[str, Metric] = {}

    @property
    def words(self) -> str:
        return self.title or self.name.replace("_", " ")

    # which answers the suite can score (``Predictions.answered``): a live model gives logits;
    # recorded observers give top-1 classes or decisions. A subject whose answers hold none of
    # these is reported as skipped with the reason, never scored on nothing.
    accepts: tuple[str, ...] = ("logits",)

    def unscorable(self, who: str, answered: tuple[str, ...]) -> str | None:
        """Why this suite scores nothing of ``answered`` (kinds of answer ``who`` gives, matched
        against ``accepts``); None when it scores something. The plan asks it before anything
        runs, the runner again of the answers it got."""
        if set(answered) & set(self.accepts):
            return None
        return f"{who} answers with {', '.join(answered) or 'nothing'}; {self.name} scores {' or '.join(self.accepts)}"

    def record(
        self, model: str, *, dataset: str, metric: str, value: float, n: int, condition: str = "none",
        subset: str = ALL, ci: tuple[float, float] | None = None, aggregate: str = "",
    ) -> MetricRecord:
        """One record of this suite (its name and version filled in), by keyword only."""
        low, high = (None, None) if ci is None else (float(ci[0]), float(ci[1]))
        return MetricRecord(model=model, suite=self.name, dataset=dataset, condition=condition, subset=subset,
                            metric=metric, value=float(value), ci_low=low, ci_high=high, n=int(n),
                            aggregate=aggregate, suite_version=self.version)

    # what a user may set (``audit run --option <suite>.<name>=VALUE``, listed by ``audit ls
    # suites``); the runner checks the values (``SuiteOption.parse``) and sets ``settings`` before
    # the plan is built, and the run header records them (``suite_protocols``)
    options: tuple[SuiteOption, ...] = ()
    settings: Mapping[str, object] = {}

    def option(self, name: str) -> SuiteOption:
        """The declaration of option ``name``; an unknown name is a one-line AuditError."""
        for option in self.options:
            if option.name == name:
                return option
        names = [o.name for o in self.options]
        declared = f"its options: {', '.join(names)}" if names else "it has no options"
        raise AuditError(f"suite {self.name} has no option {name!r}{did_you_mean(name, names)}; {declared} "
                         "(see `audit ls suites`)")

    def setting(self, name: str) -> object:
        """The value of option ``name`` this run: the one set, else the declared default."""
        return self.settings.get(name, self.option(name).default)

    def configure(self, values: Mapping[str, object]) -> None:
        """Set this run's options (``settings``): each name must be declared; a text value is
        parsed by its declaration (``SuiteOption.parse``), as ``--option`` texts are."""
        settings = {}
        for name, value in values.items():
            option = self.option(name)
            settings[name] = option.parse(value, f"{self.name}.{name}={value}") if isinstance(value, str) else value
        self.settings = settings

    def chosen_settings(self) -> dict[str, object]:
        """Every option's value this run (set, else its default; unset ones left out) for the run
        header, as JSON values (a path as text)."""
        chosen = {o.name: self.setting(o.name) for o in self.options}
        return {name: str(value) if isinstance(value, Path) else value
                for name, value in chosen.items() if value is not None}

    def headline(self, record: MetricRecord) -> bool:
        """Whether ``record`` of this suite is a headline number (``auditkit.report.headline``):
        by default the plain input over every sample (``plain_headline``). A suite whose
        published headline is another record (an aggregate over conditions, a benchmark subset)
        overrides this."""
        return plain_headline(record)

    def requests(self) -> list[PredictionRequest]:
        return [PredictionRequest(dataset) for dataset in self.datasets]

    def fallback_requests(self, missing_dataset: str) -> list[PredictionRequest]:
        """What to request instead when ``missing_dataset`` is absent (e.g. ImageNet-C made on
        the fly from val); empty: the dataset is reported as skipped."""
        return []

    # metric -> "higher" or "lower": which way is better, for bold "best" values in comparisons and
    # tables; a metric not named here (a count, shape bias) has no best.
    better: Mapping[str, str] = {}
    # BibTeX entries of the methods and data this suite's numbers rest on, for `audit export`'s
    # CITATIONS.bib (added to what the exporter already knows for the suite's datasets)
    citations: tuple[str, ...] = ()

    def sample_hits(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], np.ndarray]:
        """Boolean per-sample hits whose mean is a record at (``dataset``, ``condition``), keyed
        by that record's (subset, metric).

        ``arrays`` are the per-sample arrays saved for (dataset, condition) (rows possibly a
        subset or a resample). Default: the module's convention (``correct`` -> ``top1``; a bool
        array named after a metric -> that metric), subset ``all``."""
        hits = {}
        for name, values in arrays.items():
            if name in IDENTITY_ARRAYS or values.dtype != bool or values.ndim != 1:
                continue
            hits[(ALL, "top1" if name == "correct" else name)] = values
        return hits

    def sample_metrics(self, dataset: str, condition: str, arrays: Mapping[str, np.ndarray]) -> dict[tuple[str, str], float]:
        """Metrics computed from per-sample ``arrays``, keyed by the (subset, metric) of the
        record at (``dataset``, ``condition``) each gives; comparisons use only keys that match a
        record of both runs. Default: the means the convention names (module docstring)."""
        metrics = {key: float(np.mean(hits)) for key, hits in self.sample_hits(dataset, condition, arrays).items()}
        for name, values in arrays.items():
            if name not in IDENTITY_ARRAYS and values.ndim == 1 and values.dtype.kind == "f":
                metrics[(ALL, name)] = float(np.mean(values))
        return metrics

    def comparison_figures(self, samples: Mapping[str, Mapping[tuple[str, str], Mapping[str, np.ndarray]]]) -> list[SuiteFigure]:
        """Optional: figures overlaying several models, from each model's per-sample arrays by
        (dataset, condition). Comparisons draw the record-derived overlays for every suite; a
        suite adds here what records cannot show (e.g. reliability diagrams)."""
        return []

    def paper_figures(self, samples: Mapping[str, Mapping[tuple[str, str], Mapping[str, np.ndarray]]],
                      width: float) -> list[SuiteFigure]:
        """Optional: the suite's own figures for `audit export`, redrawn from each model's
        per-sample arrays at ``width`` inches (a column or a page), e.g. shape bias per category
        against humans. Record-derived figures are exported for every suite without this."""
        return []

    @abc.abstractmethod
    def evaluate(
        self, model: str, predictions: dict[PredictionRequest, Predictions], seed: int
    ) -> SuiteOutput:
        """Metrics for the requests whose data is present (the runner reports the rest)."""
