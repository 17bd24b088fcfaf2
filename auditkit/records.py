"""The results schema: one tidy record per (model, suite, dataset, condition, metric).

``results.json`` = {"header": run header, "records": [MetricRecord...], "skipped": [Skipped...],
"figures": [FigureRef...]}. Everything else (report, comparisons, exports) is derived from it.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
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
    """A run's results.json; a truncated or hand-edited file is one ``AuditError`` naming the
    file and what is wrong in it, never a JSON or key traceback."""
    from auditkit.errors import AuditError

    path = run_dir / RESULTS_FILE if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise AuditError(f"no {RESULTS_FILE} in {run_dir}; give the --out folder of an `audit run`")
    payload = read_json_object(path)
    header = payload.get("header")
    if not isinstance(header, dict):
        raise AuditError(f"{path} has no run header (a 'header' object){_rewrite(path)}")
    return RunResults(
        header=header,
        records=parse_records(payload, path),
        skipped=_parse_rows(payload, "skipped", Skipped, path),
        figures=_parse_rows(payload, "figures", FigureRef, path),
        notices=_parse_rows(payload, "notices", Notice, path),
    )


def _rewrite(path: Path) -> str:
    command = "`audit compare`" if path.name == "compare.json" else "the `audit run` that wrote it"
    return f"; the file is damaged (truncated or edited?): rerun {command} to write it again"


_JSON_KINDS = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
               bool: "true / false", type(None): "null"}
_TEXT = ((str,), "a string")
_NUMBER = ((int, float, type(None)), "a number (or null)")
# the JSON types each MetricRecord field may hold (bool is an int in Python, never a metric value)
_RECORD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "model": _TEXT, "suite": _TEXT, "dataset": _TEXT, "condition": _TEXT, "metric": _TEXT,
    "value": _NUMBER, "ci_low": _NUMBER, "ci_high": _NUMBER, "n": ((int,), "an integer"), "suite_version": _TEXT,
}


def read_json_object(path: Path) -> dict[str, Any]:
    """The JSON object in ``path`` (results.json, compare.json), or one ``AuditError`` saying
    where the text stops being JSON or what it holds instead."""
    from auditkit.errors import AuditError

    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise AuditError(f"{path} is not text (not a JSON file){_rewrite(path)}") from None
    except json.JSONDecodeError as error:
        raise AuditError(f"{path} is not valid JSON ({error.msg} at line {error.lineno}, column "
                         f"{error.colno}){_rewrite(path)}") from None
    if not isinstance(payload, dict):
        raise AuditError(f"{path} holds {_JSON_KINDS.get(type(payload), 'a value')}, not the results "
                         f"object{_rewrite(path)}")
    return payload


def parse_records(payload: dict[str, Any], path: Path) -> list[MetricRecord]:
    """``payload["records"]`` as MetricRecords, each field of the type the schema says."""
    from auditkit.errors import AuditError

    rows = payload.get("records")
    if not isinstance(rows, list):
        raise AuditError(f"{path} has no 'records' list{_rewrite(path)}")
    records = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise AuditError(f"{path}: record {number} is {_JSON_KINDS.get(type(row), 'a value')}, not an "
                             f"object{_rewrite(path)}")
        name = "/".join(str(row.get(k, "?")) for k in ("suite", "dataset", "metric"))
        missing = [f.name for f in fields(MetricRecord) if f.name not in row and f.default is MISSING]
        unknown = [k for k in row if k not in {f.name for f in fields(MetricRecord)}]
        if missing or unknown:
            what = f"lacks {', '.join(missing)}" if missing else f"has unknown field(s) {', '.join(unknown)}"
            raise AuditError(f"{path}: record {number} ({name}) {what}{_rewrite(path)}")
        for key, value in row.items():
            types, expected = _RECORD_TYPES.get(key, ((object,), ""))
            if isinstance(value, bool) or not isinstance(value, types):
                raise AuditError(f"{path}: record {number} ({name}) has {key} {json.dumps(value)[:40]}, "
                                 f"{_JSON_KINDS.get(type(value), 'a value')}, where {expected} belongs{_rewrite(path)}")
        records.append(MetricRecord(**row))
    return records


def _parse_rows(payload: dict[str, Any], key: str, kind: type, path: Path) -> list[Any]:
    """An optional list of Skipped / FigureRef / Notice rows (string fields only)."""
    from auditkit.errors import AuditError

    rows = payload.get(key, [])
    names = [f.name for f in fields(kind)]
    if not isinstance(rows, list) or not all(
        isinstance(row, dict) and sorted(row) == sorted(names) and all(isinstance(v, str) for v in row.values())
        for row in rows
    ):
        raise AuditError(f"{path}: '{key}' is not a list of {{{', '.join(names)}}} entries{_rewrite(path)}")
    return [kind(**row) for row in rows]
