"""Reference oracles for the ImageNet-C fidelity tests, loaded from test-only installs.

- Hendrycks' own functions as packaged on PyPI (``imagenet-c`` 0.0.3: ``make_imagenet_c.py``'s
  corruptions, frost paths aside), run on numpy 2 / scikit-image 0.26 through small shims applied
  here, never by editing the package: ``np.float_`` and ``np.fromstring`` (removed), skimage's
  ``multichannel=True`` (now ``channel_axis=-1``), ``pkg_resources`` (gone from setuptools) and
  frost textures (the wheel ships none: auditkit's copies of frost1-5 are used, the files the
  reference reads), and scikit-image's ``random_noise`` given a seeded Generator.
- ``imagecorruptions`` (bethgelab), a second implementation, used where it equals Hendrycks.
- ImageMagick through Wand, which the reference calls for motion blur and snow.
Install: ``pip install --no-deps imagenet-c==0.0.3 imagecorruptions==1.1.2`` plus the test extra
(Wand; opencv-python-headless is a runtime dependency) and Debian's libmagickwand-6.q16-6
(.ci/run does all of this).
"""

from __future__ import annotations

import contextlib
import os
import sys
import types
from functools import partial
from importlib import resources
from typing import Iterator

import numpy as np


class _Numpy2Shim:
    """numpy with the two names the 2018 code uses and numpy 2 removed."""

    float_ = np.float64

    @staticmethod
    def fromstring(data, dtype):  # binary mode of np.fromstring, removed in numpy 2
        return np.frombuffer(data, dtype)

    def __getattr__(self, name: str):
        return getattr(np, name)


def _frost_path(package: str, name: str) -> str:
    return os.fspath(resources.files("auditkit.data").joinpath("frost", os.path.basename(name)))


@contextlib.contextmanager
def _pkg_resources_stand_in() -> Iterator[None]:
    """``pkg_resources`` (gone from current setuptools) while the oracles import, and only then:
    a stand-in left in ``sys.modules`` would break any later import that expects the real one
    (e.g. a namespace-package fix-up during a user model's import in another test)."""
    if "pkg_resources" in sys.modules:
        yield
        return
    try:
        import pkg_resources  # noqa: F401
        yield
        return
    except ImportError:
        pass
    sys.modules["pkg_resources"] = types.SimpleNamespace(resource_filename=_frost_path)  # type: ignore[assignment]
    try:
        yield
    finally:
        del sys.modules["pkg_resources"]


def hendrycks():
    """The ``imagenet_c.corruptions`` module, shimmed; raises ImportError if not installed."""
    import skimage.filters

    with _pkg_resources_stand_in():
        from imagenet_c import corruptions as module

    def gaussian(image, sigma=1, multichannel=False, **kwargs):
        return skimage.filters.gaussian(image, sigma=sigma, channel_axis=-1 if multichannel else None, **kwargs)

    module.np = _Numpy2Shim()
    module.gaussian = gaussian
    module.resource_filename = _frost_path
    return module


def imagecorruptions():
    """The ``imagecorruptions.corruptions`` module (bethgelab), with the same shims."""
    hendrycks()
    import skimage.filters

    with _pkg_resources_stand_in():  # both packages import it
        from imagecorruptions import corruptions as module

    def gaussian(image, sigma=1, multichannel=False, **kwargs):
        return skimage.filters.gaussian(image, sigma=sigma, channel_axis=-1 if multichannel else None, **kwargs)

    module.np = _Numpy2Shim()
    module.gaussian = gaussian
    return module


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Global numpy seeded as our per-image RandomState; scikit-image's random_noise (impulse
    noise) handed np.random.default_rng(seed), as ours draws."""
    import skimage.util

    state = np.random.get_state()
    original = skimage.util.random_noise
    skimage.util.random_noise = partial(original, rng=np.random.default_rng(seed))
    np.random.seed(seed)
    try:
        yield
    finally:
        skimage.util.random_noise = original
        np.random.set_state(state)


def run_reference(module, name: str, crop: np.ndarray, severity: int, seed: int) -> np.ndarray:
    """The reference's uint8 image (``np.uint8(img)``, as make_imagenet_c.py saves it)."""
    from PIL import Image

    function = getattr(module, name)
    with seeded(seed):
        out = function(Image.fromarray(crop), severity)
    return np.uint8(np.asarray(out))


def imagemagick_motion_blur(image: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick's MotionBlurImage through Wand (the reference's call), uint8 in, uint8 out."""
    import ctypes
    import io

    from PIL import Image
    from wand.api import library
    from wand.image import Image as WandImage

    library.MagickMotionBlurImage.argtypes = (ctypes.c_void_p, ctypes.c_double, ctypes.c_double, ctypes.c_double)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    with WandImage(blob=buffer.getvalue()) as wand:
        library.MagickMotionBlurImage(wand.wand, radius, sigma, angle)
        blob = wand.make_blob("png")
    out = np.asarray(Image.open(io.BytesIO(blob)))
    if image.ndim == 3 and out.ndim == 2:
        out = np.stack([out] * 3, -1)
    return out[..., :image.shape[-1]] if image.ndim == 3 else out
