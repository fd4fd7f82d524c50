"""PNG and JPEG files as bytes: what they hold (size, depth) and the same file without its metadata.

Nothing here decodes pixels or needs bpy: reading a header or dropping text/EXIF chunks of a
100 MB file costs a few milliseconds, so images.py tries this before any re-encoding.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Ancillary PNG chunks that change how the pixels look (transparency, colour): kept. Every other
# ancillary chunk (text, EXIF, time, physical size, private data) is metadata.
_PNG_LOOK = {b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"cICP", b"mDCV", b"cLLI"}
_JPEG_APP0, _JPEG_APP2, _JPEG_APP14, _JPEG_COM, _JPEG_SOS = 0xE0, 0xE2, 0xEE, 0xFE, 0xDA


@dataclass(frozen=True)
class Header:
    mime: str
    width: int
    height: int
    depth: int  # bits per channel


def sniff(data: bytes) -> Header | None:
    """Size and bit depth from the header; None when not a well-formed PNG/JPEG (then Blender decides)."""
    if data.startswith(PNG_SIGNATURE):
        return _png_header(memoryview(data))
    if data.startswith(JPEG_SIGNATURE):
        return _jpeg_header(data)
    return None


def _png_chunks(data: memoryview):
    """(type, start, end) of each complete chunk with a good CRC; stops at the first bad one."""
    pos = 8
    while pos + 12 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 12 + length
        if end > len(data) or zlib.crc32(data[pos + 4 : end - 4]) != struct.unpack(">I", data[end - 4 : end])[0]:
            return
        yield ctype, pos, end
        pos = end


def _png_header(data: memoryview) -> Header | None:
    """IHDR of a PNG whose chunks are all complete with good CRCs (catches truncated and damaged files)."""
    header = None
    for ctype, pos, end in _png_chunks(data):
        if ctype == b"IHDR" and end - pos >= 25:
            width, height, depth = struct.unpack(">IIB", data[pos + 8 : pos + 17])
            header = Header("image/png", width, height, depth)
        elif ctype == b"IEND":
            return header if header and header.width and header.height else None
    return None


def _jpeg_segments(data: bytes):
    """(marker, start, end) of each header segment up to and including the first start of scan."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        yield marker, pos, pos + 2 + length
        if marker == _JPEG_SOS:
            return
        pos += 2 + length


def _jpeg_header(data: bytes) -> Header | None:
    """Frame size from the SOF marker; None unless an end-of-image marker follows the first scan."""
    header = None
    for marker, pos, _end in _jpeg_segments(data):
        if marker in _JPEG_SOF and pos + 9 <= len(data):
            precision, height, width = struct.unpack(">BHH", data[pos + 4 : pos + 9])
            header = Header("image/jpeg", width, height, precision) if width and height else None
        elif marker == _JPEG_SOS:  # the image data follows; it must end with EOI
            return header if header and data.rfind(b"\xff\xd9") > pos else None
    return None


def strip_metadata(data: bytes, mime: str) -> bytes:
    """The same image without metadata (text, EXIF, XMP, comments, previews); pixels and colour kept."""
    if mime == "image/png":
        view = memoryview(data)
        kept: list[bytes | memoryview] = [view[:8]]
        for ctype, pos, end in _png_chunks(view):
            if ctype[:1].isupper() or ctype in _PNG_LOOK:  # critical chunks, or ones that change the look
                kept.append(view[pos:end])
        return b"".join(kept)
    if mime == "image/jpeg":
        kept = [data[:2]]
        scan = len(data)
        for marker, pos, end in _jpeg_segments(data):
            if marker == _JPEG_SOS:
                scan = pos
                break
            meta = marker == _JPEG_COM or (0xE0 <= marker <= 0xEF and marker not in (_JPEG_APP0, _JPEG_APP14))
            if marker == _JPEG_APP2 and data[pos + 4 : pos + 16] == b"ICC_PROFILE\0":
                meta = False  # the colour profile changes how the pixels look
            if not meta:
                kept.append(data[pos:end])
        return b"".join(kept) + data[scan:]
    return data
