"""One audit run, in four parts (``auditkit.runner`` re-exports what callers use):

- ``config``: what the command line chose (``RunConfig``), checked before anything loads;
- ``plan``: what will be forwarded and what is skipped, built before anything runs
  (``audit run --dry-run`` prints it);
- ``executor``: the forward passes behind a live model's answers (store, shards, autocast,
  progress, torchrun ranks, attacks);
- ``writer``: figures, per-sample files, extra files and results.json with its typed ``header``.

``audit.run_audit`` ties them together for one subject (``auditkit.subjects``).
"""
