"""model-vs-human's OOD benchmark: error consistency by hand, the human ceiling by an independent
pandas computation, the published ResNet-50 table row from its decisions, the live-model path on
fixture stimuli in the release layout."""

from __future__ import annotations

import csv
import gzip
import io
import json
import shutil
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import cohen_kappa_score

from auditkit.adapters.observers import DecisionsObserver
from auditkit.data.model_vs_human import BENCHMARK, BY_NAME, image_id, parse_name, read_model_vs_human
from auditkit.errors import AuditError
from auditkit.records import per_sample_path
from suites.human_ood.suite import DecisionTable, error_consistency, reference_table, score_dataset
from tests.conftest import SHARED

SHIPPED = Path(__file__).resolve().parents[2] / "suites"
RAW_DATA = SHARED / "data" / "reference" / "model-vs-human" / "raw-data"


def _records(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["records"]


def _run(*arguments: str) -> None:
    from auditkit.cli import main

    main(["run", *arguments, "--no-progress"])


# --- error consistency by hand ---------------------------------------------------------------

def test_error_consistency_on_a_table_worked_by_hand():
    # trial:          1  2  3  4  5  6  7  8  9  10
    a = np.array([1, 1, 1, 0, 0, 1, 0, 1, 1, 0], bool)  # p1 = 0.6
    b = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 0], bool)  # p2 = 0.5
    # agree on trials 1, 3, 4, 6, 7, 8, 10: c_obs = 0.7; c_exp = 0.6*0.5 + 0.4*0.5 = 0.5;
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    observed, expected, kappa = error_consistency(a, b)
    assert (observed, expected) == (pytest.approx(0.7), pytest.approx(0.5))
    assert kappa == pytest.approx(0.4)
    assert kappa == pytest.approx(cohen_kappa_score(a, b))  # Cohen's kappa of the two hit sequences
    # identical errors: kappa 1; errors exactly as independent as the accuracies predict: 0;
    # every trial disagreeing with p1 = p2 = 0.5: -1
    assert error_consistency(a, a)[2] == 1.0
    assert error_consistency(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool))[2] == pytest.approx(0.0)
    assert error_consistency(np.array([1, 0], bool), np.array([0, 1], bool))[2] == pytest.approx(-1.0)
    # both always right: c_exp = 1, model-vs-human's rule gives 1 (Cohen's kappa is undefined)
    assert error_consistency(np.ones(5, bool), np.ones(5, bool)) == (1.0, 1.0, 1.0)


def test_model_vs_human_image_ids_pair_sessions_with_released_names():
    # its own examples (plotting_helper.py) and the three name forms of the release
    assert image_id("0000_cl_s01_bw_boat_40_n02951358_5952.JPEG") == "n02951358_5952.JPEG"
    assert image_id("airplane1-bicycle2.png") == "airplane1-bicycle2.png"
    contrast = BY_NAME["contrast"]
    human = parse_name(contrast, "0001_cop_s01_c30_knife_10_n03041632_7380.png")
    model = parse_name(contrast, "0001_cop_dnn_c30_knife_10_n03041632_7380.png")
    assert human == model and (model.condition, model.category) == ("c30", "knife")
    assert parse_name(BY_NAME["edge"], "0001_edg_s01_0_oven_00_oven10.png") == parse_name(BY_NAME["edge"], "oven10.png")
    assert parse_name(BY_NAME["sketch"], "0001_ske_s01_0_boat_00_boat-0068-sketch-23.png").image_id == "boat-0068-sketch-23.png"
    with pytest.raises(AuditError, match="condition 'c07'"):
        parse_name(contrast, "0001_cop_dnn_c07_knife_10_n03041632_7380.png")


# --- shipped human trials ----------------------------------------------------------------------

@pytest.mark.skipif(not RAW_DATA.is_dir(), reason=f"{RAW_DATA} absent")
def test_shipped_trials_are_the_published_files_byte_for_byte():
    for dataset in BENCHMARK:
        published = sorted(RAW_DATA.joinpath(dataset.name).glob("*.csv"))
        if dataset.name == "cue-conflict":
            shipped = sorted((SHIPPED / "shape_bias" / "reference").glob("cue-conflict_subject-*.csv"))
            assert [f.read_bytes() for f in shipped] == [f.read_bytes() for f in published]
            continue
        shipped = sorted((SHIPPED / "human_ood" / "reference" / "humans" / dataset.name).glob("*.csv.gz"))
        assert [f.name for f in shipped] == [f"{f.name}.gz" for f in published]
        assert [gzip.decompress(f.read_bytes()) for f in shipped] == [f.read_bytes() for f in published]


