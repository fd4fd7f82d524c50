"""Model inputs as Meshy takes them (model_url): a URL with a model extension, or a base64 data URI.

Only the head of a data URI is decoded: enough to tell a GLB and, from its JSON chunk, how many faces
it has (rigging refuses more than 300,000), without copying a 100 MB upload.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
from typing import Any
from urllib.parse import unquote, urlsplit

from . import upload
from .errors import ValidationError
from .options import _check_http_url

__all__ = ["MAX_RIG_FACES", "MODEL_DATA_URI", "check_model_ref", "extension", "glb_faces"]

MODEL_DATA_URI = "data:application/octet-stream;base64,"
MAX_RIG_FACES = 300_000  # Meshy: "Face count exceeded" above this (remesh first)
RIG_REMESH_TARGET = 100_000  # what "remesh it first" suggests: well inside the rigging limit
MAX_GLB_JSON = 16 * 1024 * 1024


def extension(url: str) -> str:
    """The lower-case extension of a URL's path ('' when it has none)."""
    m = re.search(r"\.([A-Za-z0-9]+)$", unquote(urlsplit(url).path))
    return m.group(1).lower() if m else ""


def decode_head(value: str, start: int, n_chars: int = 4096) -> bytes:
    """The first bytes of a base64 payload starting at value[start] (only the head is decoded)."""
    head = value[start : start + n_chars]
    if len(value) - start > n_chars:
        head = head[: len(head) - len(head) % 4]
    try:
        return base64.b64decode(head, validate=True)
    except (binascii.Error, ValueError):
        raise ValidationError("model_url", "the data URI is not valid base64") from None


def check_model_ref(name: str, value: Any, extensions: tuple[str, ...]) -> None:
    """A model is an http(s) URL with one of extensions, or a data:application/octet-stream;base64 URI."""
    shown = ", ".join("." + e for e in extensions)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(name, f"must be an http(s) URL or a {MODEL_DATA_URI} URI of a {shown} model")
    if value[:5].lower() != "data:":
        _check_http_url(name, value)
        ext = extension(value)
        if ext and ext not in extensions:
            raise ValidationError(name, f"Meshy takes {shown} models here, not .{ext}: export the model as "
                                  f"{extensions[0].upper()}")
        return
    if not value.lower().startswith(MODEL_DATA_URI):
        raise ValidationError(name, f"model data URIs must start with {MODEL_DATA_URI}")
    if len(value) == len(MODEL_DATA_URI):
        raise ValidationError(name, "the data URI holds no model data")
    if len(value) > upload.MAX_DATA_URI_CHARS:
        raise ValidationError(name, f"the data URI is {upload.megabytes(len(value))}; Meshy takes models of at most "
                              f"{upload.LIMIT_TEXT} as a data URI: pass a public URL instead, or remesh it first")
    head = decode_head(value, len(MODEL_DATA_URI))
    if extensions == ("glb",) and not head.startswith(b"glTF"):
        raise ValidationError(name, "Meshy rigs .glb models only and this data is not a GLB: export the model as GLB")


def glb_faces(value: str) -> int | None:
    """Triangles of a GLB data URI, from its JSON chunk alone (None when that cannot be read)."""
    start = len(MODEL_DATA_URI)
    try:
        header = base64.b64decode(value[start : start + 28])
        json_len = struct.unpack_from("<I", header, 12)[0]
        if json_len > MAX_GLB_JSON:
            return None
        chars = (20 + json_len + 2) // 3 * 4
        return gltf_triangles(json.loads(base64.b64decode(value[start : start + chars])[20 : 20 + json_len]))
    except (binascii.Error, ValueError, struct.error, KeyError, IndexError, TypeError):
        return None


def gltf_triangles(gltf: dict) -> int:
    """Triangles a glTF's JSON describes (each mesh as often as nodes use it); raises KeyError,
    IndexError or TypeError on a malformed document."""
    instances = [n["mesh"] for n in gltf.get("nodes", []) if "mesh" in n] or range(len(gltf.get("meshes", [])))
    faces = 0
    for m in instances:
        for prim in gltf["meshes"][m]["primitives"]:
            if prim.get("mode", 4) == 4:
                acc = prim["indices"] if "indices" in prim else prim["attributes"]["POSITION"]
                faces += gltf["accessors"][acc]["count"] // 3
    return faces
