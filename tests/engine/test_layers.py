"""No module imports from a layer above it (issue 15), function-level imports included, and no
two modules import each other, however indirectly (issue 22: observers <-> specs <-> subjects
was one).

Layers, lowest first: the core (records, suite, store, conditions, registry, stats, subjects ...),
data and adapters, the field's testbed analysis, suites, the run (``auditkit.run``: the live model,
its forward passes, the plan), then the views (compare, report, export) and the CLI. A suite's
plots.py never imports its suite.py (no cycle, not even lazily).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VIEWS = ("auditkit.compare", "auditkit.report", "auditkit.export", "auditkit.cli")
RUNNER = ("auditkit.run",)
# the top of the house: nothing below imports these (the views and the CLI may import the run)
TOP = (*RUNNER, *VIEWS)
# package prefix -> the packages it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "auditkit.data": ("suites", "auditkit.adapters", "auditkit.field", *RUNNER, *VIEWS),
    "auditkit.adapters": ("suites", "auditkit.field", *RUNNER, *VIEWS),
    "auditkit.conditions": ("suites", "auditkit.field", *RUNNER, *VIEWS),
    "auditkit.records": ("suites", "auditkit.adapters", "auditkit.data", *RUNNER, *VIEWS),
    "auditkit.suite": ("suites", "auditkit.adapters", *RUNNER, *VIEWS),
    "auditkit.store": ("suites", "auditkit.adapters", *RUNNER, *VIEWS),
    "auditkit.plotstyle": ("auditkit.", "suites"),
    "auditkit.field": ("suites", *RUNNER, *VIEWS),
    "auditkit.subjects": ("suites", "auditkit.adapters", "auditkit.field", *RUNNER, *VIEWS),
    "auditkit.train": ("suites", "auditkit.field", *RUNNER, *VIEWS),
    "suites": (*RUNNER, *VIEWS),
    "auditkit.run": VIEWS,
}
# the run's whole product (``audit_into``: results, then the report, the model card and several
# models' comparison page) sits above the views it builds and below the CLI
PRODUCT: dict[str, tuple[str, ...]] = {"auditkit.run.folder": ("auditkit.cli",)}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    package = _module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found += [(node.lineno, base)] + [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def _sources() -> list[Path]:
    return sorted([*ROOT.glob("auditkit/**/*.py"), *ROOT.glob("suites/**/*.py")])


def _within(name: str, prefix: str) -> bool:
    return name == prefix.rstrip(".") or name.startswith(prefix if prefix.endswith(".") else prefix + ".")


def test_no_module_imports_from_a_layer_above_it():
    violations = []
    for path in _sources():
        module = _module_name(path)
        rules = [banned for owner, banned in FORBIDDEN.items() if _within(module, owner)]
        if module in PRODUCT:
            rules = [PRODUCT[module]]
        for line, imported in _imports(path):
            for banned in (b for rule in rules for b in rule):
                if _within(imported, banned) and not _within(module, banned.rstrip(".")):
                    violations.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert not sorted(set(violations)), "\n".join(sorted(set(violations)))


def test_nothing_below_the_run_imports_the_run_the_views_or_the_cli():
    violations = []
    for path in _sources():
        module = _module_name(path)
        if any(_within(module, top) for top in (*TOP, "auditkit.__main__")):
            continue
        violations += [f"{path.relative_to(ROOT)}:{line} imports {imported}" for line, imported in _imports(path)
                       if any(_within(imported, top) for top in TOP)]
    assert not violations, "\n".join(sorted(set(violations)))


def _import_graph() -> dict[str, set[str]]:
    """Module -> the modules it imports (at the top or inside a function; a name imported from a
    module counts as that module; a package's ``__init__`` is the package's module)."""
    modules = {_module_name(p): p for p in _sources()}

    def module_of(name: str) -> str | None:
        while name not in modules:
            if "." not in name:
                return None
            name = name.rsplit(".", 1)[0]
        return name

    return {name: {m for _, i in _imports(path) if (m := module_of(i)) not in (None, name)}
            for name, path in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in order:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], order[other])
        if low[node] == order[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return found


def test_no_import_cycle():
    assert not _cycles(_import_graph()), "modules importing each other: " + "; ".join(
        " <-> ".join(c) for c in _cycles(_import_graph()))


def test_the_cycle_finder_finds_the_cycle_issue_22_removed():
    # observers imported subjects, subjects (lazily) specs, specs observers
    graph = {"observers": {"subjects"}, "subjects": {"specs", "suite"}, "specs": {"observers"}, "suite": set()}
    assert _cycles(graph) == [["observers", "specs", "subjects"]]


@pytest.mark.parametrize("suite", sorted(p.name for p in (ROOT / "suites").iterdir() if (p / "plots.py").is_file()))
def test_a_suites_plots_never_import_its_suite_module(suite):
    plots = ROOT / "suites" / suite / "plots.py"
    imported = [name for _, name in _imports(plots)]
    assert not [n for n in imported if _within(n, f"suites.{suite}.suite")], f"{plots} imports suites.{suite}.suite"


def test_no_private_name_is_imported_from_another_module():
    violations = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("auditkit", "suites"):
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private:
                    violations.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {', '.join(private)} from {node.module}")
    assert not violations, "\n".join(violations)
