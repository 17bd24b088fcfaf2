"""`audit export`: a run or a comparison in the forms a paper needs.

latex: booktabs tables (``properties.tex``, ``conditions.tex``); pdf/svg/pgf/png: figures at a
column and a page width; csv: the tidy records, each row with its model's preprocessing (and paired tests); modelcard: the Hugging Face
``model-index`` block; every export also writes ``CITATIONS.bib``. Everything is derived from
``results.json`` / ``compare.json``; nothing is recomputed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from auditkit.data.answer_files import to_csv
from auditkit.errors import AuditError
from auditkit.export.citations import bibliography
from auditkit.export.figures import FIGURE_FORMATS, export_figures
from auditkit.export.latex import CI_STYLES, table
from auditkit.export.modelcard import card_file_name, model_card_text
from auditkit.export.source import ExportSource, read_source
from auditkit.registry import did_you_mean
from auditkit.report.headline import is_headline
from auditkit.report.numbers import NumberFormat

FORMATS = ("latex", *FIGURE_FORMATS, "csv", "modelcard")
# The preprocessing that produced each number sits in its row, as timm's validate.py writes
# img_size, crop_pct and interpolation into every result row (timm PR #1383: crop style alone
# made a published number irreproducible); empty for recorded answers, which have none.
PREPROCESS_COLUMNS = ("preprocess", "input_size", "resize_size", "crop_pct", "interpolation", "mean", "std")
RECORD_COLUMNS = ("model", "suite", "dataset", "condition", "subset", "metric", "value", "ci_low", "ci_high", "n",
                  "aggregate", "suite_version", "model_fingerprint", "dataset_manifest_sha256", *PREPROCESS_COLUMNS)
TEST_COLUMNS = ("suite", "dataset", "condition", "subset", "metric", "model_a", "model_b", "n", "value_a", "value_b",
                "difference", "ci_low", "ci_high", "p_bootstrap", "p_mcnemar", "only_a_right", "only_b_right",
                "p_adjusted", "stars")


def _csv_value(value: object) -> object:
    return "" if value is None else value


def preprocess_cells(model: dict[str, Any]) -> list[object]:
    """``PREPROCESS_COLUMNS`` of a run header's model: its preprocessing's name (where the config
    came from: timm, open_clip, paper, ...) and fields; mean / std as three numbers apart by spaces."""
    preprocess = model.get("preprocess") if isinstance(model.get("preprocess"), dict) else {}
    cells = {**preprocess, "preprocess": preprocess.get("name")}
    for key in ("mean", "std"):
        if isinstance(cells.get(key), (list, tuple)):
            cells[key] = " ".join(str(v) for v in cells[key])
    return [_csv_value(cells.get(column)) for column in PREPROCESS_COLUMNS]


def records_csv(source: ExportSource) -> str:
    rows = []
    for r in source.records:
        header = source.headers.get(r.model, {})
        model = header.get("model") if isinstance(header.get("model"), dict) else {}
        dataset = (header.get("datasets") or {}).get(r.dataset) or {}
        rows.append([_csv_value(v) for v in (
            r.model, r.suite, r.dataset, r.condition, r.subset, r.metric, r.value, r.ci_low, r.ci_high, r.n,
            r.aggregate, r.suite_version, model.get("fingerprint"), dataset.get("manifest_sha256") if isinstance(dataset, dict) else None)]
            + preprocess_cells(model))
    return to_csv(RECORD_COLUMNS, rows)


def export(source_dir: Path, formats: list[str], out_dir: Path, ci: str = "pm",
           decimals: int | None = None, percent: bool = False) -> list[Path]:
    """Write the requested forms of a run or comparison; tables at fixed decimals per metric
    (``decimals`` forces one number for all non-count metrics; ``percent`` shows proportions x 100)."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise AuditError(f"unknown export format {unknown[0]!r}{did_you_mean(unknown[0], list(FORMATS))}; "
                         f"use any of {','.join(FORMATS)}")
    if not formats:
        raise AuditError(f"--format is empty; name at least one of {','.join(FORMATS)}")
    if ci not in CI_STYLES:
        raise AuditError(f"unknown --ci {ci!r}; use one of {', '.join(CI_STYLES)}")
    if decimals is not None and not 0 <= decimals <= 8:
        raise AuditError(f"--decimals must be between 0 and 8, got {decimals}")
    source = read_source(Path(source_dir))
    if not source.records:
        raise AuditError(f"{source_dir} holds no metric records to export; rerun `audit run` with data present")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def write(name: str, text: str) -> None:
        path = out_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)

    numbers = NumberFormat.of(source.records, decimals=decimals, percent=percent)
    if "latex" in formats:
        write("properties.tex", table(source.records, source.models, source.better, True, ci, source.tests, numbers))
        if not all(is_headline(r) for r in source.records):
            write("conditions.tex", table(source.records, source.models, source.better, False, ci, source.tests, numbers))
    figure_formats = [f for f in FIGURE_FORMATS if f in formats]
    if figure_formats:
        written += export_figures(source, out_dir, figure_formats)
    if "csv" in formats:
        write("records.csv", records_csv(source))
        if source.tests:
            write("paired_tests.csv", to_csv(TEST_COLUMNS, ([_csv_value(t.get(c)) for c in TEST_COLUMNS] for t in source.tests)))
    if "modelcard" in formats:
        for model in source.models:
            write(f"modelcard/{card_file_name(model)}", model_card_text(model, source))
    write("CITATIONS.bib", bibliography(source))
    return written


__all__ = ["FORMATS", "ExportSource", "export", "read_source"]
