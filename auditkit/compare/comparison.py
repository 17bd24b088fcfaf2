"""A comparison of runs: records side by side, and paired tests on the samples runs share.

Pure views of the runs' records and per-sample arrays; the suites say how a metric is recomputed
from per-sample arrays (``Suite.sample_metrics``), so no suite is special-cased here.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from auditkit.compare.paired import Alignment, PairedTest, holm, paired_tests
from auditkit.compare.runs import Run
from auditkit.report.headline import is_headline
from auditkit.errors import AuditError
from auditkit.records import MetricRecord, write_json_atomic
from auditkit.stats import DEFAULT_RESAMPLES
from auditkit.suite import Suite

COMPARE_FILE = "compare.json"
COMPARE_SCHEMA_VERSION = 2  # records and tests carry subset (and records aggregate), as results.json v2
# Side by side (columns, paired tests, model cards) up to this many audited runs; beyond it the
# field section (correlations, ranks, leaderboard) carries the comparison alone.
SIDE_BY_SIDE = 8


def suite_for(name: str) -> Suite:
    """The registered suite, or the base convention for a suite this install does not know."""
    from suites import SUITES, get_suite

    if name in SUITES:
        return get_suite(name)

    class Unknown(Suite):  # a run from a newer auditkit: its arrays still follow the convention
        datasets = ()

        def evaluate(self, model, predictions, seed):  # type: ignore[no-untyped-def]
            raise NotImplementedError

    unknown = Unknown()
    unknown.name = name
    return unknown


@dataclass
class Row:
    """One record key: a (suite, dataset, condition, subset, metric) with each model's record."""

    suite: str
    dataset: str
    condition: str
    subset: str
    metric: str
    cells: dict[str, MetricRecord]
    better: str | None
    tests: list[PairedTest] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.suite, self.dataset, self.condition, self.subset, self.metric)

    @property
    def headline(self) -> bool:
        """A headline number (``report.headline.is_headline``), shown first and used as a property."""
        return is_headline(next(iter(self.cells.values())))

    @property
    def best(self) -> set[str]:
        values = {m: r.value for m, r in self.cells.items() if r.value is not None and math.isfinite(r.value)}
        if not self.better or len(values) < 2:
            return set()
        target = max(values.values()) if self.better == "higher" else min(values.values())
        return {m for m, v in values.items() if v == target}

    @property
    def significant(self) -> list[PairedTest]:
        return [t for t in self.tests if t.stars]

    @property
    def mark_symbol(self) -> str:
        """'<' where lower is better (marks sit under the lower value), else '>'."""
        return "<" if self.better == "lower" else ">"

    def wins(self, model: str) -> list[tuple[str, str]]:
        """(other model, stars) for each significant test where ``model``'s value is the better
        one (the lower where lower is better, else the higher)."""
        sign = -1 if self.better == "lower" else 1
        found = []
        for test in self.significant:
            if test.model_a == model and sign * test.difference > 0:
                found.append((test.model_b, test.stars))
            elif test.model_b == model and sign * test.difference < 0:
                found.append((test.model_a, test.stars))
        return found


@dataclass
class Comparison:
    runs: list[Run]
    rows: list[Row]  # every record key, headline rows first within a suite
    tests: list[PairedTest]
    notices: list[str]  # data coverage and pairing caveats the page must show
    better: dict[str, dict[str, str]]
    resamples: int
    seed: int

    @property
    def models(self) -> list[str]:
        return [run.name for run in self.runs]

    @property
    def side_by_side(self) -> bool:
        """Whether the page shows the audited runs as columns (at most ``SIDE_BY_SIDE`` of them;
        published rows appear in the field section only)."""
        return len([run for run in self.runs if not run.reference]) <= SIDE_BY_SIDE

    def audited(self) -> "Comparison":
        """The same comparison with the published rows left out (for the side-by-side parts)."""
        from dataclasses import replace

        runs = [run for run in self.runs if not run.reference]
        names = {run.name for run in runs}
        rows = [replace(row, cells={m: r for m, r in row.cells.items() if m in names}) for row in self.rows]
        return replace(self, runs=runs, rows=[row for row in rows if row.cells])

    @property
    def references(self) -> set[str]:
        return {run.name for run in self.runs if run.reference}

    @property
    def records(self) -> list[MetricRecord]:
        return [_renamed(r, run.name) for run in self.runs for r in run.records]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": COMPARE_SCHEMA_VERSION,
            "runs": [{"name": r.name, "letter": r.letter, "directory": str(r.directory), "header": r.results.header}
                     for r in self.runs],
            "records": [_finite(asdict(r)) for r in self.records],
            "tests": [_finite({**asdict(t), "stars": t.stars}) for t in self.tests],
            "notices": self.notices,
            "better": self.better,
            "resamples": self.resamples,
            "seed": self.seed,
        }

    def write(self, out_dir: Path) -> Path:
        return write_json_atomic(out_dir / COMPARE_FILE, self.to_json())


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}


def _renamed(record: MetricRecord, name: str) -> MetricRecord:
    # columns are keyed by the run's (unique) name; the record keeps every other field
    return record if record.model == name else MetricRecord(**{**asdict(record), "model": name})


