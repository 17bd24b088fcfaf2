"""Image helpers shared by the model adapters, the dataset layer and the conditions.

Public so that ``auditkit.data`` and ``auditkit.conditions`` need no private name of
``auditkit.adapters``: one RGB conversion and one interpolation table for every transform.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from torchvision import transforms as T

# timm's ``pretrained_cfg["interpolation"]`` names -> torchvision modes
INTERPOLATIONS = {
    "bilinear": T.InterpolationMode.BILINEAR,
    "bicubic": T.InterpolationMode.BICUBIC,
    "nearest": T.InterpolationMode.NEAREST,
    "lanczos": T.InterpolationMode.LANCZOS,
}


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL mode to 8-bit RGB. 16-bit and 32-bit integer images (``I;16``, ``I``) are scaled
    from their 16-bit range: PIL's own conversion clips them at 255, turning them white. CMYK,
    palette and grey convert as PIL does; RGBA drops its alpha (the paper's loaders do the same)."""
    if image.mode == "RGB":
        return image
    if image.mode.startswith("I;16") or image.mode == "I":
        array = np.asarray(image, dtype=np.float64)
        return Image.fromarray(np.clip(np.round(array / 257), 0, 255).astype(np.uint8), "L").convert("RGB")
    return image.convert("RGB")
