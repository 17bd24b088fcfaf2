"""The Hugging Face model card ``model-index`` block of the results (``--format modelcard``).

One results entry per (suite, dataset) with its headline metrics (``is_headline``: the plain
input over all samples, ImageNet-C's mean); metric ``type`` is the record's metric name, ``args``
hold the CI, n, condition (and aggregate where there is one), ``verified`` is false
(self-reported). Written as a README.md front matter per model: paste it into the model's card.
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

from auditkit.export.source import ExportSource
from auditkit.records import MetricRecord
from auditkit.report.headline import is_headline

# Hugging Face dataset ids where one exists for the data as we read it
HF_DATASETS = {
    "imagenet-val": ("ILSVRC/imagenet-1k", "validation"),
    "imagenet-real": ("ILSVRC/imagenet-1k", "validation"),
    "imagenet-hard": ("taesiri/imagenet-hard", "validation"),
}


def model_index(model: str, records: list[MetricRecord]) -> dict[str, Any]:
    results: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        if r.model != model or not is_headline(r) or r.value is None or not math.isfinite(r.value):
            continue
        dataset_type, split = HF_DATASETS.get(r.dataset, (r.dataset, "test"))
        entry = results.setdefault((r.suite, r.dataset), {
            "task": {"type": "image-classification", "name": f"Image Classification ({r.suite})"},
            "dataset": {"type": dataset_type, "name": r.dataset, "split": split},
            "metrics": [],
        })
        metric: dict[str, Any] = {"type": r.metric, "value": round(float(r.value), 6),
                                  "name": f"{r.metric} ({r.suite})", "verified": False}
        args: dict[str, Any] = {"n": r.n, "condition": r.condition, "suite_version": r.suite_version}
        if r.aggregate:
            args["aggregate"] = r.aggregate
        if r.ci_low is not None and r.ci_high is not None:
            args["ci95"] = [round(float(r.ci_low), 6), round(float(r.ci_high), 6)]
        metric["args"] = args
        entry["metrics"].append(metric)
    return {"name": model, "results": list(results.values())}


def model_card_text(model: str, source: ExportSource) -> str:
    block = yaml.safe_dump({"model-index": [model_index(model, source.records)]}, sort_keys=False,
                           allow_unicode=True, width=120)
    header = source.headers.get(model, {})
    fingerprint = (header.get("model") or {}).get("fingerprint", "") if isinstance(header.get("model"), dict) else ""
    return (f"---\n{block}---\n\n# {model}\n\nResults written by `audit export --format modelcard` "
            f"(auditkit {header.get('auditkit_version', '')}; weights fingerprint {fingerprint[:16]}). "
            "Values are self-reported (`verified: false`); `args.ci95` is the 95 % bootstrap interval over images.\n")


def card_file_name(model: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", model).strip("_") + ".md"
