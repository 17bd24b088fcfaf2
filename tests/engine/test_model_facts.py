"""Every live run's header carries the model's facts (parameters, MACs at the evaluated size) and
the images/s its forward passes took; counted by hand for the tiny test model. The facts are
counted on the run's first batch (not timed: the counter slows it) and kept in the store, so a
cached run states them without forwarding (issue 22, 1)."""

from __future__ import annotations

import json

from auditkit.cli import main


def test_run_header_has_hand_counted_facts_and_measured_speed(tmp_path, val_folder, tiny_model_file):
    out = tmp_path / "out"
    args = ["run", "--model", f"python:{tiny_model_file}:make", "--suites", "calibration",
            "--data", f"imagenet-val={val_folder}", "--out", str(out), "--cache", str(tmp_path / "c"),
            "--no-progress", "--workers", "0", "--batch-size", "8"]
    main(args)
    facts = json.loads((out / "results.json").read_text())["header"]["model_facts"]
    # Tiny: Conv2d(3, 8, 3, stride 4) on 32 px -> 8 x 8 outputs; Linear(8, 1000)
    assert facts["parameters"] == (8 * 3 * 3 * 3 + 8) + (8 * 1000 + 1000)
    assert facts["macs"] == 8 * 3 * 3 * 3 * 8 * 8 + 8 * 1000
    assert facts["input_size"] == 32
    assert facts["images_per_second"] > 0
    # 24 images in batches of 8: the first counted the facts, the other two were timed
    assert facts["measured_on"] == {"device": "cpu", "precision": "fp32", "batch_size": 8, "images": 16,
                                    "in_this_run": True}
    card = (out / "model_card.html").read_text()
    assert f"0.01 M parameters, 0.0 GMACs at 32 px, {facts['images_per_second']} images/s (cpu, fp32" in card
    # a second run takes every image from the store: nothing forwarded, the facts and the speed
    # measured on this device, precision and batch size kept from the first run
    main(args + ["--overwrite"])
    again = json.loads((out / "results.json").read_text())["header"]["model_facts"]
    assert again == {**facts, "measured_on": {**facts["measured_on"], "in_this_run": False}}
    # another batch size was never measured: no speed, the same counts
    main(args[:-1] + ["5", "--overwrite"])
    other = json.loads((out / "results.json").read_text())["header"]["model_facts"]
    assert other["images_per_second"] is None and other["macs"] == facts["macs"]


def test_a_zero_shot_head_built_on_the_first_batch_is_not_counted(monkeypatch, tmp_path, val_folder):
    """The facts are counted on the first forwarded batch, which is where a zero-shot adapter
    builds its head through the text tower: ``ModelAdapter.prepare`` builds it first, so only the
    image tower and the head's product are counted (as open_clip's text tower never was)."""
    import open_clip
    import torch
    from torch import nn

    from auditkit.adapters.clip import ZeroShotClipAdapter
    from auditkit.conditions import Plain
    from auditkit.data.imagenet import read_imagenet_val
    from auditkit.run import ForwardLog, ForwardPasses, RunConfig
    from auditkit.store import PredictionStore

    class TinyClip(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.visual = nn.Conv2d(3, 8, 4, stride=4)
            self.visual.preprocess_cfg = {"size": 32, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
            self.text = nn.Linear(64, 8)

        def encode_image(self, images: torch.Tensor) -> torch.Tensor:
            return self.visual(images).mean((2, 3))

    monkeypatch.setattr(open_clip, "build_zero_shot_classifier", lambda model, **_: model.text(torch.zeros(1000, 64)).T)
    adapter = ZeroShotClipAdapter(TinyClip(), tokenizer=None, name="tiny-clip", source={}, head_cache=tmp_path / "heads")
    config = RunConfig(suites=(), out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", data_root=tmp_path,
                       workers=0, progress=False, batch_size=8)
    passes = ForwardPasses(adapter, PredictionStore(tmp_path / "store"), config, ForwardLog())
    passes.predict(read_imagenet_val(val_folder), Plain())
    facts = passes.facts()
    assert facts["parameters"] == 8 * 3 * 4 * 4 + 8  # the image tower; not the text tower's 64 * 8 + 8
    assert facts["macs"] == 8 * 3 * 4 * 4 * 8 * 8 + 8 * 1000  # the 8 x 8 convolution outputs, then the head