def _pandas_ceiling(files: list[Path]) -> float:
    """Human-human error consistency written out with pandas, independently of the suite: every
    pair of subjects joined on the stimulus (the name after the last '_'), kappa per pair, mean."""
    frames = []
    for file in files:
        frame = pd.read_csv(file)
        frame["stimulus"] = frame["imagename"].str.split("_").str[-1]
        frame["hit"] = frame["object_response"] == frame["category"]
        frames.append(frame.set_index("stimulus")["hit"].rename(frame["subj"].iloc[0]))
    hits = pd.concat(frames, axis=1, join="inner")
    assert len(hits) == 1280
    kappas = []
    for first, second in combinations(hits.columns, 2):
        p1, p2 = hits[first].mean(), hits[second].mean()
        observed = (hits[first] == hits[second]).mean()
        expected = p1 * p2 + (1 - p1) * (1 - p2)
        kappas.append((observed - expected) / (1 - expected))
    return float(np.mean(kappas))


def test_human_ceiling_on_cue_conflict_equals_an_independent_computation(tmp_path):
    humans = sorted((SHIPPED / "shape_bias" / "reference").glob("cue-conflict_subject-*_session_1.csv"))
    assert len(humans) == 10
    expected = _pandas_ceiling(humans)
    assert 0.2 < expected < 0.5  # humans agree on their errors well beyond chance
    out = tmp_path / "out"
    _run("--model", f"decisions:{SHIPPED / 'shape_bias' / 'reference' / 'cue-conflict_resnet50_session-1.csv'}",
         "--suites", "human_ood", "--out", str(out), "--cache", str(tmp_path / "cache"))
    record = {r["metric"]: r for r in _records(out) if (r["dataset"], r["subset"]) == ("cue-conflict", "benchmark")}
    assert record["human_error_consistency"]["value"] == pytest.approx(expected, abs=1e-12)
    # ResNet-50 against each human, with the same pandas join
    resnet = pd.read_csv(SHIPPED / "shape_bias" / "reference" / "cue-conflict_resnet50_session-1.csv")
    model_hits = pd.Series((resnet["object_response"] == resnet["category"]).values, index=resnet["imagename"])
    per_human = []
    for file in humans:
        frame = pd.read_csv(file)
        hits = pd.Series((frame["object_response"] == frame["category"]).values,
                         index=frame["imagename"].str.split("_").str[-1]).reindex(model_hits.index)
        per_human.append(cohen_kappa_score(model_hits.values, hits.values))
    assert record["error_consistency"]["value"] == pytest.approx(np.mean(per_human), abs=1e-12)
    assert record["error_consistency"]["ci_low"] < record["error_consistency"]["value"] < record["error_consistency"]["ci_high"]
    assert record["accuracy"]["value"] == pytest.approx(233 / 1280)  # shape hits of all 1280 trials
    notices = json.loads((out / "results.json").read_text())["notices"]
    assert any("1 of 17 datasets" in n["message"] for n in notices)
    # audit compare recomputes the headline from the saved per-trial arrays
    from suites.human_ood.suite import HumanOodSuite

    arrays = dict(np.load(out / per_sample_path("human_ood", "cue-conflict", "native")))
    again = HumanOodSuite().sample_metrics("cue-conflict", "native", arrays)
    for metric in ("accuracy", "error_consistency", "observed_consistency", "accuracy_difference"):
        assert again[("benchmark", metric)] == pytest.approx(record[metric]["value"], abs=1e-15)
    assert {r["condition"] for r in _records(out)} == {"native"}


# --- the published benchmark table, from published decisions ---------------------------------

def _raw_data_tree(root: Path, observer: str = "resnet50") -> Path:
    """model-vs-human's raw-data/<dataset>/ layout, unpacked from the shipped files."""
    for dataset in BENCHMARK:
        folder = root / dataset.name
        folder.mkdir(parents=True)
        if dataset.name == "cue-conflict":
            shutil.copy(SHIPPED / "shape_bias" / "reference" / f"cue-conflict_{observer}_session-1.csv", folder)
            continue
        packed = SHIPPED / "human_ood" / "reference" / observer / f"{dataset.name}_{observer}_session-1.csv.gz"
        (folder / packed.name.removesuffix(".gz")).write_bytes(gzip.decompress(packed.read_bytes()))
    return root


