"""``audit card``: model_card.html from a run folder."""

from __future__ import annotations

from pathlib import Path

import typer

from auditkit.cli.app import app


@app.command()
def card(run_dir: Path = typer.Argument(..., help="the --out folder of an `audit run`")) -> None:
    """Write model_card.html: the run's header, data coverage and every metric on one page."""
    from auditkit.report.html import build_model_card

    typer.echo(f"model card: {build_model_card(run_dir)}")
