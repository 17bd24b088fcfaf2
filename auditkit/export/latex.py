"""LaTeX tables (booktabs): properties as rows, models as columns, the best value bold.

``\\input{properties.tex}`` needs ``\\usepackage{booktabs}`` in the preamble. Values come from the
records as written, at fixed decimals per metric (``report.numbers.NumberFormat``, as in the report; ``--decimals``
forces a number, ``--percent`` shows proportions as percentages); the CI is the record's 95 % bootstrap interval,
as ± its half-width (``--ci pm``; the percentile interval need not be symmetric, the comment in
each file says so) or as a subscript ``[lo, hi]`` (``--ci subscript``).
"""

from __future__ import annotations

import math

from auditkit.compare.comparison import Row
from auditkit.records import ALL, MetricRecord
from auditkit.report.headline import is_headline
from auditkit.report.numbers import NumberFormat

CI_STYLES = ("pm", "subscript")
_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def tex_escape(text: str) -> str:
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def rows(records: list[MetricRecord], better: dict[str, dict[str, str]], headline: bool) -> list[Row]:
    """The comparison's rows (one per record key, ``best`` by direction), headline
    (``is_headline``) or the rest."""
    found: dict[tuple[str, str, str, str, str], Row] = {}
    for r in records:
        if is_headline(r) != headline:
            continue
        row = found.setdefault(r.key, Row(*r.key, {}, better.get(r.suite, {}).get(r.metric)))
        row.cells[r.model] = r
    return list(found.values())


def cell(record: MetricRecord | None, bold: bool, ci: str, starred: bool = False,
         numbers: NumberFormat | None = None) -> str:
    """One value in math mode (where '-' is a minus sign), at its metric's decimals."""
    if record is None or record.value is None or not math.isfinite(record.value):
        return "--"
    numbers = numbers or NumberFormat.of([record])

    def number(value: float) -> str:
        return numbers.number(value, record.suite, record.metric)

    value = number(record.value)
    body = rf"\mathbf{{{value}}}" if bold else value
    if record.ci_low is not None and record.ci_high is not None:
        if ci == "pm":
            body += rf" \pm {number((record.ci_high - record.ci_low) / 2)}"
        else:
            body += rf"_{{[{number(record.ci_low)},\,{number(record.ci_high)}]}}"
    if starred:
        body += "^{*}"
    return f"${body}$"


def table(records: list[MetricRecord], models: list[str], better: dict[str, dict[str, str]],
          headline: bool = True, ci: str = "pm", tests: list[dict] | None = None,
          numbers: NumberFormat | None = None) -> str:
    """A booktabs tabular: one row per (suite, dataset[, condition, subset], metric)."""
    numbers = numbers or NumberFormat.of(records)
    chosen = rows(records, better, headline)
    significant = {(t["suite"], t["dataset"], t["condition"], t.get("subset", ALL), t["metric"], t["model_a"],
                    t["model_b"]) for t in tests or [] if t.get("stars")}
    keys = ["Suite", "Dataset", *([] if headline else ["Condition", "Subset"]), "Metric"]
    lines = [
        f"% auditkit export: {'headline metrics (plain input, all samples)' if headline else 'every other condition and subset'}; "
        + ("95 % bootstrap CI as +- its half-width (the percentile interval may be asymmetric)" if ci == "pm"
           else "95 % bootstrap CI as a subscript [low, high]"),
        r"% needs \usepackage{booktabs}; bold: best where the metric has a direction"
        + ("; * best differs from every other model (paired test, Holm-adjusted p < 0.05)" if significant else ""),
        r"\begin{tabular}{" + "l" * len(keys) + "r" * len(models) + "}",
        r"\toprule",
        " & ".join([*keys, *(tex_escape(m) for m in models)]) + r" \\",
        r"\midrule",
    ]
    previous = None
    for row in chosen:
        if previous is not None and row.suite != previous:
            lines.append(r"\midrule")
        previous = row.suite
        best = row.best
        metric = row.metric + (" (%)" if numbers.is_percent(row.suite, row.metric) else "")
        condition = f"{row.condition} ({row.cells[next(iter(row.cells))].aggregate})" if "*" in row.condition else row.condition
        names = [row.suite, row.dataset, *([] if headline else [condition, row.subset]), metric]
        cells = []
        for model in models:
            others = [m for m in row.cells if m != model]
            starred = model in best and bool(others) and all(
                (*row.key, *pair) in significant
                for pair in ((model, o) if models.index(model) < models.index(o) else (o, model) for o in others))
            cells.append(cell(row.cells.get(model), model in best, ci, starred, numbers))
        lines.append(" & ".join([*(tex_escape(n) for n in names), *cells]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)
