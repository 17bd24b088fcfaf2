"""Comparisons of runs: records side by side, paired tests on shared samples, ``compare.html``."""

from auditkit.compare.comparison import Comparison, compare
from auditkit.compare.runs import Run, find_runs, load_runs

__all__ = ["Comparison", "Run", "compare", "find_runs", "load_runs"]
