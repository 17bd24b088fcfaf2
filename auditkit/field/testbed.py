"""The robustness testbed as a field to place a model in (Taori et al. 2020; Miller et al. 2021).

The shipped copy of the testbed's accuracy grid (``testbed/robustness_top1s.csv``, 338 models,
MIT) and its model types give, per distribution shift, the baseline line "accuracy on the line":
a least-squares fit of transformed shift top-1 against transformed ImageNet top-1 over the
testbed's standard models. Effective robustness of a model is its shift top-1 minus the line's
prediction at its x, mapped back to accuracy (Taori et al., Sec. 3).

Every filter below is the one of the testbed's own paper script for that shift
(``plotting/paper_imagenetv2_bare.py``, ``paper_appendix_imagenet_sketch.py``,
``paper_appendix_imagenet_r.py``, ``paper_objectnet.py``, ``paper_imagenet_a.py``), read, not
guessed: a model is *shown* when its name has no "subsample" and its x clears the script's floor;
it is *fitted* when shown, its name has neither "aws" nor "batch64" and its type (the script's
map: ``model_type`` or ``nat_model_type``) is STANDARD. ImageNet-R also leaves out DeepAugment
models; ImageNet-A leaves out ``resnet50`` and is fitted in two pieces split at x = 91.86.
The x of A, R and ObjectNet is val top-1 on that shift's classes only (val images of those
classes, logits restricted to them).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Callable

import numpy as np
from scipy import stats

from auditkit.errors import AuditError

SOURCE = "modestyachts/imagenet-testbed"
COMMIT = "0170eec658d664289d9f61de8f90f967f49abca0"
SCALES = ("logit", "probit")
BAND_RESAMPLES = 1000
BAND_SEED = 720257663  # the testbed's own seed for its bootstrap band (plotting/plotter.py)


@dataclass(frozen=True)
class ReferenceModel:
    """One row of the testbed: its name, its two type labels and its top-1 (%) per setting."""

    name: str
    model_type: str
    nat_model_type: str
    top1: dict[str, float]


@dataclass(frozen=True)
class ShiftProtocol:
    """How the testbed plots and fits one shift: columns, the shown floor, the fitted type."""

    dataset: str  # auditkit's dataset name
    y_column: str
    x_column: str
    x_floor: float
    type_column: str  # "model_type" or "nat_model_type": the map the paper script fits on
    script: str
    split: float | None = None  # ImageNet-A: two lines, below and above this x
    excluded: tuple[str, ...] = ()  # lower-case names never shown
    excluded_fragment: str | None = None  # lower-case name fragment never fitted

    def shown(self, model: ReferenceModel) -> bool:
        name = model.name.lower()
        return ("subsample" not in name and name not in self.excluded
                and model.top1[self.x_column] >= self.x_floor)

    def fitted(self, model: ReferenceModel) -> bool:
        name = model.name.lower()
        return (self.shown(model) and "aws" not in name and "batch64" not in name
                and getattr(model, self.type_column) == "STANDARD"
                and not (self.excluded_fragment and self.excluded_fragment in name))

    def filters(self) -> str:
        """The filters in words, for the run header."""
        words = [f"shown: no 'subsample', {self.x_column} >= {self.x_floor:g}"]
        if self.excluded:
            words.append(f"not {', '.join(self.excluded)}")
        fitted = f"fitted: shown, no 'aws'/'batch64', {self.type_column} STANDARD"
        if self.excluded_fragment:
            fitted += f", no '{self.excluded_fragment}'"
        if self.split is not None:
            fitted += f", two lines split at x = {self.split:g}"
        return "; ".join(words) + "; " + fitted + f" ({self.script})"


PROTOCOLS: dict[str, ShiftProtocol] = {p.dataset: p for p in (
    ShiftProtocol("imagenet-v2", "imagenetv2-matched-frequency-format-val", "val", 55, "nat_model_type",
                  "plotting/paper_imagenetv2_bare.py"),
    ShiftProtocol("imagenet-sketch", "imagenet-sketch", "val", 55, "model_type",
                  "plotting/paper_appendix_imagenet_sketch.py"),
    ShiftProtocol("imagenet-r", "imagenet-r", "val-on-imagenet-r-classes", 75, "model_type",
                  "plotting/paper_appendix_imagenet_r.py", excluded_fragment="deepaugment"),
    ShiftProtocol("objectnet", "objectnet-1.0-beta", "val-on-objectnet-classes", 55, "nat_model_type",
                  "plotting/paper_objectnet.py"),
    ShiftProtocol("imagenet-a", "imagenet-a", "val-on-imagenet-a-classes", 75, "nat_model_type",
                  "plotting/paper_imagenet_a.py", split=91.86, excluded=("resnet50",)),
)}


def scale_transform(scale: str) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """Forward and inverse maps between top-1 in % and the fit's axis (plotting/plotter.py)."""
    if scale == "logit":
        return (lambda p: np.log((np.asarray(p) / 100) / (1 - np.asarray(p) / 100)),
                lambda t: 100 / (1 + np.exp(-np.asarray(t))))
    if scale == "probit":
        return (lambda p: stats.norm.ppf(np.asarray(p) / 100), lambda t: 100 * stats.norm.cdf(np.asarray(t)))
    raise AuditError(f"unknown effective-robustness scale {scale!r}; use {' or '.join(SCALES)}")


