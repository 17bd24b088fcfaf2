"""One self-contained ``report.html`` per run: figures embedded, nothing fetched.

Reads only ``results.json`` and ``figures/`` (STYLE.md: evaluation and report are separate
steps, CLIP_benchmark's ``eval`` vs ``build``), so ``audit report RUN_DIR`` rebuilds it at any
time. The report only arranges records; it never computes a metric. Every user string (model
names, specs, paths, captions, skip reasons) goes through Jinja2's autoescape.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import re
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape

from auditkit.errors import AuditError
from auditkit.records import FigureRef, MetricRecord, Notice, RunResults, Skipped, read_results
from auditkit.report.headline import is_headline
from auditkit.report.numbers import NumberFormat, format_value

REPORT_FILE = "report.html"
# A header list longer than this (e.g. 1000 class labels) is cut in the page; results.json keeps it.
HEADER_LIST_LIMIT = 24
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Figures are saved at 150 dpi; shown at their natural pixel size their 8-10 pt labels come out
# larger than the page text. At 120 CSS px per figure inch, labels read at about the page's size.
CSS_PX_PER_FIGURE_INCH = 120


@dataclass(frozen=True)
class Definition:
    metric: str
    label: str
    text: str
    convention: str = ""  # which of the field's rival conventions the number is (docs/conventions.md)


def definitions(suite_name: str, metrics: Iterable[str]) -> list[Definition]:
    """The suite's one-line definitions of ``metrics`` (in order; undeclared ones left out)."""
    from auditkit.compare.comparison import suite_for

    suite = suite_for(suite_name)
    return [Definition(m, suite.metrics[m].label, suite.metrics[m].definition, suite.metrics[m].convention)
            for m in dict.fromkeys(metrics) if m in suite.metrics]


@dataclass(frozen=True)
class SummaryRow:
    """One (suite, dataset): its headline records by metric, and the n most of them share."""

    dataset: str
    cells: dict[str, MetricRecord]
    n: int


@dataclass(frozen=True)
class SummaryBlock:
    """One suite's headline rows; metrics in the order the suite first wrote them."""

    suite: str
    anchor: str  # the suite's section, so a headline links to its full table
    metrics: list[str]
    rows: list[SummaryRow]
    definitions: list["Definition"] = field(default_factory=list)  # of ``metrics``, shown under the block


@dataclass(frozen=True)
class MetricRow:
    record: MetricRecord
    first_of_dataset: bool  # starts a dataset group: drawn with a rule, repeated names muted
    first_of_condition: bool  # starts a (condition, subset) group


@dataclass(frozen=True)
class EmbeddedFigure:
    src: str  # a data: URI, so the page needs no file beside it
    width: int | None  # CSS px for the figure's physical size; None: the PNG records no dpi
    alt: str
    caption: str
    dataset: str


def condition_text(record: MetricRecord) -> str:
    """The record's condition as it says, with how it combines conditions when it does
    (``corrupt/*/* (mean)``)."""
    return f"{record.condition} ({record.aggregate})" if record.aggregate else record.condition


@dataclass
class Pivot:
    """One dataset's records beside its headline as a table: (condition, subset) down, metrics
    across (e.g. ImageNet-X factors x error ratio / accuracy / images; ImageNet-C corruptions)."""

    dataset: str
    metrics: list[str]
    rows: list[tuple[str, str, dict[str, MetricRecord]]]  # (condition as shown, subset, metric -> record)


def pivots(records: list[MetricRecord]) -> list[Pivot]:
    """A pivot per dataset that has records besides its headline ones (``is_headline``)."""
    tables: dict[str, Pivot] = {}
    for record in records:
        if is_headline(record):
            continue
        table = tables.setdefault(record.dataset, Pivot(record.dataset, [], []))
        if record.metric not in table.metrics:
            table.metrics.append(record.metric)
        where = (condition_text(record), record.subset)
        cells = next((c for condition, subset, c in table.rows if (condition, subset) == where), None)
        if cells is None:
            cells = {}
            table.rows.append((*where, cells))
        cells[record.metric] = record
    return list(tables.values())


