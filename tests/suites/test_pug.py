"""PUG-ImageNet: the released folder layout and the Hugging Face copy, label-set scoring
(index 841 shared by Shirt and Sweatshirt), per-subset and per-value records against a direct
count, and refusals when factor values cannot be joined."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit.cli import main
from auditkit.data.pug import SUBSET_FACTORS, read_class_map, read_pug_imagenet
from auditkit.errors import AuditError
from tests.conftest import TEST_REFERENCE, require
from tests.suites.test_imagenet_x import COLOUR_MODEL

CLASSES = {"Goldfish": [1], "Wolf": [269, 270, 271, 272], "Shirt": [841], "Sweatshirt": [841], "Goose": [99]}
DEFAULTS = {"world_name": "City", "camera_yaw": 0, "character_texture": "Default"}
SWEEPS = {"Worlds": ["City", "Desert"], "Camera_Yaw": [0, 45, 90], "Object_Texture": ["Default", "Grass", "Metal"]}
CSV_COLUMNS = ["world_name", "character_name", "character_label", "character_rotation_yaw",
               "character_rotation_roll", "character_rotation_pitch", "character_scale", "camera_roll",
               "camera_pitch", "camera_yaw", "character_texture", "scene_light", "filename"]


def predicted_class(name: str, factor: str, value: object) -> int:
    """The answer the colour model gives, chosen by hand: Goldfish wrong at yaw 90, Wolf right
    through its 3rd index except on Metal, Shirt and Sweatshirt both answered 841, Goose never."""
    if name == "Goldfish":
        return 2 if (factor, value) == ("camera_yaw", 90) else 1
    if name == "Wolf":
        return 5 if (factor, value) == ("character_texture", "Metal") else 271
    if name in ("Shirt", "Sweatshirt"):
        return 841
    return 500


def colour(predicted: int) -> tuple[int, int, int]:
    return (8 * (predicted // 32) + 4, 8 * (predicted % 32) + 4, 128)


def factors_of(factor: str | None, value: object) -> dict[str, object]:
    row = {"world_name": "City", "character_rotation_yaw": 0, "character_rotation_roll": 0,
           "character_rotation_pitch": 0, "character_scale": 1.0, "camera_roll": 0, "camera_pitch": 0,
           "camera_yaw": 0, "character_texture": "Default", "scene_light": "Default"}
    if factor:
        row[factor] = value
    return row


def expected_accuracy() -> dict[str, float]:
    """Direct count over the generated images: subset (``Camera_Yaw``, ``Camera_Yaw/45``) -> accuracy."""
    hits: dict[str, list[bool]] = {}
    for subset, values in SWEEPS.items():
        factor = SUBSET_FACTORS[subset]
        for value in values:
            for name, indices in CLASSES.items():
                right = predicted_class(name, factor, value) in indices
                hits.setdefault(subset, []).append(right)
                hits.setdefault(f"{subset}/{value}", []).append(right)
    return {subset: float(np.mean(r)) for subset, r in hits.items()}


def make_release(root: Path, filename_style: str = "relative", with_csv: bool = True) -> Path:
    root.mkdir(parents=True)
    (root / "class_to_imagenet_idx.json").write_text(json.dumps(CLASSES))
    rows = []
    for subset, values in SWEEPS.items():
        factor = SUBSET_FACTORS[subset]
        for value in values:
            for name in CLASSES:
                path = root / subset / name / f"{name}_{subset}_{value}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (24, 24), colour(predicted_class(name, factor, value))).save(path)
                filename = path.relative_to(root).as_posix() if filename_style == "relative" else path.name
                rows.append({**factors_of(factor, value), "character_name": f"{name}_asset",
                             "character_label": name, "filename": filename})
    if with_csv:
        with (root / "labels_pug_imagenet.csv").open("w", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
    return root


def run_pug(tmp_path: Path, root: Path) -> dict:
    model = tmp_path / "colour_model.py"
    model.write_text(COLOUR_MODEL)
    out = tmp_path / "out"
    main(["run", "--model", f"python:{model}:make", "--suites", "pug", "--data", f"pug-imagenet={root}",
          "--out", str(out), "--cache", str(tmp_path / "cache"), "--no-progress", "--workers", "0"])
    return json.loads((out / "results.json").read_text())


def top1_by_subset(payload: dict) -> dict[str, float]:
    """Schema v2: every PUG record at condition ``none``, the group of images in ``subset``."""
    rows = [r for r in payload["records"] if r["suite"] == "pug"]
    assert {r["condition"] for r in rows} == {"none"}
    return {r["subset"]: r["value"] for r in rows if r["metric"] == "top1"}


@pytest.mark.parametrize("filename_style", ["relative", "basename"])
def test_release_layout_records_equal_a_direct_count(tmp_path, filename_style):
    root = make_release(tmp_path / "pug", filename_style)
    payload = run_pug(tmp_path, root)
    got = top1_by_subset(payload)
    expected = expected_accuracy()
    for subset, value in expected.items():
        assert got[subset] == pytest.approx(value), subset
    assert got["Camera_Yaw/90"] == pytest.approx(3 / 5)  # Goldfish wrong, Goose wrong
    assert got["Object_Texture/Metal"] == pytest.approx(3 / 5)  # Wolf wrong, Goose wrong
    assert got["all"] == pytest.approx(np.mean([predicted_class(n, SUBSET_FACTORS[s], v) in i
                                                 for s, vs in SWEEPS.items() for v in vs
                                                 for n, i in CLASSES.items()]))
    mean = [r for r in payload["records"] if r["metric"] == "mean_subset_top1"][0]
    assert mean["value"] == pytest.approx(np.mean([expected[s] for s in SWEEPS]))
    assert mean["ci_low"] <= mean["value"] <= mean["ci_high"]
    assert not [s for s in payload["skipped"] if s["suite"] == "pug"]
    assert {f["name"] for f in payload["figures"] if f["suite"] == "pug"} == {"subsets", "factors"}


def test_shirt_and_sweatshirt_both_count_when_they_share_an_index(tmp_path):
    source = read_pug_imagenet(make_release(tmp_path / "pug"))
    shirts = [s for s in source.samples if s.attribute("pug_class") in ("Shirt", "Sweatshirt")]
    assert shirts and all(s.label_set == (841,) for s in shirts)
    from suites.pug.suite import correct_in_label_set

    assert correct_in_label_set(np.full(len(source), 841), source)[
        [i for i, s in enumerate(source.samples) if s in shirts]].all()
    wolf = next(s for s in source.samples if s.attribute("pug_class") == "Wolf")
    assert wolf.label_set == (269, 270, 271, 272)


def test_without_the_csv_per_subset_only_and_per_value_is_refused_with_the_fix(tmp_path):
    payload = run_pug(tmp_path, make_release(tmp_path / "pug", with_csv=False))
    got = top1_by_subset(payload)
    assert set(got) == {"all", *SWEEPS}
    reason = [s["reason"] for s in payload["skipped"] if s["suite"] == "pug"][0]
    assert "labels_pug_imagenet.csv" in reason


def test_csv_rows_naming_no_file_are_never_guessed(tmp_path):
    root = make_release(tmp_path / "pug")
    text = (root / "labels_pug_imagenet.csv").read_text().replace(".png", ".jpg")
    (root / "labels_pug_imagenet.csv").write_text(text)
    source = read_pug_imagenet(root)
    assert source.info["csv_rows_unmatched"] == len(source) and not any(s.attribute("value") for s in source.samples)


def test_csv_class_disagreeing_with_the_folder_is_not_used(tmp_path):
    root = make_release(tmp_path / "pug")
    text = (root / "labels_pug_imagenet.csv").read_text()
    (root / "labels_pug_imagenet.csv").write_text(text.replace(",Goose,", ",Goldfish,", 1))
    source = read_pug_imagenet(root)
    assert source.info["csv_class_mismatches"] == 1


def test_layout_errors_name_the_fix(tmp_path):
    with pytest.raises(AuditError, match="class_to_imagenet_idx.json missing"):
        read_pug_imagenet(tmp_path)
    root = make_release(tmp_path / "pug")
    (root / "Worlds" / "Unicorn").mkdir()
    with pytest.raises(AuditError, match="not a class of"):
        read_pug_imagenet(root)


def make_hub_copy(root: Path, form: str) -> Path:
    """The HF copy's features (facebook/PUG_ImageNet card): no subset and no file name. The
    default render appears once; the release holds it once in each subset folder."""
    import datasets

    rows = []
    renders = [(None, None)] + [(SUBSET_FACTORS[s], v) for s, vs in SWEEPS.items() for v in vs
                                if v != DEFAULTS[SUBSET_FACTORS[s]]]
    for factor, value in renders:
        for name in CLASSES:
            image = Image.new("RGB", (24, 24), colour(predicted_class(name, factor, value)))
            rows.append({"image": image, "character_name": f"{name}_asset", "character_label": name,
                         **factors_of(factor, value)})
    features = datasets.Features({
        "image": datasets.Image(), "world_name": datasets.Value("string"),
        "character_name": datasets.Value("string"), "character_label": datasets.Value("string"),
        **{c: datasets.Value("int64") for c in ("character_rotation_yaw", "character_rotation_roll",
                                                "character_rotation_pitch", "camera_roll", "camera_pitch", "camera_yaw")},
        "character_scale": datasets.Value("float64"), "character_texture": datasets.Value("string"),
        "scene_light": datasets.Value("string"),
    })
    dataset = datasets.Dataset.from_list(rows, features=features)
    root.mkdir(parents=True)
    if form == "save_to_disk":
        datasets.DatasetDict({"train": dataset}).save_to_disk(str(root))
    else:
        (root / "data").mkdir()
        dataset.to_parquet(str(root / "data" / "train-00000-of-00001.parquet"))
    (root / "class_to_imagenet_idx.json").write_text(json.dumps(CLASSES))
    return root


@pytest.mark.parametrize("form", ["save_to_disk", "parquet"])
def test_hub_copy_gives_the_release_numbers_per_subset_and_value(tmp_path, form):
    payload = run_pug(tmp_path, make_hub_copy(tmp_path / "pug", form))
    got = top1_by_subset(payload)
    for subset, value in expected_accuracy().items():
        assert got[subset] == pytest.approx(value), subset
    notices = [n["message"] for n in payload["notices"] if n["suite"] == "pug"]
    assert any("reconstructed" in n for n in notices)


def test_the_released_class_map_reads_with_its_shared_index():
    classes = read_class_map(require(TEST_REFERENCE / "pug-imagenet", "the PUG-ImageNet class map"))
    assert len(classes) == 151
    assert sum(len(v) for v in classes.values()) == 177
    assert classes["Shirt"] == classes["Sweatshirt"] == (841,)
    assert classes["Wolf"] == (269, 270, 271, 272)


def test_value_order_puts_named_values_before_numbers():
    from suites.pug.suite import value_order

    assert value_order({"90", "-45", "Default", "0", "1.5"}) == ["Default", "-45", "0", "1.5", "90"]


@pytest.mark.slow
def test_a_clip_zero_shot_model_runs_pug_and_invariance(tmp_path, val_folder):
    """open_clip zero-shot (tiny random-init tower) through both suites: PUG per subset equals
    the adapter's own logits on the images, and invariance gives its points (the resolution
    axis of open_clip's ViT is skipped with the reason)."""
    import open_clip
    import torch

    from auditkit.adapters import ModelOptions, load_model
    from suites.pug.suite import correct_in_label_set
    from tests.adapters.test_adapters import TINY_CLIP, TINY_CLIP_CONFIG

    config = tmp_path / f"{TINY_CLIP}.json"
    config.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(config)
    torch.manual_seed(3)
    weights = tmp_path / "clip.pth"
    torch.save(open_clip.create_model(TINY_CLIP, pretrained=None).state_dict(), weights)
    root = make_release(tmp_path / "pug")
    out, cache = tmp_path / "out", tmp_path / "cache"
    main(["run", "--model", f"open_clip:{TINY_CLIP}", "--weights", str(weights), "--suites", "pug,invariance",
          "--data", f"pug-imagenet={root}", "--data", f"imagenet-val={val_folder}",
          "--out", str(out), "--cache", str(cache), "--no-progress", "--workers", "0"])
    payload = json.loads((out / "results.json").read_text())

    adapter = load_model(f"open_clip:{TINY_CLIP}", ModelOptions(weights=str(weights), head_cache=cache / "heads"))
    source = read_pug_imagenet(root)
    transform = adapter.preprocess.transform()
    with torch.inference_mode():
        batch = torch.stack([transform(Image.open(s.path).convert("RGB")) for s in source.samples])
        predicted = adapter.logits(batch).argmax(1).numpy()
    correct = correct_in_label_set(predicted, source)
    got = top1_by_subset(payload)
    for subset in SWEEPS:
        rows = [i for i, s in enumerate(source.samples) if s.attribute("subset") == subset]
        assert got[subset] == pytest.approx(correct[rows].mean()), subset
    invariance = {r["condition"] for r in payload["records"] if r["suite"] == "invariance"}
    assert {"scale/1.5", "shift/30"} <= invariance
    assert any(s["suite"] == "invariance" and "resolution" in s["reason"] for s in payload["skipped"])


