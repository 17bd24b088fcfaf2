"""Shape bias against published counts, the docs/protocols.md index lists and the real stimuli."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit.adapters.observers import DecisionsObserver
from auditkit.data.answer_files import read_decisions
from auditkit.data.cue_conflict import CATEGORIES, content_digest, fetch_cue_conflict, parse_stimulus, read_cue_conflict
from auditkit.errors import AuditError
from auditkit.data.label_spaces import SIXTEEN_CLASSES, LabelSpaceMapping
from suites.shape_bias.suite import (
    Trials,
    count,
    decisions_csv,
    reference_trials,
)
from tests.conftest import SHARED, TEST_REFERENCE, require

# Published decisions: humans and ResNet-50 ship with the package, the others in tests/data.
SHIPPED = Path(__file__).resolve().parents[2] / "suites" / "shape_bias" / "reference"
REFERENCE = TEST_REFERENCE / "cue-conflict-decisions"
RESNET50 = SHIPPED / "cue-conflict_resnet50_session-1.csv"


@pytest.fixture
def stimuli() -> Path:
    """The 1280 stimuli (133 MB) from ../shared: skipped without them, failed under CI=true."""
    return require(SHARED / "data" / "cue-conflict", "the cue-conflict stimuli")


def counts_of(*files: Path):
    recorded = read_decisions(list(files))
    return count(Trials.from_ids(recorded.sample_ids, recorded.responses))


@pytest.mark.parametrize(
    "files, shape, texture, bias",
    [
        ([SHIPPED / "cue-conflict_resnet50_session-1.csv"], 169, 620, 0.2142),
        ([REFERENCE / "cue-conflict_bagnet33_session-1.csv"], 50, 929, 0.0511),
        ([REFERENCE / "cue-conflict_simclr-resnet50x1_session-1.csv"], 249, 393, 0.3879),
        ([SHIPPED / f"cue-conflict_subject-{i:02d}_session_1.csv" for i in range(1, 11)], 9236, 398, 0.9587),
        ([REFERENCE / "2019-paper/style-transfer-512-nomask-experiment_vgg16_session-1.csv"], 84, 828, 0.0921),
        ([REFERENCE / "2019-paper/style-transfer-512-nomask-experiment_resnet50_session-1.csv"], 162, 572, 0.2207),
        ([REFERENCE / "2019-paper/style-transfer-512-nomask-experiment_alexnet_session-1.csv"], 182, 537, 0.2531),
    ],
)
def test_published_counts_exactly(files, shape, texture, bias):
    counts = counts_of(*(require(f, "a published decisions file") for f in files))
    assert (counts.shape_hits, counts.texture_hits) == (shape, texture)
    assert round(counts.shape_bias, 4) == bias


def test_shipped_references_match_the_published_files():
    humans, resnet50 = count(reference_trials("humans")), count(reference_trials("resnet50"))
    assert (humans.shape_hits, humans.texture_hits) == (9236, 398)
    assert (resnet50.shape_hits, resnet50.texture_hits) == (169, 620)
    assert len(set(reference_trials("humans").subject)) == 10


def _ranges(*spans) -> list[int]:
    out: list[int] = []
    for span in spans:
        out += list(range(span[0], span[1] + 1)) if isinstance(span, tuple) else [span]
    return out


# Written out again from docs/protocols.md, independently of the suite's table.
PROTOCOL_INDICES = {
    "airplane": [404], "bear": _ranges((294, 297)), "bicycle": [444, 671],
    "bird": _ranges(8, (10, 16), (18, 20), (22, 24), (80, 83), (87, 96), (98, 100), (127, 133), (135, 145)),
    "boat": [472, 554, 625, 814, 914], "bottle": [440, 720, 737, 898, 899, 901, 907],
    "car": [436, 511, 817], "cat": _ranges((281, 286)), "chair": [423, 559, 765, 857],
    "clock": [409, 530, 892],
    "dog": _ranges((152, 191), (193, 203), (205, 226), (228, 241), (243, 250), (252, 257), 259, (261, 263), (265, 268)),
    "elephant": [385, 386], "keyboard": [508, 878], "knife": [499], "oven": [766],
    "truck": [555, 569, 656, 675, 717, 734, 864, 867],
}


def test_category_index_lists_match_protocol():
    assert {c: list(indices) for c, indices in SIXTEEN_CLASSES.classes.items()} == PROTOCOL_INDICES
    assert SIXTEEN_CLASSES.categories == CATEGORIES  # the label space's order is cue-conflict's


def decisions_from_logits(logits: np.ndarray) -> np.ndarray:
    return SIXTEEN_CLASSES.decisions_from_logits(logits)


def test_both_suites_decide_through_the_shared_label_space():
    """shape_bias and human_ood take their decisions from the one mapping in auditkit.data,
    neither keeps a copy of the rule."""
    import suites.human_ood.suite as human_ood
    import suites.shape_bias.suite as shape_bias

    assert shape_bias.SIXTEEN_CLASSES is SIXTEEN_CLASSES and human_ood.SIXTEEN_CLASSES is SIXTEEN_CLASSES
    assert not hasattr(shape_bias, "decisions_from_logits") and not hasattr(human_ood, "decisions_from_logits")


def test_a_label_space_refuses_overlapping_or_empty_categories():
    with pytest.raises(ValueError, match="distinct"):
        LabelSpaceMapping("overlap", {"a": (1, 2), "b": (2,)})
    with pytest.raises(ValueError, match="at least one"):
        LabelSpaceMapping("empty", {"a": (1,), "b": ()})
    with pytest.raises(ValueError, match="distinct"):
        LabelSpaceMapping("outside", {"a": (1000,)})
    two = LabelSpaceMapping("two", {"low": (0, 1), "high": (2,)})
    probabilities = np.array([[0.3, 0.3, 0.4], [0.5, 0.4, 0.1], [0.2, 0.2, 0.2]])
    assert two.scores(probabilities) == pytest.approx(np.array([[0.3, 0.4], [0.45, 0.1], [0.2, 0.2]]))
    assert two.decisions(probabilities).tolist() == ["high", "low", "low"]  # a tie: the first category


@pytest.mark.parametrize("category", CATEGORIES)
def test_every_index_of_every_category_decides_that_category(category):
    for index in PROTOCOL_INDICES[category]:
        logits = np.zeros((1, 1000))
        logits[0, index] = 30.0  # nearly all mass on one index of the category
        assert decisions_from_logits(logits)[0] == category, index


def test_the_mean_not_the_sum_decides():
    # dog has 117 indices, knife one. Mass spread thinly over all dog indices sums to more than
    # knife's probability, but the per-index mean of knife is higher: knife must win.
    probabilities = np.full(1000, 1e-6)
    probabilities[PROTOCOL_INDICES["dog"]] = 0.006  # sum 0.70, mean 0.006
    probabilities[499] = 0.2  # knife: sum 0.2, mean 0.2
    probabilities /= probabilities.sum()
    assert decisions_from_logits(np.log(probabilities)[None])[0] == "knife"


def test_texture_parsing_on_every_real_file_name(stimuli):
    names = sorted(p for p in stimuli.glob("*/*.png"))
    assert len(names) == 1280
    conflict = 0
    for path in names:
        shape, texture = parse_stimulus(path.name)
        assert shape == path.parent.name
        stem = path.stem.split("-")[-1]
        assert texture == stem.rstrip("0123456789") and texture in CATEGORIES
        conflict += shape != texture
    assert conflict == 1200


def test_prefixed_human_image_names_parse():
    assert parse_stimulus("0001_s5n_s01_0_bird_00_bird3-bird2.png") == ("bird", "bird")
    with pytest.raises(AuditError):
        parse_stimulus("not-a-stimulus.png")


def test_reader_finds_all_stimuli_with_file_name_ids(stimuli):
    source = read_cue_conflict(stimuli)
    assert len(source) == 1280 and "partial" not in source.info
    assert source.samples[0].sample_id == "airplane1-bicycle2.png"


def test_decisions_observer_pools_a_folder_and_round_trips_the_schema(tmp_path):
    observer = DecisionsObserver(RESNET50)
    assert observer.name == "resnet50"
    source = observer.source("cue-conflict")
    trials = Trials.from_ids(np.array([s.sample_id for s in source.samples]), observer.trials.responses)
    exported = tmp_path / "decisions.csv"
    exported.write_text(decisions_csv("resnet50", np.array([s.sample_id for s in source.samples]), trials))
    assert count(Trials.from_ids(*_read(exported))) == count(trials)
    with pytest.raises(AuditError, match="only for cue-conflict"):
        observer.source("imagenet-val")


def _read(path: Path):
    recorded = read_decisions([path])
    return recorded.sample_ids, recorded.responses


def test_decisions_file_with_wrong_columns_is_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("image,answer\nairplane1-bicycle2.png,bottle\n")
    with pytest.raises(AuditError, match="lacks columns"):
        DecisionsObserver(bad)


@pytest.mark.slow
def test_download_path_with_a_local_stand_in(tmp_path, monkeypatch, stimuli):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    archive = tmp_path / "cue-conflict.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(stimuli, arcname="cue-conflict", filter=lambda m: None if m.name.endswith(("LICENSE", ".md")) else m)
    target = tmp_path / "data" / "cue-conflict"
    fetch_cue_conflict(target, url=archive.as_uri())
    assert content_digest(target)[0] == 1280 and len(read_cue_conflict(target)) == 1280

    # a tampered archive is refused and nothing is installed
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(tampered, "w:gz") as tar:
        tar.add(stimuli, arcname="cue-conflict")
        extra = b"not a stimulus"
        info = tarfile.TarInfo("cue-conflict/airplane/airplane1-bicycle2.png")
        info.size = len(extra)
        tar.addfile(info, io.BytesIO(extra))
    other = tmp_path / "other" / "cue-conflict"
    with pytest.raises(AuditError, match="do not match"):
        fetch_cue_conflict(other, url=tampered.as_uri())
    assert not other.exists()


def test_offline_download_says_how_to_provide_the_data(tmp_path):
    with pytest.raises(AuditError, match="--data cue-conflict=PATH"):
        fetch_cue_conflict(tmp_path / "cue-conflict")  # HF_HUB_OFFLINE=1 in tests


def test_audit_run_on_imported_decisions(tmp_path):
    from auditkit.cli import main

    out = tmp_path / "out"
    main(["run", "--model", f"decisions:{RESNET50}",
          "--suites", "shape_bias", "--out", str(out), "--cache", str(tmp_path / "c"), "--no-progress"])
    records = json.loads((out / "results.json").read_text())["records"]
    pooled = {r["metric"]: r for r in records if r["subset"] == "all"}
    assert round(pooled["shape_bias"]["value"], 4) == 0.2142
    assert pooled["shape_hits"]["value"] == 169 and pooled["texture_hits"]["value"] == 620
    assert pooled["shape_bias"]["ci_low"] < 0.2142 < pooled["shape_bias"]["ci_high"]
    # one denominator, the 1200 conflict trials, for the three fractions and every n
    assert pooled["shape_match"]["value"] == pytest.approx(169 / 1200)
    assert pooled["texture_match"]["value"] == pytest.approx(620 / 1200)
    assert pooled["neither"]["value"] == pytest.approx(411 / 1200)
    assert sum(pooled[m]["value"] for m in ("shape_match", "texture_match", "neither")) == pytest.approx(1)
    assert {pooled[m]["n"] for m in ("shape_bias", "shape_match", "texture_match", "neither",
                                     "shape_hits", "texture_hits")} == {1200}
    assert pooled["conflict_trials"]["value"] == 1200 and pooled["conflict_trials"]["n"] == 1280
    per_category = {r["subset"]: r["value"] for r in records if r["subset"] in CATEGORIES}
    assert len(per_category) == 16
    assert {r["condition"] for r in records} == {"native"}  # the request's condition, categories in subset
    from auditkit.records import per_sample_path
    from suites.shape_bias.suite import ShapeBiasSuite

    arrays = dict(np.load(out / per_sample_path("shape_bias", "cue-conflict", "native")))
    again = ShapeBiasSuite().sample_metrics("cue-conflict", "native", arrays)
    assert all(again[(r["subset"], r["metric"])] == pytest.approx(r["value"], abs=0) for r in records)
    assert (out / "figures" / "shape_bias__cue-conflict__shape_bias_per_category.png").is_file()
    payload = json.loads((out / "results.json").read_text())
    caption = [f["caption"] for f in payload["figures"] if f["name"] == "decision_breakdown"][0]
    assert "resnet50: 1200" in caption and "humans: 12000 pooled" in caption
    assert not [n for n in payload["notices"] if n["suite"] == "shape_bias"]  # nothing absent, not degenerate


def test_breakdown_bars_are_the_records_fractions_and_sum_to_one():
    from suites.shape_bias.plots import decision_breakdown

    resnet50, humans = reference_trials("resnet50"), reference_trials("humans")
    figure = decision_breakdown("resnet50", resnet50, humans, resnet50)
    widths: dict[float, list[float]] = {}
    for bar in figure.axes[0].patches:
        widths.setdefault(round(bar.get_y() + bar.get_height() / 2, 3), []).append(bar.get_width())
    rows = [widths[k] for k in sorted(widths)]
    assert rows[0] == pytest.approx([169 / 1200, 620 / 1200, 411 / 1200])  # the model's row, hand-counted
    for row in rows:
        assert sum(row) == pytest.approx(1)


def _rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open() as stream:
        return list(csv.DictReader(stream))


def _texture(image_name: str) -> str:
    # written again here: the part after the last '-', digits and '.png' stripped
    return image_name.rsplit("-", 1)[-1].removesuffix(".png").rstrip("0123456789")


@pytest.mark.parametrize("limit", [5, 100])
def test_limit_reports_absent_categories_and_keeps_the_pooled_figures(limit, tmp_path):
    from auditkit.cli import main

    out = tmp_path / "out"
    main(["run", "--model", f"decisions:{RESNET50}", "--suites", "shape_bias", "--limit", str(limit),
          "--out", str(out), "--cache", str(tmp_path / "c"), "--no-progress"])
    payload = json.loads((out / "results.json").read_text())
    # independently: the first `limit` rows of the file, counted here
    rows = [r for r in _rows(RESNET50)[:limit] if r["category"] != _texture(r["imagename"])]
    shape_hits = sum(r["object_response"] == r["category"] for r in rows)
    texture_hits = sum(r["object_response"] == _texture(r["imagename"]) for r in rows)
    pooled = {r["metric"]: r for r in payload["records"] if r["subset"] == "all"}
    assert (pooled["shape_hits"]["value"], pooled["texture_hits"]["value"]) == (shape_hits, texture_hits)
    assert pooled["conflict_trials"]["value"] == len(rows) and pooled["shape_bias"]["n"] == len(rows)
    present = sorted({r["category"] for r in rows})
    per_category = sorted(r["subset"] for r in payload["records"] if r["subset"] in CATEGORIES)
    assert per_category == present
    absent = [c for c in CATEGORIES if c not in present]
    notice = [n["message"] for n in payload["notices"] if "no conflict trial" in n["message"]]
    assert len(notice) == 1 and f"{len(absent)} of 16" in notice[0]
    assert all(c in notice[0] for c in absent) and "\n" not in notice[0]


def test_live_model_under_limit_runs(tmp_path, tiny_model_file):
    from auditkit.cli import main

    rng = np.random.default_rng(0)
    folder = tmp_path / "cue-conflict"
    # the release's layout (a folder per category); --limit 2 keeps airplane1-airplane2 (no
    # conflict) and airplane1-bicycle2
    for name in ["airplane1-bicycle2.png", *(f"{c}1-{c}2.png" for c in CATEGORIES)]:
        path = folder / parse_stimulus(name)[0] / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)).save(path)
    out = tmp_path / "out"
    main(["run", "--model", f"python:{tiny_model_file}:make", "--suites", "shape_bias", "--limit", "2",
          "--data", f"cue-conflict={folder}", "--out", str(out), "--cache", str(tmp_path / "c"), "--no-progress",
          "--workers", "0"])
    payload = json.loads((out / "results.json").read_text())
    pooled = {r["metric"]: r for r in payload["records"] if r["subset"] == "all"}
    assert pooled["conflict_trials"]["value"] == 1 and pooled["conflict_trials"]["n"] == 2
    assert [r["subset"] for r in payload["records"] if r["subset"] in CATEGORIES] == ["airplane"]
    assert any("15 of 16" in n["message"] for n in payload["notices"])


def test_limit_with_no_conflict_trial_is_skipped_with_the_reason(tmp_path):
    from auditkit.cli import main

    lines = RESNET50.read_text().splitlines()
    agreeing = [line for line in lines[1:] if line.split(",")[5] == _texture(line.split(",")[7])]
    decisions = tmp_path / "same.csv"
    decisions.write_text("\n".join([lines[0], *agreeing[:3]]) + "\n")
    out = tmp_path / "out"
    with pytest.raises(SystemExit):  # nothing computed: the run ends non-zero, with the reason
        main(["run", "--model", f"decisions:{decisions}", "--suites", "shape_bias", "--out", str(out),
              "--cache", str(tmp_path / "c"), "--no-progress"])
    payload = json.loads((out / "results.json").read_text())
    assert not [r for r in payload["records"] if r["suite"] == "shape_bias"]
    reason = [s["reason"] for s in payload["skipped"] if s["suite"] == "shape_bias"][0]
    assert "none of the 3 stimuli is a cue conflict" in reason


def test_one_class_observer_is_flagged_as_degenerate(tmp_path):
    from auditkit.cli import main

    lines = RESNET50.read_text().splitlines()
    always_knife = tmp_path / "knife.csv"
    always_knife.write_text("\n".join([lines[0]] + [",".join(f if k != 4 else "knife" for k, f in enumerate(line.split(",")))
                                                    for line in lines[1:]]) + "\n")
    out = tmp_path / "out"
    main(["run", "--model", f"decisions:{always_knife}", "--suites", "shape_bias", "--out", str(out),
          "--cache", str(tmp_path / "c"), "--no-progress"])
    payload = json.loads((out / "results.json").read_text())
    pooled = {r["metric"]: r["value"] for r in payload["records"] if r["subset"] == "all"}
    # knife is the shape of 70 conflict stimuli and the texture of 70 (hand-counted from the names)
    rows = [r for r in _rows(RESNET50) if r["category"] != _texture(r["imagename"])]
    as_shape = sum(r["category"] == "knife" for r in rows)
    as_texture = sum(_texture(r["imagename"]) == "knife" for r in rows)
    assert (pooled["shape_hits"], pooled["texture_hits"]) == (as_shape, as_texture)
    assert pooled["shape_bias"] == pytest.approx(as_shape / (as_shape + as_texture))
    messages = [n["message"] for n in payload["notices"] if n["suite"] == "shape_bias"]
    assert len(messages) == 1 and "degenerate answers: 'knife' on 100% of the 1200" in messages[0]


@pytest.mark.slow
def test_efficientnet_lite0_on_all_real_stimuli(tmp_path, stimuli):
    """The embedded real model on all 1280 stimuli: the run's counts equal a second, independent
    computation here (the model's logits on the stimuli as the protocol feeds them, softmax and
    per-category means in plain numpy with PROTOCOL_INDICES, shape / texture parsed here), and
    both are docs/decisions.md's 197 shape + 626 texture ("EfficientNet-Lite0 weights")."""
    import torch

    from auditkit.adapters import load_model
    from auditkit.cli import main

    out = tmp_path / "out"
    main(["run", "--model", "efficientnet_lite0", "--suites", "shape_bias", "--data",
          f"cue-conflict={stimuli}", "--out", str(out), "--cache", str(tmp_path / "c"), "--no-progress"])
    records = json.loads((out / "results.json").read_text())["records"]
    pooled = {r["metric"]: r["value"] for r in records if r["subset"] == "all"}
    decisions = (out / "decisions.csv").read_text().splitlines()
    assert len(decisions) == 1281 and decisions[0].startswith("subj,session,trial,rt,object_response")

    # independent: no resize, [0, 1] pixels, mean/std 0.5 (the variant docs/decisions.md chose), fp32
    module = load_model("efficientnet_lite0").module.eval()
    paths = sorted(stimuli.glob("*/*.png"))
    shape_hits = texture_hits = 0
    for start in range(0, len(paths), 160):
        batch = paths[start:start + 160]
        pixels = np.stack([np.asarray(Image.open(p).convert("RGB"), dtype=np.float32) / 255 for p in batch])
        with torch.no_grad():
            logits = module(torch.from_numpy((pixels - 0.5) / 0.5).permute(0, 3, 1, 2)).double().numpy()
        probabilities = np.exp(logits - logits.max(1, keepdims=True))
        probabilities /= probabilities.sum(1, keepdims=True)
        names = list(PROTOCOL_INDICES)
        chosen = np.array(names)[np.stack([probabilities[:, PROTOCOL_INDICES[c]].mean(1) for c in names], 1).argmax(1)]
        for path, decision in zip(batch, chosen):
            shape, texture = path.parent.name, _texture(path.name)
            if shape != texture:
                shape_hits += decision == shape
                texture_hits += decision == texture
    assert (pooled["shape_hits"], pooled["texture_hits"]) == (shape_hits, texture_hits) == (197, 626)


