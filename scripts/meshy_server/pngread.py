"""Read a PNG's alpha channel (the silhouette of a cut-out photo), standard library only.

Colour types with real alpha (grey + alpha, RGBA; 8 or 16 bits) and palettes with a tRNS chunk.
Anything else, interlaced files and broken files give None: the caller keeps the default model.
"""

from __future__ import annotations

import itertools
import struct
import zlib

from .images import PNG_MAGIC

MAX_PIXELS = 4096 * 4096
MASK_SIZE = 512  # the silhouette is kept at most this many pixels on its long side


class Alpha:
    """Alpha values 0-255, rows top to bottom."""

    def __init__(self, width: int, height: int, values: bytes):
        self.width, self.height, self.values = width, height, values
        self._sat: list[list[int]] | None = None

    def coverage(self, nx: int, ny: int) -> list[float]:
        """Mean alpha in [0, 1] of each cell of an nx x ny grid over the image, rows top to bottom."""
        sat, w, h = self._summed_area(), self.width, self.height
        xs = [min(w - 1, i * w // nx) for i in range(nx)] + [w]
        ys = [min(h - 1, j * h // ny) for j in range(ny)] + [h]
        out = []
        for j in range(ny):
            y0, y1 = ys[j], max(ys[j] + 1, ys[j + 1])
            top, bottom = sat[y0], sat[y1]
            for i in range(nx):
                x0, x1 = xs[i], max(xs[i] + 1, xs[i + 1])
                total = bottom[x1] - bottom[x0] - top[x1] + top[x0]
                out.append(total / (255.0 * (x1 - x0) * (y1 - y0)))
        return out

    def _summed_area(self) -> list[list[int]]:
        """sat[y][x] = sum of alpha over rows < y and columns < x (built once)."""
        if self._sat is None:
            w = self.width
            row_sums = [0] * (w + 1)
            sat = [row_sums]
            for y in range(self.height):
                acc = [0, *itertools.accumulate(self.values[y * w : (y + 1) * w])]
                row_sums = [a + b for a, b in zip(row_sums, acc)]
                sat.append(row_sums)
            self._sat = sat
        return self._sat

    def reduced(self, limit: int = MASK_SIZE) -> Alpha:
        """Every f-th pixel so that neither side exceeds limit (a silhouette needs no more)."""
        f = -(-max(self.width, self.height) // limit)
        if f <= 1:
            return self
        w = self.width
        rows = [self.values[y * w : (y + 1) * w : f] for y in range(0, self.height, f)]
        return Alpha(len(rows[0]), len(rows), b"".join(rows))

    def has_silhouette(self) -> bool:
        """Some pixels see-through and some solid: a cut-out, not an opaque photo with an alpha channel."""
        return min(self.values) < 128 <= max(self.values)


def read_alpha(data: bytes) -> Alpha | None:
    """The alpha channel of a PNG, or None when it has none (or cannot be read)."""
    try:
        alpha = _read(data)
    except (ValueError, IndexError, KeyError, struct.error, zlib.error):
        return None
    return alpha.reduced() if alpha is not None else None


def _chunks(data: bytes):
    pos = len(PNG_MAGIC)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        yield kind, data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IEND":
            return


def _read(data: bytes) -> Alpha | None:
    if not data.startswith(PNG_MAGIC):
        return None
    ihdr, trns, idat = None, None, []
    for kind, payload in _chunks(data):
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", payload[:13])
        elif kind == b"tRNS":
            trns = payload
        elif kind == b"IDAT":
            idat.append(payload)
    if ihdr is None:
        return None
    width, height, depth, color, _, _, interlace = ihdr
    if interlace or width * height > MAX_PIXELS or width == 0 or height == 0:
        return None
    if color == 3 and trns is not None and depth in (1, 2, 4, 8):
        channels = 1
    elif color in (4, 6) and depth in (8, 16):
        channels = 2 if color == 4 else 4
    else:
        return None
    bpp = max(1, channels * depth // 8)
    stride = (width * channels * depth + 7) // 8
    raw = zlib.decompress(b"".join(idat))
    if len(raw) < height * (stride + 1):
        raise ValueError("truncated image data")
    rows = _unfilter(raw, height, stride, bpp)
    if color == 3:
        table = trns + b"\xff" * (256 - len(trns))
        return Alpha(width, height, bytes(table[i] for i in _palette_indices(rows, width, depth)))
    step = channels * depth // 8
    offset = step - depth // 8  # the alpha sample is last; its high byte first for 16 bits
    return Alpha(width, height, b"".join(row[offset::step] for row in rows))


def _palette_indices(rows: list[bytes], width: int, depth: int):
    per_byte = 8 // depth
    mask = (1 << depth) - 1
    for row in rows:
        if depth == 8:
            yield from row[:width]
            continue
        n = 0
        for byte in row:
            for k in range(per_byte):
                if n == width:
                    break
                yield (byte >> (8 - depth * (k + 1))) & mask
                n += 1


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> list[bytes]:
    """Undo the five PNG row filters (None, Sub, Up, Average, Paeth)."""
    rows: list[bytes] = []
    prev = bytes(stride)
    lo7 = int.from_bytes(b"\x7f" * stride, "big")
    hi1 = int.from_bytes(b"\x80" * stride, "big")
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = raw[start + 1 : start + 1 + stride]
        if kind == 0:
            row = bytes(line)
        elif kind == 2:  # Up: byte-wise a + b mod 256 on whole rows at once (SWAR on big integers)
            a, b = int.from_bytes(line, "big"), int.from_bytes(prev, "big")
            row = (((a & lo7) + (b & lo7)) ^ ((a ^ b) & hi1)).to_bytes(stride, "big")
        elif kind == 1:
            out = bytearray(line)
            for i in range(bpp, stride):
                out[i] = (out[i] + out[i - bpp]) & 0xFF
            row = bytes(out)
        elif kind == 3:
            out = bytearray(line)
            for i in range(stride):
                left = out[i - bpp] if i >= bpp else 0
                out[i] = (out[i] + ((left + prev[i]) >> 1)) & 0xFF
            row = bytes(out)
        elif kind == 4:
            row = _paeth(line, prev, bpp)
        else:
            raise ValueError(f"bad filter type {kind}")
        rows.append(row)
        prev = row
    return rows


def _paeth(line: bytes, prev: bytes, bpp: int) -> bytes:
    out = bytearray(line)
    for i in range(len(out)):
        if i >= bpp:
            a, c = out[i - bpp], prev[i - bpp]
        else:
            a = c = 0
        b = prev[i]
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        out[i] = (out[i] + pred) & 0xFF
    return bytes(out)
