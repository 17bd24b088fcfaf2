"""Which records are a run's headline numbers: shown first in the report, the summary of the
model card, the LaTeX properties table, and the *properties* of a comparison.

Schema v2 (``auditkit.records``): the plain input over every sample, or the mean over ImageNet-C's
corruptions and severities (its published headline). One definition, so report, compare and
export never disagree on what a headline is.
"""

from __future__ import annotations

from auditkit.records import ALL, MetricRecord

# the plain input: the model's preprocessing (``none``), or stimuli fed at their size (``native``:
# cue-conflict, model-vs-human), which is the only input those suites have
HEADLINE_CONDITIONS = ("none", "native")
# every sample (``all``); model-vs-human's ``benchmark`` levels (its published headline)
HEADLINE_SUBSETS = (ALL, "benchmark")
# records over several conditions that are headlines: (condition pattern, aggregate)
HEADLINE_AGGREGATES = (("corrupt/*/*", "mean"),)


def is_headline(record: MetricRecord) -> bool:
    """Whether ``record`` is one of its run's headline numbers."""
    if record.subset not in HEADLINE_SUBSETS:
        return False
    if record.aggregate:
        return (record.condition, record.aggregate) in HEADLINE_AGGREGATES
    return record.condition in HEADLINE_CONDITIONS
