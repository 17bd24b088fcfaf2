"""``audit run``: the options parsed into a ``RunConfig``; the run is ``audit_into`` /
``audit_many`` (``auditkit.run.folder``), its plan ``plan_audit``; this module prints what they return."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from auditkit.cli.app import app, split_names
from auditkit.errors import AuditError, UserCodeError
from auditkit.paths import cache_root, data_root
from auditkit.store import SHARD_SIZE

if TYPE_CHECKING:
    from auditkit.adapters.specs import ModelOptions
    from auditkit.records import RunResults
    from auditkit.run.config import RunConfig
    from auditkit.run.folder import ModelRun


def _split_suites(suites: str) -> tuple[str, ...]:
    from suites import SUITES

    names = split_names(suites)
    if not names:
        raise AuditError("--suites is empty; name at least one suite (see `audit ls suites`)")
    for name in names:
        SUITES.get(name)
    return names


def _bad_images(policy: str) -> str:
    if policy not in ("fail", "skip"):
        raise AuditError(f"--bad-images {policy!r}: use fail or skip")
    return policy


def _check_counts(input_size: int | None, workers: int | None) -> None:
    """Numbers that would otherwise fail deep inside a transform or the DataLoader, blaming
    something else (an image, a torch argument): refused up front, naming the option."""
    if input_size is not None and input_size < 1:
        raise AuditError(f"--input-size must be a positive number of pixels (e.g. 224), got {input_size}")
    if workers is not None and workers < 0:
        raise AuditError(f"--workers must be 0 or more (0 reads images in the main process), got {workers}")


def _split_datasets(datasets: str | None, suite_names: tuple[str, ...]) -> tuple[str, ...] | None:
    """``--datasets``: known names (did you mean), each read by at least one chosen suite."""
    if datasets is None:
        return None
    from auditkit.data.catalog import DATASETS
    from suites import get_suite

    names = split_names(datasets)
    if not names:
        raise AuditError("--datasets is empty; name at least one dataset (see `audit ls datasets`)")
    read = dict.fromkeys(d for suite in suite_names for d in get_suite(suite).datasets)
    for name in names:
        DATASETS.get(name)  # unknown name: did you mean
        if name not in read:
            raise AuditError(f"--datasets {name}: no suite of this run reads it ({', '.join(suite_names)} read "
                             f"{', '.join(read)}); drop it or add a suite that does")
    return names


def command_line() -> str:
    """The command as typed, recorded in the run header (and matched when --out is reused)."""
    return shlex.join(["audit", *sys.argv[1:]])


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
    option: list[str] = typer.Option([], "--option", help="SUITE.NAME=VALUE: a suite's option (audit ls suites lists them), e.g. robustness.er_scale=probit; repeatable"),
    er_scale: Optional[str] = typer.Option(None, "--er-scale", help="logit | probit: alias of --option robustness.er_scale=..."),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the plan (per suite: each dataset, condition and output with its image count, from the store or to forward, and every skip with its reason) and exit: nothing is forwarded or written"),
) -> None:
    """Run suites on one model and write results.json, figures and report.html."""
    from auditkit.adapters.specs import ModelOptions, load_model
    from auditkit.data.catalog import check_data_root, parse_data_overrides
    from auditkit.run.config import RunConfig, default_workers
    from auditkit.run.folder import audit_into, audit_many, check_several, folder_name, output_folder
    from auditkit.run.options import suite_options

    _check_counts(input_size=input_size, workers=workers)
    check_several(model)  # --model A --model A: refused, not silently one run
    models = list(model)
    if len(models) > 1 and weights:
        raise AuditError("--weights names one model's file; run a model with its own --weights on its own")
    several = len(models) > 1
    # refused before any forward pass; several models: one folder each under --out
    out = output_folder(out or (Path("audit-out") / "models" if several else Path("audit-out") / folder_name(models[0])),
                        "--out")
    suite_names = _split_suites(suites)
    overrides = parse_data_overrides(data)
    check_data_root(data_root(data_root_dir))  # a file: every dataset would read as "not found" under it
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
        command=command_line(), progress=progress, shard_size=shard_size,
        bad_images=_bad_images(bad_images), precision=precision,
        reference_model=reference_model, datasets=_split_datasets(datasets, suite_names),
        suite_options=suite_options(option, suite_names, {"--er-scale": er_scale}),
    )
    if dry_run:
        _dry_run(models, options, config, overwrite)
        return
    if not several:
        results = audit_into(out, config, load_model(models[0], options), overwrite=overwrite)
        print_run(results, out, config.named_datasets())
        return
    many = audit_many(out, config, models, options=options, overwrite=overwrite,
                      starting=lambda one: typer.echo(f"== {one.spec} -> {one.folder}", err=True),
                      finished=_print_model)
    if many.comparison is not None:
        typer.echo(f"compare: {many.comparison}")
    failure = many.failure()
    if failure is not None:
        raise failure


def _dry_run(models: list[str], options: ModelOptions, config: RunConfig, overwrite: bool) -> None:
    """Print each model's plan; then refuse (exit 2, as the run would) where the plan already
    knows the run would: its --out holds another run, or nothing could be computed (issue 27,
    item 7). A dataset the run would download or build first does not count as missing."""
    from auditkit.adapters.specs import load_model
    from auditkit.data.catalog import made_by_the_run
    from auditkit.records import RunResults
    from auditkit.run.audit import plan_audit
    from auditkit.run.folder import check_replaceable, check_several_folder, folder_name, nothing_computed

    several = len(models) > 1
    if several:
        check_several_folder(config.out_dir, overwrite)
    errors: list[tuple[str, AuditError]] = []
    for spec in models:
        adapter = load_model(spec, options)
        plan = plan_audit(adapter, config)
        typer.echo("\n".join(plan.lines()))
        folder = config.out_dir / folder_name(spec) if several else config.out_dir
        try:
            check_replaceable(folder.absolute(), adapter.name, config.command, overwrite)
        except AuditError as error:
            errors.append((spec, error))
            continue
        skipped = [s for suite in plan.suites for s in suite.skipped]
        if not plan.requests() and not any(made_by_the_run(s.reason) for s in skipped):
            error = nothing_computed(RunResults(header={}, skipped=skipped), config.named_datasets(), "each in the plan")
            if error is not None:
                errors.append((spec, error))
    if not errors:
        return
    if not several:
        raise errors[0][1]
    for spec, error in errors:
        typer.echo(f"audit: error: {spec}: {error}", err=True)
    raise AuditError(f"{len(errors)} of {len(models)} models would fail ({', '.join(s for s, _ in errors)})")


def _print_model(one: ModelRun) -> None:
    """One model of several: its summary, or the error that stopped it (the others still run)."""
    if one.results is not None:
        _print_results(one.results, one.folder)
    error = one.error
    if error is not None:
        if isinstance(error, UserCodeError) and error.where:
            typer.echo(error.where, err=True)
        typer.echo(f"audit: error: {one.spec}: {error}", err=True)


def print_run(results: RunResults, folder: Path, named: tuple[str, ...] = ()) -> None:
    """What ``audit run`` (and ``audit demo``) print after ``audit_into``; a run that computed
    nothing ends in one error line (its new folder is written: the report lists every skip; over
    a run's records ``audit_into`` has already refused, keeping them)."""
    from auditkit.run.folder import nothing_computed

    _print_results(results, folder)
    error = nothing_computed(results, named)
    if error is not None:
        raise error


def _print_results(results: RunResults, folder: Path) -> None:
    from auditkit.run.folder import writes_the_folder

    if not writes_the_folder():  # a torchrun rank other than 0 forwards its shards and says nothing
        return
    _print_summary(results)
    forwarded = sum(results.header.get("images_forwarded", {}).values())
    reused = sum(results.header.get("images_from_store", {}).values())
    seconds = results.header["seconds"]
    rate = f" ({forwarded / seconds:.1f} img/s)" if forwarded and seconds else ""
    typer.echo(f"wall time {seconds:.1f} s; {forwarded} images forwarded{rate}, {reused} from the store")
    typer.echo(f"report: {folder / 'report.html'}")


def _print_summary(results: RunResults) -> None:
    from rich.console import Console
    from rich.table import Table

    from auditkit.report.headline import is_headline
    from auditkit.report.html import skipped_by_dataset
    from auditkit.report.numbers import NumberFormat

    console = Console(stderr=True)
    numbers = NumberFormat.of(results.records)  # fixed decimals per metric, as in the report
    if results.records:
        table = Table(title=f"{results.header['model']['name']}")
        for column in ("suite", "dataset", "metric", "value", "95% CI", "n"):
            table.add_column(column, overflow="fold")
        for r in results.records:
            if is_headline(r):  # as the report's summary: each suite's headline records (Suite.headline)
                table.add_row(r.suite, r.dataset, r.metric, numbers.value(r), numbers.ci(r), str(r.n))
        console.print(table)
        # with no records the run ends in one error line instead (the report lists every skip);
        # one line per dataset, unwrapped: a missing dataset read by five suites is one line, not five
        for skipped in skipped_by_dataset(results.skipped):
            console.print(skipped.line(), markup=False, highlight=False, soft_wrap=True)
        if results.skipped:
            console.print("(each skip in full, with how to fix it: the report, in its suite's section)", highlight=False)
