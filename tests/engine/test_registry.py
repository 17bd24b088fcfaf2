"""The registries check what is registered, and model spec families are entries of one."""

from __future__ import annotations

import pytest

from auditkit.adapters.specs import FAMILIES, ModelOptions, SpecFamily, load_model, spec_kinds
from auditkit.errors import AuditError
from auditkit.registry import Registry
from auditkit.suite import Suite


def test_an_entry_of_the_wrong_kind_is_refused_when_registered():
    registry: Registry[SpecFamily] = Registry("model family", base=SpecFamily)
    with pytest.raises(TypeError, match="not a SpecFamily"):
        registry.register("broken", object())


def test_a_lazy_entry_is_checked_when_resolved():
    registry: Registry[type[Suite]] = Registry("suite", base=Suite, classes=True)
    registry.register("not_a_suite", "auditkit.records:MetricRecord")  # resolves, but is no Suite
    with pytest.raises(TypeError, match="not a subclass of Suite"):
        registry.get("not_a_suite")


def test_a_registered_family_is_a_spec_form(tmp_path):
    """A user's own spec family loads through `load_model` and is listed, with no change to it."""
    loaded = []

    def load(rest, options, preset):
        loaded.append(rest)
        return load_model("predictions:" + rest, options)

    csv = tmp_path / "answers.csv"
    csv.write_text("file_name,predicted_class,predicted_probability\nILSVRC2012_val_00000001.JPEG,65,0.5\n")
    FAMILIES.register("mylab", SpecFamily((("mylab:PATH", "our lab's recorded answers"),), load, recorded=True))
    try:
        observer = load_model(f"mylab:{csv}", ModelOptions())
        assert loaded == [str(csv)] and observer.name == "answers"
        assert ("mylab:PATH", "our lab's recorded answers") in spec_kinds()
    finally:
        FAMILIES._entries.pop("mylab")
    with pytest.raises(AuditError, match="unknown model 'mylab:x'"):
        load_model("mylab:x")
