"""Which records are a run's headline numbers: shown first in the report, the summary of the
model card, the LaTeX properties table, the *properties* of a comparison and the summary
``audit run`` prints.

Each suite says which of its records are headlines (``Suite.headline``): by default the plain
input over every sample (``auditkit.suite.plain_headline``); a suite whose published headline is
another record (a mean over a family of conditions, a published subset of the samples) says so
itself. One question asked of the record's suite, so report, compare and export never disagree on
what a headline is, and no view names a suite or its conditions.
"""

from __future__ import annotations

from functools import lru_cache

from auditkit.records import MetricRecord
from auditkit.suite import PLAIN_CONDITIONS, Suite, plain_headline

# the conditions a headline of the plain input sits at (a plot leaves them out of its labels)
HEADLINE_CONDITIONS = PLAIN_CONDITIONS


@lru_cache(maxsize=None)
def _suite(name: str) -> Suite | None:
    """The registered suite ``name`` (one instance per name, only asked ``headline``); None for
    a suite this version does not know (an old run's, another lab's)."""
    from suites import SUITES, get_suite

    return get_suite(name) if name in SUITES else None


def is_headline(record: MetricRecord) -> bool:
    """Whether ``record`` is one of its run's headline numbers, as its suite declares
    (``plain_headline`` for a suite this version does not know)."""
    suite = _suite(record.suite)
    return suite.headline(record) if suite is not None else plain_headline(record)
