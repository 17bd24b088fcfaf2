"""The robustness testbed's standard models as a field: val vs ImageNet-V2 top-1, their rank
correlations (95 % bootstrap CI over models, permutation p) and accuracy on the line, from the
grid shipped in auditkit (`make reports` writes reports/examples/field/testbed_val_v2.{md,png})."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from auditkit.field.analysis import correlate
from auditkit.field.plots import accuracy_on_the_line
from auditkit.field.testbed import PROTOCOLS, fit_baseline, load_testbed_models


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    protocol = PROTOCOLS["imagenet-v2"]
    standard = [m for m in load_testbed_models()
                if protocol.x_column in m.top1 and protocol.y_column in m.top1 and protocol.fitted(m)]
    x = np.array([m.top1[protocol.x_column] for m in standard])
    y = np.array([m.top1[protocol.y_column] for m in standard])
    rows = [correlate(x, y, method) for method in ("spearman", "kendall")]
    baseline = fit_baseline("imagenet-v2")
    (line,) = baseline.lines
    lines = [
        "# The testbed's standard models: ImageNet val vs ImageNet-V2 (matched frequency) top-1",
        "",
        f"{len(standard)} models the testbed fits its baseline on ({protocol.filters()}).",
        "",
        "| correlation | value | 95 % CI (bootstrap over models) | permutation p |",
        "|---|---|---|---|",
        *[f"| {r.method} | {r.value:.3f} | [{r.ci_low:.3f}, {r.ci_high:.3f}] | {r.p_value:.4f} |" for r in rows],
        "",
        f"Baseline (logit axes): slope {line.slope:.4f}, intercept {line.intercept:.4f}, r {line.r:.3f}, n {line.n}.",
        "",
        "![accuracy on the line](testbed_val_v2.png)",
    ]
    (out / "testbed_val_v2.md").write_text("\n".join(lines) + "\n")
    accuracy_on_the_line(baseline, []).savefig(out / "testbed_val_v2.png", dpi=110)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
