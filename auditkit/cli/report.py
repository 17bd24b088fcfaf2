"""``audit report``: report.html and model_card.html rebuilt from a run folder."""

from __future__ import annotations

from pathlib import Path

import typer

from auditkit.cli.app import app


@app.command()
def report(run_dir: Path = typer.Argument(..., help="the --out folder of an `audit run`")) -> None:
    """Rebuild report.html (and model_card.html) from a run's results.json and figures."""
    from auditkit.report import build_report
    from auditkit.report.html import build_model_card

    typer.echo(f"report: {build_report(run_dir)}")
    typer.echo(f"model card: {build_model_card(run_dir)}")