@lru_cache(maxsize=1)
def load_testbed_models() -> tuple[ReferenceModel, ...]:
    """The 338 models of the shipped grid, with their testbed types."""
    folder = resources.files("auditkit.field").joinpath("testbed")
    with folder.joinpath("model_types.csv").open() as handle:
        types = {row["model"]: row for row in csv.DictReader(handle)}
    models = []
    with folder.joinpath("robustness_top1s.csv").open() as handle:
        for row in csv.DictReader(handle):
            name = row.pop("model")
            kind = types.get(name)
            if kind is None:
                raise RuntimeError(f"testbed model {name} has no type in model_types.csv")
            models.append(ReferenceModel(name, kind["model_type"], kind["nat_model_type"],
                                       {k: float(v) for k, v in row.items() if v != ""}))
    return tuple(models)


@dataclass(frozen=True)
class LineFit:
    """One fitted line on the transformed axes, and where it applies (x in %)."""

    slope: float
    intercept: float
    r: float
    n: int
    x_low: float = -np.inf
    x_high: float = np.inf


@dataclass(frozen=True)
class Baseline:
    """The testbed's baseline for one shift: one line (two for ImageNet-A) on one scale."""

    dataset: str
    scale: str
    protocol: ShiftProtocol
    lines: tuple[LineFit, ...]
    points: tuple[tuple[str, float, float, bool], ...]  # (model, x %, y %, fitted) of every shown model

    def line_for(self, x: float) -> LineFit:
        for line in self.lines:
            if line.x_low <= x < line.x_high:
                return line
        return self.lines[-1]

    def predict(self, x: float | np.ndarray) -> np.ndarray:
        """The line's shift top-1 (%) at ImageNet top-1 ``x`` (%)."""
        forward, inverse = scale_transform(self.scale)
        xs = np.atleast_1d(np.asarray(x, dtype=float))
        lines = [self.line_for(value) for value in xs]
        return inverse(np.array([l.slope for l in lines]) * forward(xs) + np.array([l.intercept for l in lines]))

    def effective_robustness(self, x: float, y: float) -> float:
        """Shift top-1 minus the line's prediction, in %-points (x, y in %)."""
        return float(y - self.predict(x)[0])

    def band(self, xs: np.ndarray, resamples: int = BAND_RESAMPLES, level: float = 95) -> tuple[np.ndarray, np.ndarray]:
        """Bootstrap band of the line over the fitted models at ``xs`` (%), as the testbed draws it:
        models resampled with replacement, least squares refitted, percentiles per grid point."""
        forward, inverse = scale_transform(self.scale)
        rng = np.random.RandomState(BAND_SEED)
        xs = np.asarray(xs, dtype=float)
        low, high = np.full(xs.shape, np.nan), np.full(xs.shape, np.nan)
        for line in self.lines:
            fitted = [(x, y) for _, x, y, f in self.points if f and line.x_low <= x < line.x_high]
            if len(fitted) < 3:
                continue
            tx, ty = forward(np.array([p[0] for p in fitted])), forward(np.array([p[1] for p in fitted]))
            inside = (xs >= line.x_low) & (xs < line.x_high)
            grid = np.stack([np.ones(inside.sum()), forward(xs[inside])], axis=1)
            draws = []
            for _ in range(resamples):
                index = rng.choice(len(tx), len(tx))
                coefficients = np.linalg.lstsq(np.stack([np.ones(len(index)), tx[index]], axis=1), ty[index], rcond=None)[0]
                draws.append(grid @ coefficients)
            tail = (100 - level) / 2
            low[inside] = inverse(np.percentile(draws, tail, axis=0))
            high[inside] = inverse(np.percentile(draws, 100 - tail, axis=0))
        return low, high

    def header(self) -> dict[str, object]:
        """What the run header records about this baseline."""
        return {
            "source": SOURCE, "commit": COMMIT, "scale": self.scale, "x": self.protocol.x_column,
            "y": self.protocol.y_column, "filters": self.protocol.filters(),
            "lines": [{"slope": l.slope, "intercept": l.intercept, "r": l.r, "n": l.n,
                       **({"x_range_percent": [l.x_low, l.x_high]} if np.isfinite([l.x_low, l.x_high]).any() else {})}
                      for l in self.lines],
        }


@lru_cache(maxsize=None)
def fit_baseline(dataset: str, scale: str = "logit") -> Baseline:
    """The testbed's baseline line for ``dataset`` recomputed from the shipped grid."""
    if dataset not in PROTOCOLS:
        raise AuditError(f"the testbed has no baseline for {dataset!r}; it has {', '.join(PROTOCOLS)}")
    protocol = PROTOCOLS[dataset]
    forward, _ = scale_transform(scale)
    rows = [m for m in load_testbed_models() if protocol.x_column in m.top1 and protocol.y_column in m.top1]
    points = tuple((m.name, m.top1[protocol.x_column], m.top1[protocol.y_column], protocol.fitted(m))
                   for m in rows if protocol.shown(m))
    bounds = [(-np.inf, np.inf)] if protocol.split is None else [(-np.inf, protocol.split), (protocol.split, np.inf)]
    lines = []
    for low, high in bounds:
        # the paper script's two pieces are strict on both sides of the split
        fitted = [(x, y) for _, x, y, f in points if f and low < x < high]
        result = stats.linregress(forward([p[0] for p in fitted]), forward([p[1] for p in fitted]))
        lines.append(LineFit(float(result.slope), float(result.intercept), float(result.rvalue), len(fitted), low, high))
    return Baseline(dataset, scale, protocol, tuple(lines), points)
