"""`audit compare` for many models: 55 runs (results.json written directly: compare reads only
records) plus the paper's published rows give the field section, a leaderboard and no paired
tests; a couple of runs keep the side-by-side page with the published rows beside them."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest

from auditkit.cli import main
from auditkit.records import SCHEMA_VERSION

# schema v2: the input each suite's headline rests on (shape bias: the stimuli at their size)
CONDITIONS = {"shape_bias": "native"}

def _write_run(folder, model: str, values: dict[tuple[str, str, str], float]) -> None:
    folder.mkdir(parents=True)
    records = [{"model": model, "suite": s, "dataset": d, "condition": CONDITIONS.get(s, "none"),
                "subset": "all", "metric": m, "value": v,
                "ci_low": v - 0.01, "ci_high": v + 0.01, "n": 1000, "suite_version": "0.1"}
               for (s, d, m), v in values.items()]
    header = {"model": {"name": model, "fingerprint": model * 3}, "suites": {}, "datasets": {},
              "model_facts": {"parameters": 5_000_000, "macs": 400_000_000, "input_size": 224,
                              "parameters_millions": 5.0, "gmacs": 0.4, "images_per_second": 50.0,
                              "measured_on": {"device": "cpu", "precision": "fp32", "batch_size": 64, "images": 100}}}
    (folder / "results.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION, "header": header,
                                                     "records": records, "skipped": [], "figures": [], "notices": []}))


@pytest.fixture()
def many_runs(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(55):
        val = rng.uniform(0.6, 0.85)
        _write_run(tmp_path / "runs" / f"r{i:02d}", f"model_{i:02d}", {
            ("robustness", "imagenet-val", "top1"): val,
            ("robustness", "imagenet-v2", "top1"): val - 0.12 + rng.normal(0, 0.01),
            ("calibration", "imagenet-val", "ece"): 0.2 - 0.2 * val + rng.normal(0, 0.01),
            ("shape_bias", "cue-conflict", "shape_bias"): rng.uniform(0.2, 0.6),
        })
    return tmp_path


def test_fifty_five_runs_and_the_papers_rows_compare_through_the_field(many_runs):
    out = many_runs / "compare"
    main(["compare", str(many_runs / "runs"), "--with", "beyond-inet", "--out", str(out)])
    page = (out / "compare.html").read_text()
    payload = json.loads((out / "compare.json").read_text())
    assert payload["tests"] == []  # 61 models: no pairwise tests, and the page says why
    assert any("55 runs: paired tests and side-by-side tables are drawn for at most 8" in n for n in payload["notices"])
    assert 'id="field"' in page and "Against the field — 61 models" in page
    assert "55 models + 6 published (beyond-inet)" in page
    assert 'id="properties"' not in page  # no 61-column table
    with (out / "leaderboard.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 61
    assert sum(r["kind"] == "published" for r in rows) == 6  # four paper rows, two open_clip rows
    paper = next(r for r in rows if r["model"] == "vit_b_sup (paper)")
    assert float(paper["ImageNet val top-1"]) == pytest.approx(0.855)
    assert "beyond-inet</strong> (6 rows" in page
    import base64

    inline = re.search(r'href="data:text/csv;base64,([^"]+)" download="leaderboard.csv"', page).group(1)
    assert base64.b64decode(inline) == (out / "leaderboard.csv").read_bytes()  # the page carries it too
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) >= 3  # heat map, scatter, on the line


@pytest.mark.slow
def test_one_run_against_the_testbed_and_the_paper(many_runs):
    out = many_runs / "compare-one"
    main(["compare", str(many_runs / "runs" / "r00"), "--with", "testbed,beyond-inet", "--out", str(out)])
    with (out / "leaderboard.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1 + 335 + 6
    page = (out / "compare.html").read_text()
    assert "testbed</strong> (335 rows, modestyachts/imagenet-testbed @ 0170eec" in page


def test_two_runs_stay_side_by_side_with_published_rows_unpaired(many_runs):
    out = many_runs / "compare-two"
    main(["compare", str(many_runs / "runs" / "r00"), str(many_runs / "runs" / "r01"), "--with", "beyond-inet",
          "--out", str(out)])
    page = (out / "compare.html").read_text()
    assert 'id="properties"' in page and 'id="field"' in page
    assert "0.4 / 50.0" in page  # GMACs / img/s of the audited runs
    columns = re.search(r'<table class="props">.*?</thead>', page, re.S).group(0)
    assert "(paper)" not in columns  # published rows are in the field section, not columns


def test_unknown_collection_is_one_line(many_runs, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(many_runs / "runs" / "r00"), "--with", "testbd", "--out", str(many_runs / "x")])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "audit: error: --with 'testbd': use testbed or beyond-inet or openood (did you mean 'testbed'?)")
