"""The ``audit`` Typer application every command module registers on (``auditkit.cli``)."""

from __future__ import annotations

import typer

import auditkit

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Audit vision models for the properties ImageNet accuracy hides.",
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"auditkit {auditkit.__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="print the auditkit version and exit"),
) -> None:
    """Audit vision models for the properties ImageNet accuracy hides."""


def split_names(text: str) -> tuple[str, ...]:
    """A comma-separated option (``--suites a,b``) as its names, in order, each once."""
    return tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
