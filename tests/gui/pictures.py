"""Pixels of the GUI tier's screenshots on the pytest side (standard library only: no numpy here)."""

from __future__ import annotations

from pathlib import Path


def png_rgb(path: Path) -> tuple[int, int, bytes]:
    """(width, height, RGB bytes) of a screenshot: 8-bit RGB, RGBA or palette PNG (standard library only)."""
    import struct
    import zlib

    from scripts.meshy_server import pngread

    data = path.read_bytes()
    chunks = dict.fromkeys((b"IHDR", b"PLTE"), b"")
    idat = []
    for kind, payload in pngread._chunks(data):
        if kind == b"IDAT":
            idat.append(payload)
        else:
            chunks[kind] = payload
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"][:13])
    assert depth == 8 and not interlace and color in (2, 3, 6), f"{path}: depth {depth}, colour type {color}"
    channels = {2: 3, 3: 1, 6: 4}[color]
    rows = pngread._unfilter(zlib.decompress(b"".join(idat)), height, width * channels, channels)
    if color == 3:
        palette = chunks[b"PLTE"]
        return width, height, b"".join(bytes(c for i in row for c in palette[3 * i:3 * i + 3]) for row in rows)
    return width, height, b"".join(b"".join(row[x:x + 3] for x in range(0, len(row), channels)) for row in rows)


def shirt_pixels(picture: tuple[int, int, bytes], rect) -> int:
    """Pixels of the figure's blue shirt (blue well above red) inside rect (x, y, w, h) of the picture."""
    w, h, rgb = picture
    x0, y0, rw, rh = rect
    count = 0
    for y in range(max(0, y0), min(h, y0 + rh)):
        for x in range(max(0, x0), min(w, x0 + rw)):
            r, _g, b = rgb[3 * (y * w + x):3 * (y * w + x) + 3]
            count += b > r + 60 and b > 90
    return count
