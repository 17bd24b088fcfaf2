"""``compare.html``: models as columns, properties as rows, overlaid plots, paired tests.

Self-contained (figures as data: URIs, CSS inlined, a Content-Security-Policy that forbids any
fetch) so it opens from an archive or a mail attachment. It arranges records and the paired tests
of ``auditkit.compare.comparison``; it computes no metric of its own.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import auditkit
from auditkit.compare import plots
from auditkit.compare.comparison import Comparison, Row, suite_for
from auditkit.compare.paired import PairedTest
from auditkit.compare.runs import run_settings
from auditkit.records import FigureRef
from auditkit.report.html import EmbeddedFigure, ModelCard, definitions, embed_figure, model_card, template_environment
from auditkit.report.numbers import NumberFormat

COMPARE_PAGE = "compare.html"
FIGURE_DIR = "figures"


@dataclass
class SuiteBlock:
    suite: str
    anchor: str
    headline: list[Row]
    conditions: list[Row]
    figures: list[EmbeddedFigure] = field(default_factory=list)
    tests: list[PairedTest] = field(default_factory=list)


def _stem(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "__".join(parts)).strip("-")


def _save(figure, out_dir: Path, suite: str, dataset: str, name: str, caption: str) -> EmbeddedFigure:  # type: ignore[no-untyped-def]
    stem = _stem("compare", suite, dataset, name)
    (out_dir / FIGURE_DIR).mkdir(parents=True, exist_ok=True)
    figure.savefig(out_dir / FIGURE_DIR / f"{stem}.png", dpi=150, bbox_inches="tight")
    return embed_figure(FigureRef(suite, dataset, name, stem, caption), out_dir)


def suite_blocks(comparison: Comparison, out_dir: Path) -> list[SuiteBlock]:
    models = comparison.models
    blocks: dict[str, SuiteBlock] = {}
    for row in comparison.rows:
        block = blocks.setdefault(row.suite, SuiteBlock(row.suite, "suite-" + _stem(row.suite), [], []))
        (block.headline if row.headline else block.conditions).append(row)
    for series in plots.families(comparison.records, comparison.better):
        block = blocks[series.suite]
        kind = "curves" if series.curves() is not None else "grouped bars"
        block.figures.append(_save(
            plots.family_figure(series, models), out_dir, series.suite, series.dataset,
            _stem(series.metric, series.family_key),
            f"{series.metric} per {series.over}, all models "
            f"({kind}; bars and bands: 95 % bootstrap CI of each run on its own samples).",
        ))
    for suite_name, block in blocks.items():
        samples = {run.name: {(d, c): run.samples(s, d, c) for (s, d, c) in run.sample_files() if s == suite_name}
                   for run in comparison.runs}
        for item in suite_for(suite_name).comparison_figures({m: a for m, a in samples.items() if a}):
            block.figures.append(_save(item.figure, out_dir, suite_name, item.dataset, item.name, item.caption))
        block.tests = [t for t in comparison.tests if t.suite == suite_name]
    return list(blocks.values())


def overview_figures(comparison: Comparison, out_dir: Path) -> list[EmbeddedFigure]:
    properties = plots.headline_properties(comparison.records, comparison.better)
    figures = []
    if properties:
        figures.append(_save(
            plots.property_panels(properties, comparison.models), out_dir, "all", "all", "properties",
            "Each property (headline metric: plain input, all samples) for every model, with 95 % bootstrap CIs "
            "(↑/↓: higher/lower is better). Letters are the models' columns in the table.",
        ))
    chart = plots.radar(properties, comparison.models)
    if chart is not None:
        group, _ = plots.radar_group(properties, comparison.models)
        among = "all models" if len(group) == len(comparison.models) else ", ".join(group)
        left_out = plots.unresolved(properties, group)
        figures.append(_save(
            chart, out_dir, "all", "all", "radar",
            f"Properties shared by {among} on which they differ beyond their 95 % CIs, each axis scaled "
            "between the worst and the best of them (outward = better; higher where no direction is "
            "defined): a ranking, not absolute values."
            + (f" Left out, as their differences lie inside the CIs: {', '.join(_property_words(p) for p in left_out)}."
               if left_out else ""),
        ))
    return figures


def _property_words(prop: plots.Series) -> str:
    return f"{plots.dataset_words(prop.dataset)} {prop.label}"


def radar_note(comparison: Comparison) -> str:
    """Why there is no radar, for the page (empty when there is one or one is not expected)."""
    properties = plots.headline_properties(comparison.records, comparison.better)
    if len(comparison.models) < 2 or plots.radar_group(properties, comparison.models)[1]:
        return ""
    return ("No radar: no two models share three properties on which they differ beyond their 95 % CIs "
            "(an axis scaled worst … best would turn such differences into the full axis).")


@dataclass
class FieldView:
    """The field section as the page shows it: figures, the strongest correlations, ranks."""

    figures: list[EmbeddedFigure]
    correlations: list  # auditkit.field.analysis.Correlation, strongest first
    ranks: list[tuple[str, bool, float, float, int]]  # (model, published, mean rank, mean z, properties ranked)
    residuals: list[tuple[str, str, float]]  # (property words, model, residual), largest |residual| first
    labels: dict[str, str]
    leaderboard: str  # the CSV's file name beside the page
    models: int
    leaderboard_data: str  # the same CSV as a data: URI


def field_view(comparison: Comparison, out_dir: Path) -> FieldView | None:
    """The many-model section (``auditkit.compare.field``) with its figures saved, or None."""
    import math

    from auditkit.compare.field import ACCURACY, field_section

    testbed = {run.name for run in comparison.runs if (run.results.header.get("source") or {}).get("collection") == "testbed"}
    section = field_section(comparison.models, comparison.records, comparison.better, comparison.references,
                            seed=comparison.seed, exclude=testbed)
    if section is None:
        return None
    figures = [_save(figure, out_dir, "field", "all", name, caption) for name, figure, caption in section.figures]
    leaderboard = section.leaderboard(out_dir / "leaderboard.csv")
    spearman = sorted((c for c in section.correlations if c.method == "spearman" and math.isfinite(c.value)),
                      key=lambda c: -abs(c.value))
    kendall = {(c.first, c.second): c for c in section.correlations if c.method == "kendall"}
    table = section.table
    ranked = np.isfinite(table.values).sum(axis=1)  # properties each model has
    ranks = sorted(((m, m in section.references, float(section.ranks.mean_rank[i]), float(section.ranks.mean_z[i]),
                     int(ranked[i])) for i, m in enumerate(table.models) if math.isfinite(section.ranks.mean_rank[i])),
                   key=lambda row: row[2])
    residuals = sorted(((section.labels.get(f.prop, f.prop), m, r) for f in section.fits
                        for m, r in f.residuals.items() if f.prop != ACCURACY), key=lambda row: -abs(row[2]))
    import base64

    # the page stays self-contained: the leaderboard is also inside it, as a downloadable data: link
    inline = "data:text/csv;base64," + base64.b64encode(leaderboard.read_bytes()).decode()
    return FieldView(figures, [(c, kendall.get((c.first, c.second))) for c in spearman], ranks, residuals[:20],
                     section.labels, leaderboard.name, len(table.models), inline)


def build_compare_page(comparison: Comparison, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    comparison.write(out_dir)
    side = comparison.side_by_side
    field = field_view(comparison, out_dir)  # every model, published rows included
    everyone = comparison
    comparison = comparison.audited()  # columns, figures, tests and cards: the audited runs
    cards: list[tuple[str, ModelCard]] = ([(run.letter, model_card(run.results, run.name)) for run in comparison.runs]
                                          if side else [])
    blocks = suite_blocks(comparison, out_dir) if side else []
    audited = comparison.runs
    settings = run_settings(audited)
    html = template_environment(NumberFormat.of(comparison.records)).get_template("compare.html").render(
        comparison=comparison,
        differing=[s for s in settings if s.differs],
        same=[s for s in settings if not s.differs],
        definitions={b.suite: definitions(b.suite, [r.metric for r in b.headline + b.conditions]) for b in blocks},
        runs=comparison.runs,
        audited=audited,
        published=_published_collections(everyone),
        models=comparison.models,
        letters={run.name: run.letter for run in comparison.runs},
        cards=cards,
        overview=overview_figures(comparison, out_dir) if side else [],
        radar_note=radar_note(comparison) if side else "",
        field=field,
        blocks=blocks,
        significant=sum(1 for t in comparison.tests if t.stars),
        created=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        version=auditkit.__version__,
    )
    path = out_dir / COMPARE_PAGE
    path.write_text(html, encoding="utf-8")
    return path


def _published_collections(comparison: Comparison) -> list[tuple[str, int, str]]:
    """(collection, rows, source) of the reference rows in the comparison."""
    found: dict[str, list[dict]] = {}
    for run in comparison.runs:
        if run.reference:
            source = run.results.header.get("source") or {}
            found.setdefault(str(source.get("collection", "published")), []).append(source)
    described = []
    for collection, sources in found.items():
        first = sources[0]
        where = (f"{first.get('repository')} @ {str(first.get('commit'))[:7]}" if first.get("repository")
                 else str(first.get("paper", "")))
        described.append((collection, len(sources), where))
    return described
