"""The `audit` command (also `python -m auditkit`).

User mistakes print one line (``audit: error: ...``) and exit 2; nothing prints a traceback
unless it is a bug in auditkit.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from typing import Optional

import typer

import auditkit
from auditkit.errors import AuditError, UserCodeError
from auditkit.paths import cache_root, data_root
from auditkit.store import SHARD_SIZE

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Audit vision models for the properties ImageNet accuracy hides.",
)

# typer >= 0.2x ships its own copy of click (typer._click) and no longer raises click's classes:
# take the exception classes from the module typer's own BadParameter lives in, whichever it is.
_CLICK_ERRORS = sys.modules[typer.BadParameter.__module__]
# click < 8.2 has no NoArgsIsHelpError (it prints the help and exits 0 itself); () matches nothing
_NO_ARGS_IS_HELP = getattr(_CLICK_ERRORS, "NoArgsIsHelpError", ())
INTERRUPTED = "audit: interrupted; rerun the same command to resume"


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

LIST_KINDS = ("models", "suites", "datasets")
DEMO_SUITES = ("shape_bias", "calibration")
# In a development checkout the stimuli sit in ../shared/data beside the repository.
DEVELOPMENT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _split_suites(suites: str) -> tuple[str, ...]:
    from suites import SUITES

    names = tuple(dict.fromkeys(s.strip() for s in suites.split(",") if s.strip()))
    if not names:
        raise AuditError("--suites is empty; name at least one suite (see `audit ls suites`)")
    for name in names:
        SUITES.get(name)
    return names


def _bad_images(policy: str) -> str:
    if policy not in ("fail", "skip"):
        raise AuditError(f"--bad-images {policy!r}: use fail or skip")
    return policy


def _default_out(model: str) -> Path:
    return Path("audit-out") / re.sub(r"[^A-Za-z0-9_.-]+", "_", model).strip("_")


def _check_counts(input_size: int | None, workers: int | None) -> None:
    """Numbers that would otherwise fail deep inside a transform or the DataLoader, blaming
    something else (an image, a torch argument): refused up front, naming the option."""
    if input_size is not None and input_size < 1:
        raise AuditError(f"--input-size must be a positive number of pixels (e.g. 224), got {input_size}")
    if workers is not None and workers < 0:
        raise AuditError(f"--workers must be 0 or more (0 reads images in the main process), got {workers}")


def _output_folder(path: Path, option: str) -> Path:
    """An output folder that can exist or be made: not a file, and not under one."""
    for folder in (path, *path.parents):
        if folder.exists() and not folder.is_dir():
            if folder == path:
                raise AuditError(f"{option} {path} is a file, not a folder; give a folder (it is created if missing)")
            raise AuditError(f"{option} {path}: {folder} is a file, so no folder can be made under it; "
                             "give another folder")
        if folder.is_dir():
            break
    return path


@app.command()
def run(
    model: list[str] = typer.Option(..., "--model", "-m", help="preset, timm:NAME, open_clip:ARCH/PRETRAINED or python:MODULE:FACTORY; repeat for several models (a run folder each under --out, and a comparison)"),
    suites: str = typer.Option(..., "--suites", "-s", help="comma-separated suite names (audit ls suites)"),
    weights: Optional[str] = typer.Option(None, "--weights", help="weights file (.safetensors, or .pth state dict)"),
    preprocess: str = typer.Option("default", "--preprocess", help="default | paper | timm"),
    input_size: Optional[int] = typer.Option(None, "--input-size", help="override the crop size"),
    crop_pct: Optional[float] = typer.Option(None, "--crop-pct", help="override crop_pct (resize = size / crop_pct)"),
    interpolation: Optional[str] = typer.Option(None, "--interpolation", help="override: bilinear | bicubic | ..."),
    data_root_dir: Optional[Path] = typer.Option(None, "--data-root", help="folder holding datasets by name (else $AUDITKIT_DATA, else ~/.cache/auditkit)"),
    data: list[str] = typer.Option([], "--data", help="NAME=PATH for one dataset (repeatable)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="output folder (default audit-out/<model>)"),
    cache: Optional[Path] = typer.Option(None, "--cache", help="prediction store and head cache (else $AUDITKIT_CACHE, else ~/.cache/auditkit)"),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda"),
    batch_size: int = typer.Option(64, "--batch-size"),
    workers: Optional[int] = typer.Option(None, "--workers", help="DataLoader worker processes"),
    limit: Optional[int] = typer.Option(None, "--limit", help="only the first N samples of each dataset (quick look)"),
    seed: int = typer.Option(0, "--seed", help="seed of the bootstrap CIs"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    shard_size: int = typer.Option(SHARD_SIZE, "--shard-size", hidden=True, help="images per store shard"),
    reference_model: Optional[str] = typer.Option(None, "--reference-model", help="a second model for suites that compare two (cka): any --model spec"),
    bad_images: str = typer.Option("fail", "--bad-images", help="fail | skip: an undecodable image stops the run, or is left out, counted and reported"),
    precision: str = typer.Option("fp32", "--precision", help="fp32 | bf16 | fp16 (fp16: cuda only): forward under torch.autocast; cached separately"),
    datasets: Optional[str] = typer.Option(None, "--datasets", help="comma-separated dataset names: restrict every suite to these (e.g. imagenet-val,imagenet-v2)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an --out folder holding another run's results"),
    er_scale: str = typer.Option("logit", "--er-scale", help="logit | probit: axes of the testbed's baseline line for effective robustness"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan (per suite: each dataset, condition and output with its image count, from the store or to forward, and every skip with its reason) and exit: nothing is forwarded or written"),
) -> None:
    """Run suites on one model and write results.json, figures and report.html."""
    from auditkit.adapters.specs import ModelOptions, load_model
    from auditkit.data.catalog import parse_data_overrides
    from auditkit.run import RunConfig, default_workers

    _check_counts(input_size=input_size, workers=workers)
    models = list(dict.fromkeys(model))
    if len(models) > 1 and weights:
        raise AuditError("--weights names one model's file; run a model with its own --weights on its own")
    several = len(models) > 1
    # refused before any forward pass; several models: one folder each under --out
    out = _output_folder(out or (Path("audit-out") / "models" if several else _default_out(models[0])), "--out")
    suite_names = _split_suites(suites)
    overrides = parse_data_overrides(data)
    cache_dir = cache_root(cache)
    options = ModelOptions(
        weights=weights, preprocess=preprocess, input_size=input_size, crop_pct=crop_pct,
        interpolation=interpolation, head_cache=cache_dir / "heads",
    )
    config = RunConfig(
        suites=suite_names, out_dir=out, cache_dir=cache_dir,
        data_root=data_root(data_root_dir), data_overrides=overrides, limit=limit,
        batch_size=batch_size, device=device,
        workers=default_workers() if workers is None else workers, seed=seed,
        command=shlex.join(["audit", *sys.argv[1:]]), progress=progress, shard_size=shard_size,
        bad_images=_bad_images(bad_images), precision=precision,
        reference_model=reference_model, datasets=_split_datasets(datasets, suite_names),
        suite_settings={"er_scale": _choice("--er-scale", er_scale, ("logit", "probit"))},
    )
    if dry_run:
        _print_plans(models, options, config)
        return
    if not several:
        _run_and_report(load_model(models[0], options), config, overwrite)
        return
    _run_several(models, options, config, overwrite)


def _print_plans(models: list[str], options, config) -> None:  # type: ignore[no-untyped-def]
    """``audit run --dry-run``: each model's plan on stdout; nothing forwarded, --out untouched."""
    from auditkit.adapters.specs import load_model
    from auditkit.run import plan_audit

    for spec in models:
        typer.echo("\n".join(plan_audit(load_model(spec, options), config).lines()))