def compare(runs: list[Run], resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> Comparison:
    suites = {name: suite_for(name) for run in runs for name in dict.fromkeys(r.suite for r in run.records)}
    better = {name: dict(suite.better) for name, suite in suites.items()}
    rows: dict[tuple[str, str, str, str, str], Row] = {}
    for run in runs:
        for record in run.records:
            row = rows.setdefault(record.key, Row(*record.key, {}, better[record.suite].get(record.metric)))
            row.cells[run.name] = _renamed(record, run.name)
    shared_datasets = {d for d in {r.dataset for run in runs for r in run.records}
                       if sum(any(r.dataset == d for r in run.records) for run in runs) > 1}
    if not shared_datasets:
        listing = "; ".join(f"{run.name}: {', '.join(sorted({r.dataset for r in run.records})) or 'nothing'}" for run in runs)
        raise AuditError(f"the runs share no dataset ({listing}); compare runs audited on the same data")

    notices: list[str] = []
    partial: set[str] = set()  # datasets where some pair does not share every sample
    tests: list[PairedTest] = []
    empty = paired = 0
    audited = [run for run in runs if not run.reference]
    if len(audited) > SIDE_BY_SIDE:
        notices.append(f"{len(audited)} runs: paired tests and side-by-side tables are drawn for at most "
                       f"{SIDE_BY_SIDE}; this page compares them through the field section (correlations, "
                       "ranks, leaderboard). Compare fewer runs for paired tests.")
        audited = []
    for a, b in itertools.combinations(audited, 2):
        files_b = b.sample_files()
        for (suite_name, dataset, condition), _ in a.sample_files().items():
            if (suite_name, dataset, condition) not in files_b:
                continue
            wanted = {(row.subset, row.metric) for row in rows.values()
                      if (row.suite, row.dataset, row.condition) == (suite_name, dataset, condition)
                      and a.name in row.cells and b.name in row.cells}
            found, alignment = paired_tests(
                suites[suite_name], dataset, condition, (a.name, b.name),
                a.samples(suite_name, dataset, condition), b.samples(suite_name, dataset, condition),
                wanted, resamples, seed)
            tests.extend(found)
            if isinstance(alignment, Alignment):
                empty += not len(alignment.rows_a)
                paired += bool(len(alignment.rows_a))
            notices.extend(_pairing_notice(a, b, suite_name, dataset, alignment))
            if not isinstance(alignment, Alignment) or alignment.only_a or alignment.only_b or alignment.content_differs:
                partial.add(dataset)
    if empty and not paired:
        raise AuditError("the runs share no samples (no sample id in common); compare runs evaluated on the same images")
    notices = _coverage_notices(runs, partial) + notices
    tests = holm(tests)
    for test in tests:
        rows[(test.suite, test.dataset, test.condition, test.subset, test.metric)].tests.append(test)
    ordered = sorted(rows.values(), key=lambda row: (list(suites).index(row.suite), not row.headline))
    return Comparison(runs, ordered, tests, list(dict.fromkeys(notices)), better, resamples, seed)


def _coverage_notices(runs: list[Run], partial: set[str]) -> list[str]:
    """Datasets whose manifests differ between runs: compared on shared samples only. Where every
    pair nevertheless holds the same samples (recorded observers hash their own answer files),
    the page says that instead of warning."""
    notices = []
    datasets = dict.fromkeys(d for run in runs for d in (run.results.header.get("datasets") or {}))
    for dataset in datasets:
        described = {run.name: (run.results.header.get("datasets") or {}).get(dataset) for run in runs}
        present = {name: d for name, d in described.items() if isinstance(d, dict)}
        manifests = {str(d.get("manifest_sha256")) for d in present.values()}
        if len(present) < 2 or len(manifests) < 2:
            continue
        sizes = ", ".join(f"{name}: {d.get('samples', '?')} samples, manifest {str(d.get('manifest_sha256'))[:10]}"
                          for name, d in present.items())
        if dataset in partial:
            notices.append(f"{dataset}: the runs' data differ ({sizes}). Paired tests use only the samples both "
                           "runs have (n per test); the tables show each run's own value on its own samples.")
        else:
            notices.append(f"{dataset}: the runs' manifests differ ({sizes}), but every pair that was tested "
                           "holds the same sample ids (and image hashes where recorded): paired on all of them.")
    return notices


def _pairing_notice(a: Run, b: Run, suite: str, dataset: str, alignment: Alignment | str) -> list[str]:
    if isinstance(alignment, str):
        return [f"{suite} on {dataset}, {a.name} vs {b.name}: not paired, {alignment}."]
    if not len(alignment.rows_a):
        return [f"{suite} on {dataset}, {a.name} vs {b.name}: no shared samples, not paired."]
    parts = []
    if alignment.only_a or alignment.only_b:
        parts.append(f"{alignment.only_a} samples only in {a.name}, {alignment.only_b} only in {b.name}")
    if alignment.content_differs:
        parts.append(f"{alignment.content_differs} samples share an id but not their image bytes")
    if not parts:
        return []
    return [f"{suite} on {dataset}, {a.name} vs {b.name}: paired on the {len(alignment.rows_a)} shared samples "
            f"({'; '.join(parts)}; left out)."]
