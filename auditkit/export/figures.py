"""Figures for papers: the comparison plots at a column (3.25 in) and a page width (6.75 in),
in fonts that match LaTeX's (Computer Modern; PGF text is set by the document's own LaTeX).

PDF and SVG for ``\\includegraphics`` (SVG keeps text as text), PGF for ``\\input`` (needs
``\\usepackage{pgf}``; matplotlib measures its text with pdflatex, so PGF needs a TeX install).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

import matplotlib
from matplotlib.figure import Figure
from matplotlib.text import Text

from auditkit.compare import plots
from auditkit.errors import AuditError
from auditkit.export.latex import tex_escape
from auditkit.export.source import ExportSource
from auditkit.suite import Suite

WIDTHS = {"column": 3.25, "page": 6.75}  # inches: one column / the full page of a two-column paper
FIGURE_FORMATS = ("pdf", "svg", "pgf", "png")
PAPER_RC = {
    "font.family": "serif",
    "font.serif": ["cmr10", "DejaVu Serif"],
    "mathtext.fontset": "cm",
    "axes.formatter.use_mathtext": True,  # cmr10 has no minus glyph
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "figure.titlesize": 8,
    "axes.linewidth": 0.6, "lines.linewidth": 1.0,
    "svg.fonttype": "none",  # text stays text: searchable, and restyled by the document
    "pdf.fonttype": 42,
    "pgf.texsystem": "pdflatex",
    "pgf.rcfonts": False,  # PGF text takes the document's fonts
    "savefig.dpi": 300,
}
PGF_PREAMBLE = "\\providecommand{\\mathdefault}[1]{#1}%\n"
_UNICODE_TEX = {"·": r"\textperiodcentered{}", "↑": r"$\uparrow$", "↓": r"$\downarrow$", "—": "---",
                "–": "--", "−": "-", "±": r"$\pm$"}


def _tex_text(text: str) -> str:
    """Text of a figure made safe for pdflatex: math ($...$) kept, everything else escaped."""

    def escape(part: str) -> str:
        escaped = tex_escape(part)
        for char, replacement in _UNICODE_TEX.items():
            escaped = escaped.replace(char, replacement)
        return escaped

    return _outside_math(text, escape)


def _outside_math(text: str, change) -> str:  # type: ignore[no-untyped-def]
    parts = re.split(r"(\$[^$]*\$)", text)
    return "".join(p if p.startswith("$") and p.endswith("$") and len(p) > 1 else change(p) for p in parts)


def _save(figure: Figure, stem: Path, formats: list[str]) -> list[Path]:
    # cmr10 (OT1) draws '_' as a dot accent: names such as efficientnet_lite0 get mathtext's \_;
    # it has no em dash either (a title "A — B" would show a box)
    for text in figure.findobj(Text):
        text.set_text(_outside_math(text.get_text(), lambda part: part.replace("_", r"$\_$").replace(" — ", ": ")))
    written = []
    for fmt in formats:
        if fmt == "pgf":
            continue
        path = stem.with_suffix(f".{fmt}")
        # no bbox_inches="tight": the file keeps the exact width asked for (the plots lay
        # themselves out inside it), so fonts print at their size under \includegraphics
        figure.savefig(path, metadata={"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt))
        written.append(path)
    if "pgf" in formats:
        if shutil.which("pdflatex") is None:
            raise AuditError("PGF export needs pdflatex (apt-get install texlive-latex-base texlive-pictures); "
                             "or leave pgf out of --format")
        for text in figure.findobj(Text):
            text.set_text(_tex_text(text.get_text()))
        path = stem.with_suffix(".pgf")
        figure.savefig(path)
        # matplotlib's PGF uses \mathdefault and asks the document to define it; defined here
        # (only if undefined) so `\input{...pgf}` works in any preamble that loads pgf
        path.write_text(PGF_PREAMBLE + path.read_text())
        written.append(path)
    return written


def figure_makers(source: ExportSource) -> dict[str, Callable[[float], Figure | None]]:
    """name -> function of the width in inches; every family of every suite, plus the
    properties panel (the paper's Figure 1) and the radar when there are several models."""
    properties = plots.headline_properties(source.records, source.better)
    makers: dict[str, Callable[[float], Figure | None]] = {}
    if properties:
        makers["properties"] = lambda width: plots.property_panels(properties, source.models, width)
        if len(source.models) > 1:
            # a radar is square: a column is its size (at page width it would fill the page)
            makers["radar"] = lambda width: plots.radar(properties, source.models, width) if width <= 4 else None
    for series in plots.families(source.records, source.better):
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", "__".join(
            [series.suite, series.dataset.replace(" ", "-"), series.metric, series.family_key or "all"]))
        makers[name] = lambda width, s=series: plots.family_figure(s, source.models, width)
    return makers


def suite_samples(source: ExportSource, suite: str) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    """Each model's per-sample arrays of ``suite`` by (dataset, condition), read from its run
    folder; a model whose folder is gone (a comparison moved elsewhere) is named on stderr."""
    from auditkit.compare.runs import Run
    from auditkit.records import RESULTS_FILE, read_results

    samples: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for model in source.models:
        directory = source.directories.get(model)
        if directory is None or not (directory / RESULTS_FILE).is_file():
            print(f"audit export: the run folder of {model} ({directory}) is gone; its {suite} figures drawn from "
                  "per-sample arrays are left out", file=sys.stderr)
            continue
        run = Run(directory, read_results(directory), model)
        found = {(d, c): run.samples(s, d, c) for (s, d, c) in run.sample_files() if s == suite}
        if found:
            samples[model] = found
    return samples


def export_figures(source: ExportSource, out_dir: Path, formats: list[str]) -> list[Path]:
    from auditkit.compare.comparison import suite_for

    written: list[Path] = []
    figure_dir = out_dir / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(PAPER_RC):
        for name, make in figure_makers(source).items():
            for size, width in WIDTHS.items():
                figure = make(width)
                if figure is None:
                    continue
                written += _save(figure, figure_dir / f"{name}__{size}", formats)
        # the suites' own figures (shape bias per category against humans), redrawn from per-sample arrays
        for suite_name in dict.fromkeys(r.suite for r in source.records):
            suite = suite_for(suite_name)
            if type(suite).paper_figures is Suite.paper_figures:
                continue
            samples = suite_samples(source, suite_name)
            for size, width in WIDTHS.items():
                for item in suite.paper_figures(samples, width) if samples else []:
                    stem = "__".join(re.sub(r"[^A-Za-z0-9_.-]+", "-", part).strip("-")
                                     for part in (suite_name, item.dataset, item.name, size))
                    written += _save(item.figure, figure_dir / stem, formats)
    return written