@pytest.mark.slow
def test_published_resnet50_row_of_the_benchmark_table(tmp_path):
    """model-vs-human README, "standard ResNet-50": accuracy difference .087, observed consistency
    .665, error consistency .208 (most human-like table), OOD accuracy .559 (robustness table)."""
    out = tmp_path / "out"
    _run("--model", f"decisions:{_raw_data_tree(tmp_path / 'raw-data')}", "--suites", "human_ood",
         "--out", str(out), "--cache", str(tmp_path / "cache"))
    records = _records(out)
    summary = {r["metric"]: r for r in records if r["dataset"] == "model-vs-human"}
    assert summary["datasets"]["value"] == 17
    assert round(summary["accuracy"]["value"], 3) == 0.559
    assert round(summary["accuracy_difference"]["value"], 3) == 0.087
    assert round(summary["observed_consistency"]["value"], 3) == 0.665
    assert round(summary["error_consistency"]["value"], 3) == 0.208
    assert summary["error_consistency"]["ci_low"] < 0.208 < summary["error_consistency"]["ci_high"]
    # the human ceiling sits well above ResNet-50 on every dataset's benchmark conditions
    benchmark = {(r["dataset"], r["metric"]): r["value"] for r in records if r["subset"] == "benchmark"}
    for dataset in BENCHMARK:
        assert benchmark[(dataset.catalog_name, "human_error_consistency")] > benchmark[(dataset.catalog_name, "error_consistency")]
    # per condition: contrast levels in order, humans' range around their mean
    contrast = {(r["subset"], r["metric"]): r["value"] for r in records if r["dataset"] == "mvh-contrast"}
    assert contrast[("c100", "human_accuracy_min")] <= contrast[("c100", "human_accuracy")] <= contrast[("c100", "human_accuracy_max")]
    assert contrast[("c100", "accuracy")] > contrast[("c01", "accuracy")]
    payload = json.loads((out / "results.json").read_text())
    assert {f["name"] for f in payload["figures"] if f["suite"] == "human_ood"} == {
        "accuracy_vs_condition", "error_consistency_vs_condition", "consistency_per_dataset", "shape_bias_vs_ood_accuracy"}
    assert not [n for n in payload["notices"] if n["suite"] == "human_ood"]


# --- decisions observers -------------------------------------------------------------------------

def test_observer_reads_every_dataset_and_tells_them_apart(tmp_path):
    observer = DecisionsObserver(_raw_data_tree(tmp_path / "raw-data"))
    assert observer.name == "resnet50"
    assert set(observer.datasets) == {d.catalog_name for d in BENCHMARK}
    colour = observer.source("mvh-colour")
    assert len(colour) == 1280 and colour.samples[0].sample_id.startswith("0001_cl_dnn_")
    assert len(observer.source("mvh-edge")) == 160
    # a file named otherwise: the dataset from its image names (eidolon II by its condition)
    renamed = tmp_path / "my_decisions.csv"
    shutil.copy(tmp_path / "raw-data" / "eidolonII" / "eidolonII_resnet50_session-1.csv", renamed)
    assert DecisionsObserver(renamed).datasets == ("mvh-eidolonII",)
    # edge and silhouette names (airplane1.png) cannot say which: the file must be named
    ambiguous = tmp_path / "mine.csv"
    shutil.copy(tmp_path / "raw-data" / "edge" / "edge_resnet50_session-1.csv", ambiguous)
    with pytest.raises(AuditError, match="cannot tell which model-vs-human dataset"):
        DecisionsObserver(ambiguous)
    wrong = tmp_path / "colour_x_session-1.csv"
    wrong.write_text("subj,session,trial,rt,object_response,category,condition,imagename\n"
                     "x,1,1,NaN,cat,dog,cr,0001_cl_dnn_cr_oven_40_n04111531_14126.png\n")
    with pytest.raises(AuditError, match="category 'dog' but the image is a oven"):
        DecisionsObserver(wrong)