@dataclass
class SuiteSection:
    name: str
    anchor: str
    version: str
    rows: list[MetricRow] = field(default_factory=list)
    pivots: list[Pivot] = field(default_factory=list)
    figures: list[EmbeddedFigure] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    definitions: list["Definition"] = field(default_factory=list)  # every metric of the section


def summary_blocks(records: list[MetricRecord]) -> list[SummaryBlock]:
    """Headline rows per suite (``is_headline``: the plain input over all samples, ImageNet-C's
    mean over its corruptions), one row per dataset."""
    grouped: dict[str, dict[str, dict[str, MetricRecord]]] = {}
    metrics: dict[str, list[str]] = {}
    for record in records:
        if not is_headline(record):
            continue
        suite_metrics = metrics.setdefault(record.suite, [])
        if record.metric not in suite_metrics:
            suite_metrics.append(record.metric)
        grouped.setdefault(record.suite, {}).setdefault(record.dataset, {})[record.metric] = record
    return [
        SummaryBlock(suite, _anchor(suite), metrics[suite],
                     [SummaryRow(dataset, cells, _common_n(cells)) for dataset, cells in rows.items()],
                     definitions(suite, metrics[suite]))
        for suite, rows in grouped.items()
    ]


def _common_n(cells: dict[str, MetricRecord]) -> int:
    # One row's metrics can rest on different n (mCE over 15 corruptions beside top-1 over
    # images); the row shows the usual n and the page marks each cell that differs.
    return Counter(record.n for record in cells.values()).most_common(1)[0][0]


def metric_rows(records: list[MetricRecord]) -> list[MetricRow]:
    """Records in the order the suite wrote them, marked where a dataset or a (condition,
    subset) starts."""
    rows = []
    for index, record in enumerate(records):
        previous = records[index - 1] if index else None
        new_dataset = previous is None or record.dataset != previous.dataset
        new_condition = (new_dataset or previous is None
                         or (record.condition, record.subset) != (previous.condition, previous.subset))
        rows.append(MetricRow(record, new_dataset, new_condition))
    return rows


def suite_sections(results: RunResults, run_dir: Path) -> list[SuiteSection]:
    """A section per suite in the order it first appears; a suite that only skipped still gets one."""
    versions = {str(k): str(v) for k, v in (results.header.get("suites") or {}).items()}
    order = [r.suite for r in results.records] + [s.suite for s in results.skipped]
    # Suites named in the header but with nothing recorded come last, so they are seen, not lost.
    order += [f.suite for f in results.figures] + [n.suite for n in results.notices] + list(versions)
    sections = {name: SuiteSection(name, _anchor(name), versions.get(name, "")) for name in dict.fromkeys(order)}
    records: dict[str, list[MetricRecord]] = {}
    for record in results.records:
        records.setdefault(record.suite, []).append(record)
    for name, suite_records in records.items():
        sections[name].rows = metric_rows(suite_records)
        sections[name].pivots = pivots(suite_records)
        # headline metrics are defined under the summary, where they first appear; the rest here
        headline = {r.metric for r in suite_records if is_headline(r)}
        sections[name].definitions = definitions(name, (r.metric for r in suite_records if r.metric not in headline))
    for skipped in results.skipped:
        sections[skipped.suite].skipped.append(skipped)
    for notice in results.notices:
        sections[notice.suite].notices.append(notice)
    for figure in results.figures:
        sections[figure.suite].figures.append(embed_figure(figure, run_dir))
    return list(sections.values())


