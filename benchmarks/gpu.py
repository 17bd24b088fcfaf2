"""GPU settings, each measured against plain fp32: bf16 autocast, channels_last, pinned memory,
torch.compile — raw `model(x)` images/s, then `audit run` end to end with the engine's defaults.

    python benchmarks/gpu.py [--device cuda] [--models convnext_base,vit_base_patch16_224]
                             [--batch-size 128] [--compile] [--images 2048]

Needs a CUDA device (`--device cpu` runs the same code as a check of the script, where pinned
memory is not applicable and is reported so). Random-init timm models: timing only.
Results are kept in benchmarks/RESULTS.md with the machine they ran on.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def timed(step, device: torch.device, seconds: float) -> float:
    """Calls per second of ``step`` after a warm-up, synchronising the device around the clock."""
    for _ in range(3):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds or calls < 5:
        step()
        calls += 1
        if device.type == "cuda" and calls % 10 == 0:
            torch.cuda.synchronize(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return calls / (time.perf_counter() - started)


def raw_variants(name: str, device: torch.device, batch_size: int, seconds: float, compile_: bool) -> dict[str, float]:
    import timm

    torch.manual_seed(0)
    results = {}
    variants = [("fp32", False, None, False), ("fp32 + channels_last", True, None, False),
                ("bf16 autocast", False, torch.bfloat16, False),
                ("bf16 autocast + channels_last", True, torch.bfloat16, False)]
    if compile_:
        variants.append(("bf16 + channels_last + torch.compile", True, torch.bfloat16, True))
    for label, channels_last, dtype, compiled in variants:
        model = timm.create_model(name, pretrained=False).eval().to(device)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        model = model.to(memory_format=fmt)
        if compiled:
            model = torch.compile(model)
        batch = torch.randn(batch_size, 3, 224, 224, device=device).to(memory_format=fmt)
        autocast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype else contextlib.nullcontext

        def step() -> None:
            with torch.inference_mode(), autocast():
                model(batch)

        results[label] = timed(step, device, seconds) * batch_size
    return results


def transfer(device: torch.device, batch_size: int, seconds: float) -> dict[str, float]:
    """Host→device copies of one uint8-decoded, float32-normalised batch: pageable vs pinned."""
    if device.type != "cuda":
        return {}
    pageable = torch.randn(batch_size, 3, 224, 224)
    pinned = pageable.pin_memory()
    return {
        "pageable copy": timed(lambda: pageable.to(device), device, seconds) * batch_size,
        "pinned, non_blocking copy": timed(lambda: pinned.to(device, non_blocking=True), device, seconds) * batch_size,
    }


def end_to_end(name: str, device: str, images: int, batch_size: int) -> dict[str, float]:
    """images/s of `audit run --suites calibration` (engine time) per --precision, fresh store each."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from throughput import make_val, model_spec

    results = {}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        val = make_val(work / "val", images)
        spec = model_spec(name, work)
        for precision in ("fp32", "bf16"):
            out = work / f"out-{precision}"
            command = [sys.executable, "-m", "auditkit", "run", "--model", spec, "--suites", "calibration",
                       "--data", f"imagenet-val={val}", "--data-root", str(work / "none"), "--out", str(out),
                       "--cache", str(work / f"cache-{precision}"), "--no-progress", "--device", device,
                       "--batch-size", str(batch_size), "--precision", precision]
            child = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                                   env={**os.environ, "HF_HUB_OFFLINE": "1"})
            if child.returncode not in (0, 2):
                raise SystemExit(child.stderr[-2000:])
            header = json.loads((out / "results.json").read_text())["header"]
            results[f"audit run, {precision}"] = images / header["seconds"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--models", default="convnext_base,vit_base_patch16_224")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--images", type=int, default=2048, help="images for the end-to-end runs (0: skip)")
    parser.add_argument("--compile", action="store_true", help="also measure torch.compile (slow to warm up)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py: no CUDA device here; run it on a GPU machine (or --device cpu "
                         "to check the script)")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {os.cpu_count()} cores"
    print(f"device: {where}; torch {torch.__version__}; batch {args.batch_size}")
    print("| model | setting | images/s | ÷ fp32 |")
    print("|---|---|---|---|")
    for name in args.models.split(","):
        rows = raw_variants(name, device, args.batch_size, args.seconds, args.compile)
        base = rows["fp32"]
        if args.images:
            rows.update(end_to_end(name, args.device, args.images, args.batch_size))
        for label, rate in rows.items():
            print(f"| {name} | {label} | {rate:.0f} | {rate / base:.2f} |", flush=True)
    copies = transfer(device, args.batch_size, args.seconds)
    if copies:
        base = copies["pageable copy"]
        for label, rate in copies.items():
            print(f"| (host→device) | {label} | {rate:.0f} | {rate / base:.2f} vs pageable |")
    else:
        print("| (host→device) | pinned memory | n/a on CPU | |")


if __name__ == "__main__":
    main()
