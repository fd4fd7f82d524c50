"""The job folder in the model library: names we choose, never the server's.

Every path the engine writes is built here from a fixed vocabulary (model.glb, thumbnail.png,
textures/<known map>.png, input_N.png|jpg), and checked to stay inside the library folder,
so nothing a server, URL or label says can write elsewhere.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from pathlib import Path

MODEL = "model.glb"
THUMBNAIL = "thumbnail.png"
BLEND = "model.blend"  # written by the converter (a background Blender), appended by the main thread
BLEND_RESULT = "model.blend.json"  # the converter's result: written before BLEND gets its final name
CONVERT_LOG = "convert.log"  # the converter's own output, for its error message
TEXTURE_MAPS = ("base_color", "metallic", "roughness", "normal", "emission")
_EXT = {"image/png": "png", "image/jpeg": "jpg", "image/jpg": "jpg"}
MIME_OF_EXT = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg"}


def safe_name(label: str, limit: int = 40) -> str:
    """A file-name-safe, readable version of a label (ASCII letters, digits, - and _)."""
    text = unicodedata.normalize("NFKD", label or "").encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_-")
    return text[:limit].rstrip("_-") or "job"


def job_folder(library_dir: Path, label: str, job_id: str) -> Path:
    """``<library>/<safe label>-<id prefix>``; guaranteed to be a direct child of the library."""
    library = Path(library_dir).resolve()
    folder = (library / f"{safe_name(label)}-{safe_name(job_id, 8)}").resolve()
    if folder.parent != library:
        raise ValueError(f"job folder {folder} escapes the library {library}")
    return folder


def inside(folder: Path, relative: str) -> Path:
    """folder/relative, refusing anything that would land outside folder."""
    base = Path(folder).resolve()
    path = (base / relative).resolve()
    if path != base and base not in path.parents:
        raise ValueError(f"{relative!r} escapes {base}")
    return path


def ext_for_mime(mime: str) -> str:
    try:
        return _EXT[(mime or "").lower()]
    except KeyError:
        raise ValueError(f"unsupported image type {mime!r}: Meshy takes PNG or JPEG") from None


def input_file_name(index: int, mime: str) -> str:
    return f"input_{index}.{ext_for_mime(mime)}"


def texture_file_name(map_name: str) -> str:
    if map_name not in TEXTURE_MAPS:
        raise ValueError(f"unknown texture map {map_name!r}")
    return f"textures/{map_name}.png"


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def parse_data_uri(value: str) -> tuple[str, bytes] | None:
    """(mime, bytes) for a base64 data URI, None for anything else (a plain URL)."""
    m = re.match(r"^data:([\w.+-]+/[\w.+-]+)?(;[^,]*)?,", value or "")
    if not m or ";base64" not in (m.group(2) or ""):
        return None
    try:
        return (m.group(1) or "image/png").lower(), base64.b64decode(value[m.end():], validate=False)
    except ValueError:
        return None


def encoded_size(n_bytes: int) -> int:
    """Length of the base64 text for n bytes (what counts against Meshy's 100 MB)."""
    return 4 * ((n_bytes + 2) // 3)
