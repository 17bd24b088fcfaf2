"""The ImageNet-C corruptions (Hendrycks & Dietterich, ICLR 2019), batched in torch.

Follows ``make_imagenet_c.py`` of hendrycks/robustness (the code that made the released
ImageNet-C) for its 224 x 224 crops: the parameters of each severity, the ``244 *`` constants of
elastic (his comment: "should have been 224"; the release used 244), frost textures 1-5 only,
the plasma fractal of fog with the severity's ``wibbledecay``, ImageMagick's motion-blur kernel
(motion blur and the snow layer), and glass blur as it actually runs: walking backwards, where
the numpy "swap" ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` copies ``x[h', w']`` into ``x[h, w]``.

Randomness: every image has its own ``np.random.RandomState(seed)`` and draws exactly what the
reference draws from numpy's global generator, in the same order and shapes, so the reference
run after ``np.random.seed(seed)`` sees the same numbers. Impulse noise goes through
scikit-image's ``random_noise``, which takes a ``Generator``: ours draws like it from
``np.random.default_rng(seed)``. The draws stay in numpy (per image, cheap); the image
operations (filters, warps, resampling, colour conversions) run on a whole batch in torch, on
the device the batch lives on. Two small operations stay per image in PIL because they are PIL
in the reference (pixelate's BOX resize, the JPEG of jpeg_compression).

Where the reference relied on OpenCV or ImageMagick, the same arithmetic is written out:
OpenCV's Gaussian blur of the defocus disk, its ``warpAffine`` (coordinates in 1/32 pixel,
bilinear weights from its table, reflect-101 border), ``cvtColor`` to grey; ImageMagick 6's
``MotionBlurImage`` (one-sided Gaussian kernel over ``2 ceil(radius) + 1`` taps along the angle,
edge pixels repeated, Q16 quantum rounding, 8-bit output by floor(q / 257)). The fidelity against the reference functions and
ImageMagick is measured in ``tests/data/test_imagenet_c_fidelity.py`` (table in docs/decisions.md, "ImageNet-C: fidelity to the reference").
Spatter's severities 1-3 ("liquid") call OpenCV itself for the reference's Canny edges, 5 x 5
distance transform, histogram equalisation and box/emboss filters (per image, imported only
then); their draws and the rest of their arithmetic are ours, batched like the others.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache
from importlib import resources
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from auditkit.errors import AuditError

SIZE = 224  # the reference hard-codes 224 x 224 crops (glass blur's loop, fog's crop, warps)

# Bump when any corruption's output changes: it is part of the implementation name that goes
# into run headers and store keys, so a corrected implementation recomputes.
REVISION = 1


def implementation() -> str:
    from auditkit import __version__

    return f"auditkit-{__version__}/imagenet-c-r{REVISION}"


# ---------------------------------------------------------------- parameters (make_imagenet_c.py)

PARAMETERS: dict[str, list] = {
    "gaussian_noise": [.08, .12, 0.18, 0.26, 0.38],
    "shot_noise": [60, 25, 12, 5, 3],
    "impulse_noise": [.03, .06, .09, 0.17, 0.27],
    "speckle_noise": [.15, .2, 0.35, 0.45, 0.6],
    "gaussian_blur": [1, 2, 3, 4, 6],
    # sigma, max_delta, iterations
    "glass_blur": [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)],
    # disk radius, alias blur
    "defocus_blur": [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)],
    # ImageMagick radius, sigma
    "motion_blur": [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)],
    "zoom_blur": [np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
                  np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03)],
    # loc, scale, zoom, threshold, blur radius, blur sigma, blend
    "snow": [(0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
             (0.55, 0.3, 4, 0.9, 12, 8, 0.7), (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
             (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)],
    "frost": [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)],
    # strength, wibbledecay
    "fog": [(1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)],
    "brightness": [.1, .2, .3, .4, .5],
    "contrast": [0.4, .3, .2, .1, .05],
    "saturate": [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)],
    # alpha, sigma, affine range: 244 as in the release, not 224
    "elastic_transform": [(244 * 2, 244 * 0.7, 244 * 0.1), (244 * 2, 244 * 0.08, 244 * 0.2),
                          (244 * 0.05, 244 * 0.01, 244 * 0.02), (244 * 0.07, 244 * 0.01, 244 * 0.02),
                          (244 * 0.12, 244 * 0.01, 244 * 0.02)],
    "pixelate": [0.6, 0.5, 0.4, 0.3, 0.25],
    "jpeg_compression": [25, 18, 15, 10, 7],
    # loc, scale, sigma, threshold, mud sigma, mode (1 = mud)
    "spatter": [(0.65, 0.3, 4, 0.69, 0.6, 0), (0.65, 0.3, 3, 0.68, 0.6, 0), (0.65, 0.3, 2, 0.68, 0.5, 0),
                (0.65, 0.3, 1, 0.65, 1.5, 1), (0.67, 0.4, 1, 0.65, 1.5, 1)],
}

FROST_TEXTURES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")


# ---------------------------------------------------------------- filters shared by corruptions

def _boundary_index(n: int, radius: int, mode: str) -> np.ndarray:
    """Indices of a 1-D signal of length n padded by ``radius`` on both sides, as scipy.ndimage
    ('nearest', 'reflect' = half-sample symmetric, any radius) or OpenCV ('reflect101')
    extend it."""
    index = np.arange(-radius, n + radius)
    if mode == "nearest":
        return np.clip(index, 0, n - 1)
    if mode == "reflect":
        period = index % (2 * n)
        return np.where(period < n, period, 2 * n - 1 - period)
    if mode == "reflect101":
        period = index % (2 * n - 2)
        return np.where(period < n, period, 2 * n - 2 - period)
    raise ValueError(mode)


def _scipy_gaussian_kernel(sigma: float, truncate: float) -> np.ndarray:
    radius = int(truncate * float(sigma) + 0.5)  # scipy.ndimage.gaussian_filter1d's radius
    x = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 / (float(sigma) * float(sigma)) * x ** 2)
    return weights / weights.sum()


def _correlate_rows(x: torch.Tensor, weights: np.ndarray, mode: str) -> torch.Tensor:
    """1-D correlation along axis 1 of a contiguous (N, L, M) tensor with a symmetric kernel,
    summed as scipy.ndimage.correlate1d sums it (centre tap, then the outermost pair inwards,
    each pair added before it is weighted), so the floats are scipy's own."""
    radius = len(weights) // 2
    n = x.shape[1]
    padded = x.index_select(1, torch.as_tensor(_boundary_index(n, radius, mode), device=x.device))
    out = padded[:, radius:radius + n] * float(weights[radius])
    for j in range(radius, 0, -1):
        out.add_((padded[:, radius - j:radius - j + n] + padded[:, radius + j:radius + j + n]).mul_(float(weights[radius - j])))
    return out


