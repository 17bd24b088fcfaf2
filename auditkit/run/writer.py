"""What a run leaves in its folder: figures, per-sample arrays, extra files and results.json.

Per-sample files are named by ``records.per_sample_path`` only (compare reads them back through
``records.sample_path_key``); their arrays carry ``sample_id`` and ``content_sha1`` themselves
(``SuiteOutput.add_samples``), so the writer looks nothing up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from auditkit.records import FigureRef, RunResults, per_sample_path
from auditkit.suite import IDENTITY_ARRAYS, Suite, SuiteOutput

FIGURE_FORMATS = ("png", "pdf", "svg")


def collect(suite: Suite, output: SuiteOutput, results: RunResults, out_dir: Path) -> None:
    """Add a suite's records, skips and notices to ``results``; write its figures, files and
    per-sample arrays under ``out_dir``."""
    import matplotlib.pyplot as plt

    results.records.extend(output.records)
    results.skipped.extend(output.skipped)
    results.notices.extend(output.notices)
    figure_dir = out_dir / "figures"
    figure_dir.mkdir(parents=True, exist_ok=True)
    for item in output.figures:
        stem = f"{suite.name}__{item.dataset}__{item.name}"
        for fmt in FIGURE_FORMATS:
            item.figure.savefig(figure_dir / f"{stem}.{fmt}", dpi=150 if fmt == "png" else None,
                                bbox_inches="tight", metadata=figure_metadata(fmt))
        plt.close(item.figure)  # a user suite's pyplot figure; the built-in suites' bare Figures need none
        results.figures.append(FigureRef(suite.name, item.dataset, item.name, stem, item.caption))
    for relative, text in output.files.items():
        (out_dir / relative).parent.mkdir(parents=True, exist_ok=True)  # e.g. mvh-raw-data/<dataset>/
        (out_dir / relative).write_text(text)
    for (dataset, condition), arrays in output.per_sample.items():
        absent = [name for name in IDENTITY_ARRAYS if name not in arrays]
        if absent:  # a suite that bypassed add_samples: a file without identities cannot be paired
            raise ValueError(f"{suite.name}: per-sample arrays of {dataset}/{condition} lack {absent}; "
                             "add them with SuiteOutput.add_samples")
        path = out_dir / per_sample_path(suite.name, dataset, condition)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **{**arrays, "content_sha1": np.asarray(arrays["content_sha1"]).astype(str)})


def figure_metadata(fmt: str) -> dict[str, Any] | None:
    # Fixed metadata keeps figure files byte-identical across identical runs.
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return None
