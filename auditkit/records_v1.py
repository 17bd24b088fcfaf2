"""Reading results written under schema version 1 (auditkit before the ``subset`` field).

Version 1 had no ``subset``: suites put their sample groups (ImageNet-X factors, shape categories,
PUG subsets, transfer tasks, CKA layer pairs, model-vs-human levels ...) and aggregates over
conditions (mCE, ImageNet-C's mean top-1) into ``condition``. ``migrate`` rewrites a version 1
payload record by record into version 2, following each suite's version 1 convention (one
function per suite below); records of a suite it does not know keep their condition and get
subset ``all``.

Per-sample files keep their version 1 names (``per_sample/<suite>/<dataset>__<condition with /
as _>.npz``, keyed by the *request* condition listed in the header); ``v1_sample_files`` finds
them and says under which version 2 (dataset, condition) their records now sit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

Row = dict[str, Any]


def _subset(condition: str = "none") -> Callable[[Row], Row]:
    """v1 condition -> v2 subset (``none`` -> ``all``), under the v2 ``condition``."""

    def move(row: Row) -> Row:
        old = row["condition"]
        return {**row, "condition": condition, "subset": "all" if old == "none" else old}

    return move


def _same(row: Row) -> Row:
    return {**row, "subset": "all"}


# suite -> how its version 1 records map to version 2 (filled in suite by suite)
MIGRATIONS: dict[str, Callable[[Row], Row]] = {}


def migrate_record(row: Row) -> Row:
    moved = MIGRATIONS.get(str(row.get("suite")), _same)(dict(row))
    moved.setdefault("aggregate", "")
    return moved


def migrate(payload: dict[str, Any]) -> dict[str, Any]:
    """A version 1 results payload as version 2 (records only; header, skips, figures as they were)."""
    records = payload.get("records")
    if isinstance(records, list):
        records = [migrate_record(row) if isinstance(row, dict) else row for row in records]
    return {**payload, "schema_version": 2, "records": records}


def v1_sample_name(dataset: str, condition: str) -> str:
    """The file version 1 wrote a request's per-sample arrays to."""
    return f"{dataset}__{condition.replace('/', '_')}.npz"


def v1_sample_files(directory: Path, header: dict[str, Any]) -> dict[tuple[str, str, str], Path]:
    """(suite, dataset, condition) of version 2 -> a version 1 run's per-sample file. The file
    name flattens ``/``, so the request is taken from the header's ``conditions``, never guessed."""
    files = {}
    requested = [key.split("/", 1) for key in (header.get("conditions") or {})]
    for dataset, condition in requested:
        for suite in header.get("suites") or {}:
            path = directory / "per_sample" / suite / v1_sample_name(dataset, condition)
            if path.is_file():
                files[(suite, *SAMPLE_KEYS.get(suite, _same_key)(dataset, condition))] = path
    return files


def _same_key(dataset: str, condition: str) -> tuple[str, str]:
    return dataset, condition


# suite -> (v1 request dataset, condition) -> the v2 (dataset, condition) of its records
SAMPLE_KEYS: dict[str, Callable[[str, str], tuple[str, str]]] = {}


def _human_ood(row: Row) -> Row:
    """human_ood v1: condition = the distortion level, or ``none`` for model-vs-human's benchmark
    aggregate (per dataset and for the summary dataset ``model-vs-human``); all at ``native``."""
    old = row["condition"]
    return {**row, "condition": "native", "subset": "benchmark" if old == "none" else old}


# shape_bias v1: the shape category in condition (``none`` = pooled); the stimuli are requested ``native``
MIGRATIONS["shape_bias"] = _subset("native")
MIGRATIONS["human_ood"] = _human_ood
SAMPLE_KEYS["shape_bias"] = _same_key  # one file per request (cue-conflict, native), as in version 2
SAMPLE_KEYS["human_ood"] = _same_key  # one file per (dataset, native)

# calibration, adversarial, invariance v1: condition was already the input transform (``none``,
# ``fgsm/eps1``, ``scale/1.5``); records gain subset ``all``, per-sample files keep their key
MIGRATIONS["calibration"] = MIGRATIONS["adversarial"] = MIGRATIONS["invariance"] = _same
SAMPLE_KEYS["calibration"] = SAMPLE_KEYS["adversarial"] = SAMPLE_KEYS["invariance"] = _same_key
# pug v1: the PUG subset (``Camera_Yaw``) or subset/value (``Camera_Yaw/45``) in condition, ``none``
# for all images and mean_subset_top1; all at the plain view
MIGRATIONS["pug"] = _subset("none")
SAMPLE_KEYS["pug"] = _same_key  # one file, (pug-imagenet, none)
# cka v1: the layer pair (``a vs b``, ``a vs model:b``) in condition, ``none`` for the headline
MIGRATIONS["cka"] = _subset("none")
SAMPLE_KEYS["cka"] = _same_key  # one file per (dataset, none): the pooled layer features


def _robustness(row: Row) -> Row:
    """robustness v1 kept ImageNet-C's conditions without their kind: ``fog/3`` per condition,
    ``fog`` for a corruption's CE, ``none`` for the mean top-1, mCE and the top-1 gap (means
    over the corruptions). Every other dataset was at ``none`` already."""
    old = row["condition"]
    if row.get("dataset") != "imagenet-c":
        return _same(row)
    if old == "none":
        return {**row, "condition": "corrupt/*/*", "aggregate": "mean", "subset": "all"}
    if "/" in old:
        return {**row, "condition": f"corrupt/{old}", "subset": "all"}
    return {**row, "condition": f"corrupt/{old}/*", "aggregate": "normalised_sum", "subset": "all"}


def _linear_probe(row: Row) -> Row:
    """linear_probe v1: ``none``, ``few-shot/5``, a vtab-1k task ``dtd`` or ``dtd/few-shot/5`` in
    condition; version 2: subset ``all``, ``k=5``, ``dtd``, ``dtd/k=5`` of the plain features."""
    old = row["condition"]
    return {**row, "condition": "none", "subset": "all" if old == "none" else old.replace("few-shot/", "k=")}


MIGRATIONS["robustness"] = _robustness
# imagenet_x v1: the factor (``pose``, ``multi/pose``) in condition, ``none`` / ``multi`` for a file's mean
MIGRATIONS["imagenet_x"] = _subset("none")
MIGRATIONS["linear_probe"] = _linear_probe
# v1 wrote their per-sample files at (dataset, none) only (no ImageNet-C files): the same key in v2
SAMPLE_KEYS["robustness"] = SAMPLE_KEYS["imagenet_x"] = SAMPLE_KEYS["linear_probe"] = _same_key