def gaussian_filter(x: torch.Tensor, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> torch.Tensor:
    """scikit-image's ``gaussian`` (scipy.ndimage.gaussian_filter) over the two image axes of a
    (B, H, W) or (B, H, W, C) float tensor: rows first, then columns, as scipy does."""
    weights = _scipy_gaussian_kernel(sigma, truncate)
    channels_last = x.dim() == 4
    planes = (x.permute(0, 3, 1, 2) if channels_last else x).reshape(-1, x.shape[1], x.shape[2])
    # scipy sums each pass in double and stores it in the input's type (float32 for spatter)
    planes = _correlate_rows(planes.double().contiguous(), weights, mode).to(x.dtype)
    planes = _correlate_rows(planes.double().transpose(1, 2).contiguous(), weights, mode).to(x.dtype).transpose(1, 2)
    if channels_last:
        return planes.reshape(x.shape[0], x.shape[3], x.shape[1], x.shape[2]).permute(0, 2, 3, 1).contiguous()
    return planes.reshape(x.shape).contiguous()


def _take(images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """images[b, rows[b, i, j], cols[b, i, j]] for (B, H, W[, C]) images and (B, h, w) indices
    (a flat gather: much faster on CPU than indexing with three broadcast index tensors)."""
    b, h, w = images.shape[:3]
    flat = images.reshape(b, h * w, -1)
    index = (rows * w + cols).reshape(b, -1, 1).expand(-1, -1, flat.shape[-1])
    out = torch.gather(flat, 1, index)
    return out.reshape(*rows.shape, *images.shape[3:])


def _scipy_zoom_linear(planes: torch.Tensor, zoom: float) -> torch.Tensor:
    """scipy.ndimage.zoom(order=1) of square planes (N, n, n), computed in float64 and returned
    in the planes' dtype (scipy computes in double and casts to the input's type)."""
    n = planes.shape[1]
    out = int(round(n * zoom))
    step = (n - 1) / (out - 1)
    coords = torch.arange(out, dtype=torch.float64, device=planes.device) * step
    start = torch.floor(coords).long().clamp(max=n - 1)
    frac = coords - start.double()
    upper = (start + 1).clamp(max=n - 1)
    xd = planes.double()
    w0, w1 = (1 - frac), frac
    # (torch's index_select along the last axis is ~10x slower on CPU than indexing)
    rows = xd[:, start] * w0[None, :, None] + xd[:, upper] * w1[None, :, None]
    both = rows[:, :, start] * w0[None, None, :] + rows[:, :, upper] * w1[None, None, :]
    return both.to(planes.dtype)


def _clipped_zoom(planes: torch.Tensor, zoom: float) -> torch.Tensor:
    """The reference's ``clipped_zoom`` of (N, H, H) planes: zoom the central crop, trim to H."""
    h = planes.shape[1]
    ch = int(np.ceil(h / float(zoom)))
    top = (h - ch) // 2
    zoomed = _scipy_zoom_linear(planes[:, top:top + ch, top:top + ch].contiguous(), zoom)
    trim = (zoomed.shape[1] - h) // 2
    return zoomed[:, trim:trim + h, trim:trim + h]


def _planes(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2).reshape(-1, x.shape[1], x.shape[2]).contiguous()


def _channels_last(planes: torch.Tensor, batch: int) -> torch.Tensor:
    return planes.reshape(batch, -1, planes.shape[1], planes.shape[2]).permute(0, 2, 3, 1)


def _rgb2hsv(rgb: torch.Tensor) -> torch.Tensor:
    """scikit-image's ``rgb2hsv`` in float64, operation for operation."""
    v = rgb.amax(-1)
    delta = v - rgb.amin(-1)
    s = torch.where(delta == 0, torch.zeros_like(v), delta / v)
    r, g, b = rgb.unbind(-1)
    safe = torch.where(delta == 0, torch.ones_like(delta), delta)
    h = torch.zeros_like(v)
    # skimage assigns red, then green, then blue where each is the max: later assignments win
    h = torch.where(r == v, (g - b) / safe, h)
    h = torch.where(g == v, 2.0 + (b - r) / safe, h)
    h = torch.where(b == v, 4.0 + (r - g) / safe, h)
    h = torch.remainder(h / 6.0, 1.0)
    h = torch.where(delta == 0, torch.zeros_like(h), h)
    out = torch.stack([h, s, v], -1)
    return torch.nan_to_num(out, nan=0.0)


def _hsv2rgb(hsv: torch.Tensor) -> torch.Tensor:
    """scikit-image's ``hsv2rgb`` in float64."""
    h, s, v = hsv.unbind(-1)
    hi = torch.floor(h * 6)
    f = h * 6 - hi
    p = v * (1 - s)
    q = v * (1 - f * s)
    t = v * (1 - (1 - f) * s)
    sector = (hi.to(torch.uint8) % 6).long()
    options = torch.stack([torch.stack(c, -1) for c in
                           ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))], 0)
    index = sector[None, ..., None].expand(1, *sector.shape, 3)
    return torch.gather(options, 0, index)[0]


