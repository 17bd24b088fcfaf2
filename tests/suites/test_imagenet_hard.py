"""ImageNet-Hard from a local HF copy (save_to_disk and parquet), multi-label scoring."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
from PIL import Image

from auditkit.cli import main
from auditkit.data import open_dataset
from auditkit.data.imagenet_hard import fetch_imagenet_hard
from auditkit.errors import AuditError
from tests.suites.test_imagenet_x import COLOUR_MODEL


def colour(predicted: int, mode: str = "RGB") -> Image.Image:
    image = Image.new("RGB", (20, 20), (8 * (predicted // 32) + 4, 8 * (predicted % 32) + 4, 128))
    return image.convert(mode) if mode != "RGB" else image


def hard_dataset() -> tuple[datasets.Dataset, list[bool]]:
    rows = [  # (image answers, label list padded with -1, right?)
        (colour(5), [5, -1, -1], True),
        (colour(7), [3, 7, 9], True),           # in the multi-label set
        (colour(8), [3, 7, 9], False),
        (colour(12, "RGBA"), [12, -1, -1], True),  # converted to RGB
        (colour(40), [41, -1, -1], False),
    ]
    features = datasets.Features({"image": datasets.Image(), "label": datasets.Sequence(datasets.Value("int64")),
                                  "origin": datasets.Value("string"), "english_label": datasets.Sequence(datasets.Value("string"))})
    data = {"image": [r[0] for r in rows], "label": [r[1] for r in rows],
            "origin": ["imagenet"] * len(rows), "english_label": [["x"]] * len(rows)}
    return datasets.Dataset.from_dict(data, features=features), [r[2] for r in rows]


@pytest.mark.parametrize("form", ["save_to_disk", "parquet"])
def test_hard_multi_label_top1(form, tmp_path):
    dataset, right = hard_dataset()
    root = tmp_path / "data" / "imagenet-hard"
    if form == "save_to_disk":
        datasets.DatasetDict({"validation": dataset}).save_to_disk(str(root))
    else:
        (root / "data").mkdir(parents=True)
        dataset.to_parquet(str(root / "data" / "validation-00000-of-00001.parquet"))
    source = open_dataset("imagenet-hard", tmp_path / "data", {})
    assert [s.label_set for s in source.samples][:2] == [(5,), (3, 7, 9)]
    model = tmp_path / "colour_model.py"
    model.write_text(COLOUR_MODEL)
    out = tmp_path / "out"
    main(["run", "--model", f"python:{model}:make", "--suites", "robustness", "--data-root", str(tmp_path / "data"),
          "--out", str(out), "--cache", str(tmp_path / "c"), "--no-progress", "--workers", "0"])
    payload = json.loads((out / "results.json").read_text())
    top1 = [r for r in payload["records"] if r["dataset"] == "imagenet-hard" and r["metric"] == "top1"][0]
    assert top1["value"] == pytest.approx(np.mean(right)) and top1["n"] == 5
    assert payload["header"]["datasets"]["imagenet-hard"]["revision"] == "unknown (local copy)"


def test_hard_download_with_a_local_stand_in(tmp_path, monkeypatch):
    dataset, _ = hard_dataset()
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)

    class Info:
        sha = "0123abcd" * 5

    monkeypatch.setattr("huggingface_hub.HfApi.dataset_info", lambda self, repo, revision=None: Info())
    monkeypatch.setattr(datasets, "load_dataset", lambda repo, split, revision: dataset)
    target = tmp_path / "imagenet-hard"
    fetch_imagenet_hard(target)
    source = open_dataset("imagenet-hard", tmp_path, {})
    assert len(source) == 5 and source.info["revision"] == Info.sha


def test_hard_offline_says_how_to_provide_it(tmp_path):
    with pytest.raises(AuditError, match="--data imagenet-hard=PATH"):
        fetch_imagenet_hard(tmp_path / "imagenet-hard")