def _run_several(models: list[str], options, config, overwrite: bool) -> None:  # type: ignore[no-untyped-def]
    """``audit run --model A --model B ...``: one run folder per model under --out (a model that
    fails is reported and the others still run), then the comparison page of those that ran."""
    import gc
    from dataclasses import replace

    from auditkit.adapters.specs import load_model
    from auditkit.compare import compare as compare_runs, load_runs
    from auditkit.compare.page import build_compare_page

    done: list[Path] = []
    failed: list[str] = []
    for spec in models:
        folder = config.out_dir / _default_out(spec).name
        typer.echo(f"== {spec} -> {folder}", err=True)
        try:
            _run_and_report(load_model(spec, options), replace(config, out_dir=folder), overwrite)
            done.append(folder)
        except AuditError as error:  # fault isolation: one model's mistake does not stop the others
            if isinstance(error, UserCodeError) and error.where:
                typer.echo(error.where, err=True)
            typer.echo(f"audit: error: {spec}: {error}", err=True)
            failed.append(spec)
        gc.collect()  # the last model's weights go before the next one loads
    if len(done) >= 2:
        page = build_compare_page(compare_runs(load_runs([str(f) for f in done]), seed=config.seed),
                                  _output_folder(config.out_dir / "compare", "--out"))
        typer.echo(f"compare: {page}")
    if failed:
        raise AuditError(f"{len(failed)} of {len(models)} models failed ({', '.join(failed)}); the others' runs "
                         f"are in {config.out_dir}")


