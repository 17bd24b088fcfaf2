"""What an export reads: a run folder (results.json) or a compare folder (compare.json)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditkit.compare.comparison import COMPARE_FILE, COMPARE_SCHEMA_VERSION, suite_for
from auditkit.errors import AuditError
from auditkit.records import RESULTS_FILE, MetricRecord, parse_records, read_json_object, read_results
from auditkit.records_v1 import migrate


@dataclass
class ExportSource:
    """Models in column order, their records (``model`` = the column name), run headers,
    which way each metric is better, and the paired tests of a comparison (dicts as written)."""

    models: list[str]
    records: list[MetricRecord]
    headers: dict[str, dict[str, Any]]
    better: dict[str, dict[str, str]]
    tests: list[dict[str, Any]] = field(default_factory=list)
    kind: str = "run"  # "run" or "compare"
    directories: dict[str, Path] = field(default_factory=dict)  # model -> its run folder (per-sample arrays)


def read_source(path: Path) -> ExportSource:
    path = Path(path)
    if (path / COMPARE_FILE).is_file():
        payload = read_json_object(path / COMPARE_FILE)
        version = payload.get("schema_version", 1)
        if version == 1:  # written before schema v2: its records migrate as a run's do
            payload = migrate(payload)
        elif version != COMPARE_SCHEMA_VERSION:
            raise AuditError(f"{path / COMPARE_FILE} has compare schema version {version!r}, which this auditkit "
                             f"({COMPARE_SCHEMA_VERSION}) cannot read; upgrade auditkit (pip install -U auditkit) "
                             "or rerun `audit compare`")
        records = parse_records(payload, path / COMPARE_FILE)
        runs = payload.get("runs")
        if not isinstance(runs, list) or not all(isinstance(r, dict) and isinstance(r.get("name"), str)
                                                 and isinstance(r.get("header"), dict) for r in runs):
            raise AuditError(f"{path / COMPARE_FILE}: 'runs' is not a list of {{name, header, ...}} entries; "
                             "the file is damaged (truncated or edited?): rerun `audit compare` to write it again")
        return ExportSource(
            models=[r["name"] for r in payload["runs"]], records=records,
            headers={r["name"]: r["header"] for r in payload["runs"]},
            better=payload.get("better", {}), tests=payload.get("tests", []), kind="compare",
            directories={r["name"]: Path(r["directory"]) for r in payload["runs"] if r.get("directory")},
        )
    if (path / RESULTS_FILE).is_file():
        results = read_results(path)
        model = results.header.get("model")
        name = str(model.get("name") if isinstance(model, dict) else model)
        records = [r if r.model == name else MetricRecord(**{**r.__dict__, "model": name}) for r in results.records]
        suites = dict.fromkeys(r.suite for r in records)
        return ExportSource([name], records, {name: results.header},
                            {s: dict(suite_for(s).better) for s in suites}, directories={name: path})
    raise AuditError(f"no {RESULTS_FILE} or {COMPARE_FILE} in {path}; give the --out folder of `audit run` or `audit compare`")
