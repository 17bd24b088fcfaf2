"""ImageNet-X against the imagenet_x package, the published README rows and hand-worked ratios."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import imagenet_x
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from auditkit.cli import main
from auditkit.data.classes import imagenet_wnids
FACTORS = list(imagenet_x.FACTORS)

PUBLISHED = {
    "ResNet50": [0.694739, 1.1417, 0.771442, 1.18883, 1.49743, 1.74423, 1.13236, 2.10548, 2.39386,
                 1.31592, 1.71502, 1.92327, 2.17128, 1.92798, 1.16639, 1.97389],
    "ViT": [0.74067, 1.09097, 0.862456, 1.15164, 1.64401, 1.53992, 0.917235, 2.01538, 2.04465,
            1.29087, 1.83403, 1.98596, 1.93631, 1.60108, 0.782348, None],
}


def run(model: str, out: Path, *extra: str) -> dict:
    main(["run", "--model", model, "--suites", "imagenet_x", "--out", str(out),
          "--cache", str(out.parent / "cache"), "--no-progress", "--workers", "0", *extra])
    return json.loads((out / "results.json").read_text())


def ratios(payload: dict, prefix: str = "") -> dict[str, float]:
    """Error ratio per factor: subset ``<factor>`` (top file) or ``multi/<factor>``, all at
    condition none (the plain val images)."""
    assert all(r["condition"] == "none" for r in payload["records"] if r["suite"] == "imagenet_x")
    return {r["subset"][len(prefix):]: r["value"] for r in payload["records"]
            if r["metric"] == "error_ratio" and r["subset"].startswith(prefix)
            and ("/" in r["subset"]) == bool(prefix)}


def package_ratios(predictions: pd.DataFrame, which: str) -> pd.Series:
    """The package's own pipeline (the partial-set route docs/protocols.md checked)."""
    annotations = imagenet_x.load_annotations(which_factor=which, partition="val", filter_prototypes=True)
    merged = imagenet_x.augment_model_predictions(annotations, {"m": predictions})
    accuracies = imagenet_x.compute_factor_accuracies(merged, imagenet_x.FACTORS)
    return imagenet_x.error_ratio(accuracies).loc["m"]


@pytest.mark.slow
@pytest.mark.parametrize("model", ["ResNet50", "ViT"])
def test_published_rows_reproduced(model, tmp_path, imagenet_x_predictions):
    payload = run(f"predictions:{imagenet_x_predictions / f'{model}.csv'}", tmp_path / "out")
    ours = ratios(payload)
    for factor, published in zip(FACTORS, PUBLISHED[model]):
        if published is not None:
            assert ours[factor] == pytest.approx(published, abs=1e-4), factor
    # and every ratio, top and multi, equals the package's own computation on the same file
    predictions = pd.read_csv(imagenet_x_predictions / f"{model}.csv")
    for which, prefix in (("top", ""), ("multi", "multi/")):
        expected = package_ratios(predictions, which)
        got = ratios(payload, prefix)
        for factor in FACTORS:
            assert got[factor] == pytest.approx(expected[factor], rel=1e-12), (which, factor)
    mean = [r for r in payload["records"] if r["metric"] == "error_ratio_mean" and r["subset"] == "all"][0]
    assert mean["value"] == pytest.approx(np.mean([ours[f] for f in FACTORS]))
    coverage = [r for r in payload["records"] if r["metric"] == "coverage"][0]
    assert coverage["value"] == 1.0 and coverage["n"] == 46110


@pytest.mark.slow
def test_get_factor_accuracies_on_a_full_file_agrees(tmp_path, imagenet_x_predictions):
    folder = tmp_path / "preds"
    folder.mkdir()
    (folder / "ResNet50.csv").write_bytes((imagenet_x_predictions / "ResNet50.csv").read_bytes())
    expected = imagenet_x.error_ratio(imagenet_x.get_factor_accuracies(str(folder))).loc["ResNet50"]
    got = ratios(run(f"predictions:{folder}", tmp_path / "out"))
    for factor in FACTORS:
        assert got[factor] == pytest.approx(expected[factor], rel=1e-12)


# --- a live model on a partial val folder, predictions chosen by hand ----------------------

COLOUR_MODEL = textwrap.dedent(
    """
    import torch
    from torch import nn

    class ColourCode(nn.Module):
        # Reads the class a solid-colour image encodes: R = 8 * (c // 32) + 4, G = 8 * (c % 32) + 4.
        def __init__(self):
            super().__init__()
            self.pretrained_cfg = dict(input_size=(3, 16, 16), interpolation="bilinear", crop_pct=1.0,
                                       mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

        def forward(self, x):
            rgb = x.mean((2, 3)) * 255
            c = torch.round((rgb[:, 0] - 4) / 8) * 32 + torch.round((rgb[:, 1] - 4) / 8)
            return torch.nn.functional.one_hot(c.long().clamp(0, 999), 1000).float() * 10

    def make():
        return ColourCode()
    """
)


