"""``audit fetch``: download, verify and unpack an openly released dataset (``auditkit.fetch``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from auditkit.cli.app import app
from auditkit.paths import data_root


@app.command("fetch")
def fetch_dataset(
    name: str = typer.Argument(..., help="a dataset that may be downloaded (audit ls datasets); e.g. imagenet-r, wds/imagenet-r"),
    data_root_dir: Optional[Path] = typer.Option(None, "--data-root", help="where datasets live (else $AUDITKIT_DATA, else ~/.cache/auditkit)"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar with bytes and ETA"),
) -> None:
    """Download an openly released dataset in its released form, verify it, and unpack it into place."""
    from auditkit.data.catalog import fetch

    fetch(name, data_root(data_root_dir), progress=progress, say=lambda line: typer.echo(line, err=True))
