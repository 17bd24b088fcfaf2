"""--precision: bf16 autocast on CPU gives close, not equal, numbers in store entries of its own."""

from __future__ import annotations

import json

import pytest

from auditkit.cli import main
from tests.engine.test_bad_input import one_error_line
from tests.engine.test_run import audit_args, records


def test_bf16_autocast_is_close_to_fp32_and_cached_separately(tiny_model_file, val_folder, tmp_path, cache_dir):
    main(audit_args(tiny_model_file, val_folder, tmp_path / "fp32", cache_dir))
    main(audit_args(tiny_model_file, val_folder, tmp_path / "bf16", cache_dir, "--precision", "bf16"))
    header = json.loads((tmp_path / "bf16" / "results.json").read_text())["header"]
    assert header["precision"] == "bf16"
    assert header["images_forwarded"] == {"imagenet-val/none": 24}  # not the fp32 entry
    assert len(list(cache_dir.glob("store/*/*/values.npy"))) == 2
    full = {r["metric"]: r["value"] for r in records(tmp_path / "fp32")}
    half = {r["metric"]: r["value"] for r in records(tmp_path / "bf16")}
    assert half["nll"] != full["nll"]  # autocast really ran
    assert half["nll"] == pytest.approx(full["nll"], rel=0.05)


def test_fp16_on_cpu_is_refused_naming_bf16(tiny_model_file, val_folder, tmp_path, capsys):
    err = one_error_line(capsys, audit_args(tiny_model_file, val_folder, tmp_path / "o", tmp_path / "c",
                                            "--precision", "fp16"))
    assert "bf16" in err
