"""Numbers as every page and table shows them: fixed decimals per (suite, metric).

One module for the rule, so report.html, model_card.html, compare.html, `audit export`'s
tables and LaTeX, and the run's printed summary show a metric at one precision (0.0412 beside
0.1000, never 0.04123 beside 0.1). The pages only render; these functions only format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable

from auditkit.records import MetricRecord


def format_value(value: float | None) -> str:
    """Four significant digits, trailing zeros kept so a column reads at one precision."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if float(value).is_integer() and abs(value) >= 1:
        return f"{int(value)}"  # counts (hits, trials) read as counts, not as 197.0
    if value == 0:
        return "0"
    return f"{value:#.4g}".rstrip(".")


SIGNIFICANT = 4  # digits the largest value of a column keeps
MAX_DECIMALS = 4


def column_decimals(values: Iterable[float | None], counts: bool = True) -> int:
    """Decimals for every value of one metric: counts (whole numbers, unless ``counts`` is
    False, e.g. for a proportion that happens to be 1) none; otherwise enough for the largest
    magnitude to keep four significant digits (0.7613, 1.060, 10.97), at most four, so a column
    reads at one precision (0.0412 beside 0.1000, never 0.04123 beside 0.1)."""
    finite = [abs(float(v)) for v in values if v is not None and math.isfinite(v)]
    if counts and (not finite or all(v.is_integer() for v in finite)):
        return 0
    largest = max(finite, default=0.0)
    if largest == 0:
        return MAX_DECIMALS
    return max(0, min(MAX_DECIMALS, SIGNIFICANT - 1 - math.floor(math.log10(largest))))


@dataclass(frozen=True)
class NumberFormat:
    """Fixed decimals per (suite, metric) over all records a page or table shows.

    ``decimals`` forces one number of decimals on every non-count metric (`audit export
    --decimals`); ``percent`` shows the metrics a suite declares proportions as percentages."""

    decimals: dict[tuple[str, str], int]
    percent: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def of(cls, records: Iterable[MetricRecord], decimals: int | None = None, percent: bool = False) -> "NumberFormat":
        from auditkit.compare.comparison import suite_for

        values: dict[tuple[str, str], list[float | None]] = {}
        for r in records:
            values.setdefault((r.suite, r.metric), []).append(r.value)
        proportions = {key for key in values if _is_proportion(suite_for(key[0]), key[1])}
        scaled = frozenset(proportions if percent else ())
        chosen = {}
        for key, column in values.items():
            factor = 100 if key in scaled else 1
            automatic = column_decimals([v * factor if v is not None else None for v in column],
                                        counts=key not in proportions)
            counts = key not in proportions and all(v is None or not math.isfinite(v) or float(v).is_integer()
                                                    for v in column)
            chosen[key] = automatic if decimals is None or counts else decimals
        return cls(chosen, scaled)

    def number(self, value: float | None, suite: str, metric: str) -> str:
        if value is None or not math.isfinite(value):
            return "n/a"
        key = (suite, metric)
        value = value * 100 if key in self.percent else value
        text = f"{value:.{self.decimals.get(key, MAX_DECIMALS)}f}"
        return text.lstrip("-") if float(text) == 0 else text  # no "-0.0000"

    def value(self, record: MetricRecord) -> str:
        return self.number(record.value, record.suite, record.metric)

    def ci(self, record: MetricRecord) -> str:
        if record.ci_low is None or record.ci_high is None:
            return ""
        return f"[{self.number(record.ci_low, record.suite, record.metric)}, {self.number(record.ci_high, record.suite, record.metric)}]"

    def is_percent(self, suite: str, metric: str) -> bool:
        return (suite, metric) in self.percent


def _is_proportion(suite: Any, metric: str) -> bool:
    declared = suite.metrics.get(metric)
    return bool(declared and declared.proportion)
