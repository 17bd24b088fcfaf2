"""`audit run --model A --model B`: a run folder per model and the comparison page; a model that
fails is named and the others still run (exit non-zero)."""

from __future__ import annotations

import json

import pytest

from auditkit.cli import main
from tests.compare.fixtures import DESIGN, make_val, model_file


def test_two_models_and_a_typo_give_two_runs_a_comparison_and_one_error(tmp_path, capsys):
    val = make_val(tmp_path / "val", DESIGN)
    out = tmp_path / "models"
    specs = [f"python:{model_file(tmp_path, 0)}:make", "efficientnet_lit0", f"python:{model_file(tmp_path, 1)}:make"]
    args = ["run", *[a for spec in specs for a in ("--model", spec)], "--suites", "calibration",
            "--data", f"imagenet-val={val}", "--data-root", str(tmp_path / "none"), "--out", str(out),
            "--cache", str(tmp_path / "cache"), "--workers", "0", "--no-progress", "--batch-size", "8"]
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "audit: error: efficientnet_lit0: unknown model 'efficientnet_lit0'" in err
    assert err.strip().endswith(f"audit: error: 1 of 3 models failed (efficientnet_lit0); the others' runs are in {out}")
    runs = sorted(p.parent.name for p in out.glob("*/results.json"))
    assert len(runs) == 2
    top1 = {json.loads((out / r / "results.json").read_text())["header"]["model"]["name"]: r for r in runs}
    assert len(top1) == 2
    comparison = json.loads((out / "compare" / "compare.json").read_text())
    assert [r["name"] for r in comparison["runs"]] == sorted(top1, key=lambda m: top1[m])
    assert any(t["metric"] == "top1" and t["p_mcnemar"] == pytest.approx(0.125) for t in comparison["tests"])  # by hand: b = 1, c = 6
