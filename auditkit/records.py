"""The results schema: one tidy record per (model, suite, dataset, condition, metric).

``results.json`` = {"header": run header, "records": [MetricRecord...], "skipped": [Skipped...],
"figures": [FigureRef...]}. Everything else (report, comparisons, exports) is derived from it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from auditkit.paths import open_temporary

RESULTS_FILE = "results.json"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class MetricRecord:
    model: str  # the model's name (preset, spec or observer)
    suite: str
    dataset: str  # exact dataset name (`audit ls datasets`)
    condition: str  # "none" for the plain evaluation; e.g. "scale/1.5" for a transform
    metric: str  # e.g. "ece", "top1"
    value: float
    ci_low: float | None  # 95 % percentile bootstrap over images; None when not defined
    ci_high: float | None
    n: int  # samples the value is computed on
    suite_version: str = ""


@dataclass(frozen=True)
class Skipped:
    """A suite (or one of its datasets) that did not run, and why: never silently dropped."""

    suite: str
    dataset: str
    reason: str


@dataclass(frozen=True)
class Notice:
    """A warning about results that did run, e.g. partial data coverage."""

    suite: str
    dataset: str
    message: str


@dataclass(frozen=True)
class FigureRef:
    """A figure saved under ``figures/`` as ``<stem>.png``, ``.pdf`` and ``.svg``."""

    suite: str
    dataset: str
    name: str
    stem: str
    caption: str


@dataclass
class RunResults:
    header: dict[str, Any]
    records: list[MetricRecord] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    figures: list[FigureRef] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "header": self.header,
            "records": [_clean(asdict(r)) for r in self.records],
            "skipped": [asdict(s) for s in self.skipped],
            "figures": [asdict(f) for f in self.figures],
            "notices": [asdict(n) for n in self.notices],
        }

    def write(self, out_dir: Path) -> Path:
        out_dir.mkdir(parents=True, exist_ok=True)
        return write_json_atomic(out_dir / RESULTS_FILE, self.to_json())


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    # JSON has no NaN; a metric that is undefined is written as null, never as a number.
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}


def write_json_atomic(path: Path, payload: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = open_temporary(path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w") as stream:
        json.dump(payload, stream, indent=2, sort_keys=False)
        stream.write("\n")
    os.replace(tmp, path)
    return path


def read_results(run_dir: Path) -> RunResults:
    from auditkit.errors import AuditError

    path = run_dir / RESULTS_FILE if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise AuditError(f"no {RESULTS_FILE} in {run_dir}; give the --out folder of an `audit run`")
    payload = json.loads(path.read_text())
    return RunResults(
        header=payload["header"],
        records=[MetricRecord(**r) for r in payload["records"]],
        skipped=[Skipped(**s) for s in payload.get("skipped", [])],
        figures=[FigureRef(**f) for f in payload.get("figures", [])],
        notices=[Notice(**n) for n in payload.get("notices", [])],
    )