def _collections(given: list[str]) -> tuple[str, ...]:
    from auditkit.field.reference import COLLECTIONS
    from auditkit.registry import did_you_mean

    names = tuple(dict.fromkeys(n.strip() for g in given for n in g.split(",") if n.strip()))
    for name in names:
        if name not in COLLECTIONS:
            raise AuditError(f"--with {name!r}: use {' or '.join(COLLECTIONS)}{did_you_mean(name, list(COLLECTIONS))}")
    return names


def _choice(option: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise AuditError(f"{option} {value!r}: use {' or '.join(allowed)}")
    return value


def _split_datasets(datasets: str | None, suite_names: tuple[str, ...]) -> tuple[str, ...] | None:
    """``--datasets``: known names (did you mean), each read by at least one chosen suite."""
    if datasets is None:
        return None
    from auditkit.data.catalog import DATASETS
    from suites import get_suite

    names = tuple(dict.fromkeys(d.strip() for d in datasets.split(",") if d.strip()))
    if not names:
        raise AuditError("--datasets is empty; name at least one dataset (see `audit ls datasets`)")
    read = dict.fromkeys(d for suite in suite_names for d in get_suite(suite).datasets)
    for name in names:
        DATASETS.get(name)  # unknown name: did you mean
        if name not in read:
            raise AuditError(f"--datasets {name}: no suite of this run reads it ({', '.join(suite_names)} read "
                             f"{', '.join(read)}); drop it or add a suite that does")
    return names


def _run_and_report(adapter, config, overwrite: bool = False) -> None:  # type: ignore[no-untyped-def]
    import os
    from dataclasses import replace

    from auditkit.report import build_report
    from auditkit.report.html import build_model_card
    from auditkit.run_folder import staged_run_folder
    from auditkit.run import run_audit

    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun only rank 0 writes (and locks) --out
        run_audit(adapter, config)
        return
    # written into a folder beside --out and swapped in whole at the end, under a lock
    with staged_run_folder(config.out_dir, adapter.name, config.command, overwrite) as staging:
        results = run_audit(adapter, replace(config, out_dir=staging))
        build_report(staging)
        build_model_card(staging)  # the run on one printable page, beside the report
    report = config.out_dir / "report.html"
    _print_summary(results)
    forwarded = sum(results.header.get("images_forwarded", {}).values())
    reused = sum(results.header.get("images_from_store", {}).values())
    seconds = results.header["seconds"]
    rate = f" ({forwarded / seconds:.1f} img/s)" if forwarded and seconds else ""
    typer.echo(f"wall time {seconds:.1f} s; {forwarded} images forwarded{rate}, {reused} from the store")
    typer.echo(f"report: {report}")
    if not results.records:
        raise AuditError(
            f"nothing could be computed ({len(results.skipped)} skipped; first: "
            f"{results.skipped[0].reason if results.skipped else 'no suite produced a metric'})"
        )


def _print_summary(results) -> None:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.table import Table

    from auditkit.report.headline import is_headline
    from auditkit.report.html import NumberFormat, skipped_by_dataset

    console = Console(stderr=True)
    numbers = NumberFormat.of(results.records)  # fixed decimals per metric, as in the report
    if results.records:
        table = Table(title=f"{results.header['model']['name']}")
        for column in ("suite", "dataset", "metric", "value", "95% CI", "n"):
            table.add_column(column, overflow="fold")
        for r in results.records:
            if is_headline(r):  # the plain input over all samples (report.headline), as the report's summary
                table.add_row(r.suite, r.dataset, r.metric, numbers.value(r), numbers.ci(r), str(r.n))
        console.print(table)
        # with no records the run ends in one error line instead (the report lists every skip);
        # one line per dataset, unwrapped: a missing dataset read by five suites is one line, not five
        for skipped in skipped_by_dataset(results.skipped):
            console.print(skipped.line(), markup=False, highlight=False, soft_wrap=True)
        if results.skipped:
            console.print("(each skip in full, with how to fix it: the report, in its suite's section)", highlight=False)


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
    from auditkit.data.catalog import parse_data_overrides
    from auditkit.run import RunConfig, default_workers

    out = _output_folder(out, "--out")
    overrides = parse_data_overrides(data)
    root = data_root(data_root_dir)
    development = DEVELOPMENT_DATA / "cue-conflict"
    if "cue-conflict" not in overrides and not (root / "cue-conflict").is_dir() and development.is_dir():
        overrides["cue-conflict"] = str(development)
    cache_dir = cache_root(cache)
    adapter = load_model("efficientnet_lite0", ModelOptions(head_cache=cache_dir / "heads"))
    config = RunConfig(
        suites=DEMO_SUITES, out_dir=out, cache_dir=cache_dir, data_root=root,
        data_overrides=overrides, limit=limit, workers=default_workers(),
        command=shlex.join(["audit", *sys.argv[1:]]),
    )
    _run_and_report(adapter, config, overwrite)


@app.command()
def report(run_dir: Path = typer.Argument(..., help="the --out folder of an `audit run`")) -> None:
    """Rebuild report.html (and model_card.html) from a run's results.json and figures."""
    from auditkit.report import build_report
    from auditkit.report.html import build_model_card

    typer.echo(f"report: {build_report(run_dir)}")
    typer.echo(f"model card: {build_model_card(run_dir)}")


@app.command()
def card(run_dir: Path = typer.Argument(..., help="the --out folder of an `audit run`")) -> None:
    """Write model_card.html: the run's header, data coverage and every metric on one page."""
    from auditkit.report.html import build_model_card

    typer.echo(f"model card: {build_model_card(run_dir)}")


@app.command()
def compare(
    runs: list[str] = typer.Argument(..., help="run folders, globs ('runs/*') or folders holding runs"),
    out: Path = typer.Option(Path("audit-out/compare"), "--out", "-o", help="output folder for compare.html"),
    resamples: int = typer.Option(1000, "--resamples", help="paired-bootstrap resamples"),
    seed: int = typer.Option(0, "--seed", help="seed of the paired bootstrap"),
    with_: list[str] = typer.Option([], "--with", help="published rows to add: testbed (the robustness testbed's models), beyond-inet (the paper's four models); repeatable or comma-separated"),
) -> None:
    """Compare runs: models as columns, overlaid plots, paired tests on shared samples; for many
    models (and always), correlations, ranks and a leaderboard against the field."""
    from auditkit.compare import compare as compare_runs, load_runs
    from auditkit.compare.page import build_compare_page

    if resamples < 100:
        raise AuditError(f"--resamples must be at least 100 for a 95 % interval, got {resamples}")
    out = _output_folder(out, "--out")
    comparison = compare_runs(load_runs(runs, _collections(with_)), resamples=resamples, seed=seed)
    page = build_compare_page(comparison, out)
    significant = sum(1 for t in comparison.tests if t.stars)
    typer.echo(f"{len(comparison.runs)} runs, {len(comparison.tests)} paired tests ({significant} significant)")
    typer.echo(f"compare: {page}")


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

    _output_folder(out, "--out")
    for path in export_results(source, [f.strip() for f in formats.split(",") if f.strip()], out, ci=ci,
                               decimals=decimals, percent=percent):
        typer.echo(str(path))


@app.command("fetch")
def fetch_dataset(
    name: str = typer.Argument(..., help="a dataset that may be downloaded (audit ls datasets); e.g. imagenet-r, wds/imagenet-r"),
    data_root_dir: Optional[Path] = typer.Option(None, "--data-root", help="where datasets live (else $AUDITKIT_DATA, else ~/.cache/auditkit)"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar with bytes and ETA"),
) -> None:
    """Download an openly released dataset in its released form, verify it, and unpack it into place."""
    from auditkit.fetch import fetch

    fetch(name, data_root(data_root_dir), progress=progress, say=lambda line: typer.echo(line, err=True))


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
        from suites import SUITES, get_suite

        rows = []
        for name in SUITES.names():
            suite = get_suite(name)
            rows.append((name, f"v{suite.version}", ", ".join(suite.datasets), suite.description))
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


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, standalone_mode=False, prog_name="audit")
    except UserCodeError as error:
        if error.where:
            typer.echo(error.where, err=True)  # the user's own frames, then the one line
        typer.echo(f"audit: error: {error}", err=True)
        sys.exit(2)
    except AuditError as error:
        typer.echo(f"audit: error: {error}", err=True)
        sys.exit(2)
    except _NO_ARGS_IS_HELP as help_:
        typer.echo(help_.format_message())  # `audit` alone: the help (its message), not an error
        sys.exit(0)
    except _CLICK_ERRORS.ClickException as error:
        typer.echo(f"audit: error: {error.format_message()} (see `audit --help`)", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):  # older typer / click turn Ctrl-C into Abort
        typer.echo(INTERRUPTED, err=True)
        sys.exit(130)
    except OSError as error:
        import errno

        # a read-only or full output / cache folder is a user's fix, not a bug: one line
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            raise
        typer.echo(f"audit: error: cannot write {error.filename or 'output'}: {error.strerror}; "
                   "free space or give a writable --out / --cache", err=True)
        sys.exit(2)
    except typer.Exit as exit_:
        code = exit_.exit_code
    # Without standalone mode typer returns an Exit's code instead of exiting; Ctrl-C is Exit(130).
    if code == 130:
        typer.echo(INTERRUPTED, err=True)
    if isinstance(code, int) and code != 0:
        sys.exit(code)
