"""Comparison plots, derived from records only: one function per figure, each returns a Figure.

Every suite gets them with no code here: a *property* is a headline record (``report.headline.is_headline``:
the plain input over all samples, or ImageNet-C's mean over its corruptions); a *family* is one
(suite, dataset, metric) over its conditions (invariance axes, ImageNet-C severities, attack
strengths: read through the conditions registry, ``auditkit.conditions``) or over the subsets of
one condition (shape bias per category, ImageNet-X factors, PUG values, model-vs-human levels),
drawn as curves where every point has a number on an axis and as grouped bars otherwise.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from matplotlib.figure import Figure

from auditkit import conditions
from auditkit.report.headline import HEADLINE_CONDITIONS, is_headline
from auditkit.conditions.base import number_text
from auditkit.errors import AuditError
from auditkit.plotstyle import COLOURS, DASHES, DATASET_WORDS, HATCHES, MARKERS, dataset_words, model_style  # noqa: F401
from auditkit.plotstyle import bar_style as _bar_style
from auditkit.plotstyle import subplots
from auditkit.records import ALL, MetricRecord

MAX_BAR_CONDITIONS = 40
MAX_CURVE_PANELS = 16
MAX_PROPERTY_PANELS = 24
HEADLINE = "headline"  # the one label of a property series


def suite_words(suite: str) -> str:
    from auditkit.compare.comparison import suite_for

    return suite_for(suite).words


def metric_words(suite: str, metric: str) -> str:
    from auditkit.compare.comparison import suite_for
    from auditkit.suite import metric_label

    return metric_label(suite_for(suite), metric)


Point = tuple[str, float]  # (axis, x): where a label sits on a curve


def subset_point(subset: str) -> Point | None:
    """A subset reading ``<axis>/<number>`` (PUG's ``Camera_Yaw/45``) on that axis."""
    match = re.fullmatch(r"(.+)/(-?\d+(?:\.\d+)?)", subset)
    return (match.group(1), float(match.group(2))) if match else None


def condition_point(condition: str) -> Point | None:
    """A condition on its first numeric parameter's axis, the other parameters fixed (through
    the registry: ``scale/1.5`` -> (``scale``, 1.5), ``corrupt/fog/3`` -> (``corrupt/fog``, 3),
    ``pgd/eps2/steps10/seed0`` -> (``pgd/eps*/steps10/seed0``, 2)); None without one. A
    condition the registry does not know (a newer auditkit's) is read as ``<axis>/<number>``."""
    try:
        parsed = conditions.parse(condition)
    except AuditError:
        return subset_point(condition)
    values = {f.name: getattr(parsed, f.name) for f in parsed.fields()}
    numeric = [name for name, value in values.items() if isinstance(value, (int, float)) and not isinstance(value, bool)]
    if not numeric:
        return None
    axis = type(parsed).template.format(**{
        name: "*" if name == numeric[0] else number_text(value) if isinstance(value, float) else str(value)
        for name, value in values.items()})
    return axis.removesuffix("/*"), float(values[numeric[0]])


@dataclass
class Series:
    """One (suite, dataset, metric) over conditions or subsets (or, for headlines, over datasets), by model."""

    suite: str
    dataset: str
    metric: str
    better: str | None
    labels: list[str] = field(default_factory=list)  # conditions, subsets (or datasets), in record order
    values: dict[str, dict[str, MetricRecord]] = field(default_factory=dict)  # model -> label -> record
    axis_prefix: str = ""  # "multi/" for ImageNet-X's multi-factor subsets
    over: str = "condition"  # what the labels are: "condition", "subset" or "dataset"
    where: str = ""  # what is fixed: the condition of a subset family, the subset of a condition family
    points: dict[str, Point | None] = field(default_factory=dict)  # label -> its place on a curve

    @property
    def title(self) -> str:
        """In words: "Calibration, ImageNet val: ECE"."""
        where = dataset_words(self.dataset)
        where = where if not self.axis_prefix else f"{where}, {self.axis_prefix.rstrip('/').replace('_', ' ')}"
        where = where if not self.where else f"{where}, {self.where.replace('_', ' ')}"
        return f"{suite_words(self.suite)}, {where}: {self.label}"

    @property
    def label(self) -> str:
        return metric_words(self.suite, self.metric)

    @property
    def family_key(self) -> str:
        """What tells this family from the others of its (suite, dataset, metric), for file names."""
        return "_".join(part for part in (self.over, self.where, self.axis_prefix.rstrip("/")) if part)

    def curves(self) -> dict[str, list[tuple[float, str]]] | None:
        """Labels as axis -> [(x, label)] when every one has a point on an axis."""
        placed = [self.points.get(label) for label in self.labels]
        if not self.labels or not all(placed):
            return None
        axes: dict[str, list[tuple[float, str]]] = {}
        for point, label in zip(placed, self.labels):
            assert point is not None
            axes.setdefault(point[0], []).append((point[1], label))
        return axes if len(axes) <= MAX_CURVE_PANELS else None

    def drawable(self) -> bool:
        return self.curves() is not None or len(self.labels) <= MAX_BAR_CONDITIONS


def plotted(records: list[MetricRecord], better: dict[str, dict[str, str]]) -> list[MetricRecord]:
    """Records worth a plot: estimates (with a CI) or scores with a direction; counts and
    bookkeeping (annotated images, coverage) are left to the tables."""
    keep = {(r.suite, r.metric) for r in records
            if r.ci_low is not None or better.get(r.suite, {}).get(r.metric)}
    return [r for r in records if (r.suite, r.metric) in keep and r.value is not None and math.isfinite(r.value)]


def families(records: list[MetricRecord], better: dict[str, dict[str, str]]) -> list[Series]:
    """Per (suite, dataset, metric) the subsets of each condition and the conditions of each
    subset (aggregates over conditions apart), and per (suite, metric) the headline value across
    datasets when there are several."""
    found: dict[tuple[str, ...], Series] = {}
    for r in plotted(records, better):
        direction = better.get(r.suite, {}).get(r.metric)
        if is_headline(r):
            key: tuple[str, ...] = ("datasets", r.suite, r.metric)
            series = found.setdefault(key, Series(r.suite, "all datasets", r.metric, direction, over="dataset"))
            label, point = r.dataset, None
        elif r.subset != ALL and not r.aggregate:
            # one condition's subsets; "multi/pose" and "pose" in separate families
            point = subset_point(r.subset)
            prefix = r.subset.split("/", 1)[0] + "/" if "/" in r.subset and point is None else ""
            where = "" if r.condition in HEADLINE_CONDITIONS else r.condition
            key = ("subsets", r.suite, r.dataset, r.condition, r.metric, prefix)
            series = found.setdefault(key, Series(r.suite, r.dataset, r.metric, direction, axis_prefix=prefix,
                                                  over="subset", where=where))
            label = r.subset
        else:
            # one subset over conditions; records combining several conditions form their own family
            point = None if r.aggregate else condition_point(r.condition)
            where = "" if r.subset == ALL else r.subset
            key = ("aggregates" if r.aggregate else "conditions", r.suite, r.dataset, r.subset, r.metric)
            series = found.setdefault(key, Series(r.suite, r.dataset, r.metric, direction, over="condition",
                                                  where=where if not r.aggregate else f"{where} aggregates".strip()))
            label = r.condition
        if label not in series.labels:
            series.labels.append(label)
            series.points[label] = point
        series.values.setdefault(r.model, {})[label] = r
    return [s for key, s in found.items() if len(s.labels) >= 2 and s.drawable()]


def _errors(records: list[MetricRecord | None], scale: float) -> np.ndarray:
    low = [scale * (r.value - r.ci_low) if r and r.ci_low is not None else 0.0 for r in records]
    high = [scale * (r.ci_high - r.value) if r and r.ci_high is not None else 0.0 for r in records]
    return np.clip(np.array([low, high]), 0, None)


def family_figure(series: Series, models: list[str], width: float = 6.8) -> Figure:
    """The series overlaid for all models: curves per axis, or grouped bars with 95 % CIs."""
    axes_map = series.curves()
    if axes_map is not None:
        columns = min(4, len(axes_map))
        rows = math.ceil(len(axes_map) / columns)
        panel = width / columns
        figure, axes = subplots(rows, columns, figsize=(width, 0.45 + rows * panel * 0.8),
                                squeeze=False, sharey=True)
        for axis, (name, points) in zip(axes.flat, axes_map.items()):
            points = sorted(points)
            for index, model in enumerate(models):
                cells = [series.values.get(model, {}).get(c) for _, c in points]
                if not any(cells):
                    continue
                xs = [x for (x, _), r in zip(points, cells) if r]
                ys = [r.value for r in cells if r]
                axis.plot(xs, ys, **model_style(index), markersize=3.5, linewidth=1.2,
                          label=model if axis is axes.flat[0] else None)
                lows = [r.ci_low for r in cells if r]
                highs = [r.ci_high for r in cells if r]
                if all(v is not None for v in lows + highs):
                    axis.fill_between(xs, lows, highs, color=model_style(index)["color"], alpha=0.15, linewidth=0)
            axis.set_xlabel(name.replace("_", " "))
            axis.grid(alpha=0.3)
        for axis in list(axes.flat)[len(axes_map):]:
            axis.set_visible(False)
        for row in axes:
            row[0].set_ylabel(series.label)
    else:
        figure, axis = subplots(figsize=(width, max(2.4, width * 0.42)))
        x = np.arange(len(series.labels))
        # a slot per model that has this series; styles stay those of the model's column
        present = [(index, model) for index, model in enumerate(models) if series.values.get(model)]
        step = 0.8 / max(1, len(present))
        for slot, (index, model) in enumerate(present):
            cells = [series.values.get(model, {}).get(label) for label in series.labels]
            heights = [r.value if r else np.nan for r in cells]
            axis.bar(x - 0.4 + step * (slot + 0.5), heights, width=step, label=model, **_bar_style(index),
                     linewidth=0.4, yerr=_errors(cells, 1.0), error_kw={"elinewidth": 0.6, "capsize": 1})
        labels = [label[len(series.axis_prefix):] if series.axis_prefix else label for label in series.labels]
        axis.set_xticks(x, [dataset_words(label) if label in DATASET_WORDS else label.replace("_", " ") for label in labels],
                        rotation=55 if len(labels) > 6 else 0, ha="right" if len(labels) > 6 else "center",
                        fontsize="small")
        axis.set_ylabel(series.label)
        axis.grid(axis="y", alpha=0.3)
        axis.set_xlim(-0.6, len(labels) - 0.4)
        figure.subplots_adjust()
        axes = np.array([[axis]])
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.suptitle(series.title, fontsize="medium")
    columns = min(2 if width < 4.5 else 4, max(1, len(labels)))
    figure.legend(handles, labels, loc="lower center", ncol=columns, frameon=False,
                  fontsize="small", bbox_to_anchor=(0.5, 0.0))
    # room for the legend: about 0.2 in per row, as a fraction of the figure's height
    legend_rows = math.ceil(len(labels) / columns)
    figure.tight_layout(rect=(0, min(0.5, (0.08 + 0.2 * legend_rows) / figure.get_figheight()), 1, 1))
    return figure


def property_panels(properties: list[Series], models: list[str], width: float = 6.8) -> Figure:
    """The paper's Figure 1 as small multiples: one panel per property, a bar per model with
    its 95 % CI; the better direction is named in the panel's title."""
    properties = properties[:MAX_PROPERTY_PANELS]
    columns = 4 if width > 5 else 2
    rows = max(1, math.ceil(len(properties) / columns))
    most = max((sum(1 for m in models if p.values.get(m)) for p in properties), default=1)
    panel_height = 0.35 + 0.2 * most
    figure, axes = subplots(rows, columns, figsize=(width, 0.5 + rows * (panel_height + 0.55)),
                            squeeze=False)
    for axis, prop in zip(axes.flat, properties):
        # only the models that have the property, each in its column's letter and style
        present = [(i, prop.values[m][prop.labels[0]]) for i, m in enumerate(models)
                   if prop.values.get(m, {}).get(prop.labels[0])]
        y = np.arange(len(present))[::-1]
        for row, (index, record) in zip(y, present):
            axis.barh(row, record.value, height=0.7, **_bar_style(index), linewidth=0.4,
                      xerr=_errors([record], 1.0), error_kw={"elinewidth": 0.6, "capsize": 1})
        axis.set_yticks(y, [chr(ord("A") + i) if len(models) > 1 else "" for i, _ in present], fontsize="small")
        axis.set_ylim(-0.6, len(present) - 0.4)
        arrow = {"higher": r" $\uparrow$", "lower": r" $\downarrow$"}.get(prop.better or "", "")
        axis.set_title(f"{suite_words(prop.suite)}, {dataset_words(prop.dataset)}\n{prop.label}{arrow}",
                       fontsize="small")
        axis.tick_params(axis="x", labelsize="x-small")
        axis.grid(axis="x", alpha=0.3)
    for axis in list(axes.flat)[len(properties):]:
        axis.set_visible(False)
    if len(models) > 1:
        key = "   ".join(f"{chr(ord('A') + i)}: {m}" for i, m in enumerate(models))
        figure.text(0.5, 0.005, key, ha="center", va="bottom", fontsize="x-small", wrap=True)
    figure.tight_layout(rect=(0, 0.04 if len(models) > 1 else 0, 1, 1))
    return figure


def radar(properties: list[Series], models: list[str], width: float = 4.6) -> Figure | None:
    """The largest group of models that share at least three properties on which they differ
    beyond their CIs (``resolved``), each axis scaled over those models (outward = better where a
    direction is known, else higher); None when no two models have three such properties."""
    models, complete = radar_group(properties, models)
    if not complete:
        return None
    angles = np.linspace(0, 2 * np.pi, len(complete), endpoint=False)
    figure = Figure(figsize=(width, width * 0.9))
    axis = figure.add_subplot(projection="polar")
    scaled = np.zeros((len(models), len(complete)))
    for j, prop in enumerate(complete):
        values = np.array([prop.values[m][prop.labels[0]].value for m in models])
        if prop.better == "lower":
            values = -values
        span = values.max() - values.min()
        scaled[:, j] = 0.2 + 0.8 * ((values - values.min()) / span if span > 0 else np.ones(len(models)))
    for index, model in enumerate(models):
        style = model_style(index)
        closed = np.append(scaled[index], scaled[index][0])
        axis.plot(np.append(angles, angles[0]), closed, color=style["color"], linestyle=style["linestyle"],
                  marker=style["marker"], markersize=3, linewidth=1.2, label=model)
        axis.fill(np.append(angles, angles[0]), closed, color=style["color"], alpha=0.06)
    axis.set_xticks(angles, [f"{dataset_words(p.dataset)}\n{p.label}" for p in complete],
                    fontsize="x-small")
    axis.set_yticks([0.2, 0.6, 1.0], ["worst", "", "best"], fontsize="xx-small")
    axis.set_ylim(0, 1.05)
    figure.legend(loc="lower center", ncol=min(3, len(models)), frameon=False, fontsize="x-small")
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    return figure


# Without CIs, a spread below this fraction of the values' magnitude is not worth an axis.
RADAR_RESOLUTION = 0.01


def resolved(prop: Series, models: list[str]) -> bool:
    """Whether the models' values of ``prop`` differ by more than their uncertainty: some two
    95 % CIs do not overlap (without CIs: a spread above 1 % of the magnitude). A radar scales
    each axis worst ... best, so an unresolved axis would blow noise (0.002) up to the full axis."""
    cells = [prop.values[m][prop.labels[0]] for m in models]
    values = [c.value for c in cells]
    if all(c.ci_low is not None and c.ci_high is not None for c in cells):
        return max(c.ci_low for c in cells) > min(c.ci_high for c in cells)  # type: ignore[type-var]
    return max(values) - min(values) > RADAR_RESOLUTION * max(abs(v) for v in values)


def unresolved(properties: list[Series], models: list[str]) -> list[Series]:
    """Properties every one of ``models`` has whose spread lies inside the CIs (left off the radar)."""
    shared = [p for p in properties if all(p.values.get(m, {}).get(p.labels[0]) for m in models)]
    return [p for p in shared if not resolved(p, models)]


def radar_group(properties: list[Series], models: list[str]) -> tuple[list[str], list[Series]]:
    """(models, properties they all have and differ on beyond the CIs) with the most axes, then
    the most models; ([], []) when no two models share three such properties. Models with
    different suites still get a radar."""
    groups: dict[tuple[str, ...], list[Series]] = {}
    for prop in properties:
        having = tuple(m for m in models if prop.values.get(m, {}).get(prop.labels[0]))
        if len(having) >= 2 and resolved(prop, list(having)):
            groups.setdefault(having, []).append(prop)
    best = max(groups.items(), key=lambda item: (len(item[1]) >= 3, len(item[0]) * min(len(item[1]), 12)), default=None)
    if best is None or len(best[1]) < 3:
        return [], []
    return list(best[0]), best[1][:12]


def headline_properties(records: list[MetricRecord], better: dict[str, dict[str, str]]) -> list[Series]:
    """One series per headline record key (suite, dataset, metric), for panels and the radar."""
    found: dict[tuple[str, str, str], Series] = {}
    for r in plotted(records, better):
        if not is_headline(r):
            continue
        series = found.setdefault((r.suite, r.dataset, r.metric),
                                  Series(r.suite, r.dataset, r.metric, better.get(r.suite, {}).get(r.metric), [HEADLINE]))
        series.values.setdefault(r.model, {})[HEADLINE] = r
    return list(found.values())
