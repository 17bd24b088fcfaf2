"""``audit demo``: the embedded EfficientNet-Lite0 audited with ``audit_into`` on what is found."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from auditkit.cli.app import app
from auditkit.paths import cache_root, data_root

DEMO_SUITES = ("shape_bias", "calibration")
# In a development checkout the stimuli sit in ../shared/data beside the repository.
DEVELOPMENT_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@app.command()
def demo(
    out: Path = typer.Option(Path("audit-out/demo"), "--out", "-o"),
    data_root_dir: Optional[Path] = typer.Option(None, "--data-root"),
    data: list[str] = typer.Option([], "--data", help="NAME=PATH for one dataset (repeatable)"),
    cache: Optional[Path] = typer.Option(None, "--cache"),
    limit: Optional[int] = typer.Option(None, "--limit"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an --out folder holding another run's results"),
) -> None:
    """Audit the embedded EfficientNet-Lite0 (real ImageNet weights, no network) on what is found:
    cue-conflict from the data root, else ../shared/data in a development checkout, else the
    public release (downloaded when online); ImageNet val / R when present."""
    from auditkit.adapters.specs import ModelOptions, load_model
    from auditkit.cli.run import command_line, print_run
    from auditkit.data.catalog import parse_data_overrides
    from auditkit.run.config import RunConfig, default_workers
    from auditkit.run.folder import audit_into, output_folder

    out = output_folder(out, "--out")
    overrides = parse_data_overrides(data)
    root = data_root(data_root_dir)
    development = DEVELOPMENT_DATA / "cue-conflict"
    if "cue-conflict" not in overrides and not (root / "cue-conflict").is_dir() and development.is_dir():
        overrides["cue-conflict"] = str(development)
    cache_dir = cache_root(cache)
    adapter = load_model("efficientnet_lite0", ModelOptions(head_cache=cache_dir / "heads"))
    config = RunConfig(
        suites=DEMO_SUITES, out_dir=out, cache_dir=cache_dir, data_root=root,
        data_overrides=overrides, limit=limit, workers=default_workers(), command=command_line(),
    )
    print_run(audit_into(out, config, adapter, overwrite=overwrite), out)
