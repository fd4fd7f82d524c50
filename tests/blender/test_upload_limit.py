"""Photos over Meshy's 100 MB limit are shrunk until the upload fits, and the user is told what was done.

The files are real PNGs of 75-100 MiB made here (noise pixels, which no encoder can squeeze): before
the one definition of the limit, such a file passed the shrink step (under 100 MiB on disk) and was
then refused at submit (over 100 MiB once base64-encoded).
"""

from __future__ import annotations

import base64
import logging
import struct
import zlib

import bl_support
import bpy
import numpy as np
from workflow_support import server_task

MIB = 1024 * 1024
# Meshy says "up to 100 MB": read safely, the data URI as sent must be at most 100 * 10^6 characters.
LIMIT = 100_000_000


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def noise_png(path, width: int, height: int, channels: int, metadata: int = 0) -> bytes:
    """A valid 8-bit PNG of random pixels (stored, not compressed), plus `metadata` bytes of text chunk."""
    rng = np.random.default_rng(11)
    rows = np.zeros((height, 1 + width * channels), np.uint8)  # filter byte 0 on every row
    rows[:, 1:] = rng.integers(0, 256, (height, width * channels), dtype=np.uint8)
    color_type = {3: 2, 4: 6}[channels]
    parts = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0))]
    for i in range(0, metadata, 4 * MIB):  # libpng refuses text chunks over 8 MB: several, as real files have
        parts.append(_chunk(b"tEXt", b"Comment %d\0" % i + b"m" * min(4 * MIB, metadata - i)))
    idat = zlib.compress(rows.tobytes(), 0)
    parts += [_chunk(b"IDAT", idat[i : i + 64 * MIB]) for i in range(0, len(idat), 64 * MIB)]
    parts.append(_chunk(b"IEND", b""))
    data = b"".join(parts)
    path.write_bytes(data)
    return data


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def _sent_data_uri_length(mime: str, data: bytes) -> int:
    return len(f"data:{mime};base64,") + len(base64.b64encode(data))


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_operator_drops_metadata_of_a_too_big_png(meshy, capfd, caplog):
    """80 MiB on disk (64 MiB of pixels + 16 MiB of text): removing the text is enough; pixels are untouched."""
    path = meshy.tmp / "scan.png"
    original = noise_png(path, 4096, 4096, 4, metadata=16 * MIB)
    assert 75 * MIB < len(original) < 100 * MIB
    assert _sent_data_uri_length("image/png", original) > LIMIT
    bpy.context.scene.meshy.image = bpy.data.images.load(str(path))
    caplog.set_level(logging.WARNING)
    assert bpy.ops.meshy.image_to_3d() == {"FINISHED"}
    job = meshy.api.jobs()[0]
    meshy.api.wait(job, timeout=300)
    sent, mime = server_task(meshy.server, job.view.task_id).images[0]
    assert mime == "image/png"
    assert _sent_data_uri_length(mime, sent) <= LIMIT
    kept = [(k, b) for k, b in _chunks(original) if k != b"tEXt"]
    assert _chunks(sent) == kept, "only the metadata chunk was removed"
    out = capfd.readouterr().out
    assert "metadata" in out and "100 MB" in out, "the operator's report says what was done"
    assert any("metadata" in w for w in _warnings(caplog))


def test_api_sends_a_too_big_opaque_png_as_jpeg(meshy, caplog):
    """77 MiB of noise pixels that no PNG can hold under the limit: the script's upload goes as JPEG."""
    prefs = bpy.context.preferences.addons[bl_support.MODULE].preferences
    prefs.max_image_size = 8192  # the user allows big uploads: the size limit alone must make it fit
    path = meshy.tmp / "facade.png"
    original = noise_png(path, 5200, 5200, 3)
    assert 75 * MIB < len(original) < 100 * MIB
    caplog.set_level(logging.WARNING)
    try:
        job = meshy.api.submit_image(str(path))
        meshy.api.wait(job, timeout=300)
    finally:
        prefs.max_image_size = 4096
    sent, mime = server_task(meshy.server, job.view.task_id).images[0]
    assert mime == "image/jpeg" and sent[:3] == b"\xff\xd8\xff"
    assert _sent_data_uri_length(mime, sent) <= LIMIT
    warned = _warnings(caplog)
    assert any("JPEG" in w and "100 MB" in w for w in warned), warned
