"""``audit export``: a run or a comparison for papers (``auditkit.export``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from auditkit.cli.app import app


@app.command()
def export(
    source: Path = typer.Argument(..., help="a run folder (results.json) or a compare folder (compare.json)"),
    formats: str = typer.Option("latex,pdf,svg,pgf,csv,modelcard", "--format", "-f",
                                help="comma-separated: latex, pdf, svg, pgf, png, csv, modelcard"),
    out: Path = typer.Option(Path("audit-out/export"), "--out", "-o"),
    ci: str = typer.Option("pm", "--ci", help="CI in LaTeX tables: pm (± half-width) or subscript ([lo, hi])"),
    decimals: Optional[int] = typer.Option(None, "--decimals", help="decimals of every non-count value in the tables (default: per metric, 4 significant digits for its largest value)"),
    percent: bool = typer.Option(False, "--percent", help="show proportions (top-1, ECE, shape bias, ...) as percentages in the tables"),
) -> None:
    """Export for papers: LaTeX tables, column/page-width figures, CSV, CITATIONS.bib, model-index YAML."""
    from auditkit.export import export as export_results
    from auditkit.run.folder import output_folder

    output_folder(out, "--out")
    for path in export_results(source, [f.strip() for f in formats.split(",") if f.strip()], out, ci=ci,
                               decimals=decimals, percent=percent):
        typer.echo(str(path))