def test_a_pooled_human_observer_gets_accuracy_but_no_error_consistency(tmp_path):
    humans = tmp_path / "humans"
    humans.mkdir()
    for packed in sorted((SHIPPED / "human_ood" / "reference" / "humans" / "rotation").glob("*.gz")):
        (humans / packed.name.removesuffix(".gz")).write_bytes(gzip.decompress(packed.read_bytes()))
    out = tmp_path / "out"
    _run("--model", f"decisions:{humans}", "--suites", "human_ood", "--out", str(out), "--cache", str(tmp_path / "c"))
    records = {(r["subset"], r["metric"]): r for r in _records(out) if r["dataset"] == "mvh-rotation"}
    # pooled over the four subjects, accuracy is the human mean
    assert records[("90", "accuracy")]["value"] == pytest.approx(records[("90", "human_accuracy")]["value"])
    assert ("90", "error_consistency") not in records
    notices = json.loads((out / "results.json").read_text())["notices"]
    assert any("pooled observer" in n["message"] for n in notices)


def test_one_human_subject_is_compared_with_the_other_subjects_only(tmp_path):
    table = reference_table("humans", "colour")
    subject = table.select(table.subject == "subject-01")
    scores = score_dataset(subject, table, "subject-01", seed=0, resamples=10)
    others = [error_consistency(*_pair(table, "subject-01", s, "bw"))[2] for s in ("subject-02", "subject-03", "subject-04")]
    assert scores.conditions["bw"].values["error_consistency"] == pytest.approx(np.mean(others))


def _pair(table: DecisionTable, first: str, second: str, condition: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [table.select((table.subject == s) & (table.condition == condition)) for s in (first, second)]
    orders = [np.argsort(r.image) for r in rows]
    assert np.array_equal(rows[0].image[orders[0]], rows[1].image[orders[1]])
    return rows[0].correct[orders[0]], rows[1].correct[orders[1]]


# --- live model on fixture stimuli in the release layout --------------------------------------

def _human_names(dataset: str, per_condition: int, by: str = "condition") -> list[tuple[str, str]]:
    """(released name, category) of the first stimuli per condition (or category) that
    subject-01 saw."""
    packed = SHIPPED / "human_ood" / "reference" / "humans" / dataset / f"{dataset}_subject-01_session_1.csv.gz"
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(packed.read_bytes()).decode())))
    taken: dict[str, int] = {}
    names = []
    for row in rows:
        if taken.get(row[by], 0) < per_condition:
            taken[row[by]] = taken.get(row[by], 0) + 1
            names.append((row["imagename"].replace("_s01_", "_dnn_", 1), row["category"]))
    return names