def _recorded_predictions():
    """ResNet-50's published decisions as the runner hands a recorded observer's answers to the suite."""
    from auditkit.data.source import DatasetSource, Sample
    from auditkit.suite import PredictionRequest, Predictions

    recorded = read_decisions([RESNET50])
    ids = np.asarray(recorded.sample_ids).astype(str)
    order = np.argsort(ids)
    source = DatasetSource("cue-conflict", Path("."), tuple(Sample(Path(ids[i]), -1, ids[i]) for i in order))
    return PredictionRequest("cue-conflict", "native"), Predictions(
        source, "native", None, np.full(len(ids), ""), decisions=np.asarray(recorded.responses)[order])


def test_records_are_schema_v2_and_equal_sample_metrics():
    """Records at condition native with the shape categories in subset; every value equals what
    sample_metrics gives from the per-sample arrays (each metric defined once)."""
    from suites.shape_bias.suite import ShapeBiasSuite

    suite = ShapeBiasSuite()
    request, predictions = _recorded_predictions()
    output = suite.evaluate("resnet50", {request: predictions}, seed=0)
    assert {(r.dataset, r.condition) for r in output.records} == {("cue-conflict", "native")}
    assert {r.subset for r in output.records} == {"all", *CATEGORIES}
    assert list(output.per_sample) == [("cue-conflict", "native")]
    arrays = output.per_sample[("cue-conflict", "native")]
    assert {"sample_id", "content_sha1", "shape", "texture", "decision"} <= set(arrays)
    again = suite.sample_metrics("cue-conflict", "native", arrays)
    for record in output.records:
        assert again[(record.subset, record.metric)] == pytest.approx(record.value, abs=0), record
    pooled = {r.metric: r.value for r in output.records if r.subset == "all"}
    assert round(pooled["shape_bias"], 4) == 0.2142  # the published ResNet-50 (model-vs-human)
    assert suite.accepts == ("logits", "decisions")


def test_version_1_records_migrate():
    """Version 1 put the shape category in condition (and the pooled figures at `none`)."""
    from auditkit.records_v1 import SAMPLE_KEYS, migrate_record

    row = dict(model="m", suite="shape_bias", dataset="cue-conflict", condition="bird", metric="shape_bias",
               value=0.3, ci_low=0.2, ci_high=0.4, n=75, suite_version="1.1")
    assert migrate_record(row) == {**row, "condition": "native", "subset": "bird", "aggregate": ""}
    pooled = migrate_record({**row, "condition": "none"})
    assert (pooled["condition"], pooled["subset"]) == ("native", "all")
    assert SAMPLE_KEYS["shape_bias"]("cue-conflict", "native") == ("cue-conflict", "native")
