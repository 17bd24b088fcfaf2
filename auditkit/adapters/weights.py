"""Loading user weight files and fingerprinting what a model computes with."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from auditkit.errors import AuditError


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors or torch checkpoint without executing pickled code.

    ``.pth``/``.pt``/``.bin`` files go through ``torch.load(weights_only=True)``; a checkpoint
    that wraps its weights under ``state_dict``/``model``/``module`` is unwrapped.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise AuditError(f"weights file {path} does not exist; check the --weights PATH")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as error:  # SafetensorError for a corrupt or truncated file
            raise _unreadable(path, error) from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for unsafe or corrupt files
        raise _unreadable(path, error) from None
    for key in ("state_dict", "model", "module"):
        if isinstance(loaded, dict) and key in loaded and isinstance(loaded[key], dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict):
        raise AuditError(f"weights file {path} holds a {type(loaded).__name__}, not a state dict")
    return {k.removeprefix("module."): v for k, v in loaded.items()}


def _unreadable(path: Path, error: Exception) -> AuditError:
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return AuditError(
        f"cannot read weights {path} safely ({first_line}); "
        "save a plain state dict (torch.save(model.state_dict(), PATH)) or a .safetensors file"
    )


def load_into(module: nn.Module, state_dict: dict[str, torch.Tensor], source: str) -> None:
    """Load strictly; a mismatch names the first offending keys instead of a torch traceback."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong_shape = [
        k for k in own if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)
    ]
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append(f"missing {missing[:3]}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:3]}")
        if wrong_shape:
            parts.append(f"wrong shape {wrong_shape[:3]}")
        raise AuditError(
            f"weights {source} do not fit this architecture ({'; '.join(parts)}); "
            "check that the model spec names the architecture the weights were trained with"
        )
    module.load_state_dict(state_dict, strict=True)


def hash_state_dict(module: nn.Module) -> str:
    """SHA-256 over every parameter and buffer (names, dtypes, shapes and bytes)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        if tensor.numel():
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def fingerprint(parts: dict[str, Any]) -> str:
    """A stable hash of a JSON-able description (weights hash, preprocessing, head, ...)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