@pytest.fixture
def release_root(tmp_path: Path) -> Path:
    """model-vs-human/colour/dnn/session-1/*.png (4 per condition) and
    model-vs-human/edge/<category>/*.png (1 per category), named as released (random pixels)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    for name, _ in _human_names("colour", 4):
        path = root / "model-vs-human" / "colour" / "dnn" / "session-1" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (36, 36, 3), dtype=np.uint8)).save(path)
    for name, category in _human_names("edge", 1, by="category"):  # the release has all 16 folders
        path = root / "model-vs-human" / "edge" / category / image_id(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (36, 36, 3), dtype=np.uint8)).save(path)
    return root


def test_reader_takes_conditions_and_categories_from_released_names(release_root):
    colour = read_model_vs_human(release_root / "model-vs-human", "colour")
    assert colour.name == "mvh-colour" and len(colour) == 8
    assert {s.attribute("condition") for s in colour.samples} == {"cr", "bw"}
    edge = read_model_vs_human(release_root / "model-vs-human" / "edge", "edge")
    assert all(s.sample_id.endswith(".png") and "_" not in s.sample_id for s in edge.samples)
    with pytest.raises(AuditError, match="dnn/session-1"):
        read_model_vs_human(release_root / "model-vs-human", "contrast")


def test_live_model_on_release_fixtures_round_trips_through_its_decisions(tmp_path, release_root, tiny_model_file):
    out = tmp_path / "live"
    _run("--model", f"python:{tiny_model_file}:make", "--suites", "human_ood", "--data-root", str(release_root),
         "--out", str(out), "--cache", str(tmp_path / "cache"))
    payload = json.loads((out / "results.json").read_text())
    live = {(r["dataset"], r["subset"], r["metric"]): r["value"] for r in payload["records"]}
    assert {k[1] for k in live if k[0] == "mvh-colour"} == {"cr", "bw", "benchmark"}
    assert live[("model-vs-human", "benchmark", "datasets")] == 2
    skipped = {s["dataset"] for s in payload["skipped"] if s["suite"] == "human_ood"}
    assert "mvh-contrast" in skipped and "mvh-colour" not in skipped
    assert any("8 of the 1280 stimuli" in n["message"] for n in payload["notices"])  # a subset, said so
    # per-trial arrays give the records back; a resample missing a level gives NaN, not a missing key
    from suites.human_ood.suite import HumanOodSuite

    arrays = dict(np.load(out / per_sample_path("human_ood", "mvh-colour", "native")))
    again = HumanOodSuite().sample_metrics("mvh-colour", "native", arrays)
    for level in ("cr", "bw", "benchmark"):
        assert again[(level, "accuracy")] == pytest.approx(live[("mvh-colour", level, "accuracy")])
        assert again[(level, "error_consistency")] == pytest.approx(live[("mvh-colour", level, "error_consistency")])
    only_bw = {k: v[arrays["level"] == "bw"] for k, v in arrays.items()}
    assert np.isnan(HumanOodSuite().sample_metrics("mvh-colour", "native", only_bw)[("cr", "accuracy")])
    written = out / "mvh-raw-data" / "colour"
    assert len(list(written.glob("colour_*_session-1.csv"))) == 1
    # the written decisions, imported back, give the same numbers
    recorded = tmp_path / "recorded"
    _run("--model", f"decisions:{out / 'mvh-raw-data'}", "--suites", "human_ood",
         "--out", str(recorded), "--cache", str(tmp_path / "cache"))
    again = {(r["dataset"], r["subset"], r["metric"]): r["value"] for r in _records(recorded)}
    assert again.keys() == live.keys()
    for key, value in live.items():
        assert again[key] == pytest.approx(value, nan_ok=True), key


def test_only_excluded_conditions_give_no_benchmark_value():
    # colour's benchmark keeps greyscale only; a model that answered the colour images alone has
    # per-condition numbers but no headline, rather than a headline on the control condition
    resnet = reference_table("resnet50", "colour")
    scores = score_dataset(resnet.select(resnet.condition == "cr"), reference_table("humans", "colour"),
                           "resnet50", seed=0, resamples=10)
    assert scores.benchmark is None and set(scores.conditions) == {"cr"}


def test_version_1_records_migrate():
    """Version 1 put the distortion level in condition and the benchmark aggregate at `none`."""
    from auditkit.records_v1 import migrate_record

    row = dict(model="m", suite="human_ood", dataset="mvh-contrast", condition="c05", metric="accuracy",
               value=0.3, ci_low=0.2, ci_high=0.4, n=80, suite_version="0.1")
    assert migrate_record(row) == {**row, "condition": "native", "subset": "c05", "aggregate": ""}
    summary = migrate_record({**row, "dataset": "model-vs-human", "condition": "none"})
    assert (summary["dataset"], summary["condition"], summary["subset"]) == ("model-vs-human", "native", "benchmark")


def test_suite_modules_do_not_import_each_other():
    """plots.py takes what it draws from metrics.py, never from suite.py (no import cycle)."""
    for suite in ("human_ood", "shape_bias"):
        text = (Path(__file__).parents[2] / "suites" / suite / "plots.py").read_text()
        assert "suite import" not in text and ".suite" not in text


@pytest.mark.parametrize("name", ["contrast", "sketch"])
def test_sample_metrics_give_the_scored_values(name):
    """Each metric defined once: what evaluate scores (score_dataset) equals sample_metrics of
    the per-trial arrays the suite saves, per level and for the benchmark levels."""
    from suites.human_ood.suite import HumanOodSuite

    resnet = reference_table("resnet50", name)
    scores = score_dataset(resnet, reference_table("humans", name), "resnet50", seed=0, resamples=2)
    arrays = {"correct": resnet.correct, "level": resnet.condition, "image_id": resnet.image}
    again = HumanOodSuite().sample_metrics(BY_NAME[name].catalog_name, "native", arrays)
    expected = {("benchmark", m): v for m, v in scores.benchmark.values.items()}
    if BY_NAME[name].parametric:
        expected.update({(level, m): v for level, s in scores.conditions.items() for m, v in s.values.items()})
    assert len(expected) >= 4
    for key, value in expected.items():
        assert again[key] == pytest.approx(value, abs=1e-15), key
