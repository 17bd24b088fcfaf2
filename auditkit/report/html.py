"""One self-contained ``report.html`` per run: figures embedded, nothing fetched.

Reads only ``results.json`` and ``figures/`` (STYLE.md: evaluation and report are separate
steps), so ``audit report RUN_DIR`` rebuilds it at any time. Every user string is escaped by
Jinja2's autoescape.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from auditkit.errors import AuditError
from auditkit.records import FigureRef, MetricRecord, Notice, RunResults, Skipped, read_results

REPORT_FILE = "report.html"


def format_value(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value)}"
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"


def format_ci(record: MetricRecord) -> str:
    if record.ci_low is None or record.ci_high is None:
        return ""
    return f"[{format_value(record.ci_low)}, {format_value(record.ci_high)}]"


@dataclass
class Pivot:
    """One dataset's records as a table: conditions down, metrics across."""

    dataset: str
    metrics: list[str]
    rows: list[tuple[str, dict[str, MetricRecord]]]


@dataclass
class SuiteSection:
    name: str
    version: str
    records: list[MetricRecord] = field(default_factory=list)
    figures: list[dict[str, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    @property
    def pivots(self) -> list[Pivot]:
        tables: dict[str, Pivot] = {}
        for record in self.records:
            pivot = tables.setdefault(record.dataset, Pivot(record.dataset, [], []))
            if record.metric not in pivot.metrics:
                pivot.metrics.append(record.metric)
            row = next((cells for condition, cells in pivot.rows if condition == record.condition), None)
            if row is None:
                row = {}
                pivot.rows.append((record.condition, row))
            row[record.metric] = record
        return list(tables.values())


def _sections(results: RunResults, run_dir: Path) -> list[SuiteSection]:
    versions = results.header.get("suites", {})
    order = list(dict.fromkeys([*versions, *(r.suite for r in results.records), *(s.suite for s in results.skipped)]))
    sections = {name: SuiteSection(name, str(versions.get(name, ""))) for name in order}
    for record in results.records:
        sections[record.suite].records.append(record)
    for skipped in results.skipped:
        sections[skipped.suite].skipped.append(skipped)
    for notice in results.notices:
        sections.setdefault(notice.suite, SuiteSection(notice.suite, "")).notices.append(notice)
    for figure in results.figures:
        sections[figure.suite].figures.append(_embed(figure, run_dir))
    return list(sections.values())


def _embed(figure: FigureRef, run_dir: Path) -> dict[str, str]:
    path = run_dir / "figures" / f"{figure.stem}.png"
    if not path.is_file():
        raise AuditError(f"figure {path} is missing; rerun `audit run` to regenerate the run folder")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return {"src": f"data:image/png;base64,{data}", "caption": figure.caption,
            "dataset": figure.dataset, "name": figure.name}


def _summary(results: RunResults) -> tuple[list[str], list[dict[str, Any]]]:
    """Headline rows: one per (suite, dataset), the condition-"none" metrics as columns."""
    metrics: list[str] = []
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for record in results.records:
        if record.condition != "none":
            continue
        if record.metric not in metrics:
            metrics.append(record.metric)
        row = rows.setdefault((record.suite, record.dataset),
                              {"suite": record.suite, "dataset": record.dataset, "n": record.n, "cells": {}})
        row["cells"][record.metric] = record
    return metrics, list(rows.values())


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("auditkit", "report/templates"),
        autoescape=select_autoescape(["html", "htm", "xml"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["value"] = format_value
    environment.filters["ci"] = format_ci
    environment.tests["mapping"] = lambda v: isinstance(v, dict)
    environment.tests["sequence"] = lambda v: isinstance(v, (list, tuple))
    return environment


def build_report(run_dir: Path) -> Path:
    """Write ``run_dir/report.html`` from ``run_dir/results.json`` and ``run_dir/figures``."""
    run_dir = Path(run_dir)
    results = read_results(run_dir)
    metrics, summary = _summary(results)
    model = results.header.get("model", {})
    environment = _environment()
    html = environment.get_template("report.html").render(
        model=model,
        header=results.header,
        summary_metrics=metrics,
        summary=summary,
        sections=_sections(results, run_dir),
        skipped=results.skipped,
        notices=results.notices,
        css=environment.loader.get_source(environment, "report.css")[0],  # type: ignore[union-attr]
    )
    path = run_dir / REPORT_FILE
    path.write_text(html, encoding="utf-8")
    return path