@dataclass(frozen=True)
class SkippedDataset:
    """Everything skipped on one dataset, each distinct reason once with the suites giving it:
    one line of the console and of the report's summary (the suite sections keep each skip)."""

    dataset: str
    reasons: tuple[tuple[str, tuple[str, ...]], ...]  # (reason, suites)

    @property
    def suites(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(suite for _, suites in self.reasons for suite in suites))

    @property
    def brief(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Each reason up to its first '; ' (what is wrong; the fix after it stays in the suite's
        section) and 200 characters (room for a long data path)."""
        def short(reason: str) -> str:
            clause = reason.split("; ")[0]
            return clause if len(clause) <= 200 else clause[:199].rstrip() + "…"

        return tuple((short(reason), suites) for reason, suites in self.reasons)

    def line(self, shown: int = 3) -> str:
        """``skipped on imagenet-r (calibration, robustness): dataset imagenet-r not found at ...``"""
        if len(self.reasons) == 1:
            reason, suites = self.brief[0]
            return f"skipped on {self.dataset} ({', '.join(suites)}): {reason}"
        parts = [f"{', '.join(suites)}: {reason}" for reason, suites in self.brief[:shown]]
        more = len(self.reasons) - shown
        return f"skipped on {self.dataset}: " + "; ".join(parts) + (f"; {more} more (see the report)" if more > 0 else "")


def skipped_by_dataset(skipped: list[Skipped]) -> list[SkippedDataset]:
    """The skips grouped by dataset in the order they were made, each reason once."""
    grouped: dict[str, dict[str, list[str]]] = {}
    for skip in skipped:
        suites = grouped.setdefault(skip.dataset, {}).setdefault(skip.reason, [])
        if skip.suite not in suites:
            suites.append(skip.suite)
    return [SkippedDataset(dataset, tuple((reason, tuple(suites)) for reason, suites in reasons.items()))
            for dataset, reasons in grouped.items()]


def embed_figure(figure: FigureRef, run_dir: Path) -> EmbeddedFigure:
    if Path(figure.stem).name != figure.stem or figure.stem in ("", ".", ".."):
        raise AuditError(f"figure stem {figure.stem!r} in results.json is not a file name; rerun `audit run`")
    path = run_dir / "figures" / f"{figure.stem}.png"
    if not path.is_file():
        raise AuditError(f"figure {path} is missing; rerun `audit run` to regenerate the run folder")
    data = path.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        raise AuditError(f"figure {path} is not a PNG file; rerun `audit run` to regenerate it")
    return EmbeddedFigure(
        src=f"data:image/png;base64,{base64.b64encode(data).decode('ascii')}",
        width=display_width(data),
        alt=f"{figure.suite}: {figure.name} on {figure.dataset}. {figure.caption}",
        caption=figure.caption,
        dataset=figure.dataset,
    )


def display_width(png: bytes) -> int | None:
    """CSS width that shows the figure at its saved size in inches (IHDR width over pHYs dpi).

    None (the browser's natural size) when the PNG records no physical size or is malformed; a
    broken file then shows as a broken image rather than stopping the report.
    """
    try:
        return _physical_width(png)
    except struct.error:
        return None


def _physical_width(png: bytes) -> int | None:
    width = struct.unpack(">I", png[16:20])[0]
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[offset:offset + 8])
        if kind == b"pHYs" and length == 9:
            per_unit, _, unit = struct.unpack(">IIB", png[offset + 8:offset + 17])
            if unit == 1 and per_unit:  # unit 1 = pixels per metre
                return round(width / (per_unit * 0.0254) * CSS_PX_PER_FIGURE_INCH)
            return None
        if kind in (b"IDAT", b"IEND"):
            return None  # pHYs must precede the image data
        offset += 12 + length
    return None


def _anchor(name: str) -> str:
    return "suite-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name)


def format_created(created: Any) -> str:
    """ISO time as 'YYYY-MM-DD HH:MM UTC'; anything unparsable is shown as written."""
    try:
        moment = dt.datetime.fromisoformat(str(created))
    except ValueError:
        return str(created or "")
    offset = moment.utcoffset()
    zone = "" if offset is None else " UTC" if offset == dt.timedelta(0) else moment.strftime(" UTC%z")
    return moment.strftime("%Y-%m-%d %H:%M") + zone


def breakable(name: str) -> Markup:
    """Lets long snake_case metric names wrap at underscores instead of widening the table."""
    return Markup("_<wbr>").join(escape(part) for part in str(name).split("_"))


def header_scalar(value: Any) -> str:
    # JSON spelling, so the page reads like results.json ("null", "true"), not like Python.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _environment(numbers: NumberFormat | None = None) -> Environment:
    """Jinja2 with autoescape; ``number`` / ``ci`` format a record at its metric's decimals."""
    numbers = numbers or NumberFormat({})
    environment = Environment(
        loader=PackageLoader("auditkit", "report/templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(value=format_value, number=numbers.value, ci=numbers.ci, breakable=breakable,
                               scalar=header_scalar, number_of=numbers.number)
    environment.tests["mapping"] = lambda v: isinstance(v, dict)
    environment.tests["sequence"] = lambda v: isinstance(v, (list, tuple))
    return environment


def build_report(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` from ``run_dir/results.json`` and ``run_dir/figures``."""
    run_dir = Path(run_dir)
    results = read_results(run_dir)
    model = results.header.get("model")
    html = _environment(NumberFormat.of(results.records)).get_template("report.html").render(
        model=model if isinstance(model, dict) else {"name": model},
        header=results.header,
        created=format_created(results.header.get("created")),
        summary=summary_blocks(results.records),
        sections=suite_sections(results, run_dir),
        skipped=results.skipped,
        skipped_datasets=skipped_by_dataset(results.skipped),
        anchors={name: _anchor(name) for name in dict.fromkeys(s.suite for s in results.skipped)},
        notices=results.notices,
        list_limit=HEADER_LIST_LIMIT,
    )
    path = run_dir / REPORT_FILE
    path.write_text(html, encoding="utf-8")
    return path


# --- shared with the comparison page and the model card (auditkit.compare) ---------------------

MODEL_CARD_FILE = "model_card.html"


def format_p(p: float | None) -> str:
    """p-values at two significant digits; below 0.001 as '< 0.001'."""
    if p is None or not math.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def template_environment(numbers: NumberFormat | None = None) -> Environment:
    """The report's Jinja2 environment (autoescape, filters), for pages built beside it."""
    environment = _environment(numbers)
    environment.filters["p"] = format_p
    return environment


@dataclass(frozen=True)
class ModelCard:
    """A run on one page: header, data coverage and every metric it produced, with CIs."""

    name: str
    model: dict[str, Any]
    header: dict[str, Any]
    created: str
    datasets: list[dict[str, Any]]
    summary: list[SummaryBlock]
    pivots: list[tuple[str, Pivot]]  # (suite, its per-condition table)
    skipped: list[Skipped]
    notices: list[Notice]


def model_card(results: RunResults, name: str | None = None) -> ModelCard:
    model = results.header.get("model")
    model = model if isinstance(model, dict) else {"name": model}
    datasets = [{"name": key, **value} for key, value in (results.header.get("datasets") or {}).items()
                if isinstance(value, dict)]
    by_suite: dict[str, list[MetricRecord]] = {}
    for record in results.records:
        by_suite.setdefault(record.suite, []).append(record)
    return ModelCard(
        name=name or str(model.get("name")), model=model, header=results.header,
        created=format_created(results.header.get("created")), datasets=datasets,
        summary=summary_blocks(results.records),
        pivots=[(suite, pivot) for suite, records in by_suite.items() for pivot in pivots(records)],
        skipped=results.skipped, notices=results.notices,
    )


def build_model_card(run_dir: Path) -> Path:
    """Write ``run_dir/model_card.html``: the run on one printable page."""
    run_dir = Path(run_dir)
    results = read_results(run_dir)
    card = model_card(results)
    html = template_environment(NumberFormat.of(results.records)).get_template("model_card.html").render(card=card)
    path = run_dir / MODEL_CARD_FILE
    path.write_text(html, encoding="utf-8")
    return path