def encode(path: Path, predicted: int) -> None:
    colour = (8 * (predicted // 32) + 4, 8 * (predicted % 32) + 4, 128)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 20), colour).save(path, format="JPEG", quality=95)


@pytest.fixture
def partial_val(tmp_path):
    """Two real annotated val images per top factor. Factor i even: one right, one wrong;
    i odd: both right. So acc_f = 0.5 or 1, overall 24/32 = 0.75, ratio 2.0 or 0.0."""
    annotations = imagenet_x.load_annotations(which_factor="top", partition="val", filter_prototypes=True)
    wnids = imagenet_wnids()
    root = tmp_path / "val"
    for i, factor in enumerate(FACTORS):
        rows = annotations[annotations[factor] == 1].sort_values("file_name").head(2)
        for j, (_, row) in enumerate(rows.iterrows()):
            label = int(row["class"])
            wrong = i % 2 == 0 and j == 1
            encode(root / wnids[label] / row["file_name"], (label + 1) % 1000 if wrong else label)
    model = tmp_path / "colour_model.py"
    model.write_text(COLOUR_MODEL)
    return root, model


def test_hand_worked_ratios_on_a_partial_folder(partial_val, tmp_path):
    root, model = partial_val
    payload = run(f"python:{model}:make", tmp_path / "out", "--data", f"imagenet-val={root}")
    got = ratios(payload)
    for i, factor in enumerate(FACTORS):
        assert got[factor] == pytest.approx(2.0 if i % 2 == 0 else 0.0), factor
    coverage = [r for r in payload["records"] if r["metric"] == "coverage"][0]
    assert coverage["value"] == pytest.approx(32 / 46110)
    assert "32 of 46110" in payload["notices"][0]["message"]
    assert "32 of 46110" in (tmp_path / "out" / "report.html").read_text()

    # the exported predictions are the package's input format and give the package's ratios
    exported = pd.read_csv(tmp_path / "out" / "imagenet_x_predictions.csv")
    expected = package_ratios(exported, "multi")
    for factor in FACTORS:
        assert ratios(payload, "multi/")[factor] == pytest.approx(expected[factor], rel=1e-12)

    # and importing that export runs the same protocol to the same numbers
    again = run(f"predictions:{tmp_path / 'out' / 'imagenet_x_predictions.csv'}", tmp_path / "again")
    assert ratios(again) == pytest.approx(got)


def test_missing_factor_is_absent_and_the_rest_is_reported(partial_val, tmp_path):
    root, model = partial_val
    annotations = imagenet_x.load_annotations(which_factor="top", partition="val", filter_prototypes=True)
    for name in annotations[annotations["multiple_objects"] == 1]["file_name"]:
        for path in root.glob(f"*/{name}"):
            path.unlink()
    for folder in root.iterdir():  # an emptied class folder is refused on its own; drop it
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    payload = run(f"python:{model}:make", tmp_path / "out", "--data", f"imagenet-val={root}")
    got = ratios(payload)
    # by hand: 30 images left, the 8 even factors one wrong each: acc 22/30, error 8/30;
    # even factors err 1/2 -> ratio (1/2) / (8/30) = 1.875, odd ones 0; multiple_objects absent
    assert set(got) == set(FACTORS) - {"multiple_objects"}
    for i, factor in enumerate(FACTORS[:-1]):
        assert got[factor] == pytest.approx(1.875 if i % 2 == 0 else 0.0), factor
    mean = [r for r in payload["records"] if r["metric"] == "error_ratio_mean" and r["subset"] == "all"][0]
    assert mean["value"] == pytest.approx(8 * 1.875 / 15)  # over the 15 present factors
    reason = [s["reason"] for s in payload["skipped"] if s["suite"] == "imagenet_x" and "(top factor)" in s["reason"]][0]
    assert "multiple_objects" in reason and "absent" in reason and "\n" not in reason
    notices = [n["message"] for n in payload["notices"] if n["suite"] == "imagenet_x"]
    assert any("mean over the 15 factors present, not the 16-factor mean" in n for n in notices)


def test_no_annotated_file_name_says_so(tmp_path):
    root = tmp_path / "val"
    wnids = imagenet_wnids()
    for k in range(3):
        encode(root / wnids[k] / f"photo_{k}.JPEG", k)
    (tmp_path / "colour_model.py").write_text(COLOUR_MODEL)
    with pytest.raises(SystemExit):  # nothing could be computed
        run(f"python:{tmp_path / 'colour_model.py'}:make", tmp_path / "out", "--data", f"imagenet-val={root}")
    payload = json.loads((tmp_path / "out" / "results.json").read_text())
    reason = [s["reason"] for s in payload["skipped"] if s["suite"] == "imagenet_x"][0]
    assert "none of the 3 file names is an annotated val image" in reason and "among the 0" not in reason


def test_predictions_file_mistakes(tmp_path):
    from auditkit.adapters import load_model
    from auditkit.errors import AuditError

    bad = tmp_path / "bad.csv"
    bad.write_text("file,class\nILSVRC2012_val_00000001.JPEG,1\n")
    with pytest.raises(AuditError, match="lacks columns"):
        load_model(f"predictions:{bad}")
    bad.write_text("file_name,predicted_class,predicted_probability\nILSVRC2012_val_00000001.JPEG,1000,0.5\n")
    with pytest.raises(AuditError, match="not an ImageNet class"):
        load_model(f"predictions:{bad}")


def _recorded(predictions: pd.DataFrame):
    """Predictions of a recorded top-1 observer on the annotated val images in ``predictions``,
    labels from the annotations (what the runner hands the suite for ``predictions:PATH``)."""
    from auditkit.data.source import DatasetSource, Sample
    from auditkit.suite import Predictions

    labels = {}
    for which in ("top", "multi"):
        table = imagenet_x.load_annotations(which_factor=which, partition="val", filter_prototypes=True)
        labels.update(zip(table["file_name"], table["class"].astype(int)))
    rows = predictions[predictions["file_name"].isin(labels)]
    names = rows["file_name"].tolist()
    source = DatasetSource("imagenet-val", Path("/nowhere"),
                           tuple(Sample(Path("/nowhere"), labels[n], n) for n in names))
    return Predictions(source, "none", None, np.full(len(names), ""),
                       top1=rows["predicted_class"].to_numpy(np.int64),
                       top1_probability=rows["predicted_probability"].to_numpy(float))


def test_records_are_subsets_of_the_plain_view_and_sample_metrics_give_them_back(imagenet_x_predictions):
    from auditkit.suite import PredictionRequest
    from suites.imagenet_x.suite import ImageNetXSuite

    published = pd.read_csv(imagenet_x_predictions / "ResNet50.csv")
    partial = published.sort_values("file_name").head(3000)  # a partial val set, every factor present
    prediction = _recorded(partial)
    suite = ImageNetXSuite()
    assert set(prediction.answered) & set(suite.accepts)
    output = suite.evaluate("m", {PredictionRequest("imagenet-val"): prediction}, seed=0)
    records = {(r.subset, r.metric): r for r in output.records}
    assert {(r.dataset, r.condition, r.aggregate) for r in output.records} == {("imagenet-val", "none", "")}
    subsets = {r.subset for r in output.records}
    assert subsets == {"all", "multi", *FACTORS, *(f"multi/{f}" for f in FACTORS)}
    # the package's own pipeline on the same partial predictions
    for which, prefix in (("top", ""), ("multi", "multi/")):
        expected = package_ratios(partial, which)
        for factor in FACTORS:
            assert records[(f"{prefix}{factor}", "error_ratio")].value == pytest.approx(expected[factor], rel=1e-12)
    top = imagenet_x.load_annotations(which_factor="top", partition="val", filter_prototypes=True)
    used = top[top["file_name"].isin(partial["file_name"])]
    assert records[("all", "coverage")].value == len(used) / 46110
    assert records[("pose", "annotated_images")].value == used["pose"].sum()
    ci = records[("texture", "error_ratio")]
    assert ci.ci_low < ci.value < ci.ci_high
    # every value the per-sample arrays give is the record's, and they give every record but none
    arrays = output.per_sample[("imagenet-val", "none")]
    assert list(arrays["sample_id"]) == list(prediction.sample_ids)
    recomputed = suite.sample_metrics("imagenet-val", "none", arrays)
    assert recomputed == {key: records[key].value for key in records}
    hits = suite.sample_hits("imagenet-val", "none", arrays)
    assert set(hits) == {("all", "accuracy"), ("multi", "accuracy")}
    assert hits[("all", "accuracy")].mean() == records[("all", "accuracy")].value


def test_version_1_rows_migrate_to_subsets():
    from auditkit.records import MetricRecord
    from auditkit.records_v1 import SAMPLE_KEYS, migrate_record

    def v1(condition: str, metric: str) -> dict:  # as imagenet_x 1.0 wrote them (git show 662ce83)
        return {"model": "m", "suite": "imagenet_x", "dataset": "imagenet-val", "condition": condition,
                "metric": metric, "value": 1.0, "ci_low": None, "ci_high": None, "n": 9, "suite_version": "1.0"}

    moved = {(row["condition"], row["metric"]): migrate_record(row) for row in (
        v1("pose", "error_ratio"), v1("multi/pose", "accuracy"), v1("none", "error_ratio_mean"),
        v1("multi", "error_ratio_mean"), v1("none", "coverage"))}
    assert {key: (row["condition"], row["subset"]) for key, row in moved.items()} == {
        ("pose", "error_ratio"): ("none", "pose"), ("multi/pose", "accuracy"): ("none", "multi/pose"),
        ("none", "error_ratio_mean"): ("none", "all"), ("multi", "error_ratio_mean"): ("none", "multi"),
        ("none", "coverage"): ("none", "all")}
    for row in moved.values():
        MetricRecord(**row)  # a valid version 2 record
    assert SAMPLE_KEYS["imagenet_x"]("imagenet-val", "none") == ("imagenet-val", "none")
