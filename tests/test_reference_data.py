"""The reference files the published-number tests need ship in the repository, and a missing one
is a failure under CI=true, never a skip (issue 14, item 17)."""

from __future__ import annotations

import pytest

from tests.conftest import TEST_REFERENCE, require


def test_shipped_reference_files_are_present_and_small():
    files = [p for p in TEST_REFERENCE.rglob("*") if p.is_file()]
    names = {p.relative_to(TEST_REFERENCE).as_posix() for p in files}
    assert {"README.md", "imagenet-x-predictions/ResNet50.csv.gz", "imagenet-x-predictions/ViT.csv.gz",
            "pug-imagenet/class_to_imagenet_idx.json",
            "cue-conflict-decisions/cue-conflict_bagnet33_session-1.csv"} <= names
    assert sum(p.stat().st_size for p in files) < 3_000_000  # a few MB, never the stimuli


def test_missing_reference_skips_locally_and_fails_under_ci(tmp_path, monkeypatch):
    missing = tmp_path / "absent"
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require(missing, "a reference")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require(missing, "a reference")
    assert require(tmp_path, "a folder") == tmp_path
