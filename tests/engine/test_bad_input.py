"""Bad input: one line that names the fix, never a traceback and never a silent wrong number."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from auditkit.adapters.preprocess import paper_supervised
from auditkit.cli import main
from auditkit.data import open_dataset
from auditkit.errors import AuditError
from tests.conftest import write_image
from tests.engine.test_run import audit_args

NAN_MODEL = textwrap.dedent(
    """
    import torch
    from torch import nn

    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 1000)
            self.pretrained_cfg = dict(input_size=(3, 16, 16), interpolation="bilinear", crop_pct=1.0,
                                       mean=(0.5,) * 3, std=(0.5,) * 3)

        def forward(self, x):
            out = self.fc(x.mean((2, 3)))
            out[0, 0] = float("nan")
            return out

    def make():
        return Broken()
    """
)


def one_error_line(capsys, args: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("audit: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_nan_logits_are_refused_naming_the_image(val_folder, tmp_path, capsys):
    model = tmp_path / "nan_model.py"
    model.write_text(NAN_MODEL)
    err = one_error_line(capsys, audit_args(model, val_folder, tmp_path / "out", tmp_path / "cache"))
    assert "NaN or infinite" in err and "ILSVRC2012_val_" in err
    assert not (tmp_path / "out" / "results.json").exists()
    assert not list((tmp_path / "cache").glob("store/*/*/shard-*.npz"))  # nothing poisoned is cached


def test_empty_class_folder_is_refused_not_a_smaller_dataset(val_folder, tmp_path):
    (val_folder / "n01530575").mkdir()
    with pytest.raises(AuditError, match="holds no images"):
        open_dataset("imagenet-val", tmp_path, {"imagenet-val": str(val_folder)})
    v2 = tmp_path / "v2" / "imagenetv2-matched-frequency-format-val"
    write_image(v2 / "0" / "a.jpeg", np.random.default_rng(0))
    (v2 / "1").mkdir()
    with pytest.raises(AuditError, match="holds no images"):
        open_dataset("imagenet-v2", tmp_path, {"imagenet-v2": str(tmp_path / "v2")})


def test_v2_folders_named_by_wnid_are_refused(tmp_path):
    write_image(tmp_path / "v2" / "n01440764" / "a.jpeg", np.random.default_rng(0))
    with pytest.raises(AuditError, match="not a class index 0..999"):
        open_dataset("imagenet-v2", tmp_path, {"imagenet-v2": str(tmp_path / "v2")})


@pytest.mark.parametrize("mode", ["L", "CMYK", "RGBA", "P", "I;16"])
def test_every_image_mode_becomes_the_same_rgb_picture(mode):
    """Grey, CMYK, RGBA, palette and 16-bit images reach the model as the 8-bit RGB picture
    they show; 16-bit is scaled, not clipped to white by PIL's default conversion."""
    transform = paper_supervised().transform()
    grey = np.tile(np.linspace(0, 255, 300).astype(np.uint8), (280, 1))
    reference = transform(Image.fromarray(grey).convert("RGB"))
    if mode == "I;16":
        image = Image.fromarray((grey.astype("<u2") * 257))
        assert image.mode == "I;16"
    else:
        image = Image.fromarray(grey).convert(mode)
    got = transform(image)
    assert got.shape == reference.shape
    assert float((got - reference).abs().max()) < 0.05  # CMYK round trip differs by a grey level or so


