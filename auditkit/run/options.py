"""Suite options chosen for a run: ``--option <suite>.<name>=VALUE``, checked against what each
suite declares (``Suite.options``, ``auditkit.suite.SuiteOption``) before any model loads.

The command line only collects the texts; this module reads them, so a Python caller gets the
same checks (``suite_options``) and the same values. Aliases (``--er-scale probit``) are kept
where a flag predates the generic form (``ALIASES``).
"""

from __future__ import annotations

from typing import Iterable, Mapping

from auditkit.errors import AuditError
from auditkit.registry import did_you_mean
from suites import SUITES, get_suite

# an older flag -> the (suite, option) it sets
ALIASES: dict[str, tuple[str, str]] = {"--er-scale": ("robustness", "er_scale")}
FORM = "SUITE.NAME=VALUE (e.g. robustness.er_scale=probit; `audit ls suites` lists each suite's options)"


def parse_assignment(text: str) -> tuple[str, str, str]:
    """``"robustness.er_scale=probit"`` -> (suite, option, value text)."""
    target, equals, value = text.partition("=")
    suite, dot, name = target.strip().partition(".")
    if not equals or not dot or not suite or not name:
        raise AuditError(f"--option {text!r}: write {FORM}")
    return suite, name.strip(), value.strip()


def suite_options(
    assignments: Iterable[str], suites: tuple[str, ...], aliases: Mapping[str, str | None] | None = None,
) -> dict[str, dict[str, object]]:
    """{suite: {option: value}} for ``--option`` texts (``parse_assignment``) and alias flags
    (``{"--er-scale": "probit"}``, None when not given), each value parsed by its declaration.

    Refused in one line naming the fix: an unknown suite or option (did you mean), a suite not in
    the run, an ill-typed or out-of-choices value, one option given two different values. An
    alias of a suite outside the run is checked and then ignored (``--er-scale`` was accepted
    with any suites before ``--option`` existed)."""
    chosen: dict[str, dict[str, object]] = {}
    given: dict[tuple[str, str], str] = {}

    def choose(suite_name: str, name: str, text: str, where: str, in_run_only: bool) -> None:
        if suite_name not in SUITES:
            raise AuditError(f"{where}: unknown suite {suite_name!r}{did_you_mean(suite_name, SUITES.names())}; "
                             "see `audit ls suites`")
        suite = get_suite(suite_name)
        try:
            option = suite.option(name)
        except AuditError as error:
            raise AuditError(f"{where}: {error}") from None
        value = option.parse(text, where)
        if suite_name not in suites:
            if in_run_only:
                return
            raise AuditError(f"{where}: suite {suite_name} is not in this run (--suites {','.join(suites)}); "
                             "add it or drop the option")
        key = (suite_name, name)
        if key in given and chosen[suite_name][name] != value:
            raise AuditError(f"{where}: {suite_name}.{name} is already set to {given[key]!r}; give it once")
        given[key] = text
        chosen.setdefault(suite_name, {})[name] = value

    for flag, text in (aliases or {}).items():
        if text is not None:
            suite_name, name = ALIASES[flag]
            choose(suite_name, name, text, f"{flag} {text!r}", in_run_only=True)
    for assignment in assignments:
        suite_name, name, text = parse_assignment(assignment)
        choose(suite_name, name, text, f"--option {suite_name}.{name}={text}", in_run_only=False)
    return chosen