# ---------------------------------------------------------------- ImageMagick's motion blur

def motion_kernel(radius: float, sigma: float, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ImageMagick 6 ``MotionBlurImage``: weights and (dx, dy) pixel offsets of its taps."""
    width = int(2.0 * math.ceil(radius) + 1.0)  # GetOptimalKernelWidth1D for radius > 0
    i = np.arange(width, dtype=np.float64)
    weights = np.exp(-(i * i) / (2.0 * sigma * sigma)) / (math.sqrt(2.0 * math.pi) * sigma)
    weights = weights / weights.sum()
    point_x = width * math.sin(math.pi * angle / 180.0)
    point_y = width * math.cos(math.pi * angle / 180.0)
    length = math.hypot(point_x, point_y)
    dx = np.array([math.ceil(k * point_y / length - 0.5) for k in range(width)], dtype=np.int64)
    dy = np.array([math.ceil(k * point_x / length - 0.5) for k in range(width)], dtype=np.int64)
    return weights, dx, dy


def motion_blur_uint8(images: torch.Tensor, radius: float, sigma: float, angles: Sequence[float]) -> torch.Tensor:
    """ImageMagick's motion blur of uint8 images (B, H, W) or (B, H, W, C), one angle per image,
    as Q16 ImageMagick computes it: 8-bit values scaled by 257, taps summed in double with edge
    pixels repeated, rounded to the 16-bit quantum, then scaled back to 8 bits (floor)."""
    b, h, w = images.shape[:3]
    kernels = [motion_kernel(radius, sigma, float(a)) for a in angles]
    width = len(kernels[0][0])
    # channels first and padded with the edge pixels (ImageMagick's edge virtual pixels), so
    # each tap of each image is a plain shifted slice
    planes = (images.permute(0, 3, 1, 2) if images.dim() == 4 else images[:, None]).double() * 257.0
    padded = F.pad(planes, (width,) * 4, mode="replicate")
    total = torch.zeros_like(planes)
    for i, (weights, dx, dy) in enumerate(kernels):
        for tap in range(width):  # in ImageMagick's order: qixel += k[tap] * pixel
            top, left = width + int(dy[tap]), width + int(dx[tap])
            total[i] += padded[i, :, top:top + h, left:left + w] * float(weights[tap])
    total = total.permute(0, 2, 3, 1) if images.dim() == 4 else total[:, 0]
    quantum = torch.floor(total + 0.5).clamp(0, 65535)  # ClampToQuantum (non-HDRI)
    # back to 8 bits for the PNG as ImageMagick 6.9 writes it: floor(q / 257), measured
    # against it (rounding instead moves half the pixels by one grey level)
    return torch.div(quantum, 257, rounding_mode="floor").to(torch.uint8)


# ---------------------------------------------------------------- OpenCV arithmetic written out

def _opencv_gaussian_kernel(ksize: int, sigma: float) -> np.ndarray:
    x = np.arange(ksize, dtype=np.float64) - (ksize - 1) * 0.5
    weights = np.exp(-(x * x) / (2 * sigma * sigma))
    return (weights / weights.sum()).astype(np.float32)


def _opencv_blur_small(image: np.ndarray, ksize: int, sigma: float) -> np.ndarray:
    """cv2.GaussianBlur of a small float32 array (reflect-101 border): a symmetric row filter,
    then the column filter, in float32 with OpenCV's (left + right) * k grouping."""
    kernel = _opencv_gaussian_kernel(ksize, sigma)
    radius = ksize // 2

    def rows(a: np.ndarray) -> np.ndarray:
        idx = _boundary_index(a.shape[1], radius, "reflect101")
        padded = a[:, idx]
        n = a.shape[1]
        out = padded[:, radius:radius + n] * kernel[radius]
        for k in range(1, radius + 1):
            out = out + (padded[:, radius - k:radius - k + n] + padded[:, radius + k:radius + k + n]) * kernel[radius + k]
        return out.astype(np.float32)

    return rows(rows(image).T).T


def disk(radius: int, alias_blur: float) -> np.ndarray:
    """The defocus disk of the reference: a normalised aliased disk, Gaussian-blurred (OpenCV)."""
    if radius <= 8:
        grid, ksize = np.arange(-8, 8 + 1), 3
    else:
        grid, ksize = np.arange(-radius, radius + 1), 5
    xx, yy = np.meshgrid(grid, grid)
    aliased = np.array((xx ** 2 + yy ** 2) <= radius ** 2, dtype=np.float32)
    aliased /= np.sum(aliased)
    return _opencv_blur_small(aliased, ksize, alias_blur)


def _affine_from_points(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """cv2.getAffineTransform: the 2 x 3 matrix mapping three points onto three."""
    a = np.zeros((6, 6))
    bvec = np.zeros(6)
    for i in range(3):
        a[2 * i, 0:2], a[2 * i, 2] = src[i], 1
        a[2 * i + 1, 3:5], a[2 * i + 1, 5] = src[i], 1
        bvec[2 * i], bvec[2 * i + 1] = dst[i]
    return np.linalg.solve(a, bvec).reshape(2, 3)


def _round_half_even(x: np.ndarray) -> np.ndarray:
    return np.rint(x).astype(np.int64)  # cvRound / saturate_cast<int> round half to even


def warp_affine_reflect101(images: torch.Tensor, matrices: Sequence[np.ndarray]) -> torch.Tensor:
    """cv2.warpAffine(INTER_LINEAR, BORDER_REFLECT_101) of float32 (B, H, W, C) images: the
    matrix inverted in double, source coordinates in fixed point (1/32 pixel, OpenCV's
    AB_BITS = 10, INTER_BITS = 5), bilinear weights from its float table."""
    b, h, w, c = images.shape
    device = images.device
    ab_scale, round_delta = 1 << 10, 16
    maps_x, maps_y = [], []
    xs, ys = np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)
    for m in matrices:
        m = np.array(m, dtype=np.float64).reshape(6)
        det = m[0] * m[4] - m[1] * m[3]
        det = 1.0 / det if det != 0 else 0.0
        a11, a22 = m[4] * det, m[0] * det
        m[0], m[1], m[3], m[4] = a11, m[1] * -det, m[3] * -det, a22
        b1 = -m[0] * m[2] - m[1] * m[5]
        b2 = -m[3] * m[2] - m[4] * m[5]
        m[2], m[5] = b1, b2
        adelta = _round_half_even(m[0] * xs * ab_scale)
        bdelta = _round_half_even(m[3] * xs * ab_scale)
        x0 = _round_half_even((m[1] * ys + m[2]) * ab_scale) + round_delta
        y0 = _round_half_even((m[4] * ys + m[5]) * ab_scale) + round_delta
        maps_x.append((x0[:, None] + adelta[None, :]) >> 5)
        maps_y.append((y0[:, None] + bdelta[None, :]) >> 5)
    fx = torch.as_tensor(np.stack(maps_x), device=device)
    fy = torch.as_tensor(np.stack(maps_y), device=device)
    ix, iy = fx >> 5, fy >> 5
    tx = (fx & 31).float() * (1.0 / 32)
    ty = (fy & 31).float() * (1.0 / 32)
    # OpenCV's table: w = vy * vx with v = (1 - t, t) in float32
    wx0, wx1 = (1.0 - tx), tx
    wy0, wy1 = (1.0 - ty), ty
    x_index = torch.as_tensor(_boundary_index(w, 2 * w, "reflect101"), device=device)
    y_index = torch.as_tensor(_boundary_index(h, 2 * h, "reflect101"), device=device)
    xa, xb = x_index[(ix + 2 * w).clamp(0, 5 * w - 1)], x_index[(ix + 1 + 2 * w).clamp(0, 5 * w - 1)]
    ya, yb = y_index[(iy + 2 * h).clamp(0, 5 * h - 1)], y_index[(iy + 1 + 2 * h).clamp(0, 5 * h - 1)]
    weights = [(wy0 * wx0), (wy0 * wx1), (wy1 * wx0), (wy1 * wx1)]
    corners = [_take(images, ya, xa), _take(images, ya, xb), _take(images, yb, xa), _take(images, yb, xb)]
    out = corners[0] * weights[0][..., None] + corners[1] * weights[1][..., None]
    out = out + corners[2] * weights[2][..., None]
    out = out + corners[3] * weights[3][..., None]
    return out


def map_coordinates_reflect(images: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """scipy.ndimage.map_coordinates(order=1, mode='reflect') of (B, H, W, C) at per-pixel
    (row, col) coordinates (B, H, W), computed in float64, returned in the images' dtype."""
    b, h, w, c = images.shape

    def reflect(coord: torch.Tensor, n: int) -> torch.Tensor:
        period = torch.remainder(coord + 0.5, 2 * n)  # half-sample symmetric, period 2n
        return torch.where(period < n, period - 0.5, 2 * n - period - 0.5).clamp(0, n - 1)

    r, q = reflect(rows, h), reflect(cols, w)
    r0, q0 = torch.floor(r).long(), torch.floor(q).long()
    r1, q1 = (r0 + 1).clamp(max=h - 1), (q0 + 1).clamp(max=w - 1)
    tr, tq = (r - r0.double())[..., None], (q - q0.double())[..., None]
    x = images.double()
    out = ((1 - tr) * ((1 - tq) * _take(x, r0, q0) + tq * _take(x, r0, q1))
           + tr * ((1 - tq) * _take(x, r1, q0) + tq * _take(x, r1, q1)))
    return out.to(images.dtype)


def _reflect_operator(n: int, sigma: float, truncate: float) -> np.ndarray:
    """The n x n matrix of a 1-D scipy gaussian filter with 'reflect' borders (any radius)."""
    weights = _scipy_gaussian_kernel(sigma, truncate)
    radius = len(weights) // 2
    index = _boundary_index(n, radius, "reflect")
    operator = np.zeros((n, n))
    for i in range(n):
        np.add.at(operator[i], index[i:i + len(weights)], weights)
    return operator


# ---------------------------------------------------------------- the corruptions
# Each takes x: the clean crops as float64 (B, 224, 224, 3) in [0, 1] on the working device,
# the uint8 crops, one RandomState per image, the severity's parameters and the image seeds;
# each returns float values in [0, 255] that are truncated to uint8 (the reference's
# ``np.uint8(img)`` before saving).

def _stack(arrays: list[np.ndarray], like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(np.stack(arrays), device=like.device)


def gaussian_noise(x, u8, rngs, c, seeds):
    noise = _stack([rng.normal(size=x.shape[1:], scale=c) for rng in rngs], x)
    return torch.clip(x + noise, 0, 1) * 255


def shot_noise(x, u8, rngs, c, seeds):
    clean = x.cpu().numpy()
    noisy = _stack([rng.poisson(image * c) / float(c) for rng, image in zip(rngs, clean)], x)
    return torch.clip(noisy, 0, 1) * 255


def impulse_noise(x, u8, rngs, c, seeds):
    # scikit-image's random_noise(mode='s&p', amount=c): Bernoulli draws from a Generator
    flips, salts = [], []
    for seed in seeds:
        generator = np.random.default_rng(seed)
        flips.append(generator.random(x.shape[1:]) <= c)
        salts.append(generator.random(x.shape[1:]) <= 0.5)
    flipped, salted = _stack(flips, x), _stack(salts, x)
    out = torch.where(flipped & salted, torch.ones_like(x), x)
    out = torch.where(flipped & ~salted, torch.zeros_like(x), out)
    return torch.clip(out, 0, 1) * 255


def speckle_noise(x, u8, rngs, c, seeds):
    noise = _stack([rng.normal(size=x.shape[1:], scale=c) for rng in rngs], x)
    return torch.clip(x + x * noise, 0, 1) * 255


def gaussian_blur_corruption(x, u8, rngs, c, seeds):
    return torch.clip(gaussian_filter(x, c), 0, 1) * 255


def _glass_shuffle(images: torch.Tensor, draws: torch.Tensor, delta: int) -> torch.Tensor:
    """One pass of the reference's pixel loop, for (B, 224, 224, 3) uint8 images and draws
    (B, n, n, 2) = (dx, dy) per visited pixel. The loop visits h, then w, from 224 - delta down
    to delta + 1 and sets x[h, w] = x[h + dy, w + dx] (the numpy "swap" is a copy). A source
    already visited holds its new value, one not yet visited its old one: each pixel follows
    its chain of sources to an old value, found here by pointer doubling."""
    b, n_img = images.shape[0], SIZE
    device = images.device
    visited = torch.arange(SIZE - delta, delta, -1, device=device)  # visiting order
    count = len(visited)
    hh = visited[:, None].expand(count, count)
    ww = visited[None, :].expand(count, count)
    src_h = hh[None] + draws[..., 1]
    src_w = ww[None] + draws[..., 0]
    src_inside = (src_h > delta) & (src_h <= SIZE - delta) & (src_w > delta) & (src_w <= SIZE - delta)
    # visiting rank of a visited pixel (h, w): ((224 - delta) - h) * count + ((224 - delta) - w)
    rank_src = (SIZE - delta - src_h) * count + (SIZE - delta - src_w)
    rank_self = torch.arange(count * count, device=device).view(1, count, count)
    earlier = src_inside & (rank_src < rank_self)
    total = n_img * n_img
    pointer = torch.arange(2 * total, device=device).repeat(b, 1)
    pointer[:, :total] += total  # unvisited pixels keep their old value
    target_self = (hh * n_img + ww).reshape(-1)
    target_src = (src_h * n_img + src_w).reshape(b, -1)
    pointer[:, target_self] = torch.where(earlier.reshape(b, -1), target_src, target_src + total)
    while bool((pointer < total).any()):
        pointer = torch.gather(pointer, 1, pointer)
    old = images.reshape(b, total, -1)
    return torch.gather(old, 1, (pointer[:, :total] - total)[..., None].expand(-1, -1, old.shape[-1])).reshape(images.shape)


def glass_blur(x, u8, rngs, c, seeds):
    sigma, delta, iterations = c
    count = len(range(SIZE - delta, delta, -1))
    draws = _stack([rng.randint(-delta, delta, size=(iterations, count, count, 2)) for rng in rngs], x)
    blurred = (gaussian_filter(x, sigma) * 255).to(torch.uint8)
    for i in range(iterations):
        blurred = _glass_shuffle(blurred, draws[:, i], delta)
    return torch.clip(gaussian_filter(blurred.double() / 255., sigma), 0, 1) * 255


def defocus_blur(x, u8, rngs, c, seeds):
    kernel = torch.as_tensor(disk(radius=c[0], alias_blur=c[1]), dtype=torch.float64, device=x.device)
    radius = kernel.shape[0] // 2
    planes = x.permute(0, 3, 1, 2)
    padded = F.pad(planes, (radius,) * 4, mode="reflect")  # OpenCV's default reflect-101 border
    # the 17 x 17 or 21 x 21 kernel as a product of spectra (OpenCV's filter2D also switches to
    # the DFT for kernels this large); float64 either way
    side = padded.shape[-1]
    spectrum = torch.fft.rfft2(padded) * torch.fft.rfft2(torch.flip(kernel, (0, 1)), s=(side, side))
    full = torch.fft.irfft2(spectrum, s=(side, side))
    out = full[..., 2 * radius:2 * radius + SIZE, 2 * radius:2 * radius + SIZE].permute(0, 2, 3, 1)
    return torch.clip(out, 0, 1) * 255


def motion_blur(x, u8, rngs, c, seeds):
    angles = [rng.uniform(-45, 45) for rng in rngs]
    return motion_blur_uint8(u8, c[0], c[1], angles).double()


def zoom_blur(x, u8, rngs, c, seeds):
    image = _planes(x.float())
    out = torch.zeros_like(image)
    for zoom in c:
        out += _clipped_zoom(image, zoom)
    image = (image + out) / (len(c) + 1)
    return torch.clip(_channels_last(image, x.shape[0]), 0, 1) * 255


def snow(x, u8, rngs, c, seeds):
    image = x.float()
    layers = _stack([rng.normal(size=(SIZE, SIZE), loc=c[0], scale=c[1]) for rng in rngs], x)
    layers = _clipped_zoom(layers, c[2])
    layers = torch.where(layers < c[3], torch.zeros_like(layers), layers)
    layer_u8 = (torch.clip(layers, 0, 1) * 255).to(torch.uint8)
    angles = [rng.uniform(-135, -45) for rng in rngs]
    blurred = motion_blur_uint8(layer_u8, c[4], c[5], angles).double()[..., None] / 255.
    r, g, b = image.unbind(-1)
    grey = (r * np.float32(0.299) + g * np.float32(0.587) + b * np.float32(0.114))[..., None]
    image = c[6] * image + (1 - c[6]) * torch.maximum(image, grey * 1.5 + 0.5)
    return torch.clip(image.double() + blurred + torch.flip(blurred, dims=(1, 2)), 0, 1) * 255


@lru_cache(maxsize=None)
def frost_texture(index: int) -> np.ndarray:
    """Frost texture ``index`` (0-4) as RGB uint8; shipped with auditkit (see frost/NOTICE)."""
    folder = resources.files("auditkit.data").joinpath("frost")
    with folder.joinpath(FROST_TEXTURES[index]).open("rb") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


def frost(x, u8, rngs, c, seeds):
    crops = []
    for rng in rngs:
        texture = frost_texture(rng.randint(5))
        top, left = rng.randint(0, texture.shape[0] - SIZE), rng.randint(0, texture.shape[1] - SIZE)
        crops.append(texture[top:top + SIZE, left:left + SIZE])
    textures = _stack(crops, x).double()
    return torch.clip(c[0] * u8.double() + c[1] * textures, 0, 255)


def plasma_fractal(rng: np.random.RandomState, mapsize: int = 256, wibbledecay: float = 3) -> np.ndarray:
    """Diamond-square height map in [0, 1] (the reference's ``plasma_fractal``), drawing from
    ``rng`` in the reference's order: squares, then the two diamond sets, per step."""
    heights = np.empty((mapsize, mapsize), dtype=np.float64)
    heights[0, 0] = 0
    step, wibble = mapsize, 100.0

    def wibbled_mean(total: np.ndarray) -> np.ndarray:
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        corners = heights[0:mapsize:step, 0:mapsize:step]
        squares = corners + np.roll(corners, shift=-1, axis=0)
        squares += np.roll(squares, shift=-1, axis=1)
        heights[half:mapsize:step, half:mapsize:step] = wibbled_mean(squares)
        centres = heights[half:mapsize:step, half:mapsize:step]
        corners = heights[0:mapsize:step, 0:mapsize:step]
        left = (centres + np.roll(centres, 1, axis=0)) + (corners + np.roll(corners, -1, axis=1))
        heights[0:mapsize:step, half:mapsize:step] = wibbled_mean(left)
        top = (centres + np.roll(centres, 1, axis=1)) + (corners + np.roll(corners, -1, axis=0))
        heights[half:mapsize:step, 0:mapsize:step] = wibbled_mean(top)
        step //= 2
        wibble /= wibbledecay
    heights -= heights.min()
    return heights / heights.max()


def fog(x, u8, rngs, c, seeds):
    maps = _stack([plasma_fractal(rng, wibbledecay=c[1])[:SIZE, :SIZE] for rng in rngs], x)
    max_val = x.amax(dim=(1, 2, 3), keepdim=True)
    out = x + c[0] * maps[..., None]
    return torch.clip(out * max_val / (max_val + c[0]), 0, 1) * 255


def brightness(x, u8, rngs, c, seeds):
    hsv = _rgb2hsv(x)
    hsv = torch.stack([hsv[..., 0], hsv[..., 1], torch.clip(hsv[..., 2] + c, 0, 1)], -1)
    return torch.clip(_hsv2rgb(hsv), 0, 1) * 255


def saturate(x, u8, rngs, c, seeds):
    hsv = _rgb2hsv(x)
    hsv = torch.stack([hsv[..., 0], torch.clip(hsv[..., 1] * c[0] + c[1], 0, 1), hsv[..., 2]], -1)
    return torch.clip(_hsv2rgb(hsv), 0, 1) * 255


def contrast(x, u8, rngs, c, seeds):
    # numpy's pairwise mean, so the means are the reference's to the last bit
    means = torch.as_tensor(np.mean(x.cpu().numpy(), axis=(1, 2), keepdims=True), device=x.device)
    return torch.clip((x - means) * c + means, 0, 1) * 255


@lru_cache(maxsize=None)
def _elastic_operator(sigma: float) -> np.ndarray:
    return _reflect_operator(SIZE, sigma, truncate=3)


def elastic_transform(x, u8, rngs, c, seeds):
    alpha, sigma, affine = c
    centre = np.float32([SIZE, SIZE]) // 2
    third = SIZE // 3
    pts1 = np.float32([centre + third, [centre[0] + third, centre[1] - third], centre - third])
    matrices, fields = [], []
    for rng in rngs:
        pts2 = pts1 + rng.uniform(-affine, affine, size=pts1.shape).astype(np.float32)
        matrices.append(_affine_from_points(pts1.astype(np.float64), pts2.astype(np.float64)))
        fields.append((rng.uniform(-1, 1, size=(SIZE, SIZE)), rng.uniform(-1, 1, size=(SIZE, SIZE))))
    image = warp_affine_reflect101(x.float(), matrices)
    operator = torch.as_tensor(_elastic_operator(float(sigma)), device=x.device)
    noise = _stack([np.stack(f) for f in fields], x)  # (B, 2, H, W)
    smooth = (operator @ noise @ operator.T * alpha).float()
    dx, dy = smooth[:, 0], smooth[:, 1]
    grid = torch.arange(SIZE, device=x.device, dtype=torch.float64)
    rows = grid[None, :, None] + dy.double()
    cols = grid[None, None, :] + dx.double()
    out = map_coordinates_reflect(image, rows, cols)
    return torch.clip(out, 0, 1) * 255


def pixelate(x, u8, rngs, c, seeds):
    side = int(SIZE * c)
    out = [np.asarray(Image.fromarray(a).resize((side, side), Image.BOX).resize((SIZE, SIZE), Image.BOX))
           for a in u8.cpu().numpy()]
    return _stack(out, x).double()


def jpeg_compression(x, u8, rngs, c, seeds):
    out = []
    for a in u8.cpu().numpy():
        buffer = io.BytesIO()
        Image.fromarray(a).save(buffer, "JPEG", quality=c)
        buffer.seek(0)
        out.append(np.asarray(Image.open(buffer).convert("RGB")))
    return _stack(out, x).double()


def _opencv():
    """OpenCV, imported only when spatter 1-3 needs it (a dependency of auditkit, pinned < 5)."""
    try:
        import cv2
    except ImportError:
        raise AuditError('spatter severities 1-3 need OpenCV: pip install "opencv-python-headless<5"') from None
    return cv2


# make_imagenet_c.py's emboss kernel of the liquid's edge-distance map
_EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], dtype=np.float32)


def _liquid_relief(liquid: np.ndarray) -> np.ndarray:
    """The reference's OpenCV steps on one uint8 (224, 224) liquid layer: Canny edges (50, 150),
    the 5 x 5 L2 distance to them truncated at 20, box blur, equalised histogram, emboss, box
    blur, as float32. OpenCV itself runs them: its Canny and 5 x 5 distance approximation are
    the protocol's, and these are microseconds per 224 x 224 image."""
    cv2 = _opencv()
    dist = 255 - cv2.Canny(liquid, 50, 150)
    dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
    _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
    dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
    dist = cv2.equalizeHist(dist)
    dist = cv2.filter2D(dist, cv2.CV_8U, _EMBOSS)
    return cv2.blur(dist, (3, 3)).astype(np.float32)


def _liquid_spatter(image: torch.Tensor, liquid: torch.Tensor, c: tuple) -> torch.Tensor:
    """Severities 1-3 ("liquid"): pale turquoise water where the thresholded liquid layer is,
    shaded by the embossed distance to its edges; float32 as the reference."""
    layer = (liquid * 255).to(torch.uint8)  # the reference's astype(np.uint8): truncation
    relief = _stack([_liquid_relief(a) for a in layer.cpu().numpy()], image)
    m = layer.float() * relief  # uint8 times float32: float32, as numpy
    # the reference divides by the maximum; an all-zero layer (no liquid) would be 0 / 0 there
    m = m / m.amax(dim=(1, 2), keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)
    m = (m * c[4])[..., None]
    # (175, 238, 238) / 255 into channels 0, 1, 2 (the reference's "BGR" is the RGB image)
    water = torch.tensor([175 / 255., 238 / 255., 238 / 255.], dtype=torch.float32, device=image.device)
    return torch.clip(image + m * water, 0, 1) * 255


def spatter(x, u8, rngs, c, seeds):
    image = x.float()
    liquid = _stack([rng.normal(size=(SIZE, SIZE), loc=c[0], scale=c[1]) for rng in rngs], x)
    liquid = gaussian_filter(liquid, c[2])
    liquid = torch.where(liquid < c[3], torch.zeros_like(liquid), liquid)
    if c[5] == 0:
        return _liquid_spatter(image, liquid, c)
    mask = (liquid > c[3]).float()
    mask = gaussian_filter(mask, c[4])
    mask = torch.where(mask < 0.8, torch.zeros_like(mask), mask)[..., None]
    mud = torch.tensor([63 / 255., 42 / 255., 20 / 255.], dtype=torch.float32, device=x.device)
    colour = mud * mask
    image = image * (1 - mask)
    return torch.clip(image + colour, 0, 1) * 255


CORRUPTION_FUNCTIONS: dict[str, Callable] = {
    "gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur, "glass_blur": glass_blur, "motion_blur": motion_blur,
    "zoom_blur": zoom_blur, "snow": snow, "frost": frost, "fog": fog, "brightness": brightness,
    "contrast": contrast, "elastic_transform": elastic_transform, "pixelate": pixelate,
    "jpeg_compression": jpeg_compression, "speckle_noise": speckle_noise,
    "gaussian_blur": gaussian_blur_corruption, "spatter": spatter, "saturate": saturate,
}


def corrupt_batch(
    crops: np.ndarray | torch.Tensor, corruption: str, severity: int, seeds: Sequence[int],
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Corrupt a batch of clean 224 x 224 crops (B, 224, 224, 3) uint8 at ``severity`` (1-5):
    one seed per image (its RandomState), returned as uint8 (B, 224, 224, 3) on ``device``,
    before the JPEG of the release (``np.uint8`` truncation, as the reference saves)."""
    u8 = torch.as_tensor(np.array(crops) if isinstance(crops, np.ndarray) else crops, device=device)
    if u8.dtype != torch.uint8 or u8.dim() != 4 or tuple(u8.shape[1:]) != (SIZE, SIZE, 3):
        raise ValueError(f"expected uint8 (B, {SIZE}, {SIZE}, 3) crops, got {tuple(u8.shape)} {u8.dtype}")
    if len(seeds) != u8.shape[0]:
        raise ValueError(f"{len(seeds)} seeds for {u8.shape[0]} images")
    function = CORRUPTION_FUNCTIONS[corruption]
    c = PARAMETERS[corruption][severity - 1]
    rngs = [np.random.RandomState(int(seed)) for seed in seeds]
    x = u8.double() / 255.
    out = function(x, u8, rngs, c, [int(s) for s in seeds])
    return out.to(torch.uint8)
