"""The runner: collect what the suites need, answer each request once, hand arrays to suites.

model spec -> Subject -> PredictionStore -> Suite -> MetricRecord[] -> report. The work lives in
``auditkit.run`` (config, plan, executor, writer, header) and ``auditkit.subjects``; this module
re-exports what the command line and callers use, so ``from auditkit.runner import run_audit``
keeps working.
"""

from __future__ import annotations

from auditkit.run.audit import load_suites, plan_audit, refusal, run_audit
from auditkit.run.config import RunConfig, check_config, check_device, default_workers
from auditkit.run.executor import AUTOCAST_DTYPES, ForwardLog, layer_layout, predict, transform_for
from auditkit.run.header import RunHeader
from auditkit.run.plan import NOT_REQUESTED, Plan, build_plan, requested
from auditkit.run.writer import FIGURE_FORMATS
from auditkit.subjects import LiveModel, Subject, Unavailable, make_subject

__all__ = [
    "AUTOCAST_DTYPES", "FIGURE_FORMATS", "NOT_REQUESTED", "ForwardLog", "LiveModel", "Plan", "RunConfig", "RunHeader",
    "Subject", "Unavailable", "build_plan", "check_config", "check_device", "default_workers",
    "layer_layout", "load_suites", "make_subject", "plan_audit", "predict", "refusal", "requested", "run_audit",
    "transform_for",
]
