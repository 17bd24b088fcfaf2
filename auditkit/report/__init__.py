"""The HTML report: renders a run's records and figures; never computes a metric."""

from auditkit.report.html import build_report

__all__ = ["build_report"]
