"""Shape bias against published counts, the PROTOCOLS.md index lists and the real stimuli."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest

from auditkit.adapters.observers import DecisionsObserver, read_decisions
from auditkit.data.cue_conflict import CATEGORIES, content_digest, fetch_cue_conflict, parse_stimulus, read_cue_conflict
from auditkit.errors import AuditError
from suites.shape_bias.suite import (
    CATEGORY_INDICES,
    Trials,
    count,
    decisions_csv,
    decisions_from_logits,
    reference_trials,
)
from tests.conftest import SHARED

REFERENCE = SHARED / "data" / "reference" / "cue-conflict-decisions"
STIMULI = SHARED / "data" / "cue-conflict"
TRAINED_2019 = REFERENCE / "2019-paper" / "style-transfer-512-nomask-experiment-trained-CNNs"

needs_reference = pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"{REFERENCE} absent")
needs_stimuli = pytest.mark.skipif(not STIMULI.is_dir(), reason=f"{STIMULI} absent")


def counts_of(*files: Path):
    recorded = read_decisions(list(files))
    return count(Trials.from_ids(recorded.sample_ids, recorded.responses))


@needs_reference
@pytest.mark.parametrize(
    "files, shape, texture, bias",
    [
        (["cue-conflict_resnet50_session-1.csv"], 169, 620, 0.2142),
        (["cue-conflict_bagnet33_session-1.csv"], 50, 929, 0.0511),
        (["cue-conflict_simclr-resnet50x1_session-1.csv"], 249, 393, 0.3879),
        ([f"cue-conflict_subject-{i:02d}_session_1.csv" for i in range(1, 11)], 9236, 398, 0.9587),
        ([f"{TRAINED_2019.name}/style-transfer-512-nomask-experiment_vgg16_session-1.csv"], 84, 828, 0.0921),
        ([f"{TRAINED_2019.name}/style-transfer-512-nomask-experiment_resnet50_session-1.csv"], 162, 572, 0.2207),
        ([f"{TRAINED_2019.name}/style-transfer-512-nomask-experiment_alexnet_session-1.csv"], 182, 537, 0.2531),
    ],
)
def test_published_counts_exactly(files, shape, texture, bias):
    base = REFERENCE if not files[0].startswith(TRAINED_2019.name) else REFERENCE / "2019-paper"
    counts = counts_of(*(base / f for f in files))
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


# Written out again from PROTOCOLS.md, independently of the suite's table.
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
    assert CATEGORY_INDICES == PROTOCOL_INDICES


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


@needs_stimuli
def test_texture_parsing_on_every_real_file_name():
    names = sorted(p for p in STIMULI.glob("*/*.png"))
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


@needs_stimuli
def test_reader_finds_all_stimuli_with_file_name_ids():
    source = read_cue_conflict(STIMULI)
    assert len(source) == 1280 and "partial" not in source.info
    assert source.samples[0].sample_id == "airplane1-bicycle2.png"


@needs_reference
def test_decisions_observer_pools_a_folder_and_round_trips_the_schema(tmp_path):
    observer = DecisionsObserver(REFERENCE / "cue-conflict_resnet50_session-1.csv")
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


@needs_stimuli
def test_download_path_with_a_local_stand_in(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    archive = tmp_path / "cue-conflict.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(STIMULI, arcname="cue-conflict", filter=lambda m: None if m.name.endswith(("LICENSE", ".md")) else m)
    target = tmp_path / "data" / "cue-conflict"
    fetch_cue_conflict(target, url=archive.as_uri())
    assert content_digest(target)[0] == 1280 and len(read_cue_conflict(target)) == 1280

    # a tampered archive is refused and nothing is installed
    tampered = tmp_path / "tampered.tar.gz"
    with tarfile.open(tampered, "w:gz") as tar:
        tar.add(STIMULI, arcname="cue-conflict")
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


@needs_reference
def test_audit_run_on_imported_decisions(tmp_path):
    from auditkit.cli import main

    out = tmp_path / "out"
    main(["run", "--model", f"decisions:{REFERENCE / 'cue-conflict_resnet50_session-1.csv'}",
          "--suites", "shape_bias", "--out", str(out), "--cache", str(tmp_path / "c"), "--no-progress"])
    records = json.loads((out / "results.json").read_text())["records"]
    pooled = {r["metric"]: r for r in records if r["condition"] == "none"}
    assert round(pooled["shape_bias"]["value"], 4) == 0.2142
    assert pooled["shape_hits"]["value"] == 169 and pooled["texture_hits"]["value"] == 620
    assert pooled["shape_bias"]["ci_low"] < 0.2142 < pooled["shape_bias"]["ci_high"]
    assert pooled["shape_match"]["value"] == pytest.approx(169 / 1280)  # model-vs-human's denominator
    assert pooled["neither"]["value"] == pytest.approx(1 - (169 + 620) / 1200)
    per_category = {r["condition"]: r["value"] for r in records if r["condition"] in CATEGORIES}
    assert len(per_category) == 16
    assert (out / "figures" / "shape_bias__cue-conflict__shape_bias_per_category.png").is_file()


@needs_stimuli
@pytest.mark.slow
def test_efficientnet_lite0_on_all_real_stimuli(tmp_path):
    """The embedded real model on all 1280 stimuli: counts as measured when choosing the variant
    (README, "Decisions": 197 shape + 626 texture = 823 hits)."""
    from auditkit.cli import main

    out = tmp_path / "out"
    main(["run", "--model", "efficientnet_lite0", "--suites", "shape_bias", "--data",
          f"cue-conflict={STIMULI}", "--out", str(out), "--cache", str(tmp_path / "c"), "--no-progress"])
    records = json.loads((out / "results.json").read_text())["records"]
    pooled = {r["metric"]: r["value"] for r in records if r["condition"] == "none"}
    assert (pooled["shape_hits"], pooled["texture_hits"]) == (197, 626)
    decisions = (out / "decisions.csv").read_text().splitlines()
    assert len(decisions) == 1281 and decisions[0].startswith("subj,session,trial,rt,object_response")
