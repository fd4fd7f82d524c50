"""Images for the server: real MIME types and sizes from magic bytes, PNG writing, PBR maps, thumbnails.

Pure standard library so the server runs on any Python >= 3.11 with nothing installed.
"""

from __future__ import annotations

import math
import struct
import zlib

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"

def sniff_image(data: bytes) -> str | None:
    """Real MIME type from magic bytes (the declared type is not trusted)."""
    if data.startswith(PNG_MAGIC):
        return "image/png"
    if data.startswith(JPEG_MAGIC):
        return "image/jpeg"
    return None


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG or JPEG, (1, 1) when it cannot be read; used for the aspect ratio."""
    if data.startswith(PNG_MAGIC) and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return max(1, w), max(1, h)
    if data.startswith(JPEG_MAGIC):
        return _jpeg_size(data)
    return 1, 1


def _jpeg_size(data: bytes) -> tuple[int, int]:
    """Walk JPEG markers up to the first SOFn frame header."""
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        seg_len = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and i + 9 <= n:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return max(1, w), max(1, h)
        i += 2 + seg_len
    return 1, 1


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def encode_png(width: int, height: int, pixels: bytes, channels: int) -> bytes:
    """Encode 8-bit gray (1), RGB (3) or RGBA (4) pixels, rows top to bottom, filter 0."""
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    stride = width * channels
    raw = b"".join(b"\x00" + pixels[y * stride : (y + 1) * stride] for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return PNG_MAGIC + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw, 6)) + png_chunk(
        b"IEND", b""
    )


def _pattern_png(size: int, channels: int, fn) -> bytes:
    """PNG whose pixel (x, y) is fn(x/size, y/size) -> tuple of channel bytes."""
    out = bytearray()
    for y in range(size):
        fy = y / size
        for x in range(size):
            out.extend(fn(x / size, fy))
    return encode_png(size, size, bytes(out), channels)


def _clamp8(v: float) -> int:
    return max(0, min(255, int(v)))


def metallic_png(size: int = 64) -> bytes:
    """Gray metallic map: mostly dielectric with a faint metallic band."""
    return _pattern_png(size, 1, lambda u, v: (_clamp8(40 + 60 * math.sin(math.pi * v) ** 8),))


def roughness_png(size: int = 64) -> bytes:
    """Gray roughness map: mid roughness with a gentle gradient."""
    return _pattern_png(size, 1, lambda u, v: (_clamp8(150 + 60 * u),))


def metallic_roughness_png(size: int = 64) -> bytes:
    """glTF packed map: G = roughness, B = metallic (R unused, kept white)."""
    return _pattern_png(
        size, 3, lambda u, v: (255, _clamp8(150 + 60 * u), _clamp8(40 + 60 * math.sin(math.pi * v) ** 8))
    )


def normal_png(size: int = 64) -> bytes:
    """Tangent-space normal map with a soft ripple (mostly flat 128,128,255)."""

    def px(u, v):
        nx = 0.15 * math.sin(2 * math.pi * 4 * u)
        ny = 0.15 * math.sin(2 * math.pi * 4 * v)
        nz = math.sqrt(max(0.0, 1 - nx * nx - ny * ny))
        return (_clamp8((nx + 1) * 127.5), _clamp8((ny + 1) * 127.5), _clamp8((nz + 1) * 127.5))

    return _pattern_png(size, 3, px)


def emission_png(size: int = 64) -> bytes:
    """Mostly black emission map with a faint warm strip so renders are not washed out."""
    return _pattern_png(size, 3, lambda u, v: (60, 40, 10) if 0.45 < v < 0.55 else (0, 0, 0))


def tint(seed: bytes) -> tuple[int, int, int]:
    """A colour of the input's own: its thumbnails and its Meshy-size base colour (maps.py) share it."""
    h = zlib.crc32(seed)
    return 90 + (h & 0x7F), 90 + ((h >> 8) & 0x7F), 90 + ((h >> 16) & 0x7F)


def thumbnail_png(seed: bytes, view: str = "front", size: int = 128, alpha: bool = False) -> bytes:
    """A shaded rounded card in a colour derived from the input image; side views are narrow."""
    r0, g0, b0 = tint(seed)
    half_w = 0.12 if view in ("left", "right") else 0.36
    channels = 4 if alpha else 3
    bg = (0, 0, 0, 0) if alpha else (235, 235, 240)

    def px(u, v):
        dx, dy = abs(u - 0.5) / half_w, abs(v - 0.5) / 0.4
        d = dx**4 + dy**4
        if d > 1:
            return bg
        shade = 0.65 + 0.35 * (1 - d) - 0.2 * v
        rgb = (_clamp8(r0 * shade), _clamp8(g0 * shade), _clamp8(b0 * shade))
        return (*rgb, 255) if alpha else rgb

    return _pattern_png(size, channels, px)

