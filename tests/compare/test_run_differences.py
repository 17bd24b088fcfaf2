"""`audit compare` says how runs differ (issue 14, item 22): fp32 and bf16 runs of one model
must not look identical."""

from __future__ import annotations

import json
from pathlib import Path

from auditkit.cli import main
from auditkit.compare.runs import load_runs, run_settings
from tests.engine.test_run import audit_args


def test_fp32_and_bf16_runs_of_one_model_are_told_apart(tiny_model_file, val_folder, tmp_path, cache_dir) -> None:
    for precision in ("fp32", "bf16"):
        main(audit_args(tiny_model_file, val_folder, tmp_path / "runs" / precision, cache_dir, "--precision", precision))
    runs = load_runs([str(tmp_path / "runs")])  # sorted: bf16, fp32
    assert [run.name.rsplit(" ", 1)[-1] for run in runs] == ["(bf16)", "(fp32)"]
    assert len({run.name for run in runs}) == 2
    differing = {s.name: s.values for s in run_settings(runs) if s.differs}
    assert list(differing) == ["precision"]  # same weights, preprocessing and data
    assert sorted(differing["precision"].values()) == ["bf16", "fp32"]

    main(["compare", str(tmp_path / "runs"), "--out", str(tmp_path / "cmp"), "--resamples", "100"])
    html = (tmp_path / "cmp" / "compare.html").read_text()
    settings = html.split('id="settings"', 1)[1].split("</table>", 1)[0]
    assert "<th scope=\"row\">precision</th>" in settings and ">bf16<" in settings and ">fp32<" in settings
    assert "weights fingerprint" not in settings  # the same weights: listed among the shared settings
    names = [r["name"] for r in json.loads((tmp_path / "cmp" / "compare.json").read_text())["runs"]]
    assert all(f"<strong>{name}</strong>" in html for name in names)
