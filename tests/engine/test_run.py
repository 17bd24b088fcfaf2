"""`audit run` end to end on generated data: records, store reuse, resume after kill -9, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from netcal.metrics import ECE
from PIL import Image
from timm.data import create_transform

from auditkit.cli import main
from auditkit.records import per_sample_path

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> None:
    main(list(args))


def audit_args(model_file: Path, val: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "run", "--model", f"python:{model_file}:make", "--suites", "calibration",
        "--data", f"imagenet-val={val}", "--data-root", str(out / "no-data"),
        "--out", str(out), "--cache", str(cache), "--workers", "0", "--no-progress",
        "--batch-size", "5", "--shard-size", "8", *extra,
    ]


def records(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["records"]


def header(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())["header"]


def independent_ece(model_file: Path, val: Path) -> tuple[float, float]:
    """ECE and top-1 computed without auditkit: import the model, timm's transform, netcal."""
    namespace: dict = {}
    exec(model_file.read_text(), namespace)
    model = namespace["make"]().eval()
    cfg = model.pretrained_cfg
    transform = create_transform(input_size=cfg["input_size"], interpolation=cfg["interpolation"],
                                 crop_pct=cfg["crop_pct"], mean=cfg["mean"], std=cfg["std"])
    wnids = {"n01440764": 0, "n01443537": 1, "n01484850": 2, "n02085620": 151}
    paths = sorted(val.glob("*/*.JPEG"), key=lambda p: p.name)
    with torch.no_grad():
        batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
        probs = torch.softmax(model(batch).double(), 1).numpy()
    labels = np.array([wnids[p.parent.name] for p in paths])
    return ECE(bins=15).measure(probs, labels), float((probs.argmax(1) == labels).mean())


def test_ece_matches_independent_computation_and_store_is_reused(tiny_model_file, val_folder, tmp_path, cache_dir):
    out = tmp_path / "out"
    run_cli(*audit_args(tiny_model_file, val_folder, out, cache_dir))
    by_metric = {r["metric"]: r for r in records(out) if r["dataset"] == "imagenet-val"}
    ece, top1 = independent_ece(tiny_model_file, val_folder)
    assert by_metric["ece"]["value"] == pytest.approx(ece, abs=1e-6)
    assert by_metric["top1"]["value"] == pytest.approx(top1)
    assert by_metric["ece"]["n"] == 24
    assert by_metric["ece"]["ci_low"] <= by_metric["ece"]["value"] <= by_metric["ece"]["ci_high"]
    assert header(out)["images_forwarded"] == {"imagenet-val/none": 24}

    # imagenet-r is missing: skipped with the reason, never silently dropped
    skipped = json.loads((out / "results.json").read_text())["skipped"]
    assert [(s["suite"], s["dataset"]) for s in skipped] == [("calibration", "imagenet-r"), ("calibration", "imagenet-val")]
    assert "--data imagenet-r=PATH" in skipped[0]["reason"]
    assert skipped[1]["reason"].startswith("temperature scaling needs at least 1000 images")  # 24 images here

    # the same audit again: no forward pass, identical records
    out2 = tmp_path / "out2"
    run_cli(*audit_args(tiny_model_file, val_folder, out2, cache_dir))
    assert header(out2)["images_forwarded"] == {"imagenet-val/none": 0}
    assert records(out2) == records(out)

    # changed weights (the factory's code and parameters): recomputed
    tiny_model_file.write_text(tiny_model_file.read_text().replace("* 0.5)", "* 0.6)"))
    out3 = tmp_path / "out3"
    run_cli(*audit_args(tiny_model_file, val_folder, out3, cache_dir))
    assert header(out3)["images_forwarded"] == {"imagenet-val/none": 24}
    assert records(out3) != records(out)


def test_outputs_figures_per_sample_and_report(tiny_model_file, val_folder, tmp_path, cache_dir):
    out = tmp_path / "out"
    run_cli(*audit_args(tiny_model_file, val_folder, out, cache_dir))
    for stem in ("calibration__imagenet-val__reliability", "calibration__imagenet-val__confidence_histogram"):
        for fmt in ("png", "pdf", "svg"):
            assert (out / "figures" / f"{stem}.{fmt}").stat().st_size > 1000
    per_sample = np.load(out / per_sample_path("calibration", "imagenet-val", "none"))
    assert len(per_sample["sample_id"]) == 24
    assert list(per_sample["sample_id"]) == sorted(p.name for p in val_folder.glob("*/*.JPEG"))
    ece = [r for r in records(out) if r["metric"] == "top1"][0]
    assert per_sample["correct"].mean() == pytest.approx(ece["value"])
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "imagenet-r" in html
    model = header(out)["model"]
    assert model["preprocess"]["input_size"] == 32 and model["fingerprint"]
    # the typed header (auditkit.run.header) writes the keys report, compare and export read, in this order
    assert list(header(out)) == [
        "command", "created", "auditkit_version", "versions", "platform", "model", "datasets", "suites",
        "conditions", "imagenet_c", "seed", "device", "batch_size", "limit", "images_forwarded",
        "images_from_store", "bad_images", "precision", "model_facts", "undecodable_images_skipped", "seconds",
        "argv", "world_size", "suite_protocols"]  # calibration's temperature_split, always set


