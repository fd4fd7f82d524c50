"""Pixels read from Blender -> an 8-bit PNG, on a worker thread (numpy and zlib; never bpy).

The main thread only copies an image's pixels out (one `foreach_get`); the colour conversion,
the downscale and the compression run here, band by band so memory stays bounded. The result is
what Blender's own `save_render` (Standard view on the sRGB display) wrote before: byte images keep
their exact bytes, float (scene-linear) images get the sRGB transfer function, alpha is kept.
numpy is imported on first use: the pure tier's environment has none and never calls this.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

PNG_MIME = "image/png"
ZLIB_LEVEL = 1  # as Blender wrote PNGs (compression 15%): the size barely differs, the time halves
_BAND_BYTES = 16 * 1024 * 1024  # input pixels converted at once (float64 while resampling)
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Pixels:
    """An image's pixels as Blender holds them: float32, rows bottom-up, `channels` per pixel.

    `linear`: scene-linear float values (premultiplied by alpha, as Blender keeps float buffers);
    else byte values / 255 (sRGB, straight alpha). `alpha`: whether the PNG keeps an alpha channel.
    """

    buffer: Any = field(repr=False)  # numpy float32, width * height * channels
    width: int
    height: int
    channels: int
    linear: bool
    alpha: bool


def size_bound(width: int, height: int, alpha: bool) -> int:
    """The largest PNG `png()` can write for this size (zlib's worst case: stored blocks)."""
    raw = height * (1 + width * (4 if alpha else 3))
    return raw + raw // 1000 + 1024


def png(pixels: Pixels, width: int, height: int) -> bytes:
    """The PNG of `pixels` at width x height (an area-average downscale when smaller)."""
    import numpy as np

    src = pixels.buffer.reshape(pixels.height, pixels.width, pixels.channels)
    out_channels = 4 if pixels.alpha else 3
    edges_y = np.arange(height + 1, dtype=np.float64) * (pixels.height / height)
    edges_x = np.arange(width + 1, dtype=np.float64) * (pixels.width / width)
    rows_per_band = max(1, _BAND_BYTES // (8 * pixels.width * pixels.channels * max(1, pixels.height // height)))
    deflate = zlib.compressobj(ZLIB_LEVEL)
    parts, previous = [], np.zeros(width * out_channels, np.uint8)
    for top in range(0, height, rows_per_band):  # PNG rows go top-down, Blender's bottom-up
        bottom = min(height, top + rows_per_band)
        lo, hi = height - bottom, height - top  # the same output rows in Blender's order
        first, last = int(edges_y[lo]), min(pixels.height, int(np.ceil(edges_y[hi])))
        band = _display(np, src[first:last], pixels, out_channels)
        if (width, height) != (pixels.width, pixels.height):
            band = _area(np, band, 0, edges_y[lo : hi + 1] - first)
            band = _area(np, band, 1, edges_x)
        rows = np.rint(np.clip(band[::-1], 0.0, 1.0) * 255.0).astype(np.uint8).reshape(bottom - top, -1)
        parts.append(deflate.compress(_filtered(np, rows, previous, out_channels)))
        previous = rows[-1]
    parts.append(deflate.flush())
    return _png_file(width, height, out_channels, b"".join(parts))


def _display(np: Any, block: Any, pixels: Pixels, out_channels: int) -> Any:
    """RGB(A) float values as written to an 8-bit file (sRGB, straight alpha)."""
    block = block.astype(np.float32, copy=False)
    channels = block.shape[-1]
    rgb = block[..., :3] if channels >= 3 else np.repeat(block[..., :1], 3, axis=-1)
    alpha = block[..., 3:4] if channels == 4 else np.ones_like(block[..., :1])
    if pixels.linear:
        if channels == 4:
            rgb = np.divide(rgb, alpha, out=rgb.copy(), where=alpha > 0)  # float buffers are premultiplied
        rgb = np.clip(rgb, 0.0, 1.0)
        rgb = np.where(rgb <= 0.0031308, rgb * 12.92, 1.055 * np.power(rgb, 1 / 2.4) - 0.055)
    return np.concatenate([rgb, alpha], axis=-1) if out_channels == 4 else rgb


def _area(np: Any, values: Any, axis: int, edges: Any) -> Any:
    """Box-filter resample along `axis`: each output sample averages the input span [edges[i], edges[i+1])."""
    n = values.shape[axis]
    total = np.cumsum(values, axis=axis, dtype=np.float64)
    zero = np.zeros_like(np.take(total, [0], axis=axis))
    total = np.concatenate([zero, total], axis=axis)  # total[i]: sum of the first i samples

    def integral(x: Any) -> Any:
        i = np.minimum(np.floor(x).astype(np.intp), n - 1)
        shape = [1] * values.ndim
        shape[axis] = -1
        frac = (x - i).reshape(shape)
        return np.take(total, i, axis=axis) + frac * np.take(values, i, axis=axis)

    width = np.diff(edges).reshape([-1 if d == axis else 1 for d in range(values.ndim)])
    return ((integral(edges[1:]) - integral(edges[:-1])) / width).astype(np.float32)


def _filtered(np: Any, rows: Any, previous: Any, bpp: int) -> bytes:
    """PNG scanlines with a filter per row (None, Sub, Up, Average, Paeth: the smallest sum wins)."""
    x = rows.astype(np.int16)
    up = np.vstack([previous[None, :].astype(np.int16), x[:-1]])
    left = np.zeros_like(x)
    left[:, bpp:] = x[:, :-bpp]
    up_left = np.zeros_like(x)
    up_left[:, bpp:] = up[:, :-bpp]
    p = left + up - up_left
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - up_left)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
    candidates = np.stack([x, x - left, x - up, x - (left + up) // 2, x - paeth]).astype(np.uint8)
    signed = candidates.view(np.int8).astype(np.int32)
    best = np.abs(signed).sum(axis=2).argmin(axis=0)
    chosen = candidates[best, np.arange(len(rows))]
    return np.hstack([best.astype(np.uint8)[:, None], chosen]).tobytes()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_file(width: int, height: int, channels: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 6 if channels == 4 else 2, 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
