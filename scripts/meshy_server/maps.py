"""Texture maps at Meshy's size (e.g. 2048 x 2048) whose PNG bytes weigh what real ones do.

A map is a smooth pattern plus uniform noise of a few levels per channel, so zlib cannot squeeze it
to nothing: a 2048^2 base colour takes about 6 MB, as a generated texture does. Standard library only
and fast (bytes.translate per row and channel, zlib level 1): about 0.3 s for a 2048^2 RGB map.
Deterministic for a given seed, so a download resumed with Range gets the same bytes.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
import threading
import zlib
from collections.abc import Callable
from functools import lru_cache

from .images import PNG_MAGIC, png_chunk

BANDS = 128  # the pattern changes every size / BANDS rows: smooth enough, and cheap
Channel = tuple[Callable[[float], float], int]  # (value 0-255 as a function of v in [0, 1), noise levels)


@lru_cache(maxsize=4096)
def _table(base: int, levels: int) -> bytes:
    """Translate table: a random byte -> base plus noise in [-levels/2, levels/2), clamped to 0-255."""
    if levels <= 1:
        return bytes([max(0, min(255, base))]) * 256
    half = levels // 2
    return bytes(max(0, min(255, base + (b % levels) - half)) for b in range(256))


def noisy_png(size: int, channels: list[Channel], seed: bytes) -> bytes:
    """A size x size 8-bit PNG (gray or RGB) of the channels' patterns, rows top to bottom."""
    n = len(channels)
    color_type = {1: 0, 3: 2}[n]
    rng = random.Random(hashlib.sha256(seed).digest())
    noise = rng.randbytes(size * size * n)
    stride = size * n + 1  # a filter byte (0: none) before each row
    raw = bytearray(size * stride)
    band = max(1, size // BANDS)
    for y0 in range(0, size, band):
        tables = [_table(round(value((y0 + band / 2) / size)), levels) for value, levels in channels]
        for y in range(y0, min(size, y0 + band)):
            src, start = y * size * n, y * stride + 1
            for c, table in enumerate(tables):
                raw[start + c : start + size * n : n] = noise[src + c : src + size * n : n].translate(table)
    ihdr = size.to_bytes(4, "big") * 2 + bytes((8, color_type, 0, 0, 0))
    return PNG_MAGIC + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 1)) + png_chunk(b"IEND", b"")


def _const(value: float) -> Callable[[float], float]:
    return lambda v: value


def base_color_png(size: int, tint: tuple[int, int, int], seed: bytes) -> bytes:
    """The photo's tint, shaded from top to bottom, with 10 levels of noise (about 3.3 bits a channel)."""
    return noisy_png(size, [(lambda v, t=t: t * (0.7 + 0.3 * math.sin(math.pi * v)), 10) for t in tint], seed)


def shared(fn):
    """Cache fn's results (a few) and build each once: tasks downloaded at once wait for one build."""
    cached = lru_cache(maxsize=8)(fn)
    lock = threading.Lock()

    @functools.wraps(fn)
    def wrapper(*args):
        with lock:
            return cached(*args)

    return wrapper


# The PBR maps are the same for every task of a size (built once per server process).
@shared
def metallic_roughness_png(size: int) -> bytes:
    """glTF packed map: R unused (white), G roughness, B metallic."""
    return noisy_png(size, [(_const(255), 1), (lambda v: 150 + 60 * v, 6),
                            (lambda v: 40 + 60 * math.sin(math.pi * v) ** 8, 3)], b"metallic_roughness")


@shared
def normal_png(size: int) -> bytes:
    """Tangent space, mostly flat (128, 128, 250) with a jitter of a few degrees."""
    return noisy_png(size, [(_const(128), 8), (_const(128), 8), (_const(250), 3)], b"normal")


@shared
def metallic_png(size: int) -> bytes:
    return noisy_png(size, [(lambda v: 40 + 60 * math.sin(math.pi * v) ** 8, 3)], b"metallic")


@shared
def roughness_png(size: int) -> bytes:
    return noisy_png(size, [(lambda v: 150 + 60 * v, 6)], b"roughness")


@shared
def emission_png(size: int) -> bytes:
    """Black but for a faint warm strip across the middle (compresses to little, as a real one does)."""
    strip = [(lambda v, c=c: c if 0.45 < v < 0.55 else 0.0, 1) for c in (60, 40, 10)]
    return noisy_png(size, strip, b"emission")
