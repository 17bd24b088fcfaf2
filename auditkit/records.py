"""The results schema (version 2): one tidy record per (model, suite, dataset, condition, subset, metric).

``results.json`` = {"schema_version": 2, "header": run header, "records": [MetricRecord...],
"skipped": [Skipped...], "figures": [FigureRef...], "notices": [Notice...]}. Everything else
(report, comparisons, exports) is derived from it.

Each field has one meaning:
- ``condition`` is exactly the input transform the images went through, in the grammar of
  ``auditkit.conditions`` (``none`` = the model's plain preprocessing, ``native``, ``scale/1.5``,
  ``corrupt/fog/3``, ``pgd/eps2/steps10/seed0`` ...). For released ImageNet-C it names the
  corruption the released files went through.
- ``subset`` is the group of samples the metric is computed over: ``all`` by default, else a
  group the suite defines (an ImageNet-X factor, a shape category, a PUG subset or value, a
  transfer task, ``k=5`` shots, a CKA layer pair, a model-vs-human distortion level ...).
- ``aggregate`` is empty for a metric computed on one condition. A metric combined over several
  conditions (mCE, the mean over resolutions) says how in ``aggregate`` (one of ``AGGREGATES``)
  and names the conditions it combines as a pattern in ``condition`` with ``*`` for the varying
  parameter (``corrupt/*/*``, ``corrupt/fog/*``, ``resolution/*``).

Version 1 files (``condition`` also meant subsets) are migrated on read (``auditkit.records_v1``).
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
SCHEMA_VERSION = 2
ALL = "all"  # the subset of every sample
# how a record combines the values of the conditions its ``condition`` pattern matches
AGGREGATES = {
    "mean": "the unweighted mean of the metric over the matched conditions",
    "pooled": "the metric over the pooled samples of the matched conditions",
    "normalised_sum": "the metric summed over the matched conditions, divided by a reference model's sum "
                      "(ImageNet-C's corruption error: AlexNet = 1)",
}


@dataclass(frozen=True, kw_only=True)
class MetricRecord:
    """One number. Built with keywords only (``MetricRecord(model=..., suite=..., ...)``, or a
    suite's ``Suite.record``), so no two fields can be swapped by position."""

    model: str  # the model's name (preset, spec or observer)
    suite: str
    dataset: str  # exact dataset name (`audit ls datasets`)
    condition: str = "none"  # the input transform (auditkit.conditions); a pattern when aggregated
    subset: str = ALL  # the group of samples the value is computed over
    metric: str  # e.g. "ece", "top1"
    value: float
    ci_low: float | None = None  # 95 % percentile bootstrap over images; None when not defined
    ci_high: float | None = None
    n: int  # samples the value is computed on
    aggregate: str = ""  # "" = one condition; else how the matched conditions were combined (AGGREGATES)
    suite_version: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.condition, str):  # a parsed Condition (a request's): its one spelling
            object.__setattr__(self, "condition", str(self.condition))
        if self.aggregate and self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate {self.aggregate!r} is not one of {', '.join(AGGREGATES)}")
        if bool(self.aggregate) != ("*" in self.condition):
            raise ValueError(f"{self.suite}/{self.metric}: a record over several conditions names them as a "
                             f"pattern with * and says how in `aggregate` (condition {self.condition!r}, "
                             f"aggregate {self.aggregate!r})")

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """What identifies the number within one model's run."""
        return (self.suite, self.dataset, self.condition, self.subset, self.metric)


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
    # the schema version of the file this was read from (1: migrated on read; per-sample files
    # then keep version 1's names, see auditkit.records_v1)
    read_from_version: int = SCHEMA_VERSION

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
    version = payload.get("schema_version", 1)
    if version == 1:
        from auditkit.records_v1 import migrate

        payload = migrate(payload)
    elif version != SCHEMA_VERSION:
        raise AuditError(f"{path} has results schema version {version!r}, which this auditkit "
                         f"({SCHEMA_VERSION}) cannot read; upgrade auditkit (pip install -U auditkit) or rerun the audit")
    header = payload.get("header")
    if not isinstance(header, dict):
        raise AuditError(f"{path} has no run header (a 'header' object){_rewrite(path)}")
    return RunResults(
        read_from_version=version,
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
    "model": _TEXT, "suite": _TEXT, "dataset": _TEXT, "condition": _TEXT, "subset": _TEXT, "metric": _TEXT,
    "value": _NUMBER, "ci_low": _NUMBER, "ci_high": _NUMBER, "n": ((int,), "an integer"), "aggregate": _TEXT,
    "suite_version": _TEXT,
}


def per_sample_path(suite: str, dataset: str, condition: str) -> str:
    """Where a run folder keeps the per-sample arrays of the records at (suite, dataset,
    condition): ``per_sample/<suite>/<dataset>/<condition>.npz``. The condition's ``/`` become
    folders, so the name reads back exactly (``sample_path_key``); the runner writes
    and compare reads through these two functions only."""
    if "*" in condition or ".." in condition.split("/") or not condition:
        raise ValueError(f"no per-sample file for condition {condition!r}")
    return f"{PER_SAMPLE_DIR}/{suite}/{dataset}/{condition}.npz"


def sample_path_key(relative: str) -> tuple[str, str, str] | None:
    """(suite, dataset, condition) of a per-sample file's path relative to the run folder;
    None for a file that is not one (e.g. a version 1 file name)."""
    parts = relative.split("/")
    if len(parts) < 4 or parts[0] != PER_SAMPLE_DIR or not parts[-1].endswith(".npz"):
        return None
    return parts[1], parts[2], "/".join(parts[3:])[: -len(".npz")]


PER_SAMPLE_DIR = "per_sample"


def read_per_sample(path: Path, run_dir: Path) -> dict[str, Any]:
    """The arrays of one per-sample file of the run in ``run_dir`` (name -> numpy array), read
    in full here, the one place they are read, or one ``AuditError`` naming the file and the two
    ways on. A damaged .npz fails in many ways (a truncated zip, a bad CRC, an empty file whose
    EOFError click would report as Ctrl-C, a .npy or pickle under the name): to the user each is
    the same damaged file."""
    import zipfile
    import zlib

    import numpy as np

    from auditkit.errors import AuditError

    damaged = AuditError(f"{path} is damaged (truncated or not an .npz of `audit run`); rerun `audit run` "
                         f"into {run_dir} to write it again, or delete {run_dir / PER_SAMPLE_DIR} to go on "
                         "without its per-sample tests and figures")
    unreadable = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, KeyError, OSError)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy array: no archive of named arrays
            raise damaged
        with loaded:
            return {name: loaded[name] for name in loaded.files}
    except PermissionError as error:  # the CLI's own OSError line speaks of writing
        raise AuditError(f"{path} cannot be read ({error.strerror}); make it readable") from None
    except unreadable:
        raise damaged from None


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
