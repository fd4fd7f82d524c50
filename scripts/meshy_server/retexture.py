"""Retexture: the new base colour a style asks for, and the texture painted in it.

The colour comes from the style image (its mean colour; a PNG is decoded, a JPEG, which the server
cannot decode, gets a colour derived from its bytes) or from the first colour word of the prompt
(else a colour derived from the prompt text). The texture is that colour with a soft woven pattern,
2048 px square (4096 with hd_texture), written as PNG.
"""

from __future__ import annotations

import colorsys
import struct
import zlib

from .images import PNG_MAGIC, encode_png
from .pngread import _chunks, _unfilter

COLOUR_WORDS = {
    "red": (200, 30, 35), "crimson": (170, 20, 45), "green": (40, 160, 60), "blue": (35, 70, 200),
    "navy": (20, 30, 100), "yellow": (230, 200, 40), "gold": (212, 175, 55), "golden": (212, 175, 55),
    "orange": (235, 120, 30), "purple": (120, 50, 160), "violet": (140, 70, 200), "pink": (235, 120, 170),
    "brown": (120, 75, 40), "wood": (150, 105, 60), "wooden": (150, 105, 60), "oak": (170, 130, 80),
    "black": (25, 25, 28), "white": (240, 240, 236), "gray": (128, 128, 128), "grey": (128, 128, 128),
    "silver": (190, 192, 198), "cyan": (40, 200, 210), "teal": (30, 130, 130), "marble": (225, 222, 215),
    "rust": (150, 70, 35), "copper": (184, 115, 51), "bronze": (160, 110, 50), "stone": (135, 130, 120),
}
STANDARD_SIZE = 2048
HD_SIZE = 4096


def prompt_colour(prompt: str) -> tuple[int, int, int]:
    """The first colour word of the prompt, else a saturated colour derived from its text."""
    for word in "".join(c.lower() if c.isalnum() else " " for c in prompt).split():
        if word in COLOUR_WORDS:
            return COLOUR_WORDS[word]
    return _colour_of(prompt.encode())


def image_colour(data: bytes) -> tuple[int, int, int]:
    """Mean colour of a style image (PNG decoded; other images: a colour derived from the bytes)."""
    mean = png_mean_colour(data)
    return mean if mean is not None else _colour_of(data[:65536])


def _colour_of(seed: bytes) -> tuple[int, int, int]:
    h = (zlib.crc32(seed) % 360) / 360.0
    r, g, b = colorsys.hsv_to_rgb(h, 0.65, 0.8)
    return int(r * 255), int(g * 255), int(b * 255)


def png_mean_colour(data: bytes) -> tuple[int, int, int] | None:
    """Mean RGB of an 8-bit PNG (gray, RGB, palette, with or without alpha); None if unreadable."""
    if not data.startswith(PNG_MAGIC):
        return None
    try:
        ihdr, plte, idat = None, b"", []
        for kind, payload in _chunks(data):
            if kind == b"IHDR":
                ihdr = struct.unpack(">IIBBBBB", payload[:13])
            elif kind == b"PLTE":
                plte = payload
            elif kind == b"IDAT":
                idat.append(payload)
        if ihdr is None:
            return None
        width, height, depth, color, _, _, interlace = ihdr
        channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
        if depth != 8 or interlace:
            return None
        stride = width * channels
        rows = _unfilter(zlib.decompress(b"".join(idat)), height, stride, channels)
    except (KeyError, ValueError, IndexError, struct.error, zlib.error):
        return None
    total = [0, 0, 0]
    n = 0
    step = max(1, height // 64)
    for row in rows[::step]:
        xs = max(1, width // 256)
        for x in range(0, width, xs):
            px = row[x * channels : (x + 1) * channels]
            if color == 3:
                rgb = plte[3 * px[0] : 3 * px[0] + 3]
            elif channels < 3:
                rgb = bytes((px[0],)) * 3
            else:
                rgb = px[:3]
            for c in range(3):
                total[c] += rgb[c]
            n += 1
    return (total[0] // n, total[1] // n, total[2] // n) if n else None


def base_colour_png(colour: tuple[int, int, int], hd: bool = False) -> bytes:
    """A square texture in colour with a soft woven pattern (brighter and darker bands, +-12 %)."""
    size = HD_SIZE if hd else STANDARD_SIZE
    tile = 64

    def px(f: float) -> bytes:
        return bytes(max(0, min(255, int(c * f))) for c in colour)

    light, mid, dark = px(1.12), px(1.0), px(0.88)
    row_a = ((light * (tile // 2) + mid * (tile // 2)) * (size // tile))[: 3 * size]
    row_b = ((mid * (tile // 2) + dark * (tile // 2)) * (size // tile))[: 3 * size]
    band = row_a * (tile // 2) + row_b * (tile // 2)
    pixels = band * (size // tile)
    return encode_png(size, size, pixels, 3)
