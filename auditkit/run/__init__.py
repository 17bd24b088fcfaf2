"""One audit run, and the API callers use (``from auditkit.run import run_audit, RunConfig``):

- ``config``: what the command line chose (``RunConfig``), checked before anything loads;
- ``plan``: what will be forwarded and what is skipped, built before anything runs
  (``audit run --dry-run`` prints it);
- ``live``: the live model (``LiveModel``, ``make_subject``): a ``ModelAdapter`` answering
  through the prediction store, with the run's ``--reference-model``;
- ``executor``: its forward passes (``ForwardPasses``: store, shards, autocast, progress,
  torchrun ranks, attacks, the model's facts);
- ``writer``: figures, per-sample files, extra files and results.json with its typed ``header``.

``audit.run_audit`` ties them together for one subject (``auditkit.subjects``);
``folder.audit_into`` gives a Python caller the whole product of ``audit run`` (the staged
folder, report and model card), ``folder.audit_many`` that of several models.
"""

from auditkit.run.audit import load_suites, plan_audit, refusal, run_audit
from auditkit.run.config import RunConfig, check_config, check_device, default_workers
from auditkit.run.folder import audit_into, audit_many
from auditkit.run.executor import AUTOCAST_DTYPES, ForwardLog, ForwardPasses, layer_layout, transform_for
from auditkit.run.header import RunHeader
from auditkit.run.live import LiveModel, make_subject
from auditkit.run.plan import NOT_REQUESTED, Plan, build_plan, requested
from auditkit.run.writer import FIGURE_FORMATS

__all__ = [
    "AUTOCAST_DTYPES", "FIGURE_FORMATS", "NOT_REQUESTED", "ForwardLog", "ForwardPasses", "LiveModel", "Plan",
    "RunConfig", "RunHeader", "audit_into", "audit_many", "build_plan", "check_config", "check_device", "default_workers", "layer_layout",
    "load_suites", "make_subject", "plan_audit", "refusal", "requested", "run_audit", "transform_for",
]
