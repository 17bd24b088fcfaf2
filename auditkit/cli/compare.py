"""``audit compare``: runs (and published rows) into compare.html (``auditkit.compare``)."""

from __future__ import annotations

from pathlib import Path

import typer

from auditkit.cli.app import app
from auditkit.errors import AuditError


def _collections(given: list[str]) -> tuple[str, ...]:
    from auditkit.field.reference import COLLECTIONS
    from auditkit.registry import did_you_mean

    names = tuple(dict.fromkeys(n.strip() for g in given for n in g.split(",") if n.strip()))
    for name in names:
        if name not in COLLECTIONS:
            raise AuditError(f"--with {name!r}: use {' or '.join(COLLECTIONS)}{did_you_mean(name, list(COLLECTIONS))}")
    return names


@app.command()
def compare(
    runs: list[str] = typer.Argument(..., help="run folders, globs ('runs/*') or folders holding runs"),
    out: Path = typer.Option(Path("audit-out/compare"), "--out", "-o", help="output folder for compare.html"),
    resamples: int = typer.Option(1000, "--resamples", help="paired-bootstrap resamples"),
    seed: int = typer.Option(0, "--seed", help="seed of the paired bootstrap"),
    with_: list[str] = typer.Option([], "--with", help="published rows to add: testbed (the robustness testbed's models), beyond-inet (the paper's four models), openood (OpenOOD v1.5's ImageNet-1K leaderboard); repeatable or comma-separated"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an --out folder holding an audit run's results"),
) -> None:
    """Compare runs: models as columns, overlaid plots, paired tests on shared samples; for many
    models (and always), correlations, ranks and a leaderboard against the field."""
    from auditkit.compare import compare as compare_runs, load_runs
    from auditkit.compare.page import build_compare_page
    from auditkit.compare.runs import unpaired_reason
    from auditkit.run.folder import check_compare_replaceable, output_folder, write_comparison

    if resamples < 100:
        raise AuditError(f"--resamples must be at least 100 for a 95 % interval, got {resamples}")
    out = output_folder(out, "--out")
    check_compare_replaceable(out.absolute(), overwrite)  # before any run is read
    loaded = load_runs(runs, _collections(with_))
    comparison = compare_runs(loaded, resamples=resamples, seed=seed)
    page = write_comparison(out, lambda staging: build_compare_page(comparison, staging), overwrite)
    significant = sum(1 for t in comparison.tests if t.stars)
    why = unpaired_reason(loaded) if not comparison.tests else None
    typer.echo(f"{len(comparison.runs)} runs, {len(comparison.tests)} paired tests ({significant} significant)"
               + (f": {why}" if why else ""))
    typer.echo(f"compare: {page}")