def colour_predictions(source) -> "Predictions":
    """What the colour model answers, read back from each image's colour (``colour``), as logits."""
    from auditkit.suite import Predictions

    predicted = []
    for sample in source.samples:
        red, green, _ = Image.open(sample.path).convert("RGB").getpixel((0, 0))
        predicted.append((red - 4) // 8 * 32 + (green - 4) // 8)
    logits = np.zeros((len(source), 1000), dtype=np.float32)
    logits[np.arange(len(source)), predicted] = 10.0
    sha = np.array([f"{i:040x}" for i in range(len(source))])
    return Predictions(source=source, condition="none", logits=logits, content_sha1=sha)


def test_evaluate_records_subsets_and_sample_metrics_equal_them(tmp_path):
    """Schema v2 without the runner: per-subset and per-value top-1 in ``subset`` at condition
    ``none``, equal to a direct count, and ``sample_metrics`` of the per-sample arrays (also of a
    resample) equal to the records: each metric is defined once (``pug_metrics``)."""
    from auditkit.suite import PredictionRequest
    from suites.pug.suite import PugSuite, pug_metrics

    source = read_pug_imagenet(make_release(tmp_path / "pug"))
    suite = PugSuite()
    output = suite.evaluate("m", {PredictionRequest("pug-imagenet"): colour_predictions(source)}, seed=0)
    assert {(r.dataset, r.condition, r.aggregate) for r in output.records} == {("pug-imagenet", "none", "")}
    values = {(r.subset, r.metric): r.value for r in output.records}
    for subset, value in expected_accuracy().items():
        assert values[(subset, "top1")] == pytest.approx(value), subset
    assert values[("all", "mean_subset_top1")] == pytest.approx(np.mean([expected_accuracy()[s] for s in SWEEPS]))
    assert [r.subset for r in output.records][:4] == ["all", "Worlds", "Worlds/City", "Worlds/Desert"]
    arrays = output.per_sample[("pug-imagenet", "none")]
    assert arrays["in:Camera_Yaw"].sum() == 15 and set(arrays["value:Camera_Yaw"][arrays["in:Camera_Yaw"]]) == {"0", "45", "90"}
    assert suite.sample_metrics("pug-imagenet", "none", arrays) == values
    hits = suite.sample_hits("pug-imagenet", "none", arrays)
    assert len(hits[("Camera_Yaw/90", "top1")]) == 5 and hits[("Camera_Yaw/90", "top1")].mean() == pytest.approx(3 / 5)
    rows = np.random.default_rng(0).integers(0, len(source), len(source))
    resampled = {k: v[rows] for k, v in arrays.items()}
    again = suite.sample_metrics("pug-imagenet", "none", resampled)
    correct = arrays["correct"][rows]
    in_yaw = arrays["in:Camera_Yaw"][rows]
    assert again[("Camera_Yaw", "top1")] == pytest.approx(correct[in_yaw].mean())
    assert again == pug_metrics(resampled)


def test_v1_pug_records_migrate_subsets_out_of_condition():
    from auditkit.records import read_results
    from tests.suites.test_calibration import V1_RUN, v1_samples_reproduce

    rows = [r for r in read_results(V1_RUN).records if r.suite == "pug"]
    assert {r.condition for r in rows} == {"none"}
    subsets = {(r.subset, r.metric) for r in rows}
    assert {("all", "top1"), ("all", "mean_subset_top1"), ("Camera_Yaw", "top1"), ("Camera_Yaw/45", "top1")} <= subsets
    assert v1_samples_reproduce("pug") == 1  # v1 saved only `correct`: the top-1 over all images