def test_limit_takes_the_first_samples(tiny_model_file, val_folder, tmp_path, cache_dir):
    out = tmp_path / "out"
    run_cli(*audit_args(tiny_model_file, val_folder, out, cache_dir, "--limit", "7"))
    assert {r["n"] for r in records(out)} == {7}
    assert header(out)["datasets"]["imagenet-val"]["limit"] == 7


SLOW_MODEL = """
import time
exec(open({tiny!r}).read())
_make = make
def make():
    model = _make()
    forward = model.forward
    def slow(x):
        time.sleep(0.25)
        return forward(x)
    model.forward = slow
    return model
"""


@pytest.mark.subprocess
@pytest.mark.slow
def test_kill_9_then_resume_gives_identical_records(tiny_model_file, val_folder, tmp_path, cache_dir):
    slow = tmp_path / "slow_model.py"
    slow.write_text(SLOW_MODEL.format(tiny=str(tiny_model_file)))
    out = tmp_path / "killed"
    command = [sys.executable, "-m", "auditkit", *audit_args(slow, val_folder, out, cache_dir)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(cache_dir.glob("store/*/*/shard-*.npz")) and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    shards_after_kill = list(cache_dir.glob("store/*/*/shard-*.npz"))
    assert 1 <= len(shards_after_kill) < 3, "the kill must land mid-run"
    assert not (out / "results.json").exists()

    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
    resumed = header(out)["images_forwarded"]["imagenet-val/none"]
    assert resumed == 24 - 8 * len(shards_after_kill)

    clean = tmp_path / "clean"
    run_cli(*audit_args(slow, val_folder, clean, tmp_path / "fresh-cache"))
    assert records(out) == records(clean)


@pytest.mark.parametrize(
    "args, expected",
    [
        (["run", "--model", "vit_b_su", "--suites", "calibration"], "did you mean 'vit_b_sup'"),
        (["run", "--model", "efficientnet_lite0", "--suites", "calibratoin"], "did you mean 'calibration'"),
        (["ls", "modles"], "did you mean 'models'"),
        (["run", "--model", "efficientnet_lite0", "--suites", "calibration", "--device", "cuda"], "--device cpu"),
        (["run", "--model", "efficientnet_lite0", "--suites", "calibration", "--data", "imagenet-val=/nonexistent/val"],
         "no such file or folder"),
        (["run", "--model", "efficientnet_lite0", "--suites", "calibration", "--data-root", "/nonexistent"],
         "dataset imagenet-val not found at /nonexistent/imagenet-val"),
    ],
)
@pytest.mark.subprocess
def test_user_mistakes_exit_nonzero_with_one_line(args, expected, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "auditkit", *args], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "AUDITKIT_CACHE": str(tmp_path / "c")}, timeout=300,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("audit: error:") and expected in lines[0]
    assert "Traceback" not in result.stderr


def test_run_with_no_data_at_all_reports_skips_and_fails(tiny_model_file, tmp_path, cache_dir):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        run_cli("run", "--model", f"python:{tiny_model_file}:make", "--suites", "calibration",
                "--data-root", str(tmp_path / "empty"), "--out", str(out), "--cache", str(cache_dir),
                "--no-progress", "--workers", "0")
    assert exit_.value.code == 2
    payload = json.loads((out / "results.json").read_text())
    assert payload["records"] == []
    assert {s["dataset"] for s in payload["skipped"]} == {"imagenet-val", "imagenet-r"}
    assert "skipped" in (out / "report.html").read_text().lower()


def test_suites_sharing_a_dataset_forward_each_image_once(tiny_model_file, val_folder, tmp_path, cache_dir):
    out = tmp_path / "out"
    args = audit_args(tiny_model_file, val_folder, out, cache_dir)
    args[args.index("calibration")] = "calibration,imagenet_x"
    run_cli(*args)
    assert header(out)["images_forwarded"] == {"imagenet-val/none": 24}
    assert {r["suite"] for r in records(out)} == {"calibration", "imagenet_x"}  # both read the one forward pass
    # 24 images cover some ImageNet-X factors: those present are reported, the absent ones skipped by name
    skipped = json.loads((out / "results.json").read_text())["skipped"]
    absent = [s["reason"] for s in skipped if s["suite"] == "imagenet_x"]
    present = {r["subset"] for r in records(out) if r["suite"] == "imagenet_x" and r["metric"] == "error_ratio"}
    assert {"background", "color"} <= present
    assert any("no annotated image with them among the 20 present" in reason for reason in absent)


def test_two_runs_are_bit_identical_and_the_seed_is_in_the_header(tiny_model_file, val_folder, tmp_path):
    for name in ("a", "b"):  # fresh stores: the forward passes are repeated too
        run_cli(*audit_args(tiny_model_file, val_folder, tmp_path / name, tmp_path / f"cache-{name}"))
    assert records(tmp_path / "a") == records(tmp_path / "b")  # floats compared exactly
    assert header(tmp_path / "a")["seed"] == 0
    run_cli(*audit_args(tiny_model_file, val_folder, tmp_path / "c", tmp_path / "cache-a", "--seed", "7"))
    assert header(tmp_path / "c")["seed"] == 7
    by_seed = {(r["metric"], r["value"]) for r in records(tmp_path / "c")}
    assert by_seed == {(r["metric"], r["value"]) for r in records(tmp_path / "a")}  # values do not depend on it
    assert [r["ci_low"] for r in records(tmp_path / "c")] != [r["ci_low"] for r in records(tmp_path / "a")]