def test_read_only_output_folder_is_one_line(tiny_model_file, val_folder, tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        err = one_error_line(capsys, audit_args(tiny_model_file, val_folder, locked / "out", tmp_path / "cache"))
    finally:
        locked.chmod(0o700)
    assert "cannot write" in err and "writable --out" in err


def test_full_disk_while_writing_results_is_one_line(tiny_model_file, val_folder, tmp_path, capsys, monkeypatch):
    import errno

    from auditkit.records import RunResults

    def full(self, out_dir):
        raise OSError(errno.ENOSPC, "No space left on device", str(out_dir / "results.json"))

    monkeypatch.setattr(RunResults, "write", full)
    err = one_error_line(capsys, audit_args(tiny_model_file, val_folder, tmp_path / "out", tmp_path / "cache"))
    assert "No space left on device" in err and "results.json" in err


def test_truncated_image_fails_by_default_and_is_left_out_with_skip(tiny_model_file, val_folder, tmp_path, capsys):
    import json

    broken = sorted(val_folder.glob("*/*.JPEG"))[7]
    data = broken.read_bytes()
    broken.write_bytes(data[: len(data) // 3])  # truncated mid-stream
    err = one_error_line(capsys, audit_args(tiny_model_file, val_folder, tmp_path / "out", tmp_path / "cache"))
    assert broken.name in err and "--bad-images skip" in err

    main(audit_args(tiny_model_file, val_folder, tmp_path / "skip", tmp_path / "cache", "--bad-images", "skip"))
    payload = json.loads((tmp_path / "skip" / "results.json").read_text())
    assert payload["header"]["undecodable_images_skipped"] == {"imagenet-val": [broken.name]}
    assert any(broken.name in n["message"] for n in payload["notices"])
    top1 = [r for r in payload["records"] if r["metric"] == "top1"][0]
    assert top1["n"] == 23

    # the same numbers as a folder without the file (ids differ by one image only)
    broken.unlink()
    main(audit_args(tiny_model_file, val_folder, tmp_path / "without", tmp_path / "cache-2"))
    without = json.loads((tmp_path / "without" / "results.json").read_text())
    for got, want in zip(payload["records"], without["records"]):
        assert (got["metric"], got["n"]) == (want["metric"], want["n"])
        assert got["value"] == pytest.approx(want["value"], abs=1e-6)


@pytest.mark.parametrize("rows, expected", [
    (["ILSVRC2012_val_00000293.JPEG,394,0.5", "holiday_photo.jpg,1,0.9"], "holiday_photo.jpg is not an ImageNet val file name"),
    (["ILSVRC2012_val_00000293.JPEG,394,0.5", "ILSVRC2012_val_00000293.JPEG,3,0.5"], "predicted twice"),
    (["ILSVRC2012_val_00000293.JPEG,1000,0.5"], "not an ImageNet class"),
])
def test_imported_predictions_with_bad_rows_are_refused(rows, expected, tmp_path, capsys):
    csv = tmp_path / "theirs.csv"
    csv.write_text("file_name,predicted_class,predicted_probability\n" + "\n".join(rows) + "\n")
    err = one_error_line(capsys, ["run", "--model", f"predictions:{csv}", "--suites", "imagenet_x",
                                  "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "c")])
    assert expected in err


@pytest.mark.slow
def test_imported_predictions_with_missing_rows_are_scored_on_what_is_there_with_a_warning(
        tmp_path, imagenet_x_predictions):
    import json

    lines = (imagenet_x_predictions / "ResNet50.csv").read_text().splitlines()
    csv = tmp_path / "theirs.csv"
    csv.write_text("\n".join(lines[:-1000]) + "\n")  # the last 1000 rows lost
    main(["run", "--model", f"predictions:{csv}", "--suites", "imagenet_x", "--out", str(tmp_path / "out"),
          "--cache", str(tmp_path / "c"), "--no-progress"])
    payload = json.loads((tmp_path / "out" / "results.json").read_text())
    coverage = [r for r in payload["records"] if r["metric"] == "coverage"][0]
    assert coverage["value"] < 1
    assert any("of 46110" in n["message"] for n in payload["notices"])  # a warning, not silence


TEN_CLASS_MODEL = textwrap.dedent(
    """
    from torch import nn

    class TenClasses(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 10)
            self.pretrained_cfg = dict(input_size=(3, 16, 16), interpolation="bilinear", crop_pct=1.0,
                                       mean=(0.5,) * 3, std=(0.5,) * 3)

        def forward(self, x):
            return self.fc(x.mean((2, 3)))

    def make():
        return TenClasses()
    """
)


def test_model_with_the_wrong_number_of_classes_is_one_line(val_folder, tmp_path, capsys):
    model = tmp_path / "ten.py"
    model.write_text(TEN_CLASS_MODEL)
    err = one_error_line(capsys, audit_args(model, val_folder, tmp_path / "out", tmp_path / "cache"))
    assert "(5, 10)" in err and "1000-class ImageNet head" in err
    assert not list((tmp_path / "cache").glob("store/*/*/shard-*.npz"))


def test_missing_data_root_names_where_we_looked_and_how_to_get_the_data(tiny_model_file, tmp_path, capsys):
    root = tmp_path / "no-such-root"
    err = one_error_line(capsys, [
        "run", "--model", f"python:{tiny_model_file}:make", "--suites", "robustness", "--data-root", str(root),
        "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--no-progress"])
    assert "nothing could be computed" in err and str(root / "imagenet-") in err and "--data" in err


def test_data_path_that_is_a_file_says_so(tiny_model_file, tmp_path, capsys):
    archive = tmp_path / "ILSVRC2012_img_val.tar"
    archive.write_bytes(b"not unpacked")
    err = one_error_line(capsys, ["run", "--model", f"python:{tiny_model_file}:make", "--suites", "calibration",
                                  "--data", f"imagenet-val={archive}", "--out", str(tmp_path / "out"),
                                  "--cache", str(tmp_path / "cache")])
    assert f"--data imagenet-val={archive} is a file, not a folder" in err and "val/<wnid>" in err


def test_class_folder_not_named_by_a_wnid_is_named_never_left_out(val_folder, tmp_path):
    cats = val_folder / "cats"
    write_image(cats / "my_cat.JPEG", np.random.default_rng(1))
    with pytest.raises(AuditError, match=f"folder {cats} holds images but is not named by a wnid"):
        open_dataset("imagenet-val", tmp_path, {"imagenet-val": str(val_folder)})
    only_cats = tmp_path / "only-cats"
    write_image(only_cats / "cats" / "my_cat.JPEG", np.random.default_rng(1))
    with pytest.raises(AuditError, match=f"no images found in {only_cats} \\(folder {only_cats / 'cats'} holds "
                                         "images but is not a class folder"):
        open_dataset("imagenet-val", tmp_path, {"imagenet-val": str(only_cats)})
    with pytest.raises(AuditError, match="is not named by a wnid"):  # the same for the other wnid layouts
        open_dataset("imagenet-r", tmp_path, {"imagenet-r": str(val_folder)})
