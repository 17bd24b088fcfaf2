"""``audit ls``: the model presets and spec forms, the suites with their options, the datasets
and what is found of them locally."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from auditkit.cli.app import app
from auditkit.errors import AuditError
from auditkit.paths import data_root

LIST_KINDS = ("models", "suites", "datasets")


def suite_rows() -> list[tuple[str, ...]]:
    """One row per suite (name, version, datasets, description), then one per option it
    declares (``--option SUITE.NAME``, its values and default, what it does)."""
    from suites import SUITES, get_suite

    rows: list[tuple[str, ...]] = []
    for name in SUITES.names():
        suite = get_suite(name)
        rows.append((name, f"v{suite.version}", ", ".join(suite.datasets), suite.description))
        rows += [("", "--option", f"{name}.{option.name}", option.describe()) for option in suite.options]
    return rows


@app.command("ls")
def list_things(
    kind: str = typer.Argument(..., help="models | suites | datasets"),
    data_root_dir: Optional[Path] = typer.Option(None, "--data-root"),
    data: list[str] = typer.Option([], "--data"),
) -> None:
    """List what exists, and for datasets what is found locally."""
    from auditkit.registry import did_you_mean

    if kind not in LIST_KINDS:
        raise AuditError(f"cannot list {kind!r}{did_you_mean(kind, list(LIST_KINDS))}; use one of {', '.join(LIST_KINDS)}")
    rows: list[tuple[str, ...]]
    if kind == "models":
        from auditkit.adapters.specs import PRESETS, spec_kinds

        rows = [(p.name, p.spec(), p.description) for p in map(PRESETS.get, PRESETS.names())]
        rows += [(form, "", text) for form, text in spec_kinds()]
    elif kind == "suites":
        rows = suite_rows()
    else:
        from auditkit.data.catalog import dataset_rows, parse_data_overrides

        rows = dataset_rows(data_root(data_root_dir), parse_data_overrides(data))
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, show_header=False, pad_edge=False)
    for _ in rows[0]:
        table.add_column(overflow="fold")
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table, markup=False, highlight=False)
